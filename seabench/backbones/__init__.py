"""Backbones: the registry, checkpoint layouts and the offline weights."""

from seabench.backbones.base import Backbone
from seabench.backbones.registry import OFFLINE, create_backbone

__all__ = ["OFFLINE", "Backbone", "create_backbone"]
