"""Progress that moves in a terminal and in a log.

In a terminal, rich's live bars.  Piped (logs, SLURM, CI) a live display prints nothing until it
ends, so :class:`LineProgress` writes plain lines instead: when a phase starts, at every 10% of
it or every 30 s (whichever comes first), and when it ends, each with the elapsed time and an
estimate of what is left.  ``SEABENCH_NO_PROGRESS=1`` silences the piped lines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class LineTask:
    id: int
    description: str
    total: float | None
    completed: float = 0.0
    fields: dict = field(default_factory=dict)
    start_time: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)
    last_decile: int = 0
    start_completed: float = 0.0
    finished: bool = False
    #: whether the count has moved yet: a task announced early (a split waiting its turn) starts
    #: its clock when work on it can have begun, not when it was announced
    moved: bool = False
    last_seen: float = field(default_factory=time.monotonic)

    @property
    def started(self) -> bool:
        """As rich's: a line task's clock runs from its first move (see ``update``)."""
        return True

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start_time

    @property
    def speed(self) -> float | None:
        done = self.completed - self.start_completed
        return done / self.elapsed if done > 0 and self.elapsed > 0 else None


class LineProgress:
    """The subset of ``rich.progress.Progress`` the commands use, as plain lines on a console."""

    #: a line at least this often (seconds) while a phase runs, and at every tenth of it
    every = 30.0

    def __init__(self, console: Console, every: float | None = None):
        self.console = console
        self.every = self.every if every is None else every
        self.tasks: list[LineTask] = []
        self._last_event: tuple[int, float] | None = None  # (task, time) of the latest update

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def _task(self, task_id: int) -> LineTask:
        return next(t for t in self.tasks if t.id == task_id)

    def add_task(
        self,
        description: str,
        total: float | None = None,
        completed: float = 0,
        start: bool = True,
        **kw,
    ):
        task = LineTask(len(self.tasks), description, total, completed, dict(kw))
        task.start_completed = completed
        self.tasks.append(task)
        self._line(task, "started")
        return task.id

    def start_task(self, task_id: int) -> None:
        """Rich's: a task added with ``start=False`` starts its clock (here: at its first move)."""

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(
        self,
        task_id: int,
        *,
        completed: float | None = None,
        advance: float | None = None,
        total: float | None = None,
        **kw,
    ) -> None:
        task = self._task(task_id)
        now = time.monotonic()
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        if advance:
            task.completed += advance
        task.fields.update(kw)
        if not task.moved and task.completed > task.start_completed:
            task.moved = True  # work began after this task's last quiet update and anyone else's
            other = (
                self._last_event[1] if self._last_event and self._last_event[0] != task.id else 0
            )
            task.start_time = max(task.start_time, task.last_seen, other)
        task.last_seen = now
        self._last_event = (task.id, now)
        if task.finished:
            return
        if task.total and task.completed >= task.total:
            task.finished = True
            self._line(task, "done")
            return
        decile = int(10 * task.completed / task.total) if task.total else 0
        if decile > task.last_decile or now - task.last_line >= self.every:
            task.last_decile = max(decile, task.last_decile)
            self._line(task)

    def _line(self, task: LineTask, state: str = "") -> None:
        task.last_line = time.monotonic()
        rate = str(task.fields.get("rate") or "")
        unit = rate if rate and not any(c.isdigit() for c in rate) else ""  # "epochs", not a rate
        done = f"{task.completed:g}"
        if task.total:
            done += f"/{task.total:g}"
        if unit:
            done += f" {unit}"
        if task.total:
            done += f" ({100 * task.completed / task.total:.0f}%)"
        parts = [f"{task.description}: {done}"]
        if state != "started":
            parts.append(f"{_duration(task.elapsed)} elapsed")
            speed = task.speed
            if state != "done" and task.total and speed:
                parts.append(f"~{_duration((task.total - task.completed) / speed)} left")
        if rate and not unit and state != "started":
            parts.append(str(rate))
        if state:
            parts.append(state)
        self.console.print(escape(", ".join(parts)), highlight=False, soft_wrap=True)


@contextmanager
def progress_bar(console: Console, transient: bool = False) -> Iterator[Progress | LineProgress]:
    """Live bars in a terminal; plain lines at a steady rate in logs (none with
    ``SEABENCH_NO_PROGRESS=1``)."""
    if console.is_terminal:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=transient,
        ) as bar:
            yield bar
        return
    if os.environ.get("SEABENCH_NO_PROGRESS"):
        with Progress(console=console, disable=True) as bar:
            yield bar
        return
    with LineProgress(console) as bar:
        yield bar
