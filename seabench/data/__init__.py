"""Datasets: one adapter per dataset, split manifests, and the evaluation transform."""

from seabench.data import mnist5k  # noqa: F401  (registers the embedded default)
from seabench.data.base import DATASETS, DatasetAdapter, get_dataset, register_dataset
from seabench.data.splits import SplitManifest

__all__ = ["DATASETS", "DatasetAdapter", "SplitManifest", "get_dataset", "register_dataset"]
