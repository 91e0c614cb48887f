"""Checkpoint layouts as data: how a third-party checkpoint file maps onto a timm/torchvision model.

Each layout is one small declarative rule set, in the spirit of timm's pretrained configs: which
wrapper key holds the state dict, which prefix to keep (and strip), which prefixes to strip where
present, which keys to drop, which regex renames to apply, which preprocessing the model expects,
and which architecture fixes the keys cannot show.  The architecture's own classifier (``fc`` /
``head`` / ``classifier``) is always dropped, because seabench uses pre-logits features only.

Auto-detection is data too: a layout may name top-level keys or key prefixes that identify it.
Where the keys cannot tell two layouts apart and the difference changes the numbers (SimCLR's
unnormalised input), auto-detection refuses to guess and asks for ``--weights-format``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from seabench.errors import SeabenchError

#: preprocessing presets; "model" means the architecture's own timm data config
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESS: dict[str, dict] = {
    # ssl-transfer / AugSelf protocol: Resize(224, bicubic) + CenterCrop(224), ImageNet mean/std
    "transfer": {
        "interpolation": "bicubic",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    },
    # SimCLR v1/v2 were trained on [0, 1] pixels: no mean/std normalisation
    "transfer-unnormalised": {
        "interpolation": "bicubic",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "mean": (0.0, 0.0, 0.0),
        "std": (1.0, 1.0, 1.0),
    },
    # torchvision's ImageNet evaluation transform
    "torchvision": {
        "interpolation": "bilinear",
        "crop_pct": 0.875,
        "crop_mode": "center",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    },
}
PREPROCESS_WORDS = {
    "model": "the architecture's own timm preprocessing",
    "transfer": "bicubic resize + centre crop (crop 1.0), ImageNet mean/std",
    "transfer-unnormalised": "bicubic resize + centre crop (crop 1.0), no mean/std normalisation",
    "torchvision": "torchvision's ImageNet preprocessing (bilinear, crop 0.875)",
}


@dataclass(frozen=True)
class Detect:
    """Evidence for a layout: all ``top`` keys at the top level, and a key under one of ``markers``.

    ``exact_top`` requires the top level to hold exactly ``top``.  ``unsure_with`` names the
    layouts that the same evidence also fits: a match then asks the user to choose.
    """

    top: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    exact_top: bool = False
    unsure_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    name: str
    source: str
    #: wrapper keys tried in order; a file without any of them must itself be the state dict
    unwrap: tuple[str, ...] = ("state_dict", "model")
    #: keep only keys under one of these prefixes (the prefix is removed); empty: keep all
    keep: tuple[str, ...] = ()
    #: prefixes removed where present (DataParallel's ``module.``)
    strip: tuple[str, ...] = ("module.",)
    #: key prefixes dropped after keep/strip (projection heads, prototypes); the model's
    #: classifier is dropped in every layout
    drop: tuple[str, ...] = ()
    #: (regex, replacement) applied in order to every key, last
    renames: tuple[tuple[str, str], ...] = ()
    #: key into PREPROCESS, or "model" for the architecture's own data config
    preprocess: str = "transfer"
    #: (architecture regex, timm kwargs): fixes that the keys cannot show
    arch_kwargs: tuple[tuple[str, Mapping], ...] = ()
    detect: tuple[Detect, ...] = ()

    def model_kwargs(self, arch: str) -> dict:
        out: dict = {}
        for pattern, kwargs in self.arch_kwargs:
            if re.match(pattern, arch):
                out.update(kwargs)
        return out

    def rules(self) -> str:
        """The rule set in words (for ``seabench backbones`` and error messages)."""
        words = []
        if self.unwrap:
            words.append(
                "state dict under "
                + " or ".join(repr(k) for k in self.unwrap)
                + " (else the file itself)"
            )
        if self.keep:
            words.append("keep " + " / ".join(f"{p}*" for p in self.keep) + " minus the prefix")
        if self.strip:
            words.append("strip " + ", ".join(self.strip))
        words.append("drop " + ", ".join([f"{p}*" for p in self.drop] + ["the classifier"]))
        if self.renames:
            shown = ", ".join(
                f"{a.strip('^').replace(chr(92), '')}* -> {b}*" for a, b in self.renames[:2]
            )
            words.append(f"rename {len(self.renames)} patterns ({shown}, ...)")
        for pattern, kwargs in self.arch_kwargs:
            words.append(
                f"{pattern.lstrip('^')}*: " + ", ".join(f"{k}={v}" for k, v in kwargs.items())
            )
        words.append(PREPROCESS_WORDS[self.preprocess])
        return "; ".join(words)


_SSL_PLAIN = dict(unwrap=("state_dict",), preprocess="transfer")

# SimCLR v2 converted by Separius/SimCLRv2-Pytorch (r50_1x_sk0): {'resnet': ..., 'head': ...}
# with nn.Sequential names; mapped onto torchvision/timm ResNet names.
_BLOCK = r"^net\.([1-4])\.blocks\.(\d+)\."
SIMCLR_V2_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^net\.0\.0\.", "conv1."),
    (r"^net\.0\.1\.0\.", "bn1."),
    (_BLOCK + r"net\.0\.", r"layer\1.\2.conv1."),
    (_BLOCK + r"net\.1\.0\.", r"layer\1.\2.bn1."),
    (_BLOCK + r"net\.2\.", r"layer\1.\2.conv2."),
    (_BLOCK + r"net\.3\.0\.", r"layer\1.\2.bn2."),
    (_BLOCK + r"net\.4\.", r"layer\1.\2.conv3."),
    (_BLOCK + r"net\.5\.0\.", r"layer\1.\2.bn3."),
    (_BLOCK + r"projection\.shortcut\.", r"layer\1.\2.downsample.0."),
    (_BLOCK + r"projection\.bn\.0\.", r"layer\1.\2.downsample.1."),
)

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "timm",
            "timm or any plain state dict with the architecture's own names",
            unwrap=("state_dict", "model"),
            preprocess="model",
        ),
        Layout(
            "torchvision",
            "torchvision classification state dict",
            unwrap=("state_dict", "model"),
            preprocess="torchvision",
        ),
        Layout(
            "mocov2",
            "MoCo v1/v2 (facebookresearch/moco) checkpoint",
            unwrap=("state_dict",),
            keep=("module.encoder_q.", "encoder_q."),
            strip=(),
            detect=(Detect(markers=("encoder_q.",)),),
        ),
        Layout(
            "mocov3",
            "MoCo v3 (facebookresearch/moco-v3) ResNet or ViT checkpoint",
            unwrap=("state_dict",),
            keep=("module.base_encoder.", "base_encoder."),
            strip=(),
            # MoCo v3 ViT-Small has 12 heads; timm's vit_small has 6 and the keys are the same
            arch_kwargs=((r"^vit_small_", {"num_heads": 12}),),
            detect=(Detect(markers=("base_encoder.", "momentum_encoder.")),),
        ),
        Layout(
            "simclr",
            "SimCLR v1 converted {'state_dict'} or v2 converted {'resnet', 'head'}",
            unwrap=("resnet", "state_dict"),
            renames=SIMCLR_V2_RENAMES,
            preprocess="transfer-unnormalised",
            detect=(
                Detect(top=("resnet",)),
                Detect(top=("state_dict",), exact_top=True, unsure_with=("timm",)),
            ),
        ),
        Layout(
            "swav",
            "SwAV / DeepCluster-v2 / SeLa-v2 (facebookresearch/swav) checkpoint",
            drop=("projection_head.", "prototypes."),
            **_SSL_PLAIN,
            detect=(Detect(markers=("prototypes.", "projection_head.")),),
        ),
        Layout(
            "barlowtwins", "Barlow Twins backbone (plain torchvision names, no fc)", **_SSL_PLAIN
        ),
        Layout(
            "dino",
            "DINO backbone (ResNet: torchvision names; ViT: timm names) or full "
            "checkpoint's 'teacher'",
            unwrap=("teacher", "state_dict"),
            strip=("module.", "backbone."),
            drop=("head.",),
            preprocess="transfer",
            detect=(Detect(top=("teacher", "student")),),
        ),
        Layout(
            "byol-converted",
            "BYOL converted from the JAX release to torchvision names",
            **_SSL_PLAIN,
        ),
        Layout(
            "augself",
            "AugSelf (hankook/AugSelf) checkpoint {'backbone': ...}",
            unwrap=("backbone",),
            preprocess="transfer",
            detect=(Detect(top=("backbone",)),),
        ),
    )
}

FORMATS = ("auto", *LAYOUTS)


def get_layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise SeabenchError(
            f"unknown --weights-format {name!r}; choose one of: {', '.join(FORMATS)}"
        )
    return LAYOUTS[name]


def _is_state_dict(d: object) -> bool:
    return (
        isinstance(d, Mapping)
        and bool(d)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())
    )


def _show(keys, n: int = 6) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" ... ({len(keys)} in all)" if len(keys) > n else "")


def unwrap(raw: Mapping, layout: Layout) -> tuple[dict, str | None]:
    """The state dict inside ``raw`` per the layout's wrapper keys, and the key it was under."""
    for key in layout.unwrap:
        if key in raw and isinstance(raw[key], Mapping):
            inner = raw[key]
            if not _is_state_dict(inner):
                bad = [k for k, v in inner.items() if not isinstance(v, torch.Tensor)]
                raise SeabenchError(
                    f"the checkpoint's {key!r} entry is not a state dict (non-tensor entries: "
                    f"{_show(bad)}); layout {layout.name!r} expects tensors there"
                )
            return dict(inner), key
    if _is_state_dict(raw):
        return dict(raw), None
    raise SeabenchError(
        f"no state dict found for layout {layout.name!r}: it looks under "
        f"{' or '.join(repr(k) for k in layout.unwrap)}, and the file's top-level keys are "
        f"{_show(sorted(map(str, raw)))}; pass the --weights-format that fits this file"
    )


