"""Checkpoint layouts as data: how a third-party checkpoint file maps onto a timm/torchvision model.

Each layout is one small declarative rule set, in the spirit of timm's pretrained configs: which
wrapper key holds the state dict, which prefix to keep (and strip), which prefixes to strip where
present, which keys to drop, which regex renames to apply, which preprocessing the model expects,
which architectures its method published, and which architecture fixes the keys cannot show
(MoCo v3's ViT-Small has 12 attention heads where timm's has 6: the keys are the same).  The
architecture's own classifier (``fc`` / ``head`` / ``classifier``) is always dropped, because
seabench uses pre-logits features only.

Auto-detection (``seabench.backbones.detection``) is data too: a layout may name top-level keys,
key prefixes or the file's own ``arch`` entry that identify it.  This module imports no torch, so
a bad ``--weights-format`` is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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
    # AugSelf's STL-10 models (CIFAR ResNet): Resize(96, bicubic) + CenterCrop(96), STL mean/std
    "augself-stl10": {
        "input_size": (3, 96, 96),
        "interpolation": "bicubic",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "mean": (0.43, 0.42, 0.39),
        "std": (0.27, 0.26, 0.27),
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
    "augself-stl10": "96 px, bicubic resize + centre crop (crop 1.0), STL-10 mean/std",
    "torchvision": "torchvision's ImageNet preprocessing (bilinear, crop 0.875)",
}
#: the protocol the transfer literature uses; other preprocessing is named in backbone labels
REFERENCE_PREPROCESS = "transfer"

#: architecture families (regexes on the name without ``torchvision:`` and a ``.tag``)
RESNETS = r"^(resnet|wide_resnet)\d"
CIFAR_RESNETS = r"^cifar_resnet\d"
#: ViTs whose timm defaults (heads, LayerNorm eps 1e-6, class token) are DINO's own
DINO_VITS = r"^(vit|deit)_(tiny|small|base)_patch(8|16)_"
MOCOV3_VITS = r"^vit_(small|base)_patch16_"
#: MoCo v3's own architecture names (vits.py) as its files record them in ``arch``
MOCOV3_ARCH_NAMES = ("vit_small", "vit_base", "vit_conv_small", "vit_conv_base")


def arch_base(arch: str) -> str:
    """``torchvision:resnet50`` / ``resnet50.a1_in1k`` -> ``resnet50``."""
    return arch.removeprefix("torchvision:").split(".")[0]


@dataclass(frozen=True)
class Detect:
    """Evidence for a layout; every field given must hold.

    ``top``: these top-level keys (``exact_top``: exactly these); ``markers``: a key (under any
    wrapper, ``module.`` removed) starts with one of these; ``all_markers``: keys start with
    each of these; ``arch``: the file's own top-level ``arch`` entry is one of these names.
    """

    top: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    all_markers: tuple[str, ...] = ()
    exact_top: bool = False
    arch: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    name: str
    source: str
    #: wrapper keys tried in order
    unwrap: tuple[str, ...] = ("state_dict", "model")
    #: whether a file without any wrapper key may itself be the state dict
    bare: bool = True
    #: keep only keys under one of these prefixes (the prefix is removed); empty: keep all
    keep: tuple[str, ...] = ()
    #: where no key has a ``keep`` prefix, keep all (files of the same method without the
    #: training wrapper: MoCo v3's linear-eval and convert_to_deit.py outputs)
    keep_optional: bool = False
    #: prefixes removed where present (DataParallel's ``module.``)
    strip: tuple[str, ...] = ("module.",)
    #: key prefixes dropped after keep/strip (projection heads, prototypes); the model's
    #: classifier is dropped in every layout
    drop: tuple[str, ...] = ()
    #: (regex, replacement) applied in order to every key, last
    renames: tuple[tuple[str, str], ...] = ()
    #: key into PREPROCESS, or "model" for the architecture's own data config
    preprocess: str = "transfer"
    #: (architecture regex, PREPROCESS key): architectures the method preprocessed otherwise
    arch_preprocess: tuple[tuple[str, str], ...] = ()
    #: (architecture regex, timm kwargs): fixes that the keys cannot show
    arch_kwargs: tuple[tuple[str, Mapping], ...] = ()
    #: architecture regexes this layout's files can hold; empty: any ("torchvision": names
    #: torchvision has, "timm": names timm has)
    families: tuple[str, ...] = ()
    detect: tuple[Detect, ...] = ()

    def model_kwargs(self, arch: str) -> dict:
        out: dict = {}
        for pattern, kwargs in self.arch_kwargs:
            if re.match(pattern, arch_base(arch)):
                out.update(kwargs)
        return out

    def preprocess_for(self, arch: str) -> str:
        for pattern, preset in self.arch_preprocess:
            if re.match(pattern, arch_base(arch)):
                return preset
        return self.preprocess

    def plausible(self, arch: str, *, is_timm: bool, is_torchvision: bool) -> bool:
        """Whether this layout's method published files of ``arch``'s family."""
        if not self.families:
            return True
        base = arch_base(arch)
        for family in self.families:
            if family == "timm" and is_timm and not arch.startswith("torchvision:"):
                return True
            if family == "torchvision" and is_torchvision:
                return True
            if family not in ("timm", "torchvision") and re.match(family, base):
                return True
        return False

    def family_words(self) -> str:
        words = {
            RESNETS: "ResNets",
            CIFAR_RESNETS: "CIFAR ResNets",
            DINO_VITS: "ViT/DeiT tiny/small/base with patch 8 or 16",
            MOCOV3_VITS: "vit_small_patch16_* / vit_base_patch16_*",
            "timm": "timm architectures",
            "torchvision": "torchvision architectures",
        }
        return ", ".join(words.get(f, f) for f in self.families) or "any architecture"

    def rules(self) -> str:
        """The rule set in words (for ``seabench backbones`` and error messages)."""
        words = []
        if self.unwrap:
            words.append(
                "state dict under "
                + " or ".join(repr(k) for k in self.unwrap)
                + (" (else the file itself)" if self.bare else "")
            )
        if self.keep:
            words.append(
                "keep "
                + " / ".join(f"{p}*" for p in self.keep)
                + " minus the prefix"
                + (" (all keys where none has it)" if self.keep_optional else "")
            )
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
        if self.families:
            words.append("for " + self.family_words())
        words.append(PREPROCESS_WORDS[self.preprocess])
        for pattern, preset in self.arch_preprocess:
            shown = pattern.lstrip("^").replace("\\d", "")
            words.append(f"{shown}*: {PREPROCESS_WORDS[preset]}")
        return "; ".join(words)


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
            preprocess="model",
            families=("timm",),
        ),
        Layout(
            "torchvision",
            "torchvision classification state dict",
            preprocess="torchvision",
            families=("torchvision",),
        ),
        Layout(
            "mocov2",
            "MoCo v1/v2 (facebookresearch/moco) checkpoint",
            unwrap=("state_dict",),
            keep=("module.encoder_q.", "encoder_q."),
            strip=(),
            families=(RESNETS,),
            detect=(Detect(markers=("encoder_q.",)),),
        ),
        Layout(
            "mocov3",
            "MoCo v3 (facebookresearch/moco-v3) pre-training checkpoint, its linear-eval "
            "checkpoint, or convert_to_deit.py's {'model': ...}",
            unwrap=("state_dict", "model"),
            bare=False,
            keep=("module.base_encoder.", "base_encoder."),
            keep_optional=True,
            # MoCo v3 ViT-Small has 12 heads; timm's vit_small has 6 and the keys are the same
            arch_kwargs=((r"^vit_small_", {"num_heads": 12}),),
            families=(RESNETS, MOCOV3_VITS),
            detect=(
                Detect(markers=("base_encoder.", "momentum_encoder.")),
                Detect(top=("state_dict",), arch=MOCOV3_ARCH_NAMES),
            ),
        ),
        Layout(
            "simclr",
            "SimCLR v1 converted {'state_dict'} or v2 converted {'resnet', 'head'}",
            unwrap=("resnet", "state_dict"),
            bare=False,
            renames=SIMCLR_V2_RENAMES,
            preprocess="transfer-unnormalised",
            families=(RESNETS,),
            detect=(Detect(top=("resnet",)),),
        ),
        Layout(
            "swav",
            "SwAV / DeepCluster-v2 / SeLa-v2 (facebookresearch/swav) checkpoint",
            unwrap=("state_dict",),
            drop=("projection_head.", "prototypes."),
            families=(RESNETS,),
            detect=(Detect(markers=("prototypes.", "projection_head.")),),
        ),
        Layout(
            "barlowtwins",
            "Barlow Twins backbone resnet50.pth (plain torchvision names, no fc) or training "
            "checkpoint.pth {'model': module.backbone.* / projector.* / bn.*}",
            unwrap=("model", "state_dict"),
            keep=("module.backbone.", "backbone."),
            keep_optional=True,
            families=(RESNETS,),
            detect=(Detect(top=("model",), all_markers=("backbone.", "projector.", "bn.")),),
        ),
        Layout(
            "dino",
            "DINO backbone (ResNet: torchvision names; ViT: timm names) or full "
            "checkpoint's 'teacher'",
            unwrap=("teacher", "state_dict"),
            strip=("module.", "backbone."),
            drop=("head.",),
            families=(RESNETS, DINO_VITS),
            detect=(Detect(top=("teacher", "student")),),
        ),
        Layout(
            "byol-converted",
            "BYOL converted from the JAX release to torchvision names",
            unwrap=("state_dict",),
            families=(RESNETS,),
        ),
        Layout(
            "augself",
            "AugSelf (hankook/AugSelf) checkpoint {'backbone': ...}; STL-10 models are "
            "cifar_resnet18",
            unwrap=("backbone",),
            bare=False,
            arch_preprocess=((CIFAR_RESNETS, "augself-stl10"),),
            families=(RESNETS, CIFAR_RESNETS),
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
    import torch

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
    import torch

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
    if layout.bare and _is_state_dict(raw):
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
        if kept:
            state = kept
        elif not layout.keep_optional:
            raise SeabenchError(
                f"layout {layout.name!r} keeps keys under {' or '.join(layout.keep)}, but none "
                f"of the checkpoint's keys start so (they look like: {_show(state)}); "
                "try another --weights-format"
            )
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
            if d.all_markers:
                parts.append("keys " + " and ".join(f"{m}*" for m in d.all_markers))
            if d.arch:
                parts.append("'arch' " + " / ".join(d.arch))
            how.append(" + ".join(parts))
        rows.append(
            {
                "name": layout.name,
                "source": layout.source,
                "rules": layout.rules(),
                "auto": "; ".join(how)
                or "where its keys fit and no other layout's do (else it asks)",
            }
        )
    return rows
