"""The CLI side of backbones: `seabench backbones`, and `extract --weights` good and bad."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from click.testing import CliRunner

from seabench.backbones import FORMATS
from seabench.cli import cli

FAST = ["--dataset", "mnist5k", "--subset", "10", "--image-size", "32", "--workers", "0"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-offs that dominate on a busy CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def moco_file(tmp_path_factory):
    sd = timm.create_model("resnet18").state_dict()
    path = tmp_path_factory.mktemp("w") / "moco_v2_200ep_pretrain.pth.tar"
    torch.save(
        {
            "epoch": 200,
            "arch": "resnet18",
            "state_dict": {f"module.encoder_q.{k}": v for k, v in sd.items()}
            | {"module.queue": torch.randn(8, 64)},
        },
        path,
    )
    return path


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_backbones_lists_layouts_with_rules_and_offline_weights():
    result = CliRunner().invoke(cli, ["backbones"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for fmt in FORMATS[1:]:
        assert fmt in result.output
    assert "module.encoder_q.*" in result.output and "num_heads=12" in result.output
    assert "normalisation" in result.output  # SimCLR's rule (the cell may wrap)
    assert "efficientnet_lite0" in result.output and "tf_efficientnet_lite0" in result.output


def test_extract_with_unreadable_weights_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"this is not a checkpoint")
    line = one_error_line(
        run(
            "extract",
            *FAST,
            "--backbone",
            "resnet18",
            "--weights",
            bad,
            "--home",
            tmp_path / "home",
        )
    )
    assert "bad.pth" in line and "not a PyTorch checkpoint" in line


def test_extract_with_wrong_prefix_names_the_keys(tmp_path):
    sd = timm.create_model("resnet18").state_dict()
    path = tmp_path / "wrapped.pth"
    torch.save({f"encoder.{k}": v for k, v in sd.items()}, path)
    line = one_error_line(
        run(
            "extract",
            *FAST,
            "--backbone",
            "resnet18",
            "--weights",
            path,
            "--weights-format",
            "barlowtwins",
            "--home",
            tmp_path / "home",
        )
    )
    assert "layout 'barlowtwins'" in line and "unexpected keys: encoder.bn1.bias" in line


def test_extract_with_a_moco_checkpoint_records_its_identity(moco_file, tmp_path):
    home = tmp_path / "home"
    result = run("extract", *FAST, "--backbone", "resnet18", "--weights", moco_file, "--home", home)
    assert result.exit_code == 0, result.output
    assert "backbone resnet18@moco_v2_200ep_pretrain: layout mocov2, pooling avg" in result.stderr
    (meta,) = [json.loads(p.read_text()) for p in (home / "features").glob("*/meta.json")]
    ident = meta["inputs"]["backbone"]
    assert ident["layout"] == "mocov2" and len(ident["weights_sha256"]) == 64
    assert meta["backbone_name"] == "resnet18@moco_v2_200ep_pretrain" and meta["dim"] == 512
    # the same file with its layout named explicitly has the same key: reused, not re-extracted
    again = run(
        "extract",
        *FAST,
        "--backbone",
        "resnet18",
        "--weights",
        moco_file,
        "--weights-format",
        "mocov2",
        "--home",
        home,
    )
    assert again.exit_code == 0 and "cached" in again.stderr
