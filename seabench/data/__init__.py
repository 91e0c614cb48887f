"""Datasets: one adapter per dataset, split manifests, and the evaluation transform."""

# importing the adapter modules registers them
from seabench.data import (  # noqa: F401
    caltech,
    cifar,
    dtd,
    finegrained,
    folders,
    mnist5k,
    sun397,
    voc,
)
from seabench.data.base import DATASETS, DatasetAdapter, get_dataset, register_dataset
from seabench.data.splits import SplitManifest

__all__ = ["DATASETS", "DatasetAdapter", "SplitManifest", "get_dataset", "register_dataset"]
