"""``open_clip:ARCH/PRETRAINED`` and ``open_clip:hf-hub:ORG/NAME``: an open_clip image tower.

``ARCH/PRETRAINED`` is open_clip's own pair (``ViT-B-32`` / ``laion2b_s34b_b79k``): the tag's
weights file is resolved through open_clip's pretrained registry (a hub repository, or a URL
cached under ``~/.cache/clip``), fetched online or read from the cache at once offline, and the
model is built with the tag's settings (QuickGELU, mean/std, interpolation, resize mode).
``hf-hub:ORG/NAME`` is a hub repository in open_clip's layout (``open_clip_config.json`` with
``model_cfg`` and ``preprocess_cfg``, and ``open_clip_model.safetensors`` or
``open_clip_pytorch_model.bin``), built with open_clip's ``local-dir:`` loader.

The feature of a ViT tower is its pooled output before the projection into the joint embedding
space (the CLIP paper's linear-probe features); ``--layers``/``--pooling`` read its blocks
(after ``ln_post``) through open_clip's ``forward_intermediates``.  Other towers (ResNets, timm
trunks) give their own output and take no layer options.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from seabench.backbones.base import Backbone
from seabench.backbones.hub_files import Snapshot, fetch, require
from seabench.backbones.layers import (
    ReadoutFeatures,
    check_token_pooling,
    is_native,
    layers_label,
    readout_dim,
    resolve_layers,
    with_readout,
)
from seabench.errors import SeabenchError

PREFIX = "open_clip:"
EXAMPLE = "open_clip:ViT-B-32/laion2b_s34b_b79k"
CONFIG = "open_clip_config.json"
WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
TAG_KEYS = ("mean", "std", "interpolation", "resize_mode")
#: open_clip's resize modes as timm's crop modes (the crop is the full image side: crop_pct 1)
CROP_MODE = {"shortest": "center", "squash": "squash", "longest": "border"}


def preprocess_data_config(cfg: dict) -> dict:
    """seabench's data config from open_clip's preprocess config (its eval transform)."""
    size = cfg.get("size", 224)
    side = int(size if isinstance(size, int) else size[-1])
    return {
        "input_size": [3, side, side],
        "interpolation": cfg.get("interpolation", "bicubic"),
        "mean": [float(v) for v in cfg["mean"]],
        "std": [float(v) for v in cfg["std"]],
        "crop_pct": 1.0,
        "crop_mode": CROP_MODE.get(cfg.get("resize_mode", "shortest"), "center"),
    }


class OpenClipTokens(nn.Module):
    """Per-block tokens of an open_clip ViT tower, through ``ln_post``, split cls / patches."""

    has_cls = True  # open_clip's VisionTransformer always prepends its class embedding

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    def forward(self, x: torch.Tensor, indices: list[int]):
        out = self.visual.forward_intermediates(
            x,
            indices=indices,
            stop_early=True,
            normalize_intermediates=True,
            intermediates_only=True,
            output_fmt="NLC",
            output_extra_tokens=True,
        )
        return [
            (prefix[:, 0], patches)
            for patches, prefix in zip(
                out["image_intermediates"], out["image_intermediates_prefix"], strict=True
            )
        ]


class OpenClipPooled(nn.Module):
    """The tower's own pooled output, before the projection into the joint embedding space."""

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.visual
        return v._pool(v.transformer(v._embeds(x)))[0]


def native_pooling(visual: nn.Module) -> str:
    if getattr(visual, "attn_pool", None) is not None:
        return "map"
    return {"tok": "cls"}.get(getattr(visual, "pool_type", "tok"), visual.pool_type)


