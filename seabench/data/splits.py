"""Split manifests: the exact items and labels of train / val / test, hashed and checked.

A manifest is the single source of truth for a split: it is stored with the feature cache and its
hash is part of the cache key, so a changed split can never reuse stale features.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seabench._io import atomic_write_text, canonical_json
from seabench.errors import SeabenchError

SPLITS = ("train", "val", "test")


@dataclass
class SplitManifest:
    """Items (file paths relative to the dataset root, or indices) and labels for each split.

    Labels are class indices, or multi-hot lists for multi-label datasets.
    """

    dataset: str
    num_classes: int
    splits: dict[str, dict[str, list]]
    multilabel: bool = False
    val_source: str = "holdout20"
    notes: dict = field(default_factory=dict)

    @property
    def hash(self) -> str:
        payload = {
            "splits": self.splits,
            "num_classes": self.num_classes,
            "multilabel": self.multilabel,
        }
        return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]

    def items(self, split: str) -> list:
        return self.splits[split]["items"]

    def labels(self, split: str) -> list:
        return self.splits[split]["labels"]

    def counts(self) -> dict[str, int]:
        return {s: len(self.splits[s]["items"]) for s in SPLITS if s in self.splits}

    def check(self) -> dict[str, int]:
        """Raise on duplicates, overlap between splits, or a class absent from a split."""
        seen: dict[str, str] = {}
        for split in SPLITS:
            if split not in self.splits:
                raise SeabenchError(f"{self.dataset}: the split manifest has no {split!r} split")
            items = [str(i) for i in self.items(split)]
            if len(items) != len(self.labels(split)):
                raise SeabenchError(f"{self.dataset}/{split}: items and labels differ in count")
            dup = _first_duplicate(items)
            if dup is not None:
                raise SeabenchError(f"{self.dataset}/{split}: item {dup!r} appears twice")
            for item in items:
                if item in seen:
                    raise SeabenchError(
                        f"{self.dataset}: item {item!r} is in both {seen[item]} and {split}; "
                        "splits must not overlap"
                    )
                seen[item] = split
            present = self._present_classes(split)
            missing = sorted(set(range(self.num_classes)) - present)
            if missing:
                shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
                raise SeabenchError(f"{self.dataset}/{split}: classes {shown} have no example")
        return self.counts()

    def _present_classes(self, split: str) -> set[int]:
        labels = self.labels(split)
        if self.multilabel:
            arr = np.asarray(labels)
            return set(np.nonzero(arr.sum(0) > 0)[0].tolist()) if len(arr) else set()
        return {int(v) for v in labels}

    def subset(self, per_split: int) -> SplitManifest:
        """About ``per_split`` items of each split, the first ones of every class in turn.

        A tiny but class-balanced slice for tests and smoke runs (its own manifest hash).
        """
        splits = {}
        for name, v in self.splits.items():
            keys = [self._class_key(lab) for lab in v["labels"]]
            rank: dict = {}
            order = []
            for i, k in enumerate(keys):
                order.append((rank.get(k, 0), i))
                rank[k] = rank.get(k, 0) + 1
            chosen = sorted(i for _, i in sorted(order)[:per_split])
            splits[name] = {
                "items": [v["items"][i] for i in chosen],
                "labels": [v["labels"][i] for i in chosen],
            }
        return SplitManifest(
            self.dataset,
            self.num_classes,
            splits,
            self.multilabel,
            self.val_source,
            {**self.notes, "subset": per_split},
        )

    @staticmethod
    def _class_key(label):
        return tuple(label) if isinstance(label, list) else label

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "multilabel": self.multilabel,
            "val_source": self.val_source,
            "notes": self.notes,
            "hash": self.hash,
            "splits": self.splits,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SplitManifest:
        m = cls(
            d["dataset"],
            d["num_classes"],
            d["splits"],
            d.get("multilabel", False),
            d.get("val_source", "holdout20"),
            d.get("notes", {}),
        )
        if "hash" in d and d["hash"] != m.hash:
            raise SeabenchError(f"split manifest of {m.dataset} is corrupted (hash mismatch)")
        return m

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict()) + "\n")

    @classmethod
    def load(cls, path: Path) -> SplitManifest:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _first_duplicate(items: list[str]) -> str | None:
    seen = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def stratified_split(labels: list[int] | np.ndarray, fraction: float, seed: int):
    """Indices (keep, held): ``fraction`` of each class held out, seeded, order-independent."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = np.nonzero(labels == c)[0]
        idx = idx[rng.permutation(len(idx))]
        n_held = max(1, int(round(fraction * len(idx)))) if len(idx) > 1 else 0
        held.extend(idx[:n_held].tolist())
        keep.extend(idx[n_held:].tolist())
    return sorted(keep), sorted(held)
