"""Recipes: a TOML file naming backbones x datasets x augmentations x seeds, run as one grid.

What is already cached is not extracted again and what is already recorded (same features, same
probe options, same seed) is not probed again, so a recipe can be re-run after an interruption.
A failing cell is reported at the end; the other cells still run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from seabench.errors import SeabenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = {"backbones", "datasets", "augs", "seeds", "extract", "probe", "report", "data_root",
              "description"}


@dataclass
class Recipe:
    path: Path
    backbones: list[str]
    datasets: list[str]
    augs: list[str]
    seeds: int = 1
    extract: dict = field(default_factory=dict)
    probe: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    data_root: str | None = None
    description: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        path = Path(path)
        if not path.is_file():
            raise SeabenchError(f"recipe {path} does not exist; see recipes/ for examples")
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SeabenchError(f"recipe {path} is not valid TOML: {exc}") from exc
        unknown = set(doc) - KNOWN_KEYS
        if unknown:
            raise SeabenchError(
                f"recipe {path}: unknown keys {', '.join(sorted(unknown))}; "
                f"known keys: {', '.join(sorted(KNOWN_KEYS))}"
            )
        for key in ("backbones", "datasets", "augs"):
            if not isinstance(doc.get(key), list) or not doc[key]:
                raise SeabenchError(f"recipe {path}: {key!r} must be a non-empty list")
        return cls(path, doc["backbones"], doc["datasets"], doc["augs"], int(doc.get("seeds", 1)),
                   doc.get("extract", {}), doc.get("probe", {}), doc.get("report", {}),
                   doc.get("data_root"), doc.get("description", ""))

    def cells(self) -> list[tuple[str, str]]:
        return [(b, d) for b in self.backbones for d in self.datasets]
