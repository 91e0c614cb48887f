"""Where a report's numbers come from: versions, devices, selection protocol, rows counted.

A table pasted into a paper or a chat loses its context; the provenance block travels with it
(Markdown, HTML and JSON carry the same facts).  Versions and devices are read from the rows
(each row records what it was computed with); only where no row records a device does the block
name this machine's, and says so.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime, timezone
from importlib import metadata

import pandas as pd

PACKAGES = ("seabench", "torch", "timm")


def installed_versions() -> dict[str, str]:
    """The versions installed here: a module's own ``__version__`` where it is imported already
    (torch's names its build, ``2.5.1+cu124``, as the rows do), else the package's metadata."""
    out = {}
    for name in PACKAGES:
        module = sys.modules.get(name)
        try:
            out[name] = getattr(module, "__version__", None) or metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def this_device() -> str:
    """This machine's accelerator, as a row would name it (``cuda (NVIDIA H200)``) or ``cpu``."""
    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v))


def _counts(values) -> dict[str, int]:
    seen = Counter(str(v) for v in values if not _missing(v))
    return dict(sorted(seen.items()))


def collect(rows: pd.DataFrame, counted: int, skipped: int = 0) -> dict:
    """The provenance of a report made from ``rows`` (after filters and published baselines),
    of which ``counted`` enter its tables; ``skipped``: unreadable lines of the results files."""
    external = rows["external"].eq(True) if "external" in rows else pd.Series(False, rows.index)
    measured = rows[~external]
    versions: dict[str, dict[str, int]] = {}
    for name in PACKAGES:
        column = measured["versions"] if "versions" in measured else pd.Series(dtype=object)
        versions[name] = _counts(v.get(name) if isinstance(v, dict) else None for v in column)
    devices = _counts(measured["device"]) if "device" in measured else {}
    created = sorted(str(c) for c in measured.get("created", pd.Series(dtype=object)).dropna())
    return {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "generated_with": installed_versions(),
        "versions": versions,
        "devices": devices,
        "devices_from": "rows" if devices else "this machine (no row records its device)",
        "this_device": None if devices else this_device(),
        "selected_on": _counts(measured["selected_on"]) if "selected_on" in measured else {},
        "val_source": _counts(measured["val_source"]) if "val_source" in measured else {},
        "rows": {
            "read": int(len(rows)),
            "counted": int(counted),
            "not_counted": int(len(rows) - counted),
            "published": int(external.sum()),
            "unreadable_skipped": int(skipped),
        },
        "rows_created": {"first": created[0], "last": created[-1]} if created else None,
    }


def _tally(counts: dict[str, int], unit: str = "row") -> str:
    if not counts:
        return "not recorded"
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{k} ({n} {unit}{'s' if n != 1 else ''})" for k, n in counts.items())


def lines(p: dict) -> list[tuple[str, str]]:
    """The block as (what, value) pairs, the same in Markdown and HTML."""
    made = p["generated_with"]
    out = [
        ("generated", f"{p['generated']} by seabench {made['seabench']}"),
        (
            "rows computed with",
            "; ".join(f"{name} {_tally(p['versions'][name])}" for name in PACKAGES),
        ),
        (
            "device",
            _tally(p["devices"]) if p["devices"] else f"{p['this_device']} ({p['devices_from']})",
        ),
        (
            "hyperparameters selected on",
            f"{_tally(p['selected_on'])}; validation data: {_tally(p['val_source'])}",
        ),
    ]
    r = p["rows"]
    counted = f"{r['counted']} of {r['read']} rows counted"
    if r["not_counted"]:
        counted += f" ({r['not_counted']} not counted: a repeated seed)"
    if r["published"]:
        counted += f"; {r['published']} published"
    counted += f"; {r['unreadable_skipped']} unreadable line(s) skipped"
    out.append(("rows", counted))
    if p["rows_created"]:
        out.append(("rows created", f"{p['rows_created']['first']} to {p['rows_created']['last']}"))
    return out
