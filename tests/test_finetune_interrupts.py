"""Ctrl-C at any moment of a fine-tuning step resumes to the weights of the uninterrupted run, and
a damaged checkpoint starts the run over instead of failing the command."""

from __future__ import annotations

import os
import random
import signal
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from seabench.errors import SeabenchWarning
from seabench.finetune.loop import Classifier, train


class Points(Dataset):
    """Augmented through torch's and Python's RNGs (like timm's transforms); presses Ctrl-C
    while drawing item ``press_at`` (counted over the run's draws)."""

    def __init__(self, press_at: int = -1):
        gen = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(10, 6, generator=gen), torch.arange(10) % 3
        self.calls, self.press_at = 0, press_at

    def __len__(self):
        return 10

    def __getitem__(self, i):
        self.calls += 1
        out = self.x[i] * (1 + random.random()) + 0.1 * torch.rand(6)
        if self.calls == self.press_at:
            os.kill(os.getpid(), signal.SIGINT)  # mid-batch: the RNGs have moved for this batch
        return out, self.y[i]


class PressInForward(nn.Module):
    """Ctrl-C after the batch-norm statistics of forward pass ``press_at`` moved."""

    def __init__(self, press_at: int = -1):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.calls, self.press_at = 0, press_at

    def forward(self, x):
        out = self.body(x)
        self.calls += 1
        if self.calls == self.press_at:
            os.kill(os.getpid(), signal.SIGINT)
        return out


def fresh(press_in_forward: int = -1) -> Classifier:
    torch.manual_seed(0)
    random.seed(0)
    return Classifier(PressInForward(press_in_forward), 8, 3)


def weights(model: Classifier) -> dict:
    return {k: v for k, v in model.state_dict().items() if "calls" not in k}


@pytest.mark.parametrize("where", ["drawing a batch", "after the forward pass"])
def test_ctrl_c_inside_a_step_resumes_to_the_uninterrupted_weights(
    tmp_path, where, tiny_run_settings
):
    straight = fresh()
    train(straight, Points(), tiny_run_settings, tmp_path / "straight.pt", "a")

    ckpt = tmp_path / "run.pt"
    if where == "drawing a batch":
        model, data = fresh(), Points(press_at=4 * 2 + 3)  # the 3rd item of the 3rd batch
    else:
        model, data = fresh(press_in_forward=3), Points()
    with pytest.raises(KeyboardInterrupt):
        train(model, data, tiny_run_settings, ckpt, "b")
    assert ckpt.is_file(), "the finished steps were not kept"
    kept = torch.load(ckpt, weights_only=True)["step"]
    assert 1 <= kept < tiny_run_settings.steps

    random.seed(123)  # whatever ran in between must not matter
    torch.manual_seed(123)
    resumed = fresh()
    cost = train(resumed, Points(), tiny_run_settings, ckpt, "b")
    assert cost["steps"] == tiny_run_settings.steps
    for (name, a), b in zip(weights(straight).items(), weights(resumed).values(), strict=True):
        assert torch.equal(a, b), f"{name} differs from the uninterrupted run ({where})"


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated", b"not a checkpoint at all"])
def test_damaged_checkpoint_starts_the_run_over_with_one_warning(
    tmp_path, damage, tiny_run_settings
):
    straight = fresh()
    train(straight, Points(), tiny_run_settings, tmp_path / "straight.pt", "a")
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(damage)
    rerun = fresh()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(rerun, Points(), tiny_run_settings, ckpt, "b")
    said = [str(w.message) for w in caught if issubclass(w.category, SeabenchWarning)]
    assert len(said) == 1 and str(ckpt) in said[0] and "damaged" in said[0]
    for (name, a), b in zip(weights(straight).items(), weights(rerun).values(), strict=True):
        assert torch.equal(a, b), name


def test_a_checkpoint_of_another_shape_of_dict_is_not_half_loaded(tmp_path, tiny_run_settings):
    ckpt = tmp_path / "run.pt"
    torch.save({"model": {}}, ckpt)  # loads, but is not a run's state
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cost = train(fresh(), Points(), tiny_run_settings, ckpt, "b")
    assert cost["steps"] == tiny_run_settings.steps
    assert any("damaged" in str(w.message) for w in caught)


def test_leftovers_of_a_kill_are_removed_and_the_row_is_the_same(tmp_path):
    """kill -9 skips every clean-up: a checkpoint's temp file killed mid-write, and the checkpoint
    of a run killed after writing its result, are deleted when the run is met again."""
    from seabench.finetune import FinetuneOptions, finetune_cell

    home = tmp_path / "home"
    opts = FinetuneOptions(
        max_steps=2, batch_size=4, grid="small", image_size=32, subset=10, workers=0
    )
    first, _ = finetune_cell(home, "mnist5k", "efficientnet_lite0", opts)
    (done,) = (home / "finetune").glob("*/refit-*.done.json")
    tag = done.name.removesuffix(".done.json")
    stale_ckpt = done.parent / f"{tag}.ckpt.pt"  # killed between .done.json and its unlink
    stale_ckpt.write_bytes(b"a whole model")
    torn_tmp = done.parent / f".{tag}.ckpt.pt.k1ll3d.tmp"  # killed inside atomic_write
    torn_tmp.write_bytes(b"half a model")
    again, _ = finetune_cell(home, "mnist5k", "efficientnet_lite0", opts)
    assert not stale_ckpt.exists() and not torn_tmp.exists()
    assert again["test"] == first["test"]
