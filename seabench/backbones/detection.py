"""Auto-detection of a checkpoint's layout from everything the file says.

Evidence comes first: wrapper keys, key prefixes and the file's own ``arch`` entry (a layout's
``detect`` rules).  Without evidence, the candidates are the layouts whose rules map the file's
keys exactly onto the architecture (names and shapes) and whose method published that
architecture.  One candidate is taken; several are never guessed between, because they build
the model or preprocess its input differently (ViT heads and the preprocessing are invisible in
the keys): the message names each with what it would do.  A file's own ``arch``/``args`` entry
that contradicts the architecture asked for is refused, naming both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from seabench.backbones.layouts import (
    LAYOUTS,
    MOCOV3_ARCH_NAMES,
    PREPROCESS_WORDS,
    Detect,
    Layout,
    _show,
    arch_base,
)
from seabench.errors import SeabenchError

#: what a MoCo v3 ``arch`` entry means, as (timm family regex, words)
MOCOV3_ARCHS = {
    "vit_small": (r"^vit_small_patch16_", "ViT-Small/16 with 12 heads: vit_small_patch16_224"),
    "vit_base": (r"^vit_base_patch16_", "ViT-Base/16: vit_base_patch16_224"),
}


def declared_arch(raw: Mapping) -> str | None:
    """The architecture the file names itself: a top-level ``arch`` or ``args.arch``/``model``."""
    arch = raw.get("arch")
    if isinstance(arch, str):
        return arch
    args = raw.get("args")
    for attr in ("arch", "model"):
        value = getattr(args, attr, None) if args is not None else None
        if isinstance(value, str):
            return value
    return None


def _keys(raw: Mapping) -> list[str]:
    keys = []
    for value in (raw, *(v for v in raw.values() if isinstance(v, Mapping))):
        keys += [k.removeprefix("module.") for k in value if isinstance(k, str)]
    return keys


def _matches(raw: Mapping, detect: Detect) -> bool:
    if not all(k in raw for k in detect.top):
        return False
    if detect.exact_top and set(raw) != set(detect.top):
        return False
    if detect.arch and raw.get("arch") not in detect.arch:
        return False
    if detect.markers or detect.all_markers:
        keys = _keys(raw)
        if detect.markers and not any(k.startswith(detect.markers) for k in keys):
            return False
        if not all(any(k.startswith(m) for k in keys) for m in detect.all_markers):
            return False
    return True


def evidence(raw: Mapping) -> list[str]:
    """The layouts whose detection rules the file matches."""
    return [
        layout.name for layout in LAYOUTS.values() if any(_matches(raw, d) for d in layout.detect)
    ]


def detect_layout(raw: Mapping, fallback: str = "timm") -> str:
    """The one layout the file's evidence names, or ``fallback`` where there is none.

    Raises SeabenchError where the evidence names more than one layout.  (Without evidence,
    :func:`resolve_layout` also checks which layouts fit the architecture.)
    """
    names = evidence(raw)
    if len(names) > 1:
        raise SeabenchError(
            "cannot tell the checkpoint's layout (top-level keys: "
            f"{_show(sorted(map(str, raw)))}): it fits {', '.join(names)}, which load or "
            "preprocess differently; name one with --weights-format (see `seabench backbones`)"
        )
    return names[0] if names else fallback


def _protocol(layout: Layout, arch: str) -> str:
    """How a layout would build and preprocess ``arch``, in words."""
    kwargs = layout.model_kwargs(arch)
    preset = layout.preprocess_for(arch)
    words = (
        f"{arch_base(arch)}'s own timm preprocessing"
        if preset == "model"
        else PREPROCESS_WORDS[preset]
    )
    built = " ".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{built}, {words}" if built else words


def resolve_layout(
    raw: Mapping,
    arch: str,
    fits: Callable[[Layout], bool],
    *,
    is_timm: bool,
    is_torchvision: bool,
) -> str:
    """The layout for ``--weights-format auto``; asks (SeabenchError) where the file cannot tell.

    ``fits(layout)``: whether the layout's rules map the keys exactly onto the model.
    """
    named = evidence(raw)
    if named:
        return detect_layout(raw)
    plausible = [
        layout
        for layout in LAYOUTS.values()
        if layout.plausible(arch, is_timm=is_timm, is_torchvision=is_torchvision)
    ]
    candidates = [layout for layout in plausible if fits(layout)]
    if len(candidates) == 1:
        return candidates[0].name
    if not candidates:  # nothing fits: the strict load names the keys
        return "timm" if is_timm and not arch.startswith("torchvision:") else "torchvision"
    groups: dict[str, list[str]] = {}
    for layout in candidates:
        groups.setdefault(_protocol(layout, arch), []).append(layout.name)
    said = declared_arch(raw)
    raise SeabenchError(
        f"cannot tell which layout the checkpoint has: nothing in it (top-level keys "
        f"{_show(sorted(map(str, raw)))}"
        + (f", arch {said!r}" if said else "")
        + f") names its method, and its keys fit {len(candidates)} layouts for {arch} that "
        "build or preprocess differently: "
        + " | ".join(f"{', '.join(names)}: {how}" for how, names in groups.items())
        + "; name one with --weights-format (see `seabench backbones`)"
    )


def check_named_format(raw: Mapping, layout: Layout, arch: str) -> None:
    """Refuse a --weights-format that would build ``arch`` otherwise than the layout the file
    itself names (a MoCo v3 file, ``arch`` 'vit_small', under timm or dino: 6 heads, not 12).

    Another preprocessing is the user's to choose; another model is never right."""
    for name in evidence(raw):
        theirs = LAYOUTS[name].model_kwargs(arch)
        if name != layout.name and theirs != layout.model_kwargs(arch):
            said = declared_arch(raw)
            built = ", ".join(f"{k}={v}" for k, v in theirs.items())
            raise SeabenchError(
                f"the checkpoint is a {name} file"
                + (f" (arch {said!r})" if said else "")
                + f", whose {arch_base(arch)} has {built}; --weights-format {layout.name} "
                f"would build it without, loading the weights into another model; use "
                f"--weights-format {name} (or auto)"
            )


def check_declared_arch(raw: Mapping, layout: Layout, arch: str) -> None:
    """Refuse an architecture the file's own ``arch`` entry contradicts (where it is known)."""
    import re

    said = declared_arch(raw)
    if said is None or layout.name != "mocov3" or said not in MOCOV3_ARCH_NAMES:
        return
    if said.startswith("vit_conv_"):
        raise SeabenchError(
            f"the checkpoint is MoCo v3's {said} (a ViT with a convolutional stem and 11 "
            "blocks), which has no architecture in seabench; use a vit_small / vit_base file"
        )
    family, words = MOCOV3_ARCHS[said]
    if not re.match(family, arch_base(arch)):
        raise SeabenchError(
            f"the checkpoint says arch {said!r} (MoCo v3 {words}), not {arch}; "
            f"pass --backbone {words.rsplit(': ', 1)[-1]}"
        )


def check_plausible(layout: Layout, arch: str, *, is_timm: bool, is_torchvision: bool) -> None:
    """Refuse an architecture the layout's method never published (its hidden hyperparameters,
    such as the number of ViT heads, would be guessed)."""
    if not layout.plausible(arch, is_timm=is_timm, is_torchvision=is_torchvision):
        raise SeabenchError(
            f"layout {layout.name!r} holds {layout.family_words()}, not {arch}: the file "
            "cannot say the hyperparameters its keys do not show (e.g. a ViT's number of "
            "heads); pass the architecture its method used"
        )
