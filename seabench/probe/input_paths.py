"""Where the external feature files are (``FILE`` or ``FILE:NAME``), checked without importing
torch, so a missing file is reported at once (they are read in ``seabench.probe.inputs``)."""

from __future__ import annotations

import re
from pathlib import Path

from seabench.errors import DataNotFoundError, SeabenchError

SUFFIXES = (".pt", ".pth", ".npy", ".npz", ".safetensors")
_NAMED = re.compile(r"^(?P<path>.+\.(?:pt|pth|npz|safetensors)):(?P<name>[^:/\\]+)$")


def split_spec(spec: str) -> tuple[Path, str | None]:
    """``FILE:NAME`` -> (FILE, NAME); a plain (or existing) path -> (path, None)."""
    if Path(spec).exists():
        return Path(spec), None
    m = _NAMED.match(spec)
    if m:
        return Path(m["path"]), m["name"]
    return Path(spec), None


def check_files(files: dict[str, str | None]) -> None:
    """Refuse the first missing feature or label file (``files``: ``train_features`` ... as the
    probe command names them; ``None``: not given), before anything loads."""
    if (files.get("val_features") is None) != (files.get("val_labels") is None):
        raise SeabenchError(
            "pass --val-features and --val-labels together, or neither (then a "
            "seeded stratified 20% of train is held out for validation)"
        )
    for split in ("train", "val", "test"):
        for kind, what in (("features", "feature"), ("labels", "label")):
            spec = files.get(f"{split}_{kind}")
            if spec is None:
                continue
            path, _ = split_spec(str(spec))
            if not path.is_file():
                raise DataNotFoundError(f"{split} {what} file {path} does not exist")
