"""Hostile or damaged files in the store: result lines of the wrong types and sidecars with
fields of the wrong types give one warning or one error line, never an internal error."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from seabench.cli import cli
from seabench.features import FeatureCache
from seabench.home import Home
from seabench.results import ResultsStore


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def probed(tiny_home, tmp_path_factory):
    """A home with one real probe row."""
    home = Home.resolve(tmp_path_factory.mktemp("probed") / "home")
    shutil.copytree(tiny_home.root, home.root)
    result = _cli(
        "probe", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0",
        "--no-search", "--epochs", "2", "--home", home.root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(probed, tmp_path):
    h = Home.resolve(tmp_path / "home")
    shutil.copytree(probed.root, h.root)
    return h


BASE = {"dataset": "mnist5k", "backbone": "efficientnet_lite0", "aug": "sea", "seed": 0}


@pytest.mark.parametrize(
    "bad",
    [
        {"dataset": 3, "backbone": ["x"], "aug": None, "test": "abc"},
        {**BASE, "test": "91.2"},
        {**BASE, "test": float("nan")},  # json.dumps writes NaN, json.loads reads it
        {**BASE, "test": 90.0, "seed": "one"},
        {**BASE, "test": 90.0, "hparams": 5},
        {**BASE, "test": 90.0, "image_size": "64px"},
    ],
)
def test_rows_of_the_wrong_types_are_skipped_with_one_warning(home, bad):
    path = home.results / "rows-20990101T000000000000-1-deadbeef.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    result = _cli("report", "--home", home.root)
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    flat = " ".join(result.stderr.split())
    assert f"{path} line 1 skipped" in flat
    assert "mnist5k" in result.stdout  # the real row is still reported
    rows, damaged = ResultsStore(home.results).read()
    assert len(rows) == 1 and [d.path for d in damaged] == [path]


def test_a_sparse_row_beside_full_ones_is_reported(home):
    """Only the required fields (an older or hand-made row): its missing image size is not text."""
    path = home.results / "rows-20990101T000000000000-1-deadbeef.jsonl"
    path.write_text(json.dumps({**BASE, "test": 50.0}) + "\n")
    result = _cli("report", "--home", home.root)
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output


@pytest.mark.parametrize(
    "meta",
    [
        {"inputs": 3, "counts": 4},
        {"inputs": {"dataset": {"name": "mnist5k"}, "backbone": 5}, "counts": {}},
        {"inputs": {"dataset": {"name": "mnist5k"}}, "counts": {}, "backbone_name": ["a"]},
        {"inputs": {"dataset": 3}, "counts": {}, "key": "x"},
    ],
)
def test_sidecar_fields_of_the_wrong_types_are_one_error_line(home, meta):
    (entry,) = FeatureCache(home.features).entries()
    (entry.path / "meta.json").write_text(json.dumps(meta))
    probe = _cli(
        "probe", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0",
        "--no-search", "--epochs", "2", "--home", home.root,
    )  # fmt: skip
    assert probe.exit_code == 2, probe.output
    assert len(probe.stderr.strip().splitlines()) == 1, probe.stderr
    assert probe.stderr.startswith("error:")
    for args in (("cache", "ls"), ("cache", "verify")):
        result = _cli(*args, "--home", home.root)
        assert result.exit_code in (0, 2), result.output
        assert "internal error" not in result.output and "Traceback" not in result.output


class _RunsCode:
    def __reduce__(self):
        return (print, ("this would have run",))


def test_a_pickle_that_runs_code_as_a_feature_file_is_one_line(tmp_path):
    import pickle

    import torch

    evil, x, y = tmp_path / "evil.pt", tmp_path / "x.pt", tmp_path / "y.pt"
    evil.write_bytes(pickle.dumps(_RunsCode(), protocol=4))
    torch.save(torch.randn(20, 4), x)
    torch.save(torch.arange(20) % 2, y)
    result = _cli(
        "probe", "--train-features", evil, "--train-labels", y, "--test-features", x,
        "--test-labels", y, "--no-search", "--epochs", "2", "--home", tmp_path / "home",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "this would have run" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no warning lines from torch's unpickler
    assert "holds Python objects other than tensors" in lines[0]
