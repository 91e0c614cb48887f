"""One row per configuration and seed: the rows a report counts.

Running the same probe twice (a recipe, then the README's command; or a run repeated after a
change) appends a second row for the same backbone, dataset, method, options and seed.  Averaging
both would count one seed twice and show a spread of 0.00 over "seeds" that are one.  So before
anything is grouped, each (configuration, seed) keeps its latest row; the rows it replaces are
returned apart so `seabench report --verbose` can say where they are.

A configuration is what defines the numbers: the method (aug, solver), the features (their key,
split and image size), the options fingerprint the probe and fine-tune commands record
(``options_hash``, ``finetune_key``), the selection, and for few-shot rows the draw.  Timestamps,
durations, devices and versions are not part of it.
"""

from __future__ import annotations

import json
import math

import pandas as pd

#: the fields that together say "the same run again" (missing fields count as equal)
CONFIG_FIELDS = (
    "backbone",
    "dataset",
    "aug",
    "solver",
    "options_hash",
    "finetune_key",
    "features_key",
    "manifest_hash",
    "image_size",
    "selected_on",
    "shots",
    "draw",
    "draw_hash",
)
KEY_FIELDS = (*CONFIG_FIELDS, "seed")


def _text(value) -> str:
    """A key part: missing values are equal, 0 and 0.0 are equal, dicts compare by content."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _key(df: pd.DataFrame) -> pd.Series:
    parts = [df[c].map(_text) if c in df else pd.Series("", df.index) for c in KEY_FIELDS]
    if "hparams" in df:
        # rows written before options were fingerprinted: fixed hyperparameters tell runs apart
        fixed = parts[KEY_FIELDS.index("selected_on")].str.startswith("none")
        unhashed = parts[KEY_FIELDS.index("options_hash")] == ""
        parts.append(df["hparams"].map(_text).where(fixed & unhashed, ""))
    return pd.Series(["\x1f".join(p) for p in zip(*parts, strict=True)], index=df.index)


def _order(df: pd.DataFrame) -> list:
    """Oldest first: by creation time, then file name and line (the store's own order)."""
    cols = [c for c in ("created", "results_file", "results_line") if c in df]
    if not cols:
        return list(df.index)
    keys = df[cols].copy()
    for c in cols:
        missing = -1 if c == "results_line" else ""
        keys[c] = [missing if _text(v) == "" else v for v in keys[c]]
    return list(keys.sort_values(cols, kind="stable").index)


def distinct_seeds(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows with one per configuration and seed, the earlier rows they replace).

    Published numbers (``external``) are not runs and are kept as they are.  The replaced rows
    carry ``superseded_by``: where the row kept instead of them is (file and line, else time).
    """
    rows = rows.reset_index(drop=True)
    if rows.empty:
        return rows, rows.iloc[0:0]
    external = rows["external"].eq(True) if "external" in rows else pd.Series(False, rows.index)
    runs = rows[~external]
    runs = runs.loc[_order(runs)]
    key = _key(runs)
    later = key.duplicated(keep="last")
    if not later.any():
        return rows, rows.iloc[0:0]
    kept = runs[~later]
    where = {k: where_of(r) for k, (_, r) in zip(key[~later], kept.iterrows(), strict=True)}
    old = runs[later].copy()
    old["superseded_by"] = [where[k] for k in key[later]]
    return rows.drop(index=old.index), old


def where_of(row: pd.Series) -> str:
    """``rows-....jsonl line 3``, or the row's creation time when its file is not known."""
    path, line = row.get("results_file"), row.get("results_line")
    if _text(path):
        return f"{path} line {int(line)}" if _text(line) else str(path)
    created = row.get("created")
    return f"created {created}" if _text(created) else "unknown place"


def superseded_note(old: pd.DataFrame) -> str:
    if old.empty:
        return ""
    n = len(old)
    return (
        f"{n} earlier row{'s have' if n > 1 else ' has'} the same (backbone, dataset, method, "
        "options, seed) as a later row: only the latest of each is used, so each seed counts "
        "once; `seabench report --verbose` lists the rows left out"
    )


def superseded_lines(old: pd.DataFrame) -> list[str]:
    """A count, then one line per row left out: what it is, its score, where it is and what
    replaced it (`seabench report --verbose`)."""
    from seabench.report.tables import label, method_of

    out = [f"{len(old)} row(s) left out: a later row has the same configuration and seed"]
    for _, r in old.iterrows():
        shots = _text(r.get("shots"))
        shot = f" {shots}-shot draw {_text(r.get('draw'))}" if shots else ""
        out.append(
            f"  {r['backbone']} / {r['dataset']} / {label(method_of(r))}{shot} seed "
            f"{_text(r.get('seed'))}: test {float(r['test']):.2f} at {where_of(r)} "
            f"(superseded by {r['superseded_by']})"
        )
    return out