def _tag_weights(arch: str, tag: str, name: str) -> tuple[str, str, dict]:
    """(local weights file, its identity, the tag's config) of a registry pair."""
    import open_clip

    from seabench.backbones import timm_models

    if arch not in open_clip.list_models():
        raise SeabenchError(
            f"{name}: open_clip has no architecture {arch!r}; see open_clip.list_models() "
            f"(e.g. {EXAMPLE})"
        )
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise SeabenchError(
            f"{name}: {arch} has no pretrained tag {tag!r}; choose one of: "
            f"{', '.join(tags) or '(none)'}"
        )
    hub = cfg.get("hf_hub", "")
    if hub:
        repo, filename = os.path.split(hub)  # "org/name/" or "org/name/file.bin"
        # open_clip itself prefers the safetensors twin of its default .bin file
        group = WEIGHTS if filename in ("", WEIGHTS[1]) else (filename,)
        snap: Snapshot = fetch(repo, [group], name)
        path = next(iter(snap.files.values()))
        return str(path), f"hf:{snap.identity}/{path.name}", cfg
    url = cfg.get("url", "")
    local = Path(os.path.expanduser("~/.cache/clip")) / Path(urlparse(url).path).name
    if local.is_file():
        return str(local), url, cfg
    if not timm_models.hub_online():
        raise SeabenchError(
            f"{name}: no network, and {local} is not there; run once with network access"
        )
    return open_clip.download_pretrained(cfg), url, cfg


def _build(name: str, image_size: int | None):
    """(model, weights identity) for either name form."""
    import open_clip

    spec = name.removeprefix(PREFIX)
    kwargs = {"force_image_size": image_size} if image_size else {}
    try:
        if spec.startswith("hf-hub:"):
            repo = spec.removeprefix("hf-hub:")
            snap = fetch(repo, [(CONFIG,), WEIGHTS], name)
            model = open_clip.create_model(f"local-dir:{snap.folder}", **kwargs)
            return model, f"open_clip:hf-hub:{snap.identity}"
        arch, _, tag = spec.partition("/")
        if not tag or not arch:
            raise SeabenchError(
                f"--backbone {name} needs a pretrained tag: write open_clip:ARCH/PRETRAINED "
                f"(e.g. {EXAMPLE}; tags: open_clip.list_pretrained())"
            )
        path, source, cfg = _tag_weights(arch, tag, name)
        model = open_clip.create_model(
            arch,
            pretrained=path,
            force_quick_gelu=bool(cfg.get("quick_gelu", False)),
            force_preprocess_cfg={k: cfg[k] for k in TAG_KEYS if k in cfg},
            **kwargs,
        )
        return model, f"open_clip:{arch}/{tag}:{source}"
    except SeabenchError:
        raise
    except Exception as exc:  # noqa: BLE001  (open_clip raises RuntimeError/ValueError/...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SeabenchError(f"{name}: open_clip cannot build the model ({first})") from None


def create_open_clip(
    name: str,
    *,
    layers: str | None = None,
    pooling: str | None = None,
    image_size: int | None = None,
) -> Backbone:
    """The image tower of an open_clip model, with open_clip's own eval preprocessing."""
    require("open_clip", name)
    import open_clip

    model, weights = _build(name, image_size)
    visual = model.visual.eval()
    data_config = preprocess_data_config(open_clip.get_model_preprocess_cfg(model))
    identity = {"name": name, "weights": weights, "layout": "open_clip"}
    if image_size:
        identity["image_size"] = int(image_size)  # the position embedding was resampled
    if not hasattr(visual, "transformer") or not hasattr(visual, "forward_intermediates"):
        if layers not in (None, "last1") or pooling is not None:
            raise SeabenchError(
                f"{name}: --layers and --pooling apply to ViT image towers; "
                f"{type(visual).__name__} gives its own output only, drop them"
            )
        with torch.no_grad():
            side = data_config["input_size"][-1]
            dim = int(visual(torch.zeros(1, 3, side, side)).shape[-1])
        identity["pooling"] = "tower"
        return Backbone(
            name, visual, data_config, dim, identity, source="open_clip", weights_tag=weights
        )
    width = int(visual.ln_post.normalized_shape[0])
    count = len(visual.transformer.resblocks)
    indices = resolve_layers(layers, count, "blocks", name)
    native = native_pooling(visual)
    tokens = OpenClipTokens(visual)
    if is_native(indices, count, pooling) and pooling in (None, native):
        module, dim, pooled = OpenClipPooled(visual), width, native
    else:
        pooled = pooling or ("cls" if native == "cls" else "avg")
        check_token_pooling(pooled, tokens.has_cls, name)
        module, dim = ReadoutFeatures(tokens, indices, pooled), readout_dim(width, indices, pooled)
    identity["pooling"] = pooled
    backbone = Backbone(
        name, module.eval(), data_config, dim, identity, source="open_clip", weights_tag=weights
    )
    if is_native(indices, count, pooling):
        return backbone
    return with_readout(backbone, module, dim, indices, pooled, layers_label(indices, count))
