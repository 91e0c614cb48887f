"""Checkpoint files: read them safely, map them through a layout, load them strictly.

Files are read with ``torch.load(weights_only=True)`` (tensors, containers and plain numbers
only; ``argparse.Namespace`` is allowlisted because DINO and others store their arguments
beside the weights) or with safetensors: never by unpickling arbitrary objects.  Loading is strict
after the layout's rules; other tools load with ``strict=False`` and silently benchmark a random
backbone when a prefix is wrong, seabench names the keys instead.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import timm
import torch
from torch import nn

from seabench.backbones.base import Backbone, TimmFeatures, file_sha256
from seabench.backbones.layouts import PREPROCESS, apply_layout, detect_layout, get_layout
from seabench.backbones.pooling import set_pooling
from seabench.backbones.timm_models import build_timm, classifier_names, timm_data_config
from seabench.errors import DataNotFoundError, SeabenchError

_SUFFIXES = re.compile(r"(\.(pth|pt|tar|ckpt|bin|safetensors|pkl))+$")


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint as a (possibly nested) dict, read without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            f"checkpoint {path} does not exist; pass an existing --weights file"
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise SeabenchError(f"cannot read {path} as safetensors ({exc})") from exc
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        why = (
            f"it contains a pickled object {found.group(1)}, refused for safety"
            if found
            else (text.strip().splitlines() or [type(exc).__name__])[0]
        )
        raise SeabenchError(
            f"cannot read {path} as a weights-only checkpoint ({why}); "
            "save a plain state dict (torch.save(model.state_dict(), ...)) or .safetensors"
        ) from exc
    if not isinstance(obj, dict):
        raise SeabenchError(
            f"{path} holds a {type(obj).__name__}, not a state dict; "
            "save model.state_dict() rather than the model"
        )
    return obj


def _show(keys: list[str]) -> str:
    return ", ".join(keys[:6]) + (f" ... ({len(keys)} in all)" if len(keys) > 6 else "")


def load_strict(model: nn.Module, state: dict, layout: str) -> None:
    """Load ``state`` strictly; on mismatch, name the missing, unexpected and misshapen keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if state[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:
        parts = [
            f"missing keys: {_show(missing)}" if missing else "",
            f"unexpected keys: {_show(unexpected)}" if unexpected else "",
            f"shape mismatch (checkpoint vs model): {_show(shapes)}" if shapes else "",
        ]
        raise SeabenchError(
            f"checkpoint does not fit the model with layout {layout!r}: "
            + "; ".join(p for p in parts if p)
            + "; check the architecture name and try another --weights-format"
        )
    model.load_state_dict(state, strict=True)


def display_name(arch: str, path: Path) -> str:
    """``arch@file-stem``: checkpoints of one architecture stay apart in results and reports."""
    return f"{arch}@{_SUFFIXES.sub('', path.name)}"


def with_preprocess(base: dict, preset: str) -> dict:
    """``base`` (input size etc.) with a PREPROCESS preset's interpolation, crop, mean and std."""
    cfg = dict(base)
    if preset != "model":
        cfg.update(
            {k: list(v) if isinstance(v, tuple) else v for k, v in PREPROCESS[preset].items()}
        )
    return cfg


def load_checkpoint(
    arch: str,
    path: Path,
    weights_format: str = "auto",
    *,
    pooling: str | None = None,
    model_kwargs: dict | None = None,
) -> Backbone:
    """``arch`` (timm name, torchvision name or ``torchvision:NAME``) with a checkpoint file.

    MoCo v3 ViT-Small: timm's ``vit_small_*`` has 6 heads, MoCo v3's has 12 with the same keys,
    so the layout builds the timm model with ``num_heads=12`` (otherwise it loads strictly and
    gives wrong features).
    """
    from seabench.backbones.torchvision_models import (
        is_torchvision,
        torchvision_checkpoint_model,
        torchvision_pooling,
    )

    tv_name = arch.removeprefix("torchvision:")
    use_timm = not arch.startswith("torchvision:") and timm.is_model(arch)
    if not use_timm and not is_torchvision(tv_name):
        raise SeabenchError(
            f"unknown architecture {arch!r} for checkpoint {path}; name the timm or torchvision "
            "architecture the weights belong to (e.g. resnet50, vit_small_patch16_224)"
        )
    if weights_format != "auto":
        get_layout(weights_format)  # an unknown format fails before the file is read
    raw = read_checkpoint(path)
    if weights_format == "auto":
        name = detect_layout(raw, fallback="timm" if use_timm else "torchvision")
        label = f"{name} (auto-detected)"
    else:
        name = get_layout(weights_format).name
        label = name
    layout = get_layout(name)
    kwargs = {**layout.model_kwargs(arch), **(model_kwargs or {})}
    if use_timm:
        model = build_timm(arch, pretrained=False, num_classes=0, **kwargs)
        load_strict(model, apply_layout(raw, layout, classifier_names(model)), label)
        pooled = set_pooling(model, pooling, arch)
        features: nn.Module = TimmFeatures(model)
        dim = model.num_features
        base = timm_data_config(model, kwargs)
    else:
        if kwargs:
            raise SeabenchError(f"model options {sorted(kwargs)} apply to timm models only")
        model, head, dim = torchvision_checkpoint_model(tv_name)
        load_strict(model, apply_layout(raw, layout, (head,)), label)
        pooled = torchvision_pooling(tv_name, pooling)
        features = model
        base = with_preprocess({"input_size": [3, 224, 224]}, "torchvision")
    identity = {
        "name": arch,
        "weights_sha256": file_sha256(path),
        "layout": name,
        "pooling": pooled,
    }
    if kwargs:
        identity["model_kwargs"] = {k: kwargs[k] for k in sorted(kwargs)}
    return Backbone(
        name=display_name(arch, path),
        model=features.eval(),
        data_config=with_preprocess(base, layout.preprocess),
        dim=dim,
        identity=identity,
    )


def override_normalisation(
    backbone: Backbone, mean: Sequence[float] | None, std: Sequence[float] | None
) -> Backbone:
    """Replace the data config's mean/std (they enter the cache key through the transform)."""
    for label, values in (("mean", mean), ("std", std)):
        if values is None:
            continue
        values = [float(v) for v in values]
        if len(values) != 3 or (label == "std" and min(values) <= 0):
            raise SeabenchError(
                f"--{label} needs three numbers"
                + (", all positive" if label == "std" else "")
                + f"; got {values}"
            )
        backbone.data_config = {**backbone.data_config, label: values}
    return backbone
