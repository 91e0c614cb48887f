"""Checkpoint layouts: how third-party checkpoint files map onto a timm architecture."""

from __future__ import annotations

from pathlib import Path

from seabench.backbones.base import Backbone
from seabench.errors import SeabenchError

FORMATS = ("auto", "timm")


def load_checkpoint(arch: str, path: Path, weights_format: str = "auto") -> Backbone:
    from seabench.backbones.registry import read_state_dict, timm_checkpoint_backbone

    if weights_format not in FORMATS:
        raise SeabenchError(
            f"unknown --weights-format {weights_format!r}; choose one of: {', '.join(FORMATS)}"
        )
    state = read_state_dict(path)
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return timm_checkpoint_backbone(arch, path, state, "timm")
