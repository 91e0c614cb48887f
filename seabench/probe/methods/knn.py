"""The ``knn`` method: DINO's weighted k-NN on L2-normalised features (see ``probe.knn``).

No training: k is chosen on val from ``K_GRID`` (values above the training size are capped to
it) with the training features as the bank, then the bank becomes train+val and the test split is
scored once.  Ties on val go to the smaller k.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import torch

from seabench.probe.knn import K_GRID, TEMPERATURE, check_finite, knn_scores
from seabench.probe.metrics import score
from seabench.probe.registry import Fit, register_method
from seabench.probe.settings import check_knn

if TYPE_CHECKING:
    from seabench.probe.options import ProbeOptions
    from seabench.probe.splits import FeatureSet, Splits


def k_values(opts: ProbeOptions, n_train: int) -> list[int]:
    """The k searched (or the fixed one), capped by the training size, without repeats."""
    wanted = (opts.k,) if not opts.search else tuple(opts.k_grid or K_GRID)
    return sorted({min(int(k), n_train) for k in wanted})


def _bank_probs(
    bank_x: torch.Tensor, bank_y: torch.Tensor, k: int, num_classes: int, x: torch.Tensor
) -> torch.Tensor:
    """Class scores of ``x`` by the weighted vote of its ``k`` nearest in the bank."""
    x = x.to(device=bank_x.device, dtype=torch.float32)
    return knn_scores(bank_x, bank_y, x, (k,), num_classes)[k]


@register_method(
    "knn",
    help="weighted k-NN (DINO): cosine similarity, votes exp(sim/0.07), k chosen on val",
    check=check_knn,
)
def fit_knn(
    s: Splits,
    fs: FeatureSet,
    opts: ProbeOptions,
    seed: int,
    progress: Callable[[str, int], None] | None = None,
) -> Fit:
    """k on val with the train bank; test scored with the train+val bank and the chosen k."""
    for name, x in (("train", s.train_x), ("val", s.val_x), ("test", s.test_x)):
        check_finite(name, x)
    ks = k_values(opts, len(s.train_x))
    tick = progress(f"knn search ({len(ks)} values of k, seed {seed})", 1) if progress else None
    t0 = time.perf_counter()
    val = knn_scores(s.train_x, s.train_y, s.val_x, ks, fs.num_classes)
    val_scores = {k: score(fs.metric, p, s.val_y) for k, p in val.items()}
    best = max(ks, key=lambda k: (val_scores[k], -k))
    search_seconds = time.perf_counter() - t0
    if tick:
        tick(1)
    tick = progress("knn on test with the train+val bank", 1) if progress else None
    t1 = time.perf_counter()
    bank_x, bank_y = torch.cat([s.train_x, s.val_x]), torch.cat([s.train_y, s.val_y])

    # a module-level function with its state bound: picklable, as a fitted estimator must be
    predict_proba = partial(_bank_probs, bank_x, bank_y, best, fs.num_classes)

    test = predict_proba(s.test_x)
    seconds = time.perf_counter() - t1
    if tick:
        tick(1)
    hparams = {
        "k": best,
        "T": TEMPERATURE,
        "bank": "train+val",
        "similarity": "cosine",
        "k_grid": ks,
    }
    return Fit(
        val[best],
        test,
        val_scores[best],
        hparams,
        len(ks) if opts.search else 0,
        search_seconds,
        seconds,
        predict_proba=predict_proba,
    )
