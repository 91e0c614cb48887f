"""``hf:ORG/NAME``: a ``transformers`` vision model through ``AutoModel`` and its image processor.

Works for the ViT families with a token sequence and a final norm: DINOv2 (with or without
registers), ViT, CLIP and SigLIP (their vision towers; the text towers are dropped).  The feature
is read from the hidden states of one forward pass (``output_hidden_states=True``): every block's
output goes through the model's final norm (``layernorm`` / ``post_layernorm``), as DINOv2's
``get_intermediate_layers(norm=True)`` does; register tokens are left out of the average.
Default: the final-normed class token of the last block (DINOv2's and CLIP's pooled output);
SigLIP has no class token and defaults to its attention-pooling head (``map``).

The preprocessing is the processor's own (``AutoImageProcessor``): size, centre crop, resample
filter and mean/std become seabench's transform config and so part of the cache key.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from seabench.backbones.base import Backbone
from seabench.backbones.hub_files import fetch, require
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

PREFIX = "hf:"
EXAMPLE = "hf:facebook/dinov2-small"
#: PIL resample codes in the processors' configs, as timm names them
RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def _pair(value) -> tuple[int, int] | None:
    if not value:
        return None
    if isinstance(value, int):
        return value, value
    if "height" in value:
        return int(value["height"]), int(value["width"])
    return None


def processor_data_config(proc: dict) -> dict:
    """seabench's data config from an image processor's settings.

    ``size: {shortest_edge: S}`` + centre crop C: resize the short side to S, crop C
    (crop_pct C/S); ``size: {height, width}``: resize to exactly that ("squash"), then the crop
    if there is one.
    """
    size = proc.get("size") or {}
    crop = _pair(proc.get("crop_size")) if proc.get("do_center_crop") else None
    resample = proc.get("resample", 3)
    resample = getattr(resample, "value", resample)
    interpolation = RESAMPLE.get(resample, resample if isinstance(resample, str) else "bicubic")
    if isinstance(size, dict) and "shortest_edge" in size:
        short = int(size["shortest_edge"])
        side = crop[1] if crop else short
        cfg = {"crop_pct": side / short, "crop_mode": "center"}
    else:
        exact = _pair(size) or (224, 224)
        side = crop[1] if crop else exact[1]
        cfg = {"crop_pct": side / exact[1], "crop_mode": "squash"}
    normalize = proc.get("do_normalize", True)
    return {
        "input_size": [3, side, side],
        "interpolation": str(interpolation),
        "mean": [float(v) for v in proc.get("image_mean")] if normalize else [0.0] * 3,
        "std": [float(v) for v in proc.get("image_std")] if normalize else [1.0] * 3,
        **cfg,
    }


def vision_tower(model: nn.Module) -> nn.Module:
    """The image tower of a vision-language model (CLIP, SigLIP), or the model itself."""
    return getattr(model, "vision_model", model)


def final_norm(tower: nn.Module, name: str) -> nn.Module:
    for attr in ("layernorm", "post_layernorm"):
        norm = getattr(tower, attr, None)
        if isinstance(norm, nn.Module):
            return norm
    raise SeabenchError(
        f"{name}: {type(tower).__name__} is not a supported vision transformer (no final norm); "
        "use DINOv2, ViT, CLIP or SigLIP models, or the model's timm version"
    )


class HFTokens(nn.Module):
    """Per-block token outputs of a transformers ViT, final-normed, split into cls and patches."""

    def __init__(self, tower: nn.Module, name: str, native_size: int):
        super().__init__()
        self.tower = tower
        self.norm = final_norm(tower, name)
        emb = getattr(tower, "embeddings", None)
        self.has_cls = any(
            getattr(emb, a, None) is not None for a in ("cls_token", "class_embedding")
        )
        registers = getattr(emb, "register_tokens", None)
        self.prefix = int(self.has_cls) + (registers.shape[1] if registers is not None else 0)
        self.native_size = native_size
        self.interpolate = "interpolate_pos_encoding" in inspect.signature(tower.forward).parameters

    def hidden_states(self, x: torch.Tensor):
        kwargs = {"output_hidden_states": True}
        if self.interpolate and x.shape[-1] != self.native_size:
            kwargs["interpolate_pos_encoding"] = True
        return self.tower(pixel_values=x, **kwargs)

    def forward(self, x: torch.Tensor, indices: list[int]):
        hs = self.hidden_states(x).hidden_states[1:]  # [0] is the embedding output
        out = []
        for i in indices:
            t = self.norm(hs[i])
            out.append((t[:, 0] if self.has_cls else None, t[:, self.prefix :]))
        return out


class HFPooled(nn.Module):
    """The model's own pooled output (SigLIP's attention-pooling head)."""

    def __init__(self, tokens: HFTokens):
        super().__init__()
        self.tokens = tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens.hidden_states(x).pooler_output


def _load(repo: str, revision: str, online: bool, name: str):
    import transformers

    transformers.logging.set_verbosity_error()
    from seabench.backbones import timm_models

    try:
        model = transformers.AutoModel.from_pretrained(
            repo,
            revision=revision,
            cache_dir=timm_models.HF_CACHE_DIR,
            local_files_only=not online,
            dtype=torch.float32,
        )
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = "" if online else " (offline: the cache lacks its weights; run once online)"
        raise SeabenchError(f"{name}: transformers cannot load {repo}{where}: {first}") from None
    return model.eval()


def create_hf(name: str, *, layers: str | None = None, pooling: str | None = None) -> Backbone:
    """A transformers vision model by hub name, with its image processor's preprocessing."""
    require("transformers", name)
    from transformers import AutoImageProcessor

    repo = name.removeprefix(PREFIX)
    if repo.split("@")[0].count("/") != 1:
        raise SeabenchError(f"--backbone {name}: write a transformers name as {PREFIX}ORG/NAME")
    snap = fetch(repo, [("config.json",), ("preprocessor_config.json",)], name)
    proc = AutoImageProcessor.from_pretrained(str(snap.folder)).to_dict()
    data_config = processor_data_config(proc)
    model = _load(snap.repo, snap.revision, snap.online, name)
    tower = vision_tower(model).eval()
    tokens = HFTokens(tower, name, int(getattr(tower.config, "image_size", 0) or 0))
    count = int(tower.config.num_hidden_layers)
    width = int(tower.config.hidden_size)
    native = "cls" if tokens.has_cls else ("map" if hasattr(tower, "head") else "avg")
    indices = resolve_layers(layers, count, "blocks", name)
    identity = {"name": name, "weights": f"hf:{snap.identity}", "layout": "transformers"}
    if native == "map" and is_native(indices, count, pooling) and pooling is None:
        module, dim, pooled = HFPooled(tokens), width, "map"
    else:
        pooled = pooling or ("cls" if tokens.has_cls else "avg")
        check_token_pooling(pooled, tokens.has_cls, name)
        module = ReadoutFeatures(tokens, indices, pooled)
        dim = readout_dim(width, indices, pooled)
    identity["pooling"] = pooled
    backbone = Backbone(
        name, module.eval(), data_config, dim, identity, source="hf", weights_tag=snap.identity
    )
    if is_native(indices, count, pooling):
        return backbone
    return with_readout(backbone, module, dim, indices, pooled, layers_label(indices, count))
