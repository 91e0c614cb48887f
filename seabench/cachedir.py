"""Where seabench keeps what it derived once and can derive again (parsed digits, name lists)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$SEABENCH_CACHE_DIR, else $XDG_CACHE_HOME/seabench, else ~/.cache/seabench."""
    if os.environ.get("SEABENCH_CACHE_DIR"):
        return Path(os.environ["SEABENCH_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "seabench"
