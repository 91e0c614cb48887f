"""Backbone registry: offline backbones by name, any timm or torchvision model, checkpoint files."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import timm

from seabench.backbones.base import Backbone
from seabench.backbones.checkpoints import (
    load_checkpoint,
    load_strict,
    override_normalisation,
    read_checkpoint,
)
from seabench.backbones.efficientnet_lite import PACKAGES, load_efficientnet_lite
from seabench.backbones.pooling import check_pooling
from seabench.errors import SeabenchError

#: backbones whose weights ship in an installed package (no network)
OFFLINE: dict[str, Callable[[], Backbone]] = {
    name: (lambda n=name: load_efficientnet_lite(n)) for name in PACKAGES
}

#: kept for callers of the first version
read_state_dict = read_checkpoint
__all__ = ["OFFLINE", "create_backbone", "load_strict", "offline_backbones", "read_state_dict"]


def offline_backbones() -> list[dict]:
    """The offline backbones, their timm architecture and whether their weights are installed."""
    return [
        {
            "name": name,
            "arch": arch,
            "package": package.replace("_", "-"),
            "installed": importlib.util.find_spec(package) is not None,
        }
        for name, (package, arch) in PACKAGES.items()
    ]


def create_backbone(
    name: str,
    *,
    weights: str | Path | None = None,
    weights_format: str = "auto",
    pooling: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    pretrained: bool = True,
    model_kwargs: dict | None = None,
) -> Backbone:
    """A frozen pre-logits feature extractor.

    ``name``: an offline name, a timm name (``resnet50``, ``vit_small_patch16_224.augreg_in21k``),
    a torchvision name (``mobilenet_v3_large``; ``torchvision:NAME`` where timm has the same
    name), or with ``weights`` the architecture of the checkpoint file, whose layout
    ``weights_format`` names or ``"auto"`` detects.  ``pooling``: ``"cls"`` or ``"avg"`` for ViTs
    (default: the model's own).  ``mean``/``std`` override the preprocessing's normalisation.
    ``model_kwargs`` go to ``timm.create_model`` (e.g. ``img_size``) and into the identity.
    """
    check_pooling(pooling)
    if weights is None and weights_format != "auto":
        raise SeabenchError(
            f"--weights-format {weights_format} needs a checkpoint: add --weights FILE"
        )
    if weights is not None:
        backbone = load_checkpoint(
            name, Path(weights), weights_format, pooling=pooling, model_kwargs=model_kwargs
        )
    elif name in OFFLINE:
        if model_kwargs:
            raise SeabenchError(f"{name} is a fixed offline backbone; it takes no model options")
        backbone = OFFLINE[name]()
        if pooling not in (None, backbone.identity["pooling"]):
            raise SeabenchError(f"{name} pools with 'avg' only; drop --pooling {pooling}")
    elif name.startswith("torchvision:") or not timm.is_model(name):
        from seabench.backbones.torchvision_models import create_torchvision, is_torchvision

        if not is_torchvision(name):
            raise SeabenchError(
                f"unknown backbone {name!r}; use an offline name ({', '.join(OFFLINE)}), "
                "a timm model name (`timm.list_models()`), a torchvision model name, "
                "or pass --weights FILE with the architecture name (see `seabench backbones`)"
            )
        if model_kwargs:
            raise SeabenchError("model options apply to timm models only")
        backbone = create_torchvision(name, pretrained=pretrained, pooling=pooling)
    else:
        from seabench.backbones.timm_models import create_timm

        backbone = create_timm(
            name, pretrained=pretrained, pooling=pooling, model_kwargs=model_kwargs
        )
    return override_normalisation(backbone, mean, std)
