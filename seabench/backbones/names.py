"""The backbone names seabench knows, checked without importing torch, so a misspelt name fails
at once (importing timm and torchvision to ask them takes seconds).

- timm architectures with their pretrained tags and torchvision's model names: the list shipped
  beside this module (``model_names.txt``, written by ``scripts/make_backbone_names.py``; a test
  keeps it equal to the installed timm and torchvision).  Where the installed versions differ from
  the list's, a name the list lacks may be new: it is checked against the list saved in the cache
  directory for those versions (written by the first run that loaded timm), else left to the model
  builder.
- seabench's own names (the offline backbones, the CIFAR ResNets of checkpoint files).
- prefixed names: ``PREFIXES`` is the one table of the accepted prefixes; ``torchvision:`` names
  are checked against the list (a ``:WEIGHTS`` choice after them where the model is built), the
  other sources (``hf-hub:``, ``local-dir:``, ...) check their own names when the model is built,
  and an unknown prefix is refused with the known ones.

An unknown name gets one line with the closest known names.
"""

from __future__ import annotations

import difflib
import json
import os
from functools import cache
from importlib import metadata
from pathlib import Path

from seabench.cachedir import cache_dir
from seabench.errors import SeabenchError

#: accepted ``--backbone`` prefixes -> what follows them (extend here for a new source)
PREFIXES: dict[str, str] = {
    "torchvision:": "a torchvision model name",
    "hf-hub:": "ORG/NAME of a timm model on the Hugging Face hub",
    "local-dir:": "PATH of a timm model folder (config.json + model.safetensors)",
    "open_clip:": "ARCH/PRETRAINED or hf-hub:ORG/NAME of an open_clip model",
    "hf:": "ORG/NAME of a transformers model",
}
#: prefixes whose names are in the shipped list (the others are checked by their source)
LISTED_PREFIXES = ("torchvision:",)
#: the offline backbones (``registry.OFFLINE``; a test keeps the two equal)
OFFLINE_NAMES = ("efficientnet_lite0", "efficientnet_lite1")
#: architectures seabench adds to timm for checkpoint files (``cifar_resnet``)
OWN_ARCHS = ("cifar_resnet18", "cifar_resnet50")

LISTING = Path(__file__).with_name("model_names.txt")


@cache
def shipped() -> tuple[str, dict[str, tuple[str, ...]], frozenset[str]]:
    """(the versions line, timm architecture -> pretrained tags, torchvision names) of the list."""
    lines = LISTING.read_text().splitlines()
    versions = lines[0].lstrip("# ").strip() if lines else ""
    timm_tags: dict[str, tuple[str, ...]] = {}
    tv: set[str] = set()
    for line in lines:
        if not line or line.startswith("#"):
            continue
        name, *tags = line.split()
        if name.startswith("torchvision:"):
            tv.add(name.removeprefix("torchvision:"))
        else:
            timm_tags[name] = tuple(tags)
    return versions, timm_tags, frozenset(tv)


def installed_versions() -> str | None:
    """``timm X torchvision Y`` as installed (read from the package metadata, no import)."""
    try:
        return f"timm {metadata.version('timm')} torchvision {metadata.version('torchvision')}"
    except metadata.PackageNotFoundError:
        return None


def names_file() -> Path | None:
    """The list saved for installed versions that the shipped list is not for."""
    versions = installed_versions()
    if versions is None:
        return None
    return cache_dir() / f"backbone-names-{versions.replace(' ', '-')}.json"


def saved_names() -> set[str] | None:
    path = names_file()
    if path is None:
        return None
    try:
        return set(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remember_names() -> None:
    """Save the names the installed timm and torchvision know where the shipped list is for other
    versions (once per versions; called where timm is imported anyway)."""
    if installed_versions() == shipped()[0]:
        return
    path = names_file()
    if path is None or path.is_file():
        return
    import timm
    import torchvision

    names = set(timm.list_models()) | set(timm.list_pretrained())
    names |= {f"torchvision:{n}" for n in torchvision.models.list_models(module=torchvision.models)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(names)))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache: names are checked where the model is built


