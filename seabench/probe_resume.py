"""An interrupted ``seabench probe --seeds N`` continued by the same command, not repeated.

Each seed's row is stored as soon as it is scored, so a Ctrl-C or a kill in seed 3 keeps seeds
1 and 2.  Rows carry ``invocation`` (an id of the command run that made them) and
``seeds_planned`` (``[first, count]``).  Running the same command again finds a run that stopped
early (rows of the same features, method, options and seed range, fewer seeds than planned) and
runs only its missing seeds (few-shot probes: draws), under its id: the rows end as one
uninterrupted run's, each seed once.  A run that finished is not continued: the same command
then runs afresh and appends new rows (the report counts each seed's latest), as it always has.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from seabench.probe.scoring import test_items_of

if TYPE_CHECKING:
    from seabench.probe import FeatureSet, ProbeOptions
    from seabench.results import ResultsStore


def _planned(opts: ProbeOptions) -> list[int]:
    return [opts.first_seed, opts.seeds]


def _unit(row: dict) -> tuple:
    """What one row is of its run: a seed, or a few-shot draw and seed."""
    return row.get("shots"), row.get("draw"), row.get("draw_hash"), row.get("seed")


def _unfinished(rows: list[dict], same: dict, expected: int) -> tuple[str, dict]:
    """(invocation, {unit: row}) of the latest run whose rows match ``same`` and number fewer
    than ``expected``; ("", {}) when there is none."""
    runs: dict[str, dict] = {}  # dicts keep the order rows were stored in
    for r in rows:
        if r.get("invocation") and all(r.get(k) == v for k, v in same.items()):
            runs.setdefault(r["invocation"], {})[_unit(r)] = r
    unfinished = [(k, v) for k, v in runs.items() if len(v) < expected]
    return unfinished[-1] if unfinished else ("", {})


def _same_probe(fs: FeatureSet, opts: ProbeOptions) -> dict:
    return {
        "options_hash": fs.info.get("options_hash"),
        "features_key": fs.info.get("features_key"),
        "backbone": fs.backbone,
        "aug": opts.aug,
        "solver": opts.solver,
        "test_items": test_items_of(fs.info, fs.test_x, fs.test_y),
        "seeds_planned": _planned(opts),
    }


def stopped_early(rows: list[dict], fs: FeatureSet, opts: ProbeOptions) -> tuple[str, dict]:
    """(invocation id, {seed: row}) of the latest run of this probe that stopped before its last
    seed; ("", {}) when there is none."""
    same = {**_same_probe(fs, opts), "shots": None}
    invocation, found = _unfinished(rows, same, opts.seeds)
    return invocation, {unit[-1]: r for unit, r in found.items()}


def fewshot_stopped_early(
    rows: list[dict], fs: FeatureSet, opts: ProbeOptions, plan: dict
) -> tuple[str, set[tuple]]:
    """(invocation id, recorded (shots, draw, draw_hash, seed)) of the latest run of these
    few-shot probes (``plan``: shots, draws, val_shots) that stopped before its last draw."""
    same = {**_same_probe(fs, opts), "fewshot_planned": plan}
    expected = len(plan["shots"]) * plan["draws"] * opts.seeds
    invocation, found = _unfinished(rows, same, expected)
    return invocation, set(found)


def fewshot_skip(store: ResultsStore, fs: FeatureSet, opts: ProbeOptions, plan: dict):
    """The ``skip(info)`` of a few-shot run: the draws an interrupted run of the same command
    recorded (every seed of them); the run's rows are labelled to be continued likewise."""
    invocation, done = fewshot_stopped_early(store.rows(), fs, opts, plan)
    fs.info.update(
        invocation=invocation or uuid.uuid4().hex,
        seeds_planned=_planned(opts),
        fewshot_planned=plan,
    )
    seeds = range(opts.first_seed, opts.first_seed + opts.seeds)

    def skip(info: dict) -> bool:
        key = (info["shots"], info["draw"], info["draw_hash"])
        return all((*key, s) in done for s in seeds)

    return skip


def run_seeds(
    store: ResultsStore,
    fs: FeatureSet,
    opts: ProbeOptions,
    run: Callable[[FeatureSet, ProbeOptions], list[dict]],
) -> list[dict]:
    """Every planned seed's row: those an interrupted run of this command stored, and ``run``'s
    (which stores each as it is scored) for the others."""
    invocation, done = stopped_early(store.rows(), fs, opts)
    fs.info.update(invocation=invocation or uuid.uuid4().hex, seeds_planned=_planned(opts))
    if not done:
        return run(fs, opts)
    rows = list(done.values())
    for seed in range(opts.first_seed, opts.first_seed + opts.seeds):
        if seed not in done:
            rows += run(fs, replace(opts, first_seed=seed, seeds=1))
    return sorted(rows, key=lambda r: r["seed"])
