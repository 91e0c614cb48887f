"""The probe protocol: search on train, select on val, refit on train+val, score once on test.

Test data never influences a choice: the grid is scored on the validation split only (or, with
``select="kfold"``, by stratified k-fold cross-validation over train+val; see ``selection``), and
the test split is touched once, by the refit classifier.  Every row says what it was selected on
(``selected_on``: ``val`` or ``kfoldK``) and how optimistic that selection score is
(``optimism``).

The methods that fit (``sgd``, the batched trainer with a feature augmentation such as SeA;
``lbfgs``, classic L2-regularised logistic regression; ...) are registered in
``seabench.probe.registry``, one module each in ``seabench/probe/methods/``.  Each produces class
probabilities, which is what ensembles average.  This module runs them per seed and re-exports the
names other modules import from here.
"""

from __future__ import annotations

from collections.abc import Callable

import seabench.probe.methods  # noqa: F401  (registers every method)
from seabench.probe.checks import check_fit
from seabench.probe.methods.lbfgs import fit_lbfgs
from seabench.probe.methods.sgd import PRUNE_MIN_CONFIGS, fit_sgd
from seabench.probe.metrics import score
from seabench.probe.multiview import views_for
from seabench.probe.options import LR_GRID, WD_GRID, ProbeOptions
from seabench.probe.registry import METHODS, Fit, get_method
from seabench.probe.rows import make_row, scored_row
from seabench.probe.splits import FeatureSet, Splits, prepare, resolve_device, stratified_holdout
from seabench.probe.validation import validate

#: the registered methods (``--solver`` choices), in registration order
SOLVERS = tuple(METHODS)

__all__ = [
    "LR_GRID",
    "PRUNE_MIN_CONFIGS",
    "SOLVERS",
    "WD_GRID",
    "FeatureSet",
    "Fit",
    "ProbeOptions",
    "Splits",
    "fit",
    "fit_lbfgs",
    "fit_sgd",
    "make_row",
    "prepare",
    "resolve_device",
    "run_probe",
    "scored_row",
    "stratified_holdout",
    "validate",
]


def fit(
    s: Splits,
    fs: FeatureSet,
    opts: ProbeOptions,
    seed: int,
    progress: Callable[[str, int], None] | None = None,
) -> Fit:
    """Selection on val and refit on train+val with the method (solver) of ``opts``."""
    result = get_method(opts.solver).fit(s, fs, opts, seed, progress)
    check_fit(
        result, f"--aug {opts.aug}" if opts.solver == "sgd" else f"--solver {opts.solver}", seed
    )
    return result


def run_probe(
    fs: FeatureSet,
    opts: ProbeOptions,
    progress: Callable[[str, int], None] | None = None,
    sink: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Run the protocol for each seed and return one result row per seed.

    ``progress(phase, total)`` is called when a training phase starts and the returned rows are
    the ones that the results store appends; ``sink(rows)`` gets each seed's row as soon as it
    is scored (to store it before the next seed runs).
    """
    fs = views_for(fs, opts)
    s = prepare(fs, resolve_device(opts.device))
    rows = []
    for seed in range(opts.first_seed, opts.first_seed + opts.seeds):
        result = fit(s, fs, opts, seed, progress)
        test = score(fs.metric, result.test_probs, s.test_y)
        row = make_row(fs, opts, s, result, test, seed)
        rows.append(scored_row(row, fs, opts, result.test_probs))
        if sink is not None:
            sink(rows[-1:])
    return rows
