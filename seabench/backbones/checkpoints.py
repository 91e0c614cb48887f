"""Checkpoint files: map them through a layout, build the architecture the layout says, load
them strictly.

Files are read once (``checkpoint_io``: hash, CRC-32 check, weights-only unpickling).  Loading is
strict after the layout's rules; other tools load with ``strict=False`` and silently benchmark a
random backbone when a prefix is wrong, seabench names the keys instead.  Under
``--weights-format auto`` the layout comes from everything the file says, and where that leaves
more than one way to build or preprocess the model, seabench asks (``detection``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import timm
from torch import nn

import seabench.backbones.cifar_resnet  # noqa: F401  (registers cifar_resnet18/50 in timm)
from seabench.backbones.base import Backbone, TimmFeatures
from seabench.backbones.checkpoint_io import read_checkpoint, read_checkpoint_hashed
from seabench.backbones.detection import (
    check_declared_arch,
    check_named_format,
    check_plausible,
    resolve_layout,
)
from seabench.backbones.layouts import (
    PREPROCESS,
    REFERENCE_PREPROCESS,
    Layout,
    apply_layout,
    get_layout,
)
from seabench.backbones.pooling import set_pooling
from seabench.backbones.timm_models import build_timm, classifier_names, timm_data_config
from seabench.errors import SeabenchError

__all__ = ["load_checkpoint", "load_strict", "override_normalisation", "read_checkpoint"]

_SUFFIXES = re.compile(r"(\.(pth|pt|tar|ckpt|bin|safetensors|pkl))+$")


def _show(keys: list[str]) -> str:
    return ", ".join(keys[:6]) + (f" ... ({len(keys)} in all)" if len(keys) > 6 else "")


def load_strict(model: nn.Module, state: dict, layout: str, hint: str = "") -> None:
    """Load ``state`` strictly; on mismatch, name the missing, unexpected and misshapen keys."""
    missing, unexpected, shapes = _fit_problems(model.state_dict(), state)
    if missing or unexpected or shapes:
        parts = [
            f"missing keys: {_show(missing)}" if missing else "",
            f"unexpected keys: {_show(unexpected)}" if unexpected else "",
            f"shape mismatch (checkpoint vs model): {_show(shapes)}" if shapes else "",
        ]
        raise SeabenchError(
            f"checkpoint does not fit the model with layout {layout!r}: "
            + "; ".join(p for p in parts if p)
            + (hint or "; check the architecture name and try another --weights-format")
        )
    model.load_state_dict(state, strict=True)


def display_name(arch: str, path: Path, preprocess: str | None = None) -> str:
    """``arch@file-stem``: checkpoints of one architecture stay apart in results and reports.

    ``preprocess``: the preprocessing in effect where it is not the transfer protocol the
    self-supervised layouts share, as ``[...]`` (so two protocols never share a label).
    """
    name = f"{arch}@{_SUFFIXES.sub('', path.name)}"
    return f"{name}[{preprocess}]" if preprocess else name


def with_preprocess(base: dict, preset: str) -> dict:
    """``base`` (input size etc.) with a PREPROCESS preset's interpolation, crop, mean and std."""
    cfg = dict(base)
    if preset != "model":
        cfg.update(
            {k: list(v) if isinstance(v, tuple) else v for k, v in PREPROCESS[preset].items()}
        )
    return cfg


def _label_preprocess(layout: Layout, preset: str) -> str | None:
    """The label suffix naming a preprocessing: none for a method's own protocol."""
    if layout.name not in ("timm", "torchvision") or preset == REFERENCE_PREPROCESS:
        return None
    return "timm-preprocessing" if preset == "model" else f"{preset}-preprocessing"


def _fit_problems(model_state: dict, state: dict) -> tuple[list, list, list]:
    missing = sorted(set(model_state) - set(state))
    unexpected = sorted(set(state) - set(model_state))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(model_state[k].shape)}"
        for k in set(model_state) & set(state)
        if state[k].shape != model_state[k].shape
    )
    return missing, unexpected, shapes


def check_selective_kernel(state: dict, path: Path) -> None:
    """SimCLR v2's ``_sk1`` ResNets (selective kernels, a 3-conv stem) have no architecture here;
    their stem's first 3 x 3 conv would otherwise read as a CIFAR ResNet's."""
    if any(".main_conv." in k or ".mixing_conv." in k for k in state):
        raise SeabenchError(
            f"{path.name} is a SimCLR v2 selective-kernel ResNet (r*_sk1: selective-kernel "
            "blocks and a three-conv stem), which has no architecture in seabench; use the "
            "_sk0 file of the same model"
        )


