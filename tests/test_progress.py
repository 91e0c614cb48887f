"""Progress moves: terminal bars advance per epoch; in logs, plain lines at every tenth of a
phase with elapsed time and what is left."""

from __future__ import annotations

import io
import json
import re
import shutil
import time

from click.testing import CliRunner
from rich.console import Console
from rich.progress import Progress

from seabench import runner
from seabench.cli import cli
from seabench.cli._common import probe_callback
from seabench.cli.progress import LineProgress, progress_bar
from seabench.home import Home


def lines_of(run) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=False)
    run(console)
    return [line for line in out.getvalue().splitlines() if line.strip()]


def test_piped_progress_prints_every_tenth_with_elapsed_and_left():
    def run(console):
        with LineProgress(console, every=3600) as bar:
            task = bar.add_task("search sea (30 configs, seed 0)", total=100, rate="epochs")
            for _ in range(100):
                bar.update(task, advance=1)

    lines = lines_of(run)
    assert lines[0] == "search sea (30 configs, seed 0): 0/100 epochs (0%), started"
    assert len(lines) == 11  # started, 10% ... 90%, done
    assert "10/100 epochs (10%)" in lines[1] and "elapsed" in lines[1] and "left" in lines[1]
    assert not lines[1].endswith("epochs")  # the unit is the count's, not a rate after "left"
    assert lines[-1].startswith("search sea (30 configs, seed 0): 100/100 epochs (100%)")
    assert lines[-1].endswith("done")


def test_a_split_announced_early_times_itself_from_when_its_work_began(monkeypatch):
    """Extraction announces every split at the start; val waits while train runs, and its rate
    and estimate must not count that wait (they read '~21 min left, 1 img/s' for a 1 min job)."""
    clock = [time.monotonic()]  # a task's creation time is read from the real clock
    monkeypatch.setattr("seabench.cli.progress.time.monotonic", lambda: clock[0])

    def run(console):
        with LineProgress(console, every=3600) as bar:
            train = bar.add_task("extract train", total=100)
            val = bar.add_task("extract val", total=100)
            for _ in range(10):  # train: 10 images/s for 10 s
                clock[0] += 1.0
                bar.update(train, advance=10)
            for _ in range(5):  # then val at the same rate
                clock[0] += 1.0
                bar.update(val, advance=10)

    val_lines = [ln for ln in lines_of(run) if ln.startswith("extract val: 10/")]
    assert val_lines == ["extract val: 10/100 (10%), 1 s elapsed, ~9 s left"]


def test_terminal_split_bars_start_their_clocks_when_their_split_moves():
    from seabench.cli._common import extract_callback

    with Progress(disable=True) as bar:
        update = extract_callback(bar)
        for split in ("train", "val", "test"):
            update(split, 0, 100)  # extraction announces every split first
        update("train", 50, 100)
        train, val, _ = bar.tasks
        assert train.started and not val.started  # val's elapsed does not count train's time
        update("val", 20, 100)
        assert val.started and val.completed == 20


def test_piped_progress_also_prints_on_a_timer():
    def run(console):
        with LineProgress(console, every=0.0) as bar:
            task = bar.add_task("extract train", total=1000)
            for _ in range(5):
                bar.update(task, advance=1)

    assert len(lines_of(run)) == 6  # every update is past a 0 s timer


def test_markup_in_names_is_printed_as_text():
    def run(console):
        with LineProgress(console) as bar:
            bar.add_task("extract [/x] [bold]", total=2)

    assert lines_of(run)[0].startswith("extract [/x] [bold]: 0/2")


def test_no_progress_env_silences_piped_lines(monkeypatch):
    monkeypatch.setenv("SEABENCH_NO_PROGRESS", "1")

    def run(console):
        with progress_bar(console) as bar:
            task = bar.add_task("x", total=10, rate="")
            bar.update(task, completed=10)

    assert lines_of(run) == []


def test_piped_extract_and_probe_print_progress_lines(tiny_home, tmp_path, monkeypatch):
    monkeypatch.delenv("SEABENCH_NO_PROGRESS", raising=False)
    runner = CliRunner()
    home = str(tmp_path / "home")
    shutil.copytree(tiny_home.root, home)  # the shared fixture stays untouched
    args = ["--dataset", "mnist5k", "--backbone", "efficientnet_lite0", "--home", home]
    done = runner.invoke(cli, ["extract", *args, "--image-size", "32", "--subset", "200"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        cli, ["probe", *args, "--aug", "none", "--epochs", "10", "--no-search", "--json"]
    )
    assert done.exit_code == 0, done.output
    epochs = [
        line for line in done.stderr.splitlines() if re.search(r"\d+/10 epochs \(\d+%\)", line)
    ]
    # the search phase and the refit each advance epoch by epoch, not 0 then 10
    assert any("5/10 epochs (50%)" in line for line in epochs), done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]  # stdout: only JSON rows
    assert len(rows) == 1 and rows[0]["aug"] == "none"


def test_terminal_bar_advances_epoch_by_epoch(tiny_home, tmp_path):
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, home.root)
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    seen: list = []
    with progress_bar(console) as bar:
        assert isinstance(bar, Progress)
        start = probe_callback(bar)

        def spy(phase, epochs):
            advance = start(phase, epochs)

            def counted(n=1):
                advance(n)
                seen.append((phase.split()[0], bar.tasks[-1].completed))

            return counted

        opts = runner.probe_options("none", {"search": False, "epochs": 4})
        runner.probe_cached(home, "mnist5k", "efficientnet_lite0", opts, progress=spy)
    assert seen == [("search", i) for i in (1, 2, 3, 4)] + [("refit", i) for i in (1, 2, 3, 4)]
