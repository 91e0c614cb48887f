"""A damaged results file never locks the user out: report, run and run --dry-run skip the
unreadable lines with one warning per file naming the file and lines, and rewrite nothing."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from seabench.cli import cli
from seabench.home import Home
from seabench.results import ResultsStore

RECIPE = (
    'datasets = ["mnist5k"]\naugs = ["none"]\nbackbones = ["efficientnet_lite0"]\n'
    "[extract]\nsubset = 200\nimage_size = 32\nbatch_size = 100\n"
    "[probe]\nepochs = 2\nlr_grid = [0.8]\nwd_grid = [1e-6]\n"
    '[report]\nformats = ["json"]\n'
)


@pytest.fixture(scope="module")
def recorded(tiny_home, tmp_path_factory):
    """A home whose recipe has run once: one probe row recorded."""
    tmp = tmp_path_factory.mktemp("recorded")
    home = Home.resolve(tmp / "home")
    shutil.copytree(tiny_home.root, home.root)
    recipe = tmp / "tiny.toml"
    recipe.write_text(RECIPE)
    result = CliRunner().invoke(cli, ["run", str(recipe), "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert len(ResultsStore(home.results).rows()) == 1
    return home, recipe


@pytest.fixture
def damaged(recorded, tmp_path):
    """A copy of the recorded home plus a second rows file with a good row between bad lines."""
    src, recipe = recorded
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(src.root, home.root)
    good_line = ResultsStore(home.results).files()[0].read_text()
    text = (
        good_line.strip()[: len(good_line) // 2]  # line 1: truncated, as a full disk leaves it
        + "\n\x00\x00garbage\n"  # line 2: garbage
        + '"just a string"\n'  # line 3: JSON, but not a row
        + good_line  # line 4: a good row
        + "[1, 2]\n"  # line 5
    )
    bad = home.results / "rows-20990101T000000-1-deadbeef.jsonl"
    bad.write_text(text)
    return home, recipe, bad, bad.read_bytes()


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_warning(stderr: str, path) -> None:
    flat = " ".join(stderr.split())
    assert flat.count("warning:") == 1, stderr
    assert f"{path} lines 1, 2, 3, 5 skipped" in flat, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr


def test_report_skips_unreadable_lines_with_one_warning(damaged):
    home, _, bad, before = damaged
    result = _cli("report", "--format", "json", "--home", home.root)
    assert result.exit_code == 0, result.output
    _one_warning(result.stderr, bad)
    assert "mnist5k" in result.stdout  # every readable row is still reported
    assert bad.read_bytes() == before  # nothing rewritten

    strict = _cli("report", "--strict", "--home", home.root)
    assert strict.exit_code == 2
    flat = " ".join(strict.stderr.split())
    assert f"{bad} lines 1, 2, 3, 5" in flat and "--strict" in flat
    assert "Traceback" not in strict.stderr
    assert bad.read_bytes() == before


def test_run_and_dry_run_resume_past_a_damaged_file(damaged):
    home, recipe, bad, before = damaged
    dry = _cli("run", recipe, "--dry-run", "--home", home.root)
    assert dry.exit_code == 0, dry.output
    _one_warning(dry.stderr, bad)
    assert "done" in dry.stdout  # the recorded row still counts

    again = _cli("run", recipe, "--home", home.root)
    assert again.exit_code == 0, again.output
    _one_warning(again.stderr, bad)  # read several times, said once
    assert "recorded" in again.stderr
    assert len(ResultsStore(home.results).files()) == 2  # nothing run twice
    assert bad.read_bytes() == before


def test_store_read_reports_each_file_and_its_lines(tmp_path):
    store = ResultsStore(tmp_path)
    store.append([{"dataset": "d", "backbone": "b", "aug": "none", "test": 1.0}])
    (tmp_path / "rows-0-x.jsonl").write_text('{"dataset": "d"}\n\n{"trunc')
    rows, damaged = store.read()
    assert len(rows) == 1
    assert [(d.path.name, d.lines, d.rows_read) for d in damaged] == [("rows-0-x.jsonl", (1, 3), 0)]
    with pytest.warns(UserWarning, match=r"rows-0-x.jsonl lines 1, 3 skipped"):
        assert store.rows() == rows
