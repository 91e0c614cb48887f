"""Messages are text, not markup, and click's usage errors are the project's one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from seabench.cli import cli
from seabench.results import ResultsStore


def one_line(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


EX = ["extract", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0"]

USAGE = {
    "image size 0": (
        [*EX, "--image-size", "0"],
        "error: --image-size 0 is not in the range 16<=x<=1024; pass a crop size in pixels, "
        "e.g. --image-size 224 (see seabench extract --help)",
    ),
    "batch size 0": ([*EX, "--batch-size", "0"], "--batch-size 0 is not in the range x>=1"),
    "seeds -1": (["probe", "--seeds", "-1"], "--seeds -1 is not in the range 1<=x<=1000"),
    "finetune batch 1": (
        ["finetune", "--dataset", "mnist5k", "--backbone", "b", "--batch-size", "1"],
        "pass a batch size of at least 2",
    ),
    "dtype": ([*EX, "--dtype", "fp8"], "--dtype 'fp8' is not one of 'fp16', 'fp32'"),
    "report margin": (["report", "--margin", "-1"], "--margin -1"),
    "report format": (["report", "--format", "pdf"], "--format 'pdf' is not one of"),
    "unknown option": (["probe", "--epoch", "3"], "no such option '--epoch'"),
    "missing option": (["extract", "--backbone", "x"], "missing option --dataset; pass a dataset"),
    "missing argument": (["run"], "missing argument RECIPE"),
    "not an integer": (["probe", "--epochs", "ten"], "--epochs 'ten' is not a valid integer"),
}


@pytest.mark.parametrize("case", list(USAGE))
def test_usage_errors_are_one_line_with_a_fix(case, tmp_path):
    args, message = USAGE[case]
    res = CliRunner().invoke(cli, [*args, "--home", str(tmp_path / "h")])
    line = one_line(res)
    assert message in line, line
    assert "--help)" in line


def test_home_naming_a_file(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    line = one_line(CliRunner().invoke(cli, [*EX, "--home", str(f)]))
    assert f"--home: directory '{f}' is a file" in line and "pass a folder" in line


def test_help_and_version_still_work():
    for args in (["--help"], ["probe", "--help"], ["cache", "ls", "--help"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0 and "Usage:" in res.output
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0 and "seabench, version" in res.output


def test_bracketed_user_text_is_printed_not_parsed(tmp_path):
    """`--dataset '[/x]'` was a MarkupError traceback; brackets vanished from messages."""
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "SEABENCH_NO_PROGRESS": "1"}
    home = tmp_path / "[bold]home"
    res = subprocess.run(
        [sys.executable, "-m", "seabench", "probe", "--dataset", "[/x]", "--backbone", "[b]y"]
        + ["--home", str(home)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "MarkupError" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert "'[/x]'" in lines[0] and "'[b]y'" in lines[0] and "[bold]home" in lines[0]


def _row(backbone: str, aug: str, test: float) -> dict:
    return {
        "dataset": "d[1]",
        "backbone": backbone,
        "aug": aug,
        "solver": "sgd",
        "metric": "top1",
        "test": test,
        "val": test,
        "seed": 0,
        "seconds": 1.0,
        "search_seconds": 2.0,
        "selected_on": "val",
        "val_source": "holdout20",
        "manifest_hash": "m",
        "image_size": 96,
        "features_key": "k",
    }


def test_report_tables_print_names_with_brackets(tmp_path):
    home = tmp_path / "home"
    ResultsStore(home / "results").append(
        [_row("[red]net", "none", 80.0), _row("[red]net", "sea", 82.0)]
    )
    res = CliRunner().invoke(cli, ["report", "--home", str(home)])
    assert res.exit_code == 0, res.output
    assert "[red]net: test score" in res.stdout and "d[1]" in res.stdout
