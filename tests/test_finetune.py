"""Fine-tuning: the protocol writes a row, a run interrupted midway resumes from its checkpoint."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import Dataset

from seabench.errors import SeabenchError
from seabench.finetune import FinetuneOptions, finetune_cell
from seabench.finetune.loop import Classifier, ResumableBatches, train
from seabench.results import ResultsStore


class Stop(Exception):
    pass


def stop_at(step_to_stop: int, seen: list, scoring: list | None = None):
    def progress(phase, step, total, loss, rate):
        if "scoring" in phase:  # batches of the scoring pass, not training steps
            if scoring is not None:
                scoring.append((phase, step, total))
            return
        seen.append(step)
        if step == step_to_stop:
            raise Stop

    return progress


class NoisyPoints(Dataset):
    """Random augmentation through both torch's and Python's RNGs, like timm's transforms."""

    def __init__(self):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(10, 6, generator=gen)
        self.y = torch.arange(10) % 3

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return self.x[i] * (1 + random.random()) + 0.1 * torch.rand(6), self.y[i]


def test_batches_resume_exactly():
    full = list(ResumableBatches(7, 3, seed=1, start_batch=0, total_batches=9))
    assert list(ResumableBatches(7, 3, seed=1, start_batch=4, total_batches=9)) == full[4:]
    assert all(len(b) == 3 for b in full)
    # every epoch is a permutation: the first 21 indices cover each item 3 times
    flat = [i for b in full[:7] for i in b]
    assert sorted(flat) == sorted(list(range(7)) * 3)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, tiny_run_settings):
    def fresh():
        torch.manual_seed(0)
        random.seed(0)
        return Classifier(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU()), 8, 3)

    s = tiny_run_settings
    straight = fresh()
    train(straight, NoisyPoints(), s, tmp_path / "a.pt", "a")

    ckpt = tmp_path / "b.pt"
    model, seen = fresh(), []
    with pytest.raises(Stop):
        train(model, NoisyPoints(), s, ckpt, "b", stop_at(2, seen))
    assert ckpt.is_file() and torch.load(ckpt, weights_only=True)["step"] == 2
    random.seed(123)  # whatever happened in between must not matter
    torch.manual_seed(123)
    resumed, seen = fresh(), []
    cost = train(resumed, NoisyPoints(), s, ckpt, "b", stop_at(-1, seen))
    assert seen == [3, 4, 5, 6]
    assert cost["steps"] == 6
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_finetune_cell_writes_a_row_and_resumes(tmp_path):
    home = tmp_path / "home"
    opts = FinetuneOptions(
        max_steps=4,
        batch_size=4,
        grid="small",
        image_size=32,
        subset=10,
        workers=0,
        checkpoint_every=2,
    )
    seen: list = []
    with pytest.raises(Stop):
        finetune_cell(home, "mnist5k", "efficientnet_lite0", opts, progress=stop_at(2, seen))
    ckpts = list((home / "finetune").glob("*/refit-*.ckpt.pt"))
    assert len(ckpts) == 1
    assert ResultsStore(home / "results").rows() == []

    seen, scoring = [], []
    logs: list = []
    row, recorded = finetune_cell(
        home,
        "mnist5k",
        "efficientnet_lite0",
        opts,
        progress=stop_at(-1, seen, scoring),
        log=logs.append,
    )
    assert not recorded and seen == [3, 4]
    scored = [(phase, step, total) for phase, step, total in scoring if "scoring test" in phase]
    assert scored and scored[-1][1] == scored[-1][2] == row["n_test"]  # scoring moves to its end
    assert any("resuming" in m for m in logs)
    assert not ckpts[0].exists()  # a finished run keeps only its small .done.json
    assert row["aug"] == "finetune" and row["solver"] == "finetune"
    assert row["metric"] == "top1" and 0.0 <= row["test"] <= 100.0
    assert row["n_train"] + row["n_val"] + row["n_test"] > 0
    assert row["selected_on"] == "none (fixed hyperparameters)" and row["val"] is None
    assert row["hparams"]["steps"] == 4 and row["hparams"]["lr"] == 0.01
    assert row["wall_seconds"] > 0 and row["cpu_seconds"] > 0 and row["gpu_seconds"] == 0
    assert row["manifest_hash"] and row["finetune_key"] and row["image_size"] == 32
    assert [r["finetune_key"] for r in ResultsStore(home / "results").rows()] == [
        row["finetune_key"]
    ]

    again, recorded = finetune_cell(home, "mnist5k", "efficientnet_lite0", opts, skip_recorded=True)
    assert recorded and again["finetune_key"] == row["finetune_key"]


