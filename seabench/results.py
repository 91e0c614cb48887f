"""The results store: append-only rows, one JSON-lines file per append, written atomically.

Appending a new file instead of growing a shared one means a crash or a kill mid-write can never
corrupt rows already recorded, and two runs appending at once never interleave.

Reading never locks the user out of their results: a line that is not a result row (truncated by
a full disk, garbage, another JSON value) is skipped with a :class:`DamagedRowsWarning` naming
the file and line numbers, every readable row is still used, and nothing is rewritten.
:meth:`ResultsStore.read` returns the damage instead, for callers that make it an error.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from seabench._io import atomic_write_text, storage_fix, storage_problem
from seabench.errors import SeabenchWarning, StorageError

if TYPE_CHECKING:
    from seabench.predictions import PredictionStore

#: fields every row has (probe and fine-tuning alike); a JSON object without them is not a row
ROW_KEYS = ("dataset", "backbone", "aug", "test")
#: added by ``read(located=True)``: where a row was read from (not stored in the row itself)
WHERE_KEYS = ("results_file", "results_line")


class DamagedRowsWarning(SeabenchWarning):
    """A results file holds lines that are not result rows; they were skipped."""


@dataclass(frozen=True)
class DamagedFile:
    """The unreadable lines (1-based; empty: the whole file could not be read) of a rows file."""

    path: Path
    lines: tuple[int, ...]
    rows_read: int
    reason: str = ""

    def where(self) -> str:
        """``PATH line 3`` / ``PATH lines 3, 7``, or why the whole file cannot be read."""
        if not self.lines:
            return f"{self.path} (cannot be read: {self.reason})"
        shown = ", ".join(str(n) for n in self.lines[:10])
        if len(self.lines) > 10:
            shown += f" and {len(self.lines) - 10} more"
        return f"{self.path} line{'s' if len(self.lines) > 1 else ''} {shown}"

    def describe(self) -> str:
        """The warning: what was skipped, what is still used."""
        if not self.lines:
            return f"results file {self.where()}; its rows are skipped"
        return (
            f"results file {self.where()} skipped: truncated, garbage or not a result row; "
            f"its {self.rows_read} other row(s) are used and the file is left as it is"
        )


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _text(v: object) -> bool:
    return isinstance(v, str) and v != ""


def _whole(v: object) -> bool:
    """An integer, or a float with no fraction (from a table column that also has blanks)."""
    return _number(v) and float(v).is_integer()


def _absent(v: object) -> bool:
    """None, or NaN (a row written from a table where the field was empty)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def _optional(check):
    return lambda v: _absent(v) or check(v)


#: what the fields every table is built from must be (absent is fine for the optional ones): a
#: line that parses but holds, say, a list for a backbone or text for a score is not a row, and
#: is skipped like a truncated one instead of failing the report deep inside pandas
FIELD_CHECKS = {
    "dataset": _text,
    "backbone": _text,
    "aug": _text,
    "test": _number,
    "val": _optional(_number),
    "seed": _optional(_whole),
    "metric": _optional(_text),
    "solver": _optional(_text),
    "hparams": _optional(lambda v: isinstance(v, dict)),
    "image_size": _optional(_whole),
    "ci_low": _optional(_number),
    "ci_high": _optional(_number),
    "shots": _optional(_whole),
    "draw": _optional(_whole),
    **{
        k: _optional(lambda v: isinstance(v, str))
        for k in ("row_id", "manifest_hash", "features_key", "options_hash", "test_items")
    },
}


def _parse(line: bytes) -> dict | None:
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(row, dict) or not all(k in row for k in ROW_KEYS):
        return None
    if not all(check(row[k]) for k, check in FIELD_CHECKS.items() if k in row):
        return None
    return row


class ResultsStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def append(self, rows: list[dict]) -> Path | None:
        if not rows:
            return None
        now = time.time()
        # microseconds in the name: files sort in the order they were written, so a report can
        # tell which of two rows of the same run and seed is the later one
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now)) + f"{int(now % 1 * 1e6):06d}"
        created = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now))
        path = self.directory / f"rows-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        lines = [json.dumps({"created": created, **row}, sort_keys=True) for row in rows]
        try:
            # the predictions each row refers to go first: a row never names a file not yet written
            from seabench.predictions import PredictionStore  # torch: only when writing

            predictions = PredictionStore(self.directory)
            for row in rows:
                if getattr(row, "predictions", None) is not None:
                    predictions.write(row, row.predictions)
            atomic_write_text(path, "\n".join(lines) + "\n")
        except OSError as exc:
            problem = storage_problem(exc)
            if problem is None:
                raise
            where = exc.filename or path
            raise StorageError(
                f"{len(rows)} result row(s) were not stored: {problem} writing {where}; "
                f"{storage_fix(problem)} and run the same command again to record them",
                kept=rows,
            ) from exc
        return path

    def predictions(self) -> PredictionStore:
        """The test predictions stored beside the rows (``predictions/<row_id>.safetensors``)."""
        from seabench.predictions import PredictionStore

        return PredictionStore(self.directory)

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("rows-*.jsonl")) if self.directory.is_dir() else []

    def read(self, located: bool = False) -> tuple[list[dict], list[DamagedFile]]:
        """Every readable row, and the files with lines that are not rows (nothing rewritten).

        ``located`` adds each row's file and line (:data:`WHERE_KEYS`), so a report can say
        where a row it leaves out is."""
        out: list[dict] = []
        damaged: list[DamagedFile] = []
        for path in self.files():
            try:
                data = path.read_bytes()
            except OSError as exc:
                damaged.append(DamagedFile(path, (), 0, exc.strerror or type(exc).__name__))
                continue
            bad, n = [], 0
            for number, line in enumerate(data.splitlines(), 1):
                if not line.strip():
                    continue
                row = _parse(line)
                if row is None:
                    bad.append(number)
                else:
                    if located:
                        row.update(results_file=str(path), results_line=number)
                    out.append(row)
                    n += 1
            if bad:
                damaged.append(DamagedFile(path, tuple(bad), n))
        return out, damaged

    def rows(self, located: bool = False) -> list[dict]:
        """Every readable row; each damaged file is one :class:`DamagedRowsWarning`."""
        rows, damaged = self.read(located)
        for d in damaged:
            warnings.warn(d.describe(), DamagedRowsWarning, stacklevel=2)
        return rows

    def frame(self, located: bool = False) -> pd.DataFrame:
        """All rows as a table; nested fields (hparams, versions) stay dicts; ``located``: with
        each row's file and line."""
        return pd.DataFrame(self.rows(located))


class RowSink:
    """Stores each seed's rows as soon as they exist, so a Ctrl-C or a crash in the last seed
    keeps the seeds before it.  After a storage failure (full disk, read-only home) it stores
    nothing more and the command carries on computing; :meth:`finish` then raises the failure
    with every row computed, for the caller to show."""

    def __init__(self, store: ResultsStore):
        self.store = store
        self.unstored: list[dict] = []
        self.failed = False

    def __call__(self, rows: list[dict]) -> None:
        if not self.failed:
            try:
                self.store.append(rows)
                return
            except StorageError:
                self.failed = True
        self.unstored.extend(rows)

    def finish(self, rows: list[dict]) -> list[dict]:
        """``rows`` (all of them) once the unstored ones are stored; else StorageError."""
        if self.unstored:
            try:
                self.store.append(self.unstored)  # once more: the message counts them all
            except StorageError as exc:
                raise StorageError(str(exc), kept=rows) from exc
        return rows


def test_text(row: dict) -> str:
    """A row's test score as every summary line shows it: with its bootstrap interval, or the
    word why it has none (a number without its interval reads as more certain than it is)."""
    low, high = row.get("ci_low"), row.get("ci_high")
    if low is None or high is None:
        return f"test {row['test']:.2f} ({row['metric']}, no interval: no predictions kept)"
    confidence = (row.get("bootstrap") or {}).get("confidence", 0.95)
    interval = f"{100 * confidence:g}% interval {low:.2f}-{high:.2f}"
    return f"test {row['test']:.2f} ({interval}, {row['metric']})"
