"""timm models: build them (ViTs with dynamic input size), find their heads, read their configs."""

from __future__ import annotations

import timm
from torch import nn

from seabench.backbones.base import Backbone, TimmFeatures, data_config_of
from seabench.backbones.pooling import set_pooling
from seabench.errors import SeabenchError


def build_timm(arch: str, *, pretrained: bool = False, **kwargs) -> nn.Module:
    """``timm.create_model`` in eval mode; token models accept any ``--image-size``.

    ``dynamic_img_size`` only matters away from the native size (the position embedding is
    resampled); at the native size the outputs are unchanged.  Models that do not take the option
    are built without it.
    """
    try:
        try:
            model = timm.create_model(arch, pretrained=pretrained, dynamic_img_size=True, **kwargs)
        except TypeError as exc:
            if "dynamic_img_size" not in str(exc):
                raise
            model = timm.create_model(arch, pretrained=pretrained, **kwargs)
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
    """Any timm model name (with a pretrained tag or not), with its own preprocessing."""
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
    )