def test_search_selects_on_val_and_grid_rules(tmp_path):
    assert len(FinetuneOptions().configs()) == 20  # 4 lr x ({0} + 4 wd / lr)
    assert FinetuneOptions().configs()[1] == (1e-4, pytest.approx(1e-6 / 1e-4))
    assert FinetuneOptions(grid="small").configs() == [(0.01, 0.0)]
    assert FinetuneOptions(lr=(0.1, 0.01), wd=(0.0,)).configs() == [(0.1, 0.0), (0.01, 0.0)]
    for bad in (
        FinetuneOptions(grid="huge"),
        FinetuneOptions(max_steps=0),
        FinetuneOptions(batch_size=1),
        FinetuneOptions(lr=(0.0,)),
    ):
        with pytest.raises(SeabenchError):
            bad.configs()

    opts = FinetuneOptions(
        max_steps=1, batch_size=4, lr=(0.01, 0.001), wd=(0.0,), image_size=32, subset=10, workers=0
    )
    row, _ = finetune_cell(tmp_path / "home", "mnist5k", "efficientnet_lite0", opts)
    assert row["selected_on"] == "val" and row["configs_searched"] == 2
    assert row["val"] is not None and row["search_seconds"] > 0
    assert row["hparams"]["lr"] in (0.01, 0.001)


@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_weights_whatever_the_global_rngs(tmp_path, workers, tiny_run_settings):
    """Python's random (timm's crops), torch and each loader worker follow the run's seed."""
    s = dataclasses.replace(tiny_run_settings, workers=workers)
    models = []
    for i, outside in enumerate((11, 12345)):
        torch.manual_seed(0)
        model = Classifier(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU()), 8, 3)
        random.seed(outside)  # what ran before must not matter
        torch.manual_seed(outside)
        train(model, NoisyPoints(), s, tmp_path / f"{i}.pt", str(i))
        models.append(model.state_dict())
    for name, a in models[0].items():
        assert torch.equal(a, models[1][name]), name


def test_same_short_finetune_twice_gives_identical_scores(tmp_path):
    opts = FinetuneOptions(
        max_steps=3, batch_size=4, grid="small", image_size=32, subset=24, workers=0
    )
    rows = []
    for i, outside in enumerate((1, 999)):
        random.seed(outside)
        torch.manual_seed(outside)
        row, _ = finetune_cell(tmp_path / f"home{i}", "mnist5k", "efficientnet_lite0", opts)
        rows.append(row)
    assert rows[0]["test"] == rows[1]["test"]


def test_damaged_done_marker_reruns_the_run_instead_of_failing(tmp_path):
    home = tmp_path / "home"
    opts = FinetuneOptions(
        max_steps=2, batch_size=4, grid="small", image_size=32, subset=10, workers=0
    )
    first, _ = finetune_cell(home, "mnist5k", "efficientnet_lite0", opts)
    (done,) = (home / "finetune").glob("*/refit-*.done.json")
    (preds,) = (home / "finetune").glob("*/refit-*.test-predictions.safetensors")
    done.write_bytes(done.read_bytes()[:7])  # a torn write the disk left behind
    preds.write_bytes(b"\x00" * 16)
    logs: list = []
    again, recorded = finetune_cell(home, "mnist5k", "efficientnet_lite0", opts, log=logs.append)
    assert not recorded
    assert any("damaged" in m and done.name in m for m in logs)
    assert again["test"] == first["test"]  # the same seed redone gives the same score
    assert json.loads(done.read_text())["score"] is not None
    assert load_file(str(preds))  # rebuilt, readable


def test_the_finetune_summary_line_gives_the_score_with_its_interval(tmp_path):
    """A number is never shown without its interval: the fine-tune's test predictions are kept,
    so its summary line carries the bootstrap interval as a probe's does."""
    from click.testing import CliRunner

    from seabench.cli import cli

    args = ["finetune", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0"]
    args += ["--home", str(tmp_path / "home"), "--image-size", "32", "--grid", "small"]
    args += ["--max-steps", "2", "--batch-size", "4", "--subset", "40", "--workers", "0"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "finetune seed 0" in x)
    row = ResultsStore(tmp_path / "home" / "results").rows()[0]
    assert f"95% interval {row['ci_low']:.2f}-{row['ci_high']:.2f}" in line
    assert row["ci_low"] <= row["test"] <= row["ci_high"]


def test_a_row_without_predictions_says_why_it_has_no_interval():
    from seabench.results import test_text

    row = {"test": 81.234, "metric": "top1", "ci_low": None, "ci_high": None}
    assert test_text(row) == "test 81.23 (top1, no interval: no predictions kept)"
    row |= {"ci_low": 79.5, "ci_high": 83.0, "bootstrap": {"confidence": 0.9}}
    assert test_text(row) == "test 81.23 (90% interval 79.50-83.00, top1)"
