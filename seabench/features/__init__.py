"""Features: the extraction engine (single process and torchrun) and the content-addressed cache."""

from seabench.features.cache import CacheEntry, CorruptEntry, FeatureCache
from seabench.features.extract import ExtractResult, extract_features, plan_key

__all__ = [
    "CacheEntry",
    "CorruptEntry",
    "ExtractResult",
    "FeatureCache",
    "extract_features",
    "plan_key",
]
