"""The backbone interface: a frozen model that maps images to pooled penultimate features."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


class TimmFeatures(nn.Module):
    """A timm classifier used up to its pre-logits (pooled) output; the head is kept but unused."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


@dataclass
class Backbone:
    name: str
    model: nn.Module
    data_config: dict
    dim: int
    #: everything about the weights that changes the features (goes into the cache key)
    identity: dict = field(default_factory=dict)
    #: the full classifier, where one exists (used by sanity checks, never by extraction)
    classifier: nn.Module | None = None
    #: where the weights come from (``timm``, ``torchvision``, ``hf-hub``, ``local-dir``,
    #: ``checkpoint`` ...) and which weights (``resnet50.a1_in1k``,
    #: ``ResNet50_Weights.IMAGENET1K_V2``): printed at extraction and recorded in the sidecar
    #: and the rows, so a bare ``resnet50`` never hides whose weights it was (not keyed: the
    #: identity already holds what changes the numbers)
    source: str = ""
    weights_tag: str = ""


def data_config_of(model: nn.Module) -> dict:
    """The model's own preprocessing (input size, interpolation, mean/std, crop) from timm."""
    import timm.data

    cfg = timm.data.resolve_data_config({}, model=model)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}
