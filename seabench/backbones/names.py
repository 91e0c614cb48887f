"""The backbone names seabench knows, kept on disk so a misspelt name fails at once.

Checking ``--backbone`` against timm's and torchvision's lists means importing them (and torch),
which takes seconds; the lists are saved once, keyed by the installed timm and torchvision
versions, in the cache directory, and later runs check a name against the saved list first.
Without a saved list (the first run, or new versions) nothing is refused here: the full check
happens where the model is built.  Names with a source prefix other than ``torchvision:`` are
left to their source.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

from seabench.cachedir import cache_dir
from seabench.errors import SeabenchError


def names_file() -> Path | None:
    try:
        key = f"timm-{metadata.version('timm')}-torchvision-{metadata.version('torchvision')}"
    except metadata.PackageNotFoundError:
        return None
    return cache_dir() / f"backbone-names-{key}.json"


def saved_names() -> set[str] | None:
    path = names_file()
    if path is None:
        return None
    try:
        return set(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remember_names() -> None:
    """Save the names timm, torchvision and the offline backbones know (once per versions)."""
    path = names_file()
    if path is None or path.is_file():
        return
    import timm
    import torchvision

    from seabench.backbones.registry import OFFLINE

    names = set(timm.list_models()) | set(OFFLINE)
    names |= {f"torchvision:{n}" for n in torchvision.models.list_models(module=torchvision.models)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(names)))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: names are checked where the model is built


def check_name(name: str, *, with_weights: bool = False) -> None:
    """Refuse a name no saved list knows (timm names may carry a ``.tag``)."""
    if ":" in name and not name.startswith("torchvision:"):
        return
    known = saved_names()
    if known is None:
        return
    base = name.split(".")[0] if not name.startswith("torchvision:") else name
    if name in known or base in known or f"torchvision:{name}" in known:
        return
    if with_weights:
        raise SeabenchError(
            f"unknown architecture {name!r} for the checkpoint; name the timm or torchvision "
            "architecture the weights belong to (e.g. resnet50, vit_small_patch16_224)"
        )
    raise SeabenchError(
        f"unknown backbone {name!r}; use an offline name, a timm model name "
        "(`timm.list_models()`), a torchvision model name, or pass --weights FILE with the "
        "architecture name (see `seabench backbones`)"
    )