def apply_layout(raw: Mapping, layout: Layout, classifier: tuple[str, ...] = ()) -> dict:
    """The model-ready state dict: unwrap, keep/strip prefixes, drop, rename (in that order).

    ``classifier`` names the architecture's head modules; their keys are dropped too.
    """
    state, _ = unwrap(raw, layout)
    if layout.keep:
        kept = {}
        for key, value in state.items():
            prefix = next((p for p in layout.keep if key.startswith(p)), None)
            if prefix is not None:
                kept[key[len(prefix) :]] = value
        if not kept:
            raise SeabenchError(
                f"layout {layout.name!r} keeps keys under {' or '.join(layout.keep)}, but none "
                f"of the checkpoint's keys start so (they look like: {_show(state)}); "
                "try another --weights-format"
            )
        state = kept
    out = {}
    drops = tuple(layout.drop) + tuple(f"{c}." for c in classifier)
    for key, value in state.items():
        for prefix in layout.strip:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key.startswith(drops):
            continue
        for pattern, repl in layout.renames:
            key = re.sub(pattern, repl, key)
        if key in out:
            raise SeabenchError(f"layout {layout.name!r} maps two checkpoint keys onto {key!r}")
        out[key] = value
    return out


def _matches(raw: Mapping, detect: Detect) -> bool:
    if not all(k in raw for k in detect.top):
        return False
    if detect.exact_top and set(raw) != set(detect.top):
        return False
    if not detect.markers:
        return True
    keys = []
    for value in (raw, *(v for v in raw.values() if isinstance(v, Mapping))):
        keys += [k.removeprefix("module.") for k in value if isinstance(k, str)]
    return any(k.startswith(detect.markers) for k in keys)


