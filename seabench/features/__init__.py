"""Features: the extraction engine and the content-addressed cache."""

from seabench.features.cache import CacheEntry, FeatureCache
from seabench.features.extract import ExtractResult, extract_features

__all__ = ["CacheEntry", "ExtractResult", "FeatureCache", "extract_features"]
