"""Backbone registry: offline backbones by name, any timm model, and checkpoint files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import timm
import torch

from seabench.backbones.base import Backbone, TimmFeatures, data_config_of, file_sha256
from seabench.backbones.efficientnet_lite import PACKAGES, load_efficientnet_lite
from seabench.errors import DataNotFoundError, SeabenchError

#: backbones whose weights ship in an installed package (no network)
OFFLINE: dict[str, Callable[[], Backbone]] = {
    name: (lambda n=name: load_efficientnet_lite(n)) for name in PACKAGES
}


def read_state_dict(path: str | Path) -> dict:
    """A checkpoint as a flat-or-nested dict, read without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"checkpoint {path} does not exist; pass an existing --weights file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors name the offending global; keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeabenchError(
            f"cannot read {path} as a weights-only checkpoint ({first}); "
            "convert it to a plain state dict or .safetensors"
        ) from exc


def load_strict(model: torch.nn.Module, state: dict, layout: str) -> None:
    """Load ``state`` strictly; on mismatch, name the missing and unexpected keys and the layout."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        def show(keys):
            return ", ".join(keys[:6]) + (f" ... ({len(keys)} in all)" if len(keys) > 6 else "")

        raise SeabenchError(
            f"checkpoint does not fit the model with layout {layout!r}: "
            + (f"missing keys: {show(missing)}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"unexpected keys: {show(unexpected)}" if unexpected else "")
            + "; try another --weights-format"
        )
    model.load_state_dict(state, strict=True)


def create_backbone(
    name: str,
    *,
    weights: str | Path | None = None,
    weights_format: str = "auto",
    pretrained: bool = True,
) -> Backbone:
    """Build a frozen feature extractor by name, optionally with a checkpoint file."""
    if weights is None and name in OFFLINE:
        return OFFLINE[name]()
    if weights is not None:
        from seabench.backbones.layouts import load_checkpoint

        return load_checkpoint(name, Path(weights), weights_format)
    if not timm.is_model(name):
        from seabench.backbones.torchvision_models import create_torchvision, is_torchvision

        if is_torchvision(name):
            return create_torchvision(name, pretrained=pretrained)
        raise SeabenchError(
            f"unknown backbone {name!r}; use an offline name ({', '.join(OFFLINE)}), "
            "a timm model name (`timm.list_models()`), a torchvision model name, "
            "or pass --weights FILE"
        )
    try:
        model = timm.create_model(name, pretrained=pretrained)
    except Exception as exc:
        raise SeabenchError(
            f"could not get pretrained weights for {name!r} ({type(exc).__name__}); "
            "without network access pass a local file with --weights FILE"
        ) from exc
    model.eval()
    tag = getattr(model, "pretrained_cfg", {}) or {}
    return Backbone(
        name=name,
        model=TimmFeatures(model).eval(),
        data_config=data_config_of(model),
        dim=model.num_features,
        identity={"name": name, "weights": f"timm:{tag.get('hf_hub_id') or tag.get('url')}"
                  if pretrained else "random-init", "layout": "timm", "pooling": "default"},
        classifier=model,
    )


def timm_checkpoint_backbone(arch: str, path: Path, state: dict, layout: str) -> Backbone:
    """A timm architecture with a user's state dict loaded strictly (classifier optional)."""
    if not timm.is_model(arch):
        raise SeabenchError(f"unknown timm architecture {arch!r} for checkpoint {path}")
    has_head = any(k.startswith(("fc.", "head.", "classifier.")) for k in state)
    model = timm.create_model(arch, pretrained=False, num_classes=None if has_head else 0)
    load_strict(model, state, layout)
    model.eval()
    return Backbone(
        name=arch,
        model=TimmFeatures(model).eval(),
        data_config=data_config_of(model),
        dim=model.num_features,
        identity={"name": arch, "weights_sha256": file_sha256(path), "layout": layout,
                  "pooling": "default"},
    )
