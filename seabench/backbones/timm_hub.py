"""timm models saved as a folder of config.json + weights: on the Hugging Face hub
(``hf-hub:ORG/NAME``) or on disk (``local-dir:PATH``).

Hub files come from :mod:`seabench.backbones.hub_files` (network, else the local cache at once).
Either way the model is built from the folder with timm's own ``local-dir:`` loader, so its
pretrained config (input size, crop, interpolation, mean/std) is the folder's.
"""

from __future__ import annotations

from pathlib import Path

from seabench._io import file_sha256
from seabench.backbones.base import Backbone, TimmFeatures
from seabench.backbones.hub_files import fetch
from seabench.backbones.pooling import set_pooling
from seabench.backbones.timm_models import create_dynamic, timm_data_config
from seabench.errors import SeabenchError

PREFIX = "hf-hub:"
LOCAL = "local-dir:"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
EXAMPLE = "hf-hub:timm/vit_small_patch14_dinov2.lvd142m"


def _from_folder(name: str, folder: Path, pooling: str | None, hint: str):
    """(timm model in eval mode, the pooling in effect) from a config.json + weights folder."""
    from seabench.backbones.torchvision_models import weights_only_loads

    try:
        with weights_only_loads():  # a pytorch_model.bin is read as weights, never as code
            model = create_dynamic(f"local-dir:{folder}", pretrained=True).eval()
    except Exception as exc:  # noqa: BLE001  (a config or file that timm cannot use)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SeabenchError(
            f"{name}: timm cannot build a model from {folder} ({first}); {hint}"
        ) from None
    return model, set_pooling(model, pooling, name)


def _backbone(name, model, pooled, weights: str, source: str, tag: str, **extra) -> Backbone:
    return Backbone(
        name=name,
        model=TimmFeatures(model).eval(),
        data_config=timm_data_config(model),
        dim=model.num_features,
        identity={"name": name, "weights": weights, **extra, "layout": "timm", "pooling": pooled},
        classifier=model,
        source=source,
        weights_tag=tag,
    )


def create_timm_hub(name: str, *, pooling: str | None = None) -> Backbone:
    """A timm model from a hub repository, with its pretrained config's preprocessing."""
    repo = name.removeprefix(PREFIX)
    if repo.count("/") != 1:
        raise SeabenchError(f"--backbone {name}: write a hub name as {PREFIX}ORG/NAME")
    snap = fetch(repo, [("config.json",), WEIGHTS], name)
    model, pooled = _from_folder(
        name,
        snap.folder,
        pooling,
        "is it a timm repository? transformers repositories are named hf:ORG/NAME",
    )
    return _backbone(name, model, pooled, f"hf-hub:{snap.identity}", "hf-hub", snap.identity)


def local_weights(name: str) -> tuple[Path, Path]:
    """The folder of a ``local-dir:PATH`` name and its weights file, checked: one line naming
    what is missing."""
    folder = Path(name.removeprefix(LOCAL)).expanduser()
    what = f"a timm model folder holds config.json and {' or '.join(WEIGHTS)}"
    if not str(folder) or not folder.is_dir():
        raise SeabenchError(f"--backbone {name}: {folder} is not a folder ({what})")
    if not (folder / "config.json").is_file():
        raise SeabenchError(f"--backbone {name}: {folder} has no config.json ({what})")
    found = [folder / w for w in WEIGHTS if (folder / w).is_file()]
    if not found:
        raise SeabenchError(f"--backbone {name}: {folder} has no {' or '.join(WEIGHTS)} ({what})")
    return folder, found[0]  # timm reads model.safetensors first


def create_local_dir(name: str, *, pooling: str | None = None) -> Backbone:
    """A timm model saved in a local folder (timm's ``local-dir:`` names), keyed by the hashes of
    its config and weights, so an edited folder never reuses stale features."""
    folder, weights = local_weights(name)
    sha = file_sha256(weights)
    model, pooled = _from_folder(
        name, folder, pooling, "is config.json a timm config (it names an architecture)?"
    )
    return _backbone(
        name,
        model,
        pooled,
        "local-dir",
        "local-dir",
        f"{folder.resolve()}/{weights.name} (sha256 {sha[:12]})",
        weights_sha256=sha,
        config_sha256=file_sha256(folder / "config.json"),
    )
