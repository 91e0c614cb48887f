"""The results store: append-only rows, one JSON-lines file per append, written atomically.

Appending a new file instead of growing a shared one means a crash or a kill mid-write can never
corrupt rows already recorded, and two runs appending at once never interleave.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pandas as pd

from seabench._io import atomic_write_text
from seabench.predictions import PredictionStore


class ResultsStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def append(self, rows: list[dict]) -> Path | None:
        if not rows:
            return None
        # the predictions each row refers to go first: a row never names a file not yet written
        predictions = PredictionStore(self.directory)
        for row in rows:
            if getattr(row, "predictions", None) is not None:
                predictions.write(row, row.predictions)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        path = self.directory / f"rows-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        lines = [json.dumps({"created": created, **row}, sort_keys=True) for row in rows]
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path

    def predictions(self) -> PredictionStore:
        """The test predictions stored beside the rows (``predictions/<row_id>.safetensors``)."""
        return PredictionStore(self.directory)

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("rows-*.jsonl")) if self.directory.is_dir() else []

    def rows(self) -> list[dict]:
        out = []
        for path in self.files():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    out.append(json.loads(line))
        return out

    def frame(self) -> pd.DataFrame:
        """All rows as a table; nested fields (hparams, versions) stay dicts."""
        return pd.DataFrame(self.rows())
