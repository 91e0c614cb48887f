"""What `seabench extract` says about a checkpoint's preprocessing, as a user reads it.

A file loaded with a layout whose preprocessing is not the transfer protocol (torchvision's
bilinear crop 0.875 here) is labelled ``ARCH@STEM[torchvision-preprocessing]``; the label is
printed as it is stored, without rich's markup escapes, so it can be copied into
``seabench probe --backbone``.
"""

from __future__ import annotations

import torch
import torchvision
from click.testing import CliRunner

from seabench.cli import cli


def test_extract_prints_the_preprocessing_label_as_stored(tmp_path):
    path = tmp_path / "resnet18-f37072fd.pth"  # torchvision's own file: plain names + fc
    torch.save(torchvision.models.resnet18().state_dict(), path)
    args = ["extract", "--dataset", "mnist5k", "--subset", "2", "--workers", "0"]
    args += ["--image-size", "32", "--backbone", "resnet18", "--weights", str(path)]
    args += ["--weights-format", "torchvision", "--home", str(tmp_path / "home")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    label = "resnet18@resnet18-f37072fd[torchvision-preprocessing]"
    assert f"backbone {label}: layout torchvision" in result.stderr
    assert "\\[" not in result.stderr
    assert "(bilinear), center crop 32 px (crop 0.875)" in result.stderr
