"""torchvision classification models as frozen feature extractors.

The feature is the input of the last linear layer of the head (ResNet ``fc``, EfficientNet
``classifier.1``, MobileNet-v3 ``classifier.3``, VGG ``classifier.6``, ViT ``heads.head``): that
layer becomes an identity.  Pretrained weights are the name's ``DEFAULT`` weights, or the ones a
name picks with ``torchvision:ARCH:WEIGHTS`` (``torchvision:resnet50:IMAGENET1K_V1``), a download
into the torch hub cache, preprocessed with the transform those weights were evaluated with.

torchvision reads that cache with ``torch.load(weights_only=False)``, so a file planted there (or
put there by hand, as the offline instructions say) would run code when loaded; torch's own
switch ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` is set while the model is built, so it is read
weights-only and a pickled object in it is refused.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torchvision
from torch import nn

from seabench.backbones.base import Backbone
from seabench.errors import SeabenchError

_HEADS = ("fc", "classifier", "head", "heads")


@contextmanager
def weights_only_loads() -> Iterator[None]:
    """Every ``torch.load`` inside reads weights only, whatever its caller asked for."""
    name = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
    old = os.environ.get(name)
    os.environ[name] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def split_name(name: str) -> tuple[str, str | None]:
    """``torchvision:ARCH:WEIGHTS`` -> (``ARCH``, ``WEIGHTS``); without a weights part, None."""
    arch, _, weights = name.removeprefix("torchvision:").partition(":")
    return arch, weights or None


def is_torchvision(name: str) -> bool:
    return split_name(name)[0] in torchvision.models.list_models(module=torchvision.models)


def weights_choice(arch: str, choice: str | None, pretrained: bool = True):
    """The weights enum member a name asks for (``IMAGENET1K_V1``; default: ``DEFAULT``)."""
    if not pretrained:
        if choice is not None:
            raise SeabenchError(
                f"torchvision:{arch}:{choice} names pretrained weights; drop the weights part "
                "for a randomly initialised model"
            )
        return None
    enum = torchvision.models.get_model_weights(arch)
    if choice is None:
        return enum.DEFAULT
    members = {m.upper(): m for m in enum.__members__}
    if choice.upper() not in members:
        raise SeabenchError(
            f"torchvision has no weights {choice!r} for {arch}; choose one of: "
            + ", ".join(f"torchvision:{arch}:{m}" for m in enum.__members__)
        )
    return enum[members[choice.upper()]]


def head_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """The dotted name and module of the last linear layer of the model's head."""
    for attr in _HEADS:
        head = getattr(model, attr, None)
        if head is None:
            continue
        if isinstance(head, nn.Linear):
            return attr, head
        linears = [(n, m) for n, m in head.named_modules() if isinstance(m, nn.Linear)]
        if linears:
            sub, linear = linears[-1]
            return f"{attr}.{sub}", linear
    raise SeabenchError(
        f"cannot find a linear classification head in {type(model).__name__}; "
        "use a model whose head ends in a linear layer"
    )


def strip_head(model: nn.Module) -> tuple[str, int]:
    """Replace the head's last linear layer by an identity; return its name and input width."""
    path, linear = head_linear(model)
    model.set_submodule(path, nn.Identity())
    return path, linear.in_features


def torchvision_pooling(name: str, pooling: str | None) -> str:
    """torchvision models pool one way (ViTs: class token; others: average); check a request."""
    native = "cls" if name.removeprefix("torchvision:").startswith("vit_") else "avg"
    if pooling is not None and pooling != native:
        raise SeabenchError(
            f"torchvision {name} pools with {native!r} only; --pooling {pooling} needs the timm "
            "version of the model"
        )
    return native


def _data_config(weights) -> dict:
    t = weights.transforms()
    crop = int(t.crop_size[0])
    resize = int(t.resize_size[0]) if t.resize_size else crop
    return {
        "input_size": [3, crop, crop],
        "interpolation": t.interpolation.value,
        "mean": [float(v) for v in t.mean],
        "std": [float(v) for v in t.std],
        "crop_pct": crop / resize,
        "crop_mode": "center",
    }


def torchvision_checkpoint_model(name: str) -> tuple[nn.Module, str, int]:
    """A randomly initialised model for a checkpoint: (model without head, head name, dim)."""
    model = torchvision.models.get_model(name.removeprefix("torchvision:"), weights=None)
    path, dim = strip_head(model)
    return model.eval(), path, dim


def create_torchvision(name: str, pretrained: bool = True, pooling: str | None = None) -> Backbone:
    """A torchvision model by name, with its DEFAULT weights when pretrained, or the ones
    ``torchvision:ARCH:WEIGHTS`` names (needs the network the first time; later runs read the
    torch hub cache)."""
    arch, choice = split_name(name)
    choice = choice.upper() if choice else None  # the enum's members are upper case
    pooled = torchvision_pooling(arch, pooling)
    weights = weights_choice(arch, choice, pretrained)
    try:
        with weights_only_loads():
            model = torchvision.models.get_model(arch, weights=weights)
    except pickle.UnpicklingError as exc:
        raise SeabenchError(
            f"the cached torchvision weights of {arch!r} in {torch.hub.get_dir()}/checkpoints "
            "are not plain weights (they hold pickled code or objects; refused, nothing was "
            "run); delete that file and let torchvision download it again"
        ) from exc
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise SeabenchError(
            f"could not download torchvision weights {weights} for {arch!r} "
            f"({type(exc).__name__}: {first}); without network access put the file in "
            f"{torch.hub.get_dir()}/checkpoints or pass --weights FILE --weights-format torchvision"
        ) from exc
    path, linear = head_linear(model)
    model.set_submodule(path, nn.Identity())
    cfg = (
        _data_config(weights)
        if weights is not None
        else {
            "input_size": [3, 224, 224],
            "interpolation": "bilinear",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "crop_pct": 0.875,
            "crop_mode": "center",
        }
    )
    return Backbone(
        name=name,
        model=model.eval(),
        data_config=cfg,
        dim=linear.in_features,
        identity={
            # an explicit choice is its own name (DEFAULT is an alias of one of the others)
            "name": f"torchvision:{arch}" + (f":{choice}" if choice else ""),
            "weights": str(weights) if weights else "random",
            "layout": "torchvision",
            "pooling": pooled,
        },
        # features then the removed linear layer: the original classifier, sharing its weights
        classifier=nn.Sequential(model, linear).eval(),
        source="torchvision",
        weights_tag=str(weights) if weights else "random-init",
    )
