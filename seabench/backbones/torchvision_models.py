"""torchvision classification models as frozen feature extractors (the head replaced by identity)."""

from __future__ import annotations

import torchvision
from torch import nn

from seabench.backbones.base import Backbone
from seabench.errors import SeabenchError


def is_torchvision(name: str) -> bool:
    return name in torchvision.models.list_models(module=torchvision.models)


def _strip_head(model: nn.Module) -> int:
    for attr in ("fc", "classifier", "head", "heads"):
        head = getattr(model, attr, None)
        if head is None:
            continue
        linear = head if isinstance(head, nn.Linear) else next(
            (m for m in reversed(list(head.modules())) if isinstance(m, nn.Linear)), None)
        if linear is None:
            continue
        setattr(model, attr, nn.Identity())
        return linear.in_features
    raise SeabenchError("could not find the classification head of this torchvision model")


def create_torchvision(name: str, pretrained: bool = True) -> Backbone:
    try:
        weights = "DEFAULT" if pretrained else None
        model = torchvision.models.get_model(name, weights=weights)
    except Exception as exc:
        raise SeabenchError(
            f"could not get pretrained torchvision weights for {name!r} ({type(exc).__name__}); "
            "without network access pass a local file with --weights FILE"
        ) from exc
    dim = _strip_head(model)
    return Backbone(
        name=name,
        model=model.eval(),
        data_config={"input_size": [3, 224, 224], "interpolation": "bilinear",
                     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                     "crop_pct": 0.875, "crop_mode": "center"},
        dim=dim,
        identity={"name": f"torchvision:{name}", "weights": "DEFAULT" if pretrained else "random",
                  "layout": "torchvision", "pooling": "default"},
    )
