"""The report's intervals: every score and delta from stored predictions, paired only on the same
test items, in every format, and old rows without predictions saying why they have none."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from seabench.cli import cli
from seabench.predictions import ResultRow, TestPredictions, new_row_id
from seabench.report import build_report, write_reports
from seabench.report.intervals import IntervalSettings
from seabench.report.render import FORMATS
from seabench.results import ResultsStore
from tests.test_report import row

N = 600
SETTINGS = IntervalSettings(resamples=1000)


def scored(dataset, aug, accuracy, seed=0, backbone="bb", items=None, **extra) -> ResultRow:
    """A row with predictions of the given accuracy on dataset's fixed test labels."""
    rng = np.random.default_rng(zlib.crc32(f"{dataset}{aug}{seed}{backbone}".encode()))
    y = torch.from_numpy(np.random.default_rng(len(dataset)).integers(0, 5, N))
    right = torch.from_numpy(rng.random(N) < accuracy)
    pred = torch.where(right, y, (y + 1) % 5)
    preds = TestPredictions.from_scores(torch.nn.functional.one_hot(pred, 5).float(), y)
    r = ResultRow(
        row(dataset, aug, 100 * float(right.double().mean()), seed, backbone, **extra),
        row_id=new_row_id(),
        test_items=items or f"items-{dataset}",
    )
    r.predictions = preds
    return r


@pytest.fixture
def home(tmp_path):
    rows = [
        scored("a", "none", 0.70, 0),
        scored("a", "none", 0.71, 1),
        scored("a", "sea", 0.80, 0),
        scored("a", "sea", 0.81, 1),
        scored("a", "finetune", 0.805),
        scored("b", "none", 0.60),
        scored("b", "sea", 0.605),
        scored("b", "finetune", 0.70),
    ]
    ResultsStore(tmp_path / "results").append(rows)
    return tmp_path


def report_of(home, **kw):
    store = ResultsStore(home / "results")
    return build_report(store.frame(), predictions=store.predictions(), settings=SETTINGS, **kw)


def test_every_score_and_delta_has_an_interval(home):
    rep = report_of(home)
    s = rep.summary.set_index(["dataset", "method"])
    assert s[["ci_low", "ci_high"]].notna().all().all()
    assert (s["ci_low"] < s["test"]).all() and (s["test"] < s["ci_high"]).all()
    shown = rep.display_ci["bb"]
    assert shown.loc["a", "linear"].startswith("7") and " ± " in shown.loc["a", "linear"]
    assert "(" in shown.loc["a", "linear"] and "-" in shown.loc["a", "linear"].split("(")[1]
    assert (
        shown.loc["a", "delta (SeA-linear)"].startswith("+")
        and "*" in shown.loc["a", "delta (SeA-linear)"]
    )
    assert "*" not in rep.display["bb"].loc["b", "delta (SeA-linear)"]  # +0.5 on 600 images
    assert "(" not in rep.display["bb"].loc["a", "linear"]  # compact: no interval
    d = rep.deltas.set_index(["dataset", "method", "baseline"])
    sea = d.loc[("a", "sea", "none")]
    assert sea["significant"] and sea["p"] < 0.01 and sea["ci_low"] > 0
    assert d.loc[("b", "sea", "none")]["p"] > 0.05
    assert ("average", "sea", "none") in d.index and ("a", "none", "finetune") in d.index
    assert rep.margins["bb"]["noninferior"]["n"] == 2
    assert "non-inferior" in rep.margins["bb"]["noninferior_sentence"]
    assert any("test-set sampling uncertainty, not seed variation" in n for n in rep.notes)


def test_intervals_are_reproducible_and_follow_settings(home):
    a, b = report_of(home), report_of(home)
    assert a.summary["ci_low"].tolist() == b.summary["ci_low"].tolist()
    store = ResultsStore(home / "results")
    wide = build_report(
        store.frame(),
        predictions=store.predictions(),
        settings=IntervalSettings(resamples=1000, confidence=0.99),
    )
    assert (
        wide.summary["ci_high"] - wide.summary["ci_low"]
        > a.summary["ci_high"] - a.summary["ci_low"]
    ).all()


