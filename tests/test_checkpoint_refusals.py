"""Checkpoints that must not load, each refused with one line that says why (exit 2).

The hostile files are the classic ones: a pickled call of ``os.system`` (whose module PyTorch's
weights-only loader blocks outright, in words other than its "Unsupported global"), written by
``torch.save`` with its default protocol, with protocol 4 (``STACK_GLOBAL``), and in the legacy
non-zip format.  None may be called "damaged", and none may pass on PyTorch's advice to retry
with ``weights_only=False``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

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
