"""Checkpoints that must not load, each refused with one line that says why (exit 2).

The hostile files are the classic ones: a pickled call of ``os.system`` (whose module PyTorch's
weights-only loader blocks outright, in words other than its "Unsupported global"), written by
``torch.save`` with its default protocol, with protocol 4 (``STACK_GLOBAL``), and in the legacy
non-zip format.  None may be called "damaged", and none may pass on PyTorch's advice to retry
with ``weights_only=False``.  SimCLR v2's selective-kernel ResNets have no architecture here and
are refused as what they are (their stem's first 3 x 3 conv is not a CIFAR stem).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from seabench.backbones import create_backbone
from seabench.backbones.checkpoint_io import read_checkpoint
from seabench.cli import cli
from seabench.errors import SeabenchError

STATE = {"conv1.weight": torch.zeros(4, 3, 3, 3), "bn1.weight": torch.ones(4)}


class SystemCall:
    """Unpickles as ``os.system(command)``: what a planted checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


SAVES = {
    "zip": {},
    "protocol4": {"pickle_protocol": 4},
    "legacy": {"_use_new_zipfile_serialization": False},
}


@pytest.mark.parametrize("how", SAVES)
def test_a_pickled_os_system_is_named_and_refused_never_called_damaged(tmp_path, how):
    marker = tmp_path / "ran"
    path = tmp_path / "moco_v2_800ep_pretrain.pth.tar"
    torch.save({"state_dict": STATE, "epoch": SystemCall(marker)}, path, **SAVES[how])
    with pytest.raises(SeabenchError) as err:
        read_checkpoint(path)
    msg = str(err.value)
    assert "system" in msg and "refused" in msg and "\n" not in msg
    assert "damaged" not in msg and "weights_only" not in msg
    assert not marker.exists()


def test_a_protocol_4_file_is_said_so_not_called_damaged(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(STATE, path, pickle_protocol=4)
    with pytest.raises(SeabenchError, match="pickled with protocol 4") as err:
        read_checkpoint(path)
    assert "damaged" not in str(err.value)


def test_extract_refuses_the_hostile_file_with_one_line_and_exit_2(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": STATE, "args": SystemCall(marker)}, path)
    args = ["extract", "--dataset", "mnist5k", "--subset", "2", "--backbone", "resnet18"]
    result = CliRunner().invoke(cli, [*args, "--weights", str(path), "--home", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "system" in lines[0] and "weights_only" not in lines[0]
    assert not marker.exists()


# ---- SimCLR v2's selective-kernel ResNets (Separius/SimCLRv2-Pytorch r50_1x_sk1.pth) ----------
def _bn_relu(c: int, relu: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU() if relu else nn.Identity())


class _SelectiveKernel(nn.Module):
    def __init__(self, c: int, stride: int, mid: int = 32):
        super().__init__()
        self.main_conv = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, stride, 1, bias=False), _bn_relu(2 * c)
        )
        self.mixing_conv = nn.Sequential(
            nn.Conv2d(c, mid, 1, bias=False), _bn_relu(mid), nn.Conv2d(mid, 2 * c, 1, bias=False)
        )


class _SkProjection(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.shortcut = nn.Sequential(
            nn.ZeroPad2d((0, 1, 0, 1)), nn.AvgPool2d(2, stride), nn.Conv2d(cin, cout, 1, bias=False)
        )
        self.bn = _bn_relu(cout, relu=False)


class _SkBottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, project: bool):
        super().__init__()
        self.projection = _SkProjection(cin, 4 * width, stride) if project else nn.Identity()
        self.net = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            _bn_relu(width),
            _SelectiveKernel(width, stride),
            nn.Conv2d(width, 4 * width, 1, bias=False),
            _bn_relu(4 * width, relu=False),
        )


class _SkBlocks(nn.Module):
    def __init__(self, n: int, cin: int, width: int, stride: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            [_SkBottleneck(cin, width, stride, True)]
            + [_SkBottleneck(4 * width, width, 1, False) for _ in range(n - 1)]
        )


class SimCLRv2SkResNet50(nn.Module):
    """The port's r50_1x_sk1 at stage width ``w`` (real: 64): a three-conv stem, SK blocks."""

    def __init__(self, w: int = 8):
        super().__init__()
        half = w // 2
        stem = nn.Sequential(
            nn.Conv2d(3, half, 3, 2, 1, bias=False),
            _bn_relu(half),
            nn.Conv2d(half, half, 3, 1, 1, bias=False),
            _bn_relu(half),
            nn.Conv2d(half, w, 3, 1, 1, bias=False),
            _bn_relu(w),
            nn.MaxPool2d(3, 2, 1),
        )
        self.net = nn.Sequential(
            stem,
            _SkBlocks(3, w, w, 1),
            _SkBlocks(4, 4 * w, 2 * w, 2),
            _SkBlocks(6, 8 * w, 4 * w, 2),
            _SkBlocks(3, 16 * w, 8 * w, 2),
        )
        self.fc = nn.Linear(32 * w, 1000)


def test_a_simclr_v2_selective_kernel_file_is_refused_as_such_not_called_a_cifar_resnet(
    tmp_path,
):
    path = tmp_path / "r50_1x_sk1.pth"
    torch.save({"resnet": SimCLRv2SkResNet50(w=64).state_dict(), "head": {}}, path)
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet50", weights=path)
    msg = str(err.value)
    assert "selective-kernel" in msg and "_sk0" in msg and "cifar" not in msg.lower()


# ---- a file that names its method, under another --weights-format -----------------------------
@pytest.mark.parametrize("fmt", ["timm", "dino"])
def test_a_mocov3_linear_eval_file_under_a_6_head_format_is_refused(tmp_path, fmt):
    """main_lincls.py's checkpoint says arch 'vit_small' (MoCo v3's: 12 heads); timm's and
    DINO's vit_small have 6 and the same keys, so strict loading alone would accept it."""
    from functools import partial

    from timm.models.vision_transformer import VisionTransformer

    vit = VisionTransformer(
        img_size=32, patch_size=16, embed_dim=384, depth=2, num_heads=12, qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )  # fmt: skip
    path = tmp_path / "linear-vit-s-300ep.pth.tar"
    state = {f"module.{k}": v for k, v in vit.state_dict().items()}
    torch.save({"epoch": 90, "arch": "vit_small", "state_dict": state, "best_acc1": 1.0}, path)
    small = {"img_size": 32, "depth": 2}
    with pytest.raises(SeabenchError) as err:
        create_backbone(
            "vit_small_patch16_224", weights=path, weights_format=fmt, model_kwargs=small
        )
    msg = str(err.value)
    assert "num_heads=12" in msg and "--weights-format mocov3" in msg
    bb = create_backbone(
        "vit_small_patch16_224", weights=path, weights_format="mocov3", model_kwargs=small
    )
    assert bb.model.model.blocks[0].attn.num_heads == 12


def test_pickle_bytes_that_read_as_a_nonsense_global_are_damaged_not_hostile(tmp_path):
    import zipfile

    good = tmp_path / "good.pth"
    torch.save({"state_dict": STATE}, good)
    bad = tmp_path / "checkpoint_0299.pth.tar"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("data.pkl"):  # flipped bits: a GLOBAL of bytes, no name
                data = b"\x80\x02c\xc3\xbf\xfe\x01\nx\xff\n)R."
            zout.writestr(info, data)  # the CRC-32 recomputed: only the pickle is wrong
    with pytest.raises(SeabenchError) as err:
        read_checkpoint(bad)
    msg = str(err.value)
    assert "damaged" in msg and "refused" not in msg and "weights_only" not in msg
