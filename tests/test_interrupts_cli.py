"""Ctrl-C: one line and status 130 whenever it comes (in a command, before it, after it), and
the seeds a probe finished before it are stored."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import seabench.cli as seabench_cli
from seabench.cli import cli
from seabench.home import Home
from seabench.results import ResultsStore

ROOT = Path(__file__).resolve().parents[1]


def test_ctrl_c_in_the_last_seed_keeps_the_rows_of_the_seeds_before_it(
    tiny_home, tmp_path, monkeypatch
):
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, home.root)
    from seabench.probe import protocol

    real_fit, calls = protocol.fit, []

    def fit(s, fs, opts, seed, progress=None):
        calls.append(seed)
        if seed == 2:
            raise KeyboardInterrupt  # Ctrl-C while the third seed trains
        return real_fit(s, fs, opts, seed, progress)

    monkeypatch.setattr(protocol, "fit", fit)
    command = ["probe", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0"]
    command += ["--no-search", "--epochs", "2", "--seeds", "3", "--home", str(home.root)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 130, result.output
    assert "interrupted: finished work is kept" in result.stderr
    assert "Traceback" not in result.output
    assert calls == [0, 1, 2]
    rows = ResultsStore(home.results).rows()
    assert sorted(r["seed"] for r in rows) == [0, 1]  # computed before the Ctrl-C: kept
    assert all(ResultsStore(home.results).predictions().has(r["row_id"]) for r in rows)

    # the same command again runs only the missing seed: each seed once, as uninterrupted
    monkeypatch.setattr(protocol, "fit", real_fit)
    again = CliRunner().invoke(cli, [*command, "--json"])
    assert again.exit_code == 0, again.output
    printed = [json.loads(line) for line in again.stdout.splitlines()]
    assert [r["seed"] for r in printed] == [0, 1, 2]
    stored = ResultsStore(home.results).rows()
    assert sorted(r["seed"] for r in stored) == [0, 1, 2]
    assert {r["row_id"] for r in rows} <= {r["row_id"] for r in stored}
    assert len({r["invocation"] for r in stored}) == 1

    # a finished run is not continued: running it once more appends a new row per seed
    third = CliRunner().invoke(cli, command)
    assert third.exit_code == 0, third.output
    assert sorted(r["seed"] for r in ResultsStore(home.results).rows()) == [0, 0, 1, 1, 2, 2]


@pytest.fixture
def sigint_restored():
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_outside_a_command_is_one_line_and_130(monkeypatch, capsys, sigint_restored):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. while click parses, or after the command returned

    monkeypatch.setattr(seabench_cli, "cli", interrupted)
    try:
        seabench_cli.main()
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C escaped main() (a traceback for the user)")
    except SystemExit as stop:
        assert stop.code == 130
    else:
        pytest.fail("main() returned without an exit status")
    assert "interrupted" in capsys.readouterr().err


def test_ctrl_c_while_the_interpreter_shuts_down_prints_no_traceback(tmp_path):
    """Rows are written and the command is done; a Ctrl-C during exit (torch's finalizers run
    then) used to print a KeyboardInterrupt traceback."""
    script = textwrap.dedent(
        """
        import atexit, os, signal, sys, time
        def press():  # runs after main() returned, as the interpreter exits
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        atexit.register(press)
        from seabench.cli import main
        sys.argv = ["seabench", "--version"]
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert done.returncode == 0 and "seabench" in done.stdout


def test_ctrl_c_between_few_shot_draws_is_continued_not_repeated(tiny_home, tmp_path, monkeypatch):
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, home.root)
    from seabench.probe import protocol

    real, calls = protocol.run_probe, []

    def run_probe(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # in the third of four draws
        return real(*args, **kwargs)

    monkeypatch.setattr(protocol, "run_probe", run_probe)
    command = ["probe", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0", "--no-search"]
    command += ["--epochs", "2", "--shots", "1,2", "--draws", "2", "--home", str(home.root)]
    assert CliRunner().invoke(cli, command).exit_code == 130
    assert len(ResultsStore(home.results).rows()) == 2

    monkeypatch.setattr(protocol, "run_probe", real)
    again = CliRunner().invoke(cli, command)
    assert again.exit_code == 0, again.output
    units = sorted((r["shots"], r["draw"]) for r in ResultsStore(home.results).rows())
    assert units == [(1, 0), (1, 1), (2, 0), (2, 1)]  # each draw once
