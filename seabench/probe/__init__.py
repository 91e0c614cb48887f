"""Probe: the linear classifier, its batched trainer, augmentations, the protocol and metrics."""

from seabench.probe.augment import AUGMENTATIONS, get_augmentation, register
from seabench.probe.protocol import FeatureSet, ProbeOptions, run_probe
from seabench.probe.sea import sea_augment
from seabench.probe.trainer import TrainSettings, train_linear

__all__ = [
    "AUGMENTATIONS",
    "FeatureSet",
    "ProbeOptions",
    "TrainSettings",
    "get_augmentation",
    "register",
    "run_probe",
    "sea_augment",
    "train_linear",
]
