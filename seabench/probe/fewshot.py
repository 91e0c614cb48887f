"""Few-shot probes: k training images per class over several random draws (CoOp / CLIP lineage).

For each k in ``shots`` and each draw d, k training images of every class are drawn from the
training split and ``val_shots`` (default ``min(k, 4)``) per class from the validation split; the
method searches on that val as usual, refits on the drawn train+val, and is scored on the whole
test split, which is never drawn from.

Decisions (documented because papers differ):

- Draws are deterministic: draw d uses ``torch.Generator().manual_seed(DRAW_SEED + d)`` to permute
  each class's images once; the k-shot set is the first k of that permutation, so the draws of one
  d are nested across k (1 shot is in 2 shots), and they depend on the labels only, so every
  method and backbone of one dataset sees the same images (paired comparisons).  The row records
  ``shots``, ``draw``, ``draw_seed`` and ``draw_hash`` (the drawn train and val items).
- A class with fewer than k training images is an error naming it (lower the shots), never a
  silent smaller draw.  Val takes what it has: a class with fewer validation images than
  ``val_shots`` uses all of them.
- Without a validation split, val is drawn from the training images not drawn for train.
- Multi-label data are drawn by each image's first positive class (as the holdout is).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace

import torch

from seabench.errors import SeabenchError
from seabench.fewshot_plan import VAL_SHOTS_MAX, FewShotPlan, make_plan, parse_shots
from seabench.probe.multiview import views_for
from seabench.probe.options import ProbeOptions
from seabench.probe.splits import FeatureSet
from seabench.probe.validation import validate

DRAW_SEED = 1000

__all__ = [
    "VAL_SHOTS_MAX",
    "FewShotPlan",
    "draw",
    "draws_of",
    "make_plan",
    "parse_shots",
    "run_fewshot",
]


def _class_key(y: torch.Tensor) -> torch.Tensor:
    return y if y.ndim == 1 else y.float().argmax(-1)


def _permutations(y: torch.Tensor, num_classes: int, seed: int) -> list[torch.Tensor]:
    """Per class, its indices in a seeded random order (one generator, classes in order)."""
    gen = torch.Generator().manual_seed(seed)
    key = _class_key(y.cpu())
    out = []
    for c in range(num_classes):
        idx = torch.nonzero(key == c).flatten()
        out.append(idx[torch.randperm(len(idx), generator=gen)])
    return out


def check_shots(fs: FeatureSet, plan: FewShotPlan) -> None:
    """Shots above the smallest class's training images: one line naming the classes."""
    counts = torch.bincount(_class_key(fs.train_y.cpu()).long(), minlength=fs.num_classes)
    k = max(plan.shots)
    short = torch.nonzero(counts < k).flatten().tolist()
    if short:
        shown = ", ".join(f"{c} ({int(counts[c])})" for c in short[:8])
        more = " ..." if len(short) > 8 else ""
        raise SeabenchError(
            f"--shots {k} is more than the training images of classes {shown}{more}; "
            f"use --shots of at most {int(counts.min())}"
        )


def draw(fs: FeatureSet, k: int, d: int, val_shots: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Indices (train, val) of draw ``d`` with ``k`` shots, and where val came from.

    Val indices index ``fs.val_x`` or, without a val split, ``fs.train_x``.
    """
    seed = DRAW_SEED + d
    perms = _permutations(fs.train_y, fs.num_classes, seed)
    train = torch.cat([p[:k] for p in perms])
    if fs.val_x is not None:
        vperms = _permutations(fs.val_y, fs.num_classes, seed + 500_000)
        val, source = torch.cat([p[:val_shots] for p in vperms]), "val split"
    else:
        val = torch.cat([p[k : k + val_shots] for p in perms])
        source = "train rest"
    return torch.sort(train).values, torch.sort(val).values, source


def draw_hash(train: torch.Tensor, val: torch.Tensor) -> str:
    """The drawn items' fingerprint: equal hashes mean the same train and val images."""
    items = ",".join(map(str, train.tolist())), ",".join(map(str, val.tolist()))
    text = f"train:{items[0]};val:{items[1]}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def draws_of(fs: FeatureSet, plan: FewShotPlan) -> Iterator[FeatureSet]:
    """The few-shot FeatureSets of ``plan``: each k and draw, its info recorded."""
    validate(fs)
    check_shots(fs, plan)
    for k in plan.shots:
        v = plan.val_for(k)
        for d in range(plan.draws):
            tr, va, source = draw(fs, k, d, v)
            if len(va) == 0:
                raise SeabenchError(
                    f"{k} shots leave no image for val; pass a validation split or lower --shots"
                )
            vx, vy = (fs.val_x, fs.val_y) if source == "val split" else (fs.train_x, fs.train_y)
            info = {
                **fs.info,
                "shots": k,
                "draw": d,
                "draw_seed": DRAW_SEED + d,
                "draw_hash": draw_hash(tr, va),
                "val_shots": v,
            }
            yield replace(
                fs,
                train_x=fs.train_x[tr],
                train_y=fs.train_y[tr],
                val_x=vx[va],
                val_y=vy[va],
                val_source=f"few-shot: {v} per class from the {source}",
                info=info,
            )


def run_fewshot(
    fs: FeatureSet,
    opts: ProbeOptions,
    plan: FewShotPlan,
    progress: Callable[[str, int], None] | None = None,
    sink: Callable[[list[dict]], None] | None = None,
    skip: Callable[[dict], bool] | None = None,
) -> list[dict]:
    """Run the protocol on every draw of ``plan``; ``sink`` gets each draw's rows as they come
    (so nothing computed is lost), ``skip(info)`` says a draw is already recorded."""
    from seabench.probe.lbfgs import _threads_for
    from seabench.probe.protocol import run_probe

    fs = views_for(fs, opts)
    rows = []
    for sub in draws_of(fs, plan):
        if skip is not None and skip(sub.info):
            continue
        # few-shot problems are small: on the CPU one thread is far faster than OpenMP's
        # fork/join per tiny product (40x less CPU time at 1 shot on a busy 2-core machine)
        with _threads_for(sub.train_x, fs.num_classes):
            new = run_probe(sub, opts, progress)
        if sink is not None:
            sink(new)
        rows += new
    return rows