def detect_layout(raw: Mapping, fallback: str = "timm") -> str:
    """The layout whose detection rules the file matches, or ``fallback`` for a plain state dict.

    Raises SeabenchError where the evidence fits more than one layout.
    """
    sure, unsure = [], []
    for layout in LAYOUTS.values():
        for detect in layout.detect:
            if _matches(raw, detect):
                (unsure if detect.unsure_with else sure).append((layout.name, detect))
                break
    if len(sure) == 1:
        return sure[0][0]
    if len(sure) > 1 or unsure:
        names = [n for n, _ in sure] or [m for n, d in unsure for m in (n, *d.unsure_with)]
        names = list(dict.fromkeys(fallback if n == "timm" else n for n in names))
        raise SeabenchError(
            "cannot tell the checkpoint's layout from its keys (top-level keys: "
            f"{_show(sorted(map(str, raw)))}): it fits {', '.join(names)}, which load or "
            "preprocess differently; name one with --weights-format "
            f"(see `seabench backbones`)"
        )
    return fallback


def describe_layouts() -> list[dict]:
    """One row per layout: name, what produces such files, the rules in words, auto-detection."""
    rows = []
    for layout in LAYOUTS.values():
        how = []
        for d in layout.detect:
            parts = []
            if d.top:
                parts.append(
                    ("only " if d.exact_top else "")
                    + "top-level "
                    + ", ".join(repr(k) for k in d.top)
                )
            if d.markers:
                parts.append("keys " + " / ".join(f"{m}*" for m in d.markers))
            how.append(
                " + ".join(parts)
                + (f" (also fits {', '.join(d.unsure_with)}: asks)" if d.unsure_with else "")
            )
        rows.append(
            {
                "name": layout.name,
                "source": layout.source,
                "rules": layout.rules(),
                "auto": "; ".join(how)
                or (
                    "any other plain state dict"
                    if layout.name in ("timm", "torchvision")
                    else "never (name it)"
                ),
            }
        )
    return rows
