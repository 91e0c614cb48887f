"""Backbone registry: offline backbones by name, any timm or torchvision model, checkpoint files,
and the hub sources by prefix (``hf-hub:`` timm repositories, ``open_clip:``, ``hf:``)."""

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
from seabench.backbones.layers import apply_timm_readout, check_layers_text, check_readout_pooling
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


#: name forms by prefix: each source is one module (loaded on use; some need the [hub] extra)
HUB_SOURCES = ("hf-hub:", "local-dir:", "open_clip:", "hf:")
NAME_FORMS: list[tuple[str, str, str]] = [
    ("offline name", "weights from an installed package", "efficientnet_lite0"),
    (
        "timm name",
        "timm.create_model(NAME, pretrained=True); a bare ARCH takes timm's default tag "
        "(resnet50 = resnet50.a1_in1k)",
        "vit_small_patch16_224.augreg_in21k",
    ),
    ("timm ARCH.TAG", "timm's port of torchvision weights", "resnet50.tv_in1k"),
    ("torchvision name", "torchvision DEFAULT weights", "torchvision:resnet50"),
    (
        "torchvision:ARCH:WEIGHTS",
        "torchvision weights by enum name",
        "torchvision:resnet50:IMAGENET1K_V1",
    ),
    (
        "hf-hub:ORG/NAME",
        "timm model on the Hugging Face hub",
        "hf-hub:timm/vit_small_patch14_dinov2.lvd142m",
    ),
    (
        "local-dir:PATH",
        "timm model folder (config.json + model.safetensors)",
        "local-dir:./my_vit",
    ),
    (
        "open_clip:ARCH/PRETRAINED",
        "open_clip image tower [hub extra]",
        "open_clip:ViT-B-32/laion2b_s34b_b79k",
    ),
    (
        "open_clip:hf-hub:ORG/NAME",
        "open_clip repo on the hub [hub extra]",
        "open_clip:hf-hub:timm/ViT-B-16-SigLIP",
    ),
    (
        "hf:ORG/NAME",
        "transformers AutoModel + image processor [hub extra]",
        "hf:facebook/dinov2-small",
    ),
    (
        "ARCH --weights FILE",
        "a checkpoint file, layout detected or named",
        "resnet50 --weights moco_v2_800ep.pth.tar",
    ),
]


def _hub_backbone(name, layers, pooling, image_size, model_kwargs, weights) -> Backbone:
    """The hub sources: timm repositories, open_clip towers, transformers models."""
    if weights is not None or model_kwargs:
        raise SeabenchError(
            f"{name} brings its own weights and config; drop --weights and model options"
        )
    if name.startswith(("hf-hub:", "local-dir:")):
        from seabench.backbones.timm_hub import create_local_dir, create_timm_hub

        single = pooling if pooling in ("cls", "avg") else None
        create = create_timm_hub if name.startswith("hf-hub:") else create_local_dir
        return apply_timm_readout(create(name, pooling=single), layers, pooling)
    if name.startswith("open_clip:"):
        from seabench.backbones.open_clip_models import create_open_clip

        return create_open_clip(name, layers=layers, pooling=pooling, image_size=image_size)
    from seabench.backbones.hf_models import create_hf

    return create_hf(name, layers=layers, pooling=pooling)


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
    layers: str | None = None,
    image_size: int | None = None,
) -> Backbone:
    """A frozen pre-logits feature extractor.

    ``name``: an offline name, a timm name (``resnet50``, ``vit_small_patch16_224.augreg_in21k``),
    a torchvision name (``mobilenet_v3_large``; ``torchvision:NAME`` where timm has the same
    name; ``torchvision:NAME:WEIGHTS`` picks torchvision weights such as ``IMAGENET1K_V1``), a
    timm model folder ``local-dir:PATH``, or with ``weights`` the architecture of the checkpoint
    file, whose layout ``weights_format`` names or ``"auto"`` detects.  ``pooling``: ``"cls"``
    or ``"avg"`` for ViTs (default: the model's own).  ``mean``/``std`` override the
    preprocessing's normalisation.
    ``model_kwargs`` go to ``timm.create_model`` (e.g. ``img_size``) and into the identity.
    ``layers`` (``last1``, ``lastK``, ``N,M,...``) and ``pooling="cls+avg"``: see
    :mod:`seabench.backbones.layers`.  Names with a prefix (``hf-hub:``, ``open_clip:``,
    ``hf:``) come from the hub sources; ``image_size`` resamples an open_clip tower's
    position embedding (other models take any size as they are).
    """
    check_readout_pooling(pooling)
    check_layers_text(layers)
    if name.startswith(HUB_SOURCES):
        backbone = _hub_backbone(name, layers, pooling, image_size, model_kwargs, weights)
        return override_normalisation(backbone, mean, std)
    readout = layers is not None or pooling == "cls+avg"
    readout_pool = pooling == "cls+avg"
    if readout_pool:
        pooling = None  # the model's own pooling first; the readout replaces it
    if weights is None and weights_format != "auto":
        raise SeabenchError(
            f"--weights-format {weights_format} needs a checkpoint: add --weights FILE"
        )
    if weights is not None and name.startswith("torchvision:") and name.count(":") > 1:
        raise SeabenchError(
            f"{name} names torchvision's weights and --weights a file: keep one "
            f"(the architecture is {':'.join(name.split(':')[:2])})"
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
    if readout:
        backbone = apply_timm_readout(backbone, layers, "cls+avg" if readout_pool else pooling)
    return override_normalisation(backbone, mean, std)
