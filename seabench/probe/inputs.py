"""External feature files: probe features that came from anywhere (the official SeA script's
``torch.save``'d tensors included), with the same protocol and checks as cached ones.

Formats, chosen by suffix and always loaded without pickle:

- ``.pt`` / ``.pth``: ``torch.load(weights_only=True)`` of a tensor, or of a dict of tensors;
- ``.npy`` / ``.npz``: ``numpy.load(allow_pickle=False)``;
- ``.safetensors``: the file's first tensor, or a named one.

``FILE:NAME`` picks the tensor ``NAME`` of a dict-like file (``.pt``, ``.npz``, ``.safetensors``).
"""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from seabench.errors import DataNotFoundError, SeabenchError
from seabench.probe.input_paths import SUFFIXES, split_spec
from seabench.probe.protocol import FeatureSet


def _pick(tensors: dict, name: str | None, path: Path, what: str):
    if not tensors:
        raise SeabenchError(f"{what} file {path} holds no tensor")
    if name is None:
        return next(iter(tensors.values()))
    if name not in tensors:
        raise SeabenchError(
            f"{what} file {path} has no tensor {name!r}; it holds: {', '.join(map(str, tensors))}"
        )
    return tensors[name]


def load_tensor(spec: str | Path, what: str = "feature") -> torch.Tensor:
    """One tensor from a ``.pt``, ``.npy``, ``.npz`` or ``.safetensors`` file (``FILE:NAME``)."""
    path, name = split_spec(str(spec))
    if not path.is_file():
        raise DataNotFoundError(f"{what} file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".pt", ".pth"):
            with warnings.catch_warnings():  # torch's notes on pickle protocols: not ours
                warnings.simplefilter("ignore", UserWarning)
                obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, dict):
                obj = _pick(
                    {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}, name, path, what
                )
            elif name is not None:
                raise SeabenchError(
                    f"{what} file {path} holds one tensor, not a dict; drop ':{name}'"
                )
        elif suffix == ".npy":
            obj = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                obj = _pick({k: z[k] for k in z.files}, name, path, what)
        elif suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
                obj = f.get_tensor(_pick(dict(zip(keys, keys, strict=True)), name, path, what))
        else:
            raise SeabenchError(
                f"{what} file {path}: unsupported format {suffix or '(none)'}; "
                f"use one of {', '.join(SUFFIXES)}"
            )
    except SeabenchError:
        raise
    except Exception as exc:  # pickle refused, corrupt file, wrong format
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, pickle.UnpicklingError):  # torch's text is about its own defaults
            first = "it holds Python objects other than tensors, which are never unpickled"
        raise SeabenchError(
            f"cannot read {what} file {path} as {suffix} ({first[:200]}); save plain tensors "
            "(torch.save(tensor), numpy.save or safetensors)"
        ) from exc
    if isinstance(obj, np.ndarray):
        obj = torch.from_numpy(np.ascontiguousarray(obj))
    if not isinstance(obj, torch.Tensor):
        raise SeabenchError(f"{what} file {path} holds a {type(obj).__name__}, not a tensor")
    return obj


def as_labels(y: torch.Tensor, path: str) -> torch.Tensor:
    """Class indices as int64, or multi-hot rows as uint8; (N, 1) columns become (N,)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if not ((y == 0) | (y == 1)).all():
            raise SeabenchError(f"labels in {path} are 2-d but not multi-hot (0/1) rows")
        return y.to(torch.uint8)
    if y.ndim != 1:
        raise SeabenchError(
            f"labels in {path} must be (N,) class indices or (N, C) multi-hot "
            f"rows, got shape {tuple(y.shape)}"
        )
    if y.dtype == torch.bool or (y.dtype.is_floating_point and not (y == y.round()).all()):
        raise SeabenchError(f"labels in {path} must be integer class indices, got {y.dtype}")
    return y.long()


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def external_feature_set(
    train_features: str,
    train_labels: str,
    test_features: str,
    test_labels: str,
    val_features: str | None = None,
    val_labels: str | None = None,
    *,
    metric: str | None = None,
    num_classes: int | None = None,
    dataset: str | None = None,
    backbone: str | None = None,
) -> FeatureSet:
    """A FeatureSet from feature and label files (without val files a 20% holdout is drawn).

    The class count defaults to the largest label + 1 (multi-hot: the number of columns); the
    metric to top1 (multi-label: map11).  Rows are named by ``dataset`` / ``backbone``
    (default "external") and keyed by a hash of the files' bytes.
    """
    if (val_features is None) != (val_labels is None):
        raise SeabenchError(
            "pass --val-features and --val-labels together, or neither (then a "
            "seeded stratified 20% of train is held out for validation)"
        )
    specs = {"train": (train_features, train_labels), "test": (test_features, test_labels)}
    if val_features is not None:
        specs["val"] = (val_features, val_labels)
    xs, ys = {}, {}
    for split, (fx, fy) in specs.items():
        xs[split] = load_tensor(fx, f"{split} feature")
        ys[split] = as_labels(load_tensor(fy, f"{split} label"), fy)
        if not xs[split].dtype.is_floating_point:
            raise SeabenchError(
                f"{split} features in {fx} must be floating point, got {xs[split].dtype}"
            )
        xs[split] = xs[split].float()
    multilabel = ys["train"].ndim == 2
    if any((y.ndim == 2) != multilabel for y in ys.values()):
        raise SeabenchError("labels mix class indices and multi-hot rows across splits")
    if multilabel:
        inferred = ys["train"].shape[1]
    else:
        inferred = 1 + max((int(y.max()) for y in ys.values() if len(y)), default=-1)
    if num_classes is not None and multilabel and num_classes != inferred:
        raise SeabenchError(
            f"--num-classes {num_classes} but the multi-hot labels have {inferred} columns"
        )
    files = [split_spec(str(f))[0] for pair in specs.values() for f in pair]
    digest = _digest(files)
    test_digest = _digest([split_spec(str(f))[0] for f in specs["test"]])
    return FeatureSet(
        train_x=xs["train"],
        train_y=ys["train"],
        val_x=xs.get("val"),
        val_y=ys.get("val"),
        test_x=xs["test"],
        test_y=ys["test"],
        num_classes=num_classes or inferred,
        metric=metric or ("map11" if multilabel else "top1"),
        multilabel=multilabel,
        dataset=dataset or "external",
        backbone=backbone or "external",
        val_source="given" if "val" in specs else "holdout20",
        info={
            "features_key": f"files-{digest}",
            "manifest_hash": f"files-{digest}",
            "feature_files": {s: str(fx) for s, (fx, _) in specs.items()},
            # the test items: the test features and labels files' content
            "test_items": f"files-{test_digest}",
        },
    )
