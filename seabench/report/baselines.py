"""Published baselines: numbers from papers, merged into the report as their own, external rows.

A baselines file is a CSV with the columns ``backbone, dataset, method, metric, value, source``
(see ``examples/baselines.csv``).  Its rows are marked ``external`` and keep their source; the
report shows them in their own "(published)" columns, never averaged with measured numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seabench.errors import DataNotFoundError, SeabenchError

COLUMNS = ("backbone", "dataset", "method", "metric", "value", "source")


def load_baselines(path: str | Path) -> pd.DataFrame:
    """Read and check a baselines CSV; return rows shaped like result rows (``external`` True)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"baselines file {path} does not exist; see examples/baselines.csv")
    try:
        df = pd.read_csv(path, dtype=str, skipinitialspace=True).fillna("")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SeabenchError(f"baselines file {path} is not a readable CSV ({first})") from exc
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise SeabenchError(
            f"baselines file {path} lacks the columns {', '.join(missing)}; "
            f"the header must be: {','.join(COLUMNS)}"
        )
    rows = []
    for i, r in df.iterrows():
        line = i + 2  # 1-based, after the header
        for col in ("backbone", "dataset", "method", "source"):
            if not str(r[col]).strip():
                raise SeabenchError(f"{path} line {line}: empty {col!r}; every row needs one")
        try:
            value = float(r["value"])
        except ValueError:
            raise SeabenchError(
                f"{path} line {line}: value {r['value']!r} is not a number (a percentage)"
            ) from None
        if not 0.0 <= value <= 100.0:
            raise SeabenchError(f"{path} line {line}: value {value} is not a percentage (0-100)")
        rows.append(
            {
                "backbone": r["backbone"].strip(),
                "dataset": r["dataset"].strip(),
                "aug": r["method"].strip(),
                "solver": "published",
                "metric": r["metric"].strip(),
                "test": value,
                "seed": 0,
                "external": True,
                "source": r["source"].strip(),
                "selected_on": "published",
                "val_source": "published",
            }
        )
    if not rows:
        raise SeabenchError(f"baselines file {path} has a header but no rows")
    return pd.DataFrame(rows)


def merge_baselines(rows: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Measured rows plus published ones (marked ``external``)."""
    measured = rows.copy()
    measured["external"] = False
    return pd.concat([measured, baselines], ignore_index=True)