def _stem_hint(arch: str, state: dict, model_state: dict) -> str:
    """A 3 x 3 conv1 in a file for an ImageNet ResNet: the CIFAR stem (no max-pool either)."""
    conv1 = state.get("conv1.weight")
    mine = model_state.get("conv1.weight")
    if (
        conv1 is not None
        and mine is not None
        and conv1.ndim == 4
        and conv1.shape[-1] == 3
        and conv1.shape[:2] == mine.shape[:2]  # same widths: only the kernel differs
        and "cifar" not in arch
    ):
        depth = re.search(r"resnet(\d+)", arch)
        return (
            "; its conv1 is 3 x 3: a CIFAR ResNet (3 x 3 stride-1 stem, no max-pool), "
            f"--backbone cifar_resnet{depth.group(1) if depth else '18'}"
        )
    return ""


def _fits(model_state: dict, raw: dict, classifier: tuple[str, ...]):
    def fits(layout: Layout) -> bool:
        try:
            state = apply_layout(raw, layout, classifier)
        except SeabenchError:
            return False
        return not any(_fit_problems(model_state, state))

    return fits


def load_checkpoint(
    arch: str,
    path: Path,
    weights_format: str = "auto",
    *,
    pooling: str | None = None,
    model_kwargs: dict | None = None,
) -> Backbone:
    """``arch`` (timm name, torchvision name or ``torchvision:NAME``) with a checkpoint file.

    The model is built the way the layout's method built it (MoCo v3 ViT-Small: 12 heads where
    timm's has 6 with the same keys), and preprocessed the way the method evaluated it.
    """
    from seabench.backbones.torchvision_models import (
        is_torchvision,
        torchvision_checkpoint_model,
        torchvision_pooling,
    )

    tv_name = arch.removeprefix("torchvision:")
    use_timm = not arch.startswith("torchvision:") and timm.is_model(arch)
    tv_known = is_torchvision(tv_name)
    if not use_timm and not tv_known:
        raise SeabenchError(
            f"unknown architecture {arch!r} for checkpoint {path}; name the timm or torchvision "
            "architecture the weights belong to (e.g. resnet50, vit_small_patch16_224)"
        )
    flags = {"is_timm": use_timm, "is_torchvision": tv_known}
    if weights_format != "auto":
        check_plausible(get_layout(weights_format), arch, **flags)  # before the file is read
    raw, sha = read_checkpoint_hashed(path)
    user_kwargs = dict(model_kwargs or {})

    def build(kwargs: dict) -> tuple[nn.Module, tuple[str, ...], int]:
        if use_timm:
            model = build_timm(arch, pretrained=False, num_classes=0, **kwargs)
            return model, classifier_names(model), model.num_features
        if kwargs:
            raise SeabenchError(f"model options {sorted(kwargs)} apply to timm models only")
        model, head, dim = torchvision_checkpoint_model(tv_name)
        return model, (head,), dim

    model, classifier, dim = build(user_kwargs)
    if weights_format == "auto":
        name = resolve_layout(raw, arch, _fits(model.state_dict(), raw, classifier), **flags)
        label = f"{name} (auto-detected)"
        check_plausible(get_layout(name), arch, **flags)
    else:
        name = get_layout(weights_format).name
        label = name
        check_named_format(raw, get_layout(name), arch)
    layout = get_layout(name)
    check_declared_arch(raw, layout, arch)
    kwargs = {**layout.model_kwargs(arch), **user_kwargs}
    if kwargs != user_kwargs:
        model, classifier, dim = build(kwargs)
    state = apply_layout(raw, layout, classifier)
    check_selective_kernel(state, path)
    load_strict(model, state, label, hint=_stem_hint(arch, state, model.state_dict()))
    if use_timm:
        pooled = set_pooling(model, pooling, arch)
        features: nn.Module = TimmFeatures(model)
        base = timm_data_config(model, kwargs)
    else:
        pooled = torchvision_pooling(tv_name, pooling)
        features = model
        base = with_preprocess({"input_size": [3, 224, 224]}, "torchvision")
    preset = layout.preprocess_for(arch)
    identity = {
        "name": arch,
        "weights_sha256": sha,
        "layout": name,
        "pooling": pooled,
    }
    if kwargs:
        identity["model_kwargs"] = {k: kwargs[k] for k in sorted(kwargs)}
    return Backbone(
        name=display_name(arch, path, _label_preprocess(layout, preset)),
        model=features.eval(),
        data_config=with_preprocess(base, preset),
        dim=dim,
        identity=identity,
        source="checkpoint",
        weights_tag=f"{path.name} (layout {name}, sha256 {sha[:12]})",
    )


def override_normalisation(
    backbone: Backbone, mean: Sequence[float] | None, std: Sequence[float] | None
) -> Backbone:
    """Replace the data config's mean/std (they enter the cache key through the transform).

    A changed value is also named in the backbone's label (``name[mean=...]``), so features
    of two normalisations are never reported under one name.
    """
    changed = []
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
        if [float(v) for v in backbone.data_config.get(label, ())] != values:
            changed.append(f"{label}=" + ",".join(f"{v:g}" for v in values))
        backbone.data_config = {**backbone.data_config, label: values}
    if changed:
        backbone.name = f"{backbone.name}[{';'.join(changed)}]"
    return backbone
