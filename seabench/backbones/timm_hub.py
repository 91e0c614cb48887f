"""``hf-hub:ORG/NAME``: timm models published on the Hugging Face hub (config.json + weights).

The files come from :mod:`seabench.backbones.hub_files` (network, else the local cache at
once); the model is built from the snapshot folder with timm's own ``local-dir:`` loader, so its
pretrained config (input size, crop, interpolation, mean/std) is the repository's.
"""

from __future__ import annotations

from seabench.backbones.base import Backbone, TimmFeatures
from seabench.backbones.hub_files import fetch
from seabench.backbones.pooling import set_pooling
from seabench.backbones.timm_models import create_dynamic, timm_data_config
from seabench.errors import SeabenchError

PREFIX = "hf-hub:"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
EXAMPLE = "hf-hub:timm/vit_small_patch14_dinov2.lvd142m"


def create_timm_hub(name: str, *, pooling: str | None = None) -> Backbone:
    """A timm model from a hub repository, with its pretrained config's preprocessing."""
    repo = name.removeprefix(PREFIX)
    if repo.count("/") != 1:
        raise SeabenchError(f"--backbone {name}: write a hub name as {PREFIX}ORG/NAME")
    snap = fetch(repo, [("config.json",), WEIGHTS], name)
    try:
        model = create_dynamic(f"local-dir:{snap.folder}", pretrained=True).eval()
    except Exception as exc:  # noqa: BLE001  (a config or file that timm cannot use)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SeabenchError(
            f"{name}: timm cannot build a model from {snap.folder} ({first}); is it a timm "
            "repository? transformers repositories are named hf:ORG/NAME"
        ) from None
    pooled = set_pooling(model, pooling, name)
    return Backbone(
        name=name,
        model=TimmFeatures(model).eval(),
        data_config=timm_data_config(model),
        dim=model.num_features,
        identity={
            "name": name,
            "weights": f"hf-hub:{snap.identity}",
            "layout": "timm",
            "pooling": pooled,
        },
        classifier=model,
    )
