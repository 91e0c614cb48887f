"""The test predictions each result row was scored from, kept beside the rows so any two rows
scored on the same test items can later be compared pairwise (bootstrap intervals, paired deltas).

One safetensors file per row, ``<results>/predictions/<row_id>.safetensors``, written atomically
before the row that refers to it.  What is stored (the storage rule):

- ``labels``: the test labels, in order (int32 class indices, or uint8 multi-hot rows);
- ``pred``: the top class of each example (int32), exactly the argmax the row's score was
  computed from; top-1 and mean per-class accuracy (and their bootstraps) need nothing else;
- single-label: ``topk_values`` / ``topk_indices``: the k = min(C, 10) most probable classes of
  each example, probabilities in float16 (the full distribution when C <= 10), kept for later
  analysis (top-5, calibration) at 40 bytes per example whatever C is;
- multi-label (scored by 11-point mAP): ``scores``, every class's score in float32; AP needs each
  class's full ranking, and float16 would tie close scores and move the AP away from the row's.

A row names its file by ``row_id`` and carries ``test_items``, a hash of the test split's items
in order (the manifest's test items for cached features, the test feature and label files'
content for feature files): rows are paired only when those hashes are equal.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seabench._io import atomic_write, canonical_json
from seabench.errors import SeabenchError

TOPK = 10
FORMAT_VERSION = 1
DIRNAME = "predictions"


def new_row_id() -> str:
    return uuid.uuid4().hex


def items_hash(items: list, labels: list) -> str:
    """``test_items`` of a split given by its items and labels in order."""
    payload = canonical_json({"items": list(items), "labels": list(labels)})
    return "items-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def tensors_hash(x: torch.Tensor, y: torch.Tensor) -> str:
    """``test_items`` of test features given as tensors (no item names): their content."""
    h = hashlib.sha256()
    for t in (x, y):
        t = t.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return "tensors-" + h.hexdigest()[:16]


@dataclass
class TestPredictions:
    """A row's test predictions as stored; ``correct`` and ``scores`` feed the bootstrap."""

    __test__ = False  # not a pytest class, despite its name

    labels: np.ndarray
    pred: np.ndarray
    scores: np.ndarray | None = None
    topk_values: np.ndarray | None = None
    topk_indices: np.ndarray | None = None

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    @classmethod
    def from_scores(cls, scores: torch.Tensor, labels: torch.Tensor) -> TestPredictions:
        """From (N, C) class probabilities (softmax, or sigmoid scores for multi-label)."""
        s = scores.detach().float().cpu()
        y = labels.detach().cpu()
        pred = s.argmax(-1).to(torch.int32).numpy()
        if y.ndim == 2:
            return cls(y.to(torch.uint8).numpy(), pred, scores=s.numpy())
        k = min(TOPK, s.shape[1])
        values, indices = torch.topk(s, k, dim=-1)
        index_dtype = torch.int16 if s.shape[1] < 2**15 else torch.int32
        return cls(
            y.to(torch.int32).numpy(),
            pred,
            topk_values=values.to(torch.float16).numpy(),
            topk_indices=indices.to(index_dtype).numpy(),
        )

    def correct(self) -> np.ndarray:
        """(N,) bool: the top class is the label (multi-label: one of the positives)."""
        if self.multilabel:
            return self.labels[np.arange(len(self.pred)), self.pred] > 0
        return self.pred == self.labels

    def column(self, metric: str) -> np.ndarray:
        """What the bootstrap of ``metric`` needs: right/wrong per example, or the scores."""
        if metric == "map11":
            if self.scores is None:
                raise SeabenchError("map11 needs full class scores; these predictions hold top-k")
            return self.scores
        return self.correct()

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"labels": self.labels, "pred": self.pred}
        for name in ("scores", "topk_values", "topk_indices"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> TestPredictions:
        def get(name):
            return t[name].numpy() if name in t else None

        names = ("labels", "pred", "scores", "topk_values", "topk_indices")
        return cls(*(get(n) for n in names))


class ResultRow(dict):
    """A result row (a plain dict, as JSON sees it) that also carries its test predictions until
    the results store writes them beside it."""

    predictions: TestPredictions | None = None


def with_predictions(row: dict, predictions: TestPredictions) -> ResultRow:
    out = ResultRow(row)
    out.predictions = predictions
    return out


class PredictionStore:
    """``<results>/predictions/<row_id>.safetensors``: write once (atomically), read by row id."""

    def __init__(self, results_dir: Path):
        self.directory = Path(results_dir) / DIRNAME

    def path(self, row_id: str) -> Path:
        return self.directory / f"{row_id}.safetensors"

    def write(self, row: dict, predictions: TestPredictions) -> Path:
        from safetensors.torch import save_file

        meta = {
            "row_id": str(row["row_id"]),
            "test_items": str(row.get("test_items", "")),
            "metric": str(row.get("metric", "")),
            "format": str(FORMAT_VERSION),
        }
        path = self.path(row["row_id"])
        tensors = predictions.tensors()
        atomic_write(path, lambda p: save_file(tensors, str(p), metadata=meta))
        return path

    def has(self, row_id: str | None) -> bool:
        return bool(row_id) and self.path(str(row_id)).is_file()

    def read(self, row_id: str) -> TestPredictions | None:
        """The predictions of a row, or None when none were stored (older rows) or the file is
        unreadable (a damaged file is never used)."""
        from safetensors.torch import load_file

        path = self.path(str(row_id))
        if not path.is_file():
            return None
        try:
            return TestPredictions.from_tensors(load_file(str(path)))
        except Exception:  # truncated or foreign file: treated as missing, never half-read
            return None
