"""What every command shares: the error console, the error-to-exit-code group, progress bars."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from seabench import options
from seabench._io import storage_fix, storage_problem
from seabench.cli._options import option, usage_line
from seabench.cli.progress import progress_bar as _progress_bar
from seabench.errors import SeabenchError, SeabenchWarning, StorageError

err = Console(stderr=True)
if not err.is_terminal:  # logs and pipes: whole lines, not 80-column wraps
    err = Console(stderr=True, width=160)


def _choice(row: dict) -> str:
    """How a probe row's hyperparameters were chosen, for its summary line."""
    if not row["configs_searched"]:
        return f"fixed {row['hparams']} (no search)"
    pruned = row.get("configs_pruned")
    halved = f" ({pruned} pruned at mid-training)" if pruned else ""
    on = row.get("selected_on", "val")
    opt = row.get("optimism")
    how = f" on {on}" + (f" (optimism {opt:+.2f})" if opt is not None else "")
    return (
        f"chosen {row['hparams']} from {row['configs_searched']} configs{halved}{how} "
        f"in {row['search_seconds']:.1f} s"
    )


def table_console() -> Console:
    """stdout for tables: the terminal's width; in logs and pipes ``COLUMNS`` if set, else 160
    columns (not rich's 80)."""
    out = Console()
    if out.is_terminal:
        return out
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 0 else 160)


#: what Ctrl-C prints (then exit status 130)
INTERRUPTED = "interrupted: finished work is kept; run the same command again to resume"

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def print_error(message: str, label: str = "error") -> None:
    """``error: MESSAGE`` on stderr, one line per line of the message; the message is text,
    never markup (a path or name with brackets prints as it is)."""
    for line in str(message).splitlines() or [""]:
        err.print(f"[bold red]{label}:[/] {escape(line)}", highlight=False, soft_wrap=True)


def _from_pil(filename: str) -> bool:
    """A warning raised inside Pillow (damaged EXIF data, a very large image): about the user's
    image, not about seabench's code, so its source line means nothing to them."""
    parts = os.path.normpath(str(filename)).split(os.sep)
    return "PIL" in parts[:-1]


def _show_once(fallback):
    """A ``warnings.showwarning`` printing each distinct seabench (or Pillow) warning once per
    command, as a line on stderr; other warnings go where they went before."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SeabenchWarning):
            text = str(message)
        elif _from_pil(filename):
            text = f"Pillow, reading an image: {' '.join(str(message).split())}"
        else:
            return fallback(message, category, filename, lineno, file, line)
        if text not in seen:
            seen.add(text)
            err.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)

    return show


class SeabenchGroup(click.Group):
    """Turns library errors into one line and exit code 2; internal errors into exit code 1;
    click's usage errors (a bad option value, a missing or unknown option) into one line and
    exit code 2; library warnings into one ``warning:`` line each."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # `seabench cache` alone prints its help
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            print_error(usage_line(exc))
            sys.exit(2)
        except click.ClickException as exc:
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except SeabenchError as exc:  # raised while parsing (an option's callback)
            print_error(str(exc))
            sys.exit(2)
        except click.Abort:
            err.print("aborted", highlight=False)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.simplefilter("always", SeabenchWarning)
            warnings.showwarning = _show_once(warnings.showwarning)
            return self._invoke(ctx)

    def _invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SeabenchError as exc:
            print_error(str(exc))
            ctx.exit(2)
        except KeyboardInterrupt:
            err.print(INTERRUPTED, highlight=False)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("SEABENCH_DEBUG"):
                raise
            print_error(
                f"{type(exc).__name__}: {exc} (set SEABENCH_DEBUG=1 for the traceback)",
                "internal error",
            )
            ctx.exit(1)


home_option = option(
    options.HOME,
    envvar="SEABENCH_HOME",
    default="seabench-home",
    show_default=True,
    type=click.Path(file_okay=False),
)


#: options every command that reads images shares (extract, finetune, datasets)
data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default="data",
    show_default=True,
    help="Folder holding the datasets in their original layouts.",
)
weights_option = click.option(
    "--weights", type=click.Path(dir_okay=False), help="Checkpoint file to load."
)
weights_format_option = click.option(
    "--weights-format",
    default="auto",
    show_default=True,
    help="Layout of --weights (see `seabench backbones`).",
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
        if split not in tasks:  # every split is announced at the start; its clock starts later
            tasks[split] = bar.add_task(
                f"extract {split}", total=total, completed=done, rate="", start=False
            )
        task = bar.tasks[[t.id for t in bar.tasks].index(tasks[split])]
        if not task.started and done > task.completed:
            bar.start_task(tasks[split])
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
        unit = "epochs" if epochs > 1 else ""  # a one-pass phase (k-NN) counts no epochs
        task = state["task"] = bar.add_task(phase, total=epochs, rate=unit)
        return lambda n=1: bar.update(task, advance=n)

    return start


def read_rows(store, strict: bool = False):
    """(every readable row as a frame, how many unreadable lines were skipped); ``strict``:
    unreadable lines are an error. Each damaged file is one warning."""
    import pandas as pd

    from seabench.results import DamagedRowsWarning

    rows, damaged = store.read(located=True)  # where each row is: report --verbose says
    if strict and damaged:
        raise SeabenchError(
            "unreadable results (--strict): "
            + "; ".join(d.where() for d in damaged)
            + "; repair or move the file(s) away, or report without --strict to skip them"
        )
    for d in damaged:
        warnings.warn(d.describe(), DamagedRowsWarning, stacklevel=2)
    return pd.DataFrame(rows), sum(len(d.lines) or 1 for d in damaged)


def _write_report(
    h,
    rows,
    formats,
    out=None,
    baselines=None,
    margin=1.0,
    settings=None,
    intervals=False,
    wide=False,
    skipped=0,
) -> None:
    """Print the report tables and write the requested files (used by `report` and `run`);
    intervals come from the predictions stored beside the rows; ``wide``: tables unabbreviated
    and unwrapped, however wide; ``skipped``: unreadable result lines (for the provenance)."""
    from seabench import report as rep
    from seabench.features import FeatureCache
    from seabench.results import ResultsStore

    extraction = {e.key: e.meta.get("wall_seconds") for e in FeatureCache(h.features).entries()}
    store = ResultsStore(h.results).predictions()
    result = rep.build_report(
        rows, extraction, margin, predictions=store, settings=settings, skipped=skipped
    )
    rep.print_report(result, table_console(), intervals, wide)
    try:
        written = rep.write_reports(result, out or h.reports, formats)
    except OSError as exc:  # a full disk or a read-only home: the tables are printed above
        problem = storage_problem(exc)
        if problem is None:
            raise
        raise StorageError(
            f"the report was printed but not written: {problem}: {exc.filename or out or h.reports}"
            f"; {'free space' if storage_fix(problem) == 'free space' else 'make it writable'} "
            "or pass --out DIR"
        ) from exc
    for path in written:
        err.print(f"wrote {escape(str(path))}", highlight=False)


def finetune_callback(bar: Progress):
    """A progress(phase, step, total, loss, images_per_second) that drives one bar per run."""
    tasks: dict[str, int] = {}

    def update(phase: str, step: int, total: int, loss: float, rate: float) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(f"finetune {phase}", total=total, completed=step, rate="")
        speed = f"{rate:.1f} img/s"
        bar.update(
            tasks[phase],
            completed=step,
            rate=speed if loss != loss else f"loss {loss:.3f}  {speed}",
        )

    return update
