"""timm models: build them (ViTs with dynamic input size), find their heads, read their configs."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
from torch import nn

from seabench.backbones.base import Backbone, TimmFeatures, data_config_of
from seabench.backbones.pooling import set_pooling
from seabench.errors import SeabenchError

#: where the Hugging Face hub cache is read offline (None: huggingface_hub's own default)
HF_CACHE_DIR: str | None = None
HF_FILES = ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin")


def hub_online(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face hub answers; without it huggingface_hub retries for about a
    minute before it looks in its cache, so seabench looks there itself, at once.

    The hub library's own offline switch (``HF_HUB_OFFLINE``) answers first, without any
    request; otherwise one short request goes through the hub library's own HTTP session, so
    ``HTTPS_PROXY`` / ``NO_PROXY`` and ``HF_ENDPOINT`` are honoured as they are for downloads
    (a dead proxy means offline, a proxy that works means online).
    """
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False  # set after huggingface_hub was imported (its constant is read at import)
    offline = getattr(constants, "is_offline_mode", None)
    if offline() if offline is not None else constants.HF_HUB_OFFLINE:
        return False
    from huggingface_hub.utils import get_session

    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    try:
        get_session().head(endpoint, timeout=timeout)
    except Exception:  # noqa: BLE001  (connection, proxy, DNS, timeout, offline-mode errors)
        return False
    return True  # any answer, even an error status, means the hub (or its proxy) is reachable


def cached_weights(arch: str) -> str | None:
    """A local copy of ``arch``'s pretrained weights: the hub cache, else torch.hub's."""
    from huggingface_hub import try_to_load_from_cache

    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except Exception:  # noqa: BLE001  (unknown names fail later, in create_model, clearly)
        return None
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HF_FILES
        for name in names:
            found = try_to_load_from_cache(cfg.hf_hub_id, name, cache_dir=HF_CACHE_DIR)
            if isinstance(found, str):
                return found
    if cfg.url:
        local = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(cfg.url).path).name
        if local.is_file():
            return str(local)
    return None


def _which(arch: str) -> str:
    """`` (timm's resnet50.a1_in1k, hub repository timm/resnet50.a1_in1k)``: the weights a name
    without a tag stands for, so an offline error says which file to bring."""
    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except Exception:  # noqa: BLE001  (unknown names fail later, in create_model, clearly)
        return ""
    if cfg is None or not getattr(cfg, "tag", None):
        return ""
    base = arch.split(".")[0]
    where = f", hub repository {cfg.hf_hub_id}" if cfg.hf_hub_id else ""
    return f" (timm's {base}.{cfg.tag}{where})"


def build_timm(arch: str, *, pretrained: bool = False, **kwargs) -> nn.Module:
    """``timm.create_model`` in eval mode; token models accept any ``--image-size``.

    ``dynamic_img_size`` only matters away from the native size (the position embedding is
    resampled); at the native size the outputs are unchanged.  Models that do not take the option
    are built without it.  Offline, pretrained weights come from the local caches at once, or
    the error says so at once.
    """
    if pretrained and not hub_online():
        local = cached_weights(arch)
        if local is None:
            raise SeabenchError(
                f"no network to fetch the pretrained weights of {arch!r}{_which(arch)}, and they "
                "are not in the local Hugging Face or torch.hub cache; pass a local file with "
                "--weights FILE (or run once with network access)"
            )
        kwargs["pretrained_cfg_overlay"] = {
            **kwargs.get("pretrained_cfg_overlay", {}),
            "file": local,
        }
    try:
        model = create_dynamic(arch, pretrained=pretrained, **kwargs)
    except TypeError as exc:
        raise SeabenchError(f"cannot build {arch} with {kwargs}: {exc}") from exc
    except Exception as exc:
        if not pretrained:
            raise
        raise SeabenchError(
            f"could not get pretrained weights for {arch!r} ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); without network "
            "access pass a local file with --weights FILE"
        ) from exc
    return model.eval()


def create_dynamic(arch: str, *, pretrained: bool = False, **kwargs) -> nn.Module:
    """``timm.create_model`` with ``dynamic_img_size`` where the model takes it."""
    try:
        return timm.create_model(arch, pretrained=pretrained, dynamic_img_size=True, **kwargs)
    except TypeError as exc:
        if "dynamic_img_size" not in str(exc):
            raise
        return timm.create_model(arch, pretrained=pretrained, **kwargs)


def classifier_names(model: nn.Module) -> tuple[str, ...]:
    """The head module names from the model's pretrained config (``fc``, ``head``, ``head.fc``)."""
    names = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    return (names,) if isinstance(names, str) else tuple(names)


def timm_data_config(model: nn.Module, kwargs: dict | None = None) -> dict:
    """The model's timm data config, with the input size it was built for."""
    cfg = data_config_of(model)
    size = (kwargs or {}).get("img_size")
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else size
        cfg["input_size"] = [3, int(h), int(w)]
    return cfg


def create_timm(
    name: str,
    *,
    pretrained: bool = True,
    pooling: str | None = None,
    model_kwargs: dict | None = None,
) -> Backbone:
    """Any timm model name (with a pretrained tag or not), with its own preprocessing.

    A bare architecture (``resnet50``) takes timm's default pretrained tag
    (``resnet50.a1_in1k``); the tag in effect is the backbone's ``weights_tag``.
    """
    model = build_timm(name, pretrained=pretrained, **(model_kwargs or {}))
    pooled = set_pooling(model, pooling, name)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    source = cfg.get("hf_hub_id") or cfg.get("url") or cfg.get("file") or "?"
    tag = f"{cfg.get('architecture', name)}.{cfg.get('tag')}" if cfg.get("tag") else name
    identity = {
        "name": name,
        "weights": f"timm:{tag}:{source}" if pretrained else "random-init",
        "layout": "timm",
        "pooling": pooled,
    }
    if model_kwargs:
        identity["model_kwargs"] = {k: model_kwargs[k] for k in sorted(model_kwargs)}
    return Backbone(
        name=name,
        model=TimmFeatures(model).eval(),
        data_config=timm_data_config(model, model_kwargs),
        dim=model.num_features,
        identity=identity,
        classifier=model,
        source="timm",
        weights_tag=tag if pretrained else "random-init",
    )
