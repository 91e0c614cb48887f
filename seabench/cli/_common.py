"""What every command shares: the error console, the error-to-exit-code group, progress bars."""

from __future__ import annotations

import os
from collections.abc import Callable

import click
from rich.console import Console
from rich.progress import Progress

from seabench.cli.progress import progress_bar as _progress_bar
from seabench.errors import SeabenchError

err = Console(stderr=True)
if not err.is_terminal:  # logs and pipes: whole lines, not 80-column wraps
    err = Console(stderr=True, width=160)


def _choice(row: dict) -> str:
    """How a probe row's hyperparameters were chosen, for its summary line."""
    if not row["configs_searched"]:
        return f"fixed {row['hparams']} (no search)"
    pruned = row.get("configs_pruned")
    halved = f" ({pruned} pruned at mid-training)" if pruned else ""
    return (
        f"chosen {row['hparams']} from {row['configs_searched']} configs{halved} "
        f"in {row['search_seconds']:.1f} s"
    )


def table_console() -> Console:
    """stdout for tables: the terminal's width, or 160 columns in logs and pipes (not 80)."""
    out = Console()
    return out if out.is_terminal else Console(width=160)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SeabenchGroup(click.Group):
    """Turns library errors into one line and exit code 2; internal errors into exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SeabenchError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            err.print("interrupted: finished work is kept; run the same command again to resume")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("SEABENCH_DEBUG"):
                raise
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc} "
                "(set SEABENCH_DEBUG=1 for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            ctx.exit(1)


home_option = click.option(
    "--home",
    envvar="SEABENCH_HOME",
    default="seabench-home",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where features/, results/ and reports/ live (env SEABENCH_HOME).",
)


def _home(path):
    from seabench.home import Home

    return Home.resolve(path)


def progress_bar(transient: bool = False):
    """Bars on stderr in a terminal, plain lines in logs (see :mod:`seabench.cli.progress`)."""
    return _progress_bar(err, transient)


def extract_callback(bar: Progress):
    """A progress(split, done, total) that drives one bar per split, with images/s."""
    tasks: dict[str, int] = {}

    def update(split: str, done: int, total: int) -> None:
        if split not in tasks:
            tasks[split] = bar.add_task(f"extract {split}", total=total, completed=done, rate="")
        task = bar.tasks[[t.id for t in bar.tasks].index(tasks[split])]
        bar.update(
            tasks[split], completed=done, rate=f"{task.speed:.0f} img/s" if task.speed else ""
        )

    return update


def probe_callback(bar: Progress):
    """A progress(phase, epochs) that starts a bar and returns the per-epoch ``advance(n)`` that
    the trainer calls."""
    state: dict = {}

    def start(phase: str, epochs: int) -> Callable[[int], None]:
        if "task" in state:
            bar.update(state["task"], completed=bar.tasks[-1].total)
        task = state["task"] = bar.add_task(phase, total=epochs, rate="epochs")
        return lambda n=1: bar.update(task, advance=n)

    return start


def _write_report(
    h, rows, formats, out=None, baselines=None, margin=1.0, settings=None, intervals=False
) -> None:
    """Print the report tables and write the requested files (used by `report` and `run`);
    intervals come from the predictions stored beside the rows."""
    from seabench import report as rep
    from seabench.features import FeatureCache
    from seabench.results import ResultsStore

    extraction = {e.key: e.meta.get("wall_seconds") for e in FeatureCache(h.features).entries()}
    store = ResultsStore(h.results).predictions()
    result = rep.build_report(rows, extraction, margin, predictions=store, settings=settings)
    rep.print_report(result, table_console(), intervals)
    for path in rep.write_reports(result, out or h.reports, formats):
        err.print(f"wrote {path}")


def finetune_callback(bar: Progress):
    """A progress(phase, step, total, loss, images_per_second) that drives one bar per run."""
    tasks: dict[str, int] = {}

    def update(phase: str, step: int, total: int, loss: float, rate: float) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(f"finetune {phase}", total=total, completed=step, rate="")
        bar.update(tasks[phase], completed=step, rate=f"loss {loss:.3f}  {rate:.1f} img/s")

    return update