def _prefix(name: str) -> str | None:
    return name[: name.index(":") + 1] if ":" in name else None


def _known(name: str, with_weights: bool) -> bool | None:
    """True: a known name; False: unknown to an authoritative list; None: cannot tell here."""
    if name in OFFLINE_NAMES or name in OWN_ARCHS:
        return True
    versions, timm_tags, tv = shipped()
    # torchvision:ARCH:WEIGHTS: the weights part is the source's to check (it lists the choices)
    tv_name = name.removeprefix("torchvision:").partition(":")[0]
    arch, _, tag = name.partition(".")
    if name.startswith("torchvision:"):
        if tv_name.partition(".")[0] in tv:  # a weights suffix is the source's to check
            return True
    elif arch in timm_tags:
        if not tag or with_weights or tag in timm_tags[arch] or not timm_tags[arch]:
            return True
    elif not tag and name in tv:
        return True
    if versions == installed_versions():
        return False
    saved = saved_names()
    if saved is None:
        return None  # other versions, never listed: left to the model builder
    return name in saved or arch in saved or f"torchvision:{tv_name}" in saved


def torchvision_knows(arch: str) -> bool:
    """Whether torchvision has a model of this name (the shipped list, else the saved one)."""
    if arch in shipped()[2]:
        return True
    return f"torchvision:{arch}" in (saved_names() or ())


def spellings(name: str) -> frozenset[str]:
    """The names that select the same model and weights as ``name``: a torchvision-only
    architecture is also ``torchvision:ARCH`` (one cache key), so features extracted under one
    spelling are found under the other.  A name timm also has is timm's when bare: never merged.
    """
    _, timm_tags, tv = shipped()
    arch = name.removeprefix("torchvision:")
    if ":" in arch or "." in arch or arch not in tv or arch in timm_tags:
        return frozenset({name})
    return frozenset({arch, f"torchvision:{arch}"})


def _suggest(name: str) -> str:
    _, timm_tags, tv = shipped()
    arch, _, tag = name.partition(".")
    if tag and arch in timm_tags:
        pool = [f"{arch}.{t}" for t in timm_tags[arch]]
    elif name.startswith("torchvision:"):
        pool = [f"torchvision:{n}" for n in tv]
    else:
        pool = [*timm_tags, *tv, *OFFLINE_NAMES, *OWN_ARCHS]
    close = difflib.get_close_matches(name, sorted(set(pool)), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def check_name(name: str, *, with_weights: bool = False) -> None:
    """Refuse an unknown backbone name (or architecture, ``with_weights``) with the closest known
    names, without importing torch; a name this cannot judge passes to the model builder."""
    prefix = _prefix(name)
    if prefix is not None and prefix not in PREFIXES:
        raise SeabenchError(
            f"unknown backbone prefix {prefix!r} in {name!r}; known prefixes: "
            f"{', '.join(PREFIXES)} (see `seabench backbones`)"
        )
    if prefix is not None and not name[len(prefix) :].strip():
        raise SeabenchError(
            f"--backbone {name!r} names no model; {prefix} takes {PREFIXES[prefix]}"
        )
    if prefix is not None and prefix not in LISTED_PREFIXES:
        return  # the source checks its own names where the model is built
    if _known(name, with_weights) is not False:
        return
    arch, _, tag = name.partition(".")
    if tag and arch in shipped()[1]:
        raise SeabenchError(
            f"timm has no pretrained weights {name!r}{_suggest(name)}; `timm.list_pretrained"
            f"('{arch}*')` lists them, or drop the tag for the default"
        )
    if with_weights:
        raise SeabenchError(
            f"unknown architecture {name!r} for the checkpoint{_suggest(name)}; name the timm or "
            "torchvision architecture the weights belong to (e.g. resnet50, vit_small_patch16_224)"
        )
    raise SeabenchError(
        f"unknown backbone {name!r}{_suggest(name)}; use an offline name "
        f"({', '.join(OFFLINE_NAMES)}), a timm or torchvision model name, or a prefixed name "
        f"({', '.join(PREFIXES)}) (see `seabench backbones`)"
    )