def test_rows_on_different_test_items_are_never_paired(tmp_path):
    rows = [scored("a", "none", 0.7), scored("a", "sea", 0.8, items="items-other")]
    ResultsStore(tmp_path / "results").append(rows)
    rep = report_of(tmp_path)
    d = rep.deltas.set_index(["dataset", "method"]).loc[("a", "sea")]
    assert pd.isna(d["ci_low"]) and "different test items" in d["note"]
    assert rep.summary["ci_low"].notna().all()  # each score alone still has its interval
    out = CliRunner().invoke(
        cli, ["report", "--home", str(tmp_path), "--compare", "sea", "none", "--bootstrap", "500"]
    )
    assert out.exit_code == 0, out.output
    assert "not paired: different test items" in out.output


def test_old_rows_without_predictions_still_report_and_say_why(home):
    ResultsStore(home / "results").append([row("c", "none", 50.0), row("c", "sea", 51.0)])
    rep = report_of(home)
    c = rep.summary[rep.summary.dataset == "c"]
    assert c["ci_low"].isna().all() and (c["ci_note"] == "no predictions stored").all()
    assert rep.display_ci["bb"].loc["c", "linear"] == "50.00 †"
    assert any("no predictions stored" in n for n in rep.notes)


def test_every_format_carries_intervals(home, tmp_path):
    rep = report_of(home)
    paths = {p.suffix: p for p in write_reports(rep, tmp_path / "out", FORMATS)}
    csv = pd.read_csv(paths[".csv"])
    assert {"ci_low", "ci_high", "p", "kind"} <= set(csv.columns)
    deltas = csv[csv.kind == "delta"]
    assert (deltas["method"] == "sea - none").any() and deltas["p"].notna().any()
    doc = json.loads(paths[".json"].read_text())
    assert doc["deltas"] and {"ci_low", "ci_high", "p"} <= set(doc["deltas"][0])
    assert doc["summary"][0]["ci_low"] is not None
    md = paths[".md"].read_text()
    assert "* (" in md and "non-inferior" in md
    tex = paths[".tex"].read_text()
    assert r"$\pm$" in tex and "-" in tex
    html = paths[".html"].read_text()
    assert html.count("<svg") >= 3


def test_cli_intervals_and_compare_backbones(home):
    ResultsStore(home / "results").append(
        [scored("a", "sea", 0.75, backbone="cc"), scored("b", "sea", 0.55, backbone="cc")]
    )
    out = CliRunner().invoke(
        cli, ["report", "--home", str(home), "--intervals", "--bootstrap", "500"]
    )
    assert out.exit_code == 0, out.output
    assert "(" in out.output and "non-inferior" in out.output
    out = CliRunner().invoke(
        cli, ["report", "--home", str(home), "--compare", "bb", "cc", "--bootstrap", "500"]
    )
    assert out.exit_code == 0, out.output
    assert "average" in out.output and "bb - cc" in out.output
    bad = CliRunner().invoke(cli, ["report", "--home", str(home), "--compare", "x", "y"])
    assert bad.exit_code == 2 and "two methods or two backbones" in bad.output
    bad = CliRunner().invoke(cli, ["report", "--home", str(home), "--confidence", "1.5"])
    assert bad.exit_code == 2 and "--confidence" in bad.output


def test_threaded_groups_give_the_same_intervals_as_one_thread(home, monkeypatch):
    """Test sets are bootstrapped in threads, each on its own seeded stream: same numbers."""
    import seabench.report.intervals as intervals

    threaded = report_of(home)
    monkeypatch.setattr(intervals.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    single = report_of(home)
    for col in ("ci_low", "ci_high"):
        assert threaded.summary[col].tolist() == single.summary[col].tolist()
    assert threaded.deltas.equals(single.deltas)
