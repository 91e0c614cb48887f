"""Backbones: the registry, checkpoint layouts and the offline weights."""

from seabench.backbones.base import Backbone
from seabench.backbones.layouts import FORMATS, LAYOUTS, describe_layouts
from seabench.backbones.registry import OFFLINE, create_backbone, offline_backbones

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "OFFLINE",
    "Backbone",
    "create_backbone",
    "describe_layouts",
    "offline_backbones",
]
