"""Report tables from synthetic rows: deltas, averages, mean ± std, margins, protocol clashes,
published baselines, and one parseable file per output format."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from seabench.cli import cli
from seabench.errors import SeabenchError
from seabench.report import build_report, load_baselines, merge_baselines, write_reports
from seabench.report.render import FORMATS, markdown
from seabench.report.tables import comparison, summarise, within_margin
from seabench.results import ResultsStore


def row(dataset, aug, test, seed=0, backbone="bb", **extra):
    base = {
        "dataset": dataset,
        "backbone": backbone,
        "aug": aug,
        "solver": "sgd",
        "metric": "top1",
        "test": test,
        "val": test,
        "seed": seed,
        "seconds": 1.0,
        "search_seconds": 2.0,
        "selected_on": "val",
        "val_source": "holdout20",
        "manifest_hash": f"m-{dataset}",
        "image_size": 96,
        "features_key": f"k-{dataset}",
    }
    if aug == "finetune":
        base.update(
            solver="finetune",
            wall_seconds=50.0,
            cpu_seconds=90.0,
            gpu_seconds=0.0,
            features_key=None,
            hparams={"lr": 0.01, "wd": 0.0, "steps": 5000},  # the full protocol, as finetune
            configs_searched=20,  # writes it by default
        )
    base.update(extra)
    return base


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            row("a", "none", 80.0, 0),
            row("a", "none", 82.0, 1),
            row("a", "sea", 84.0, 0),
            row("a", "sea", 86.0, 1),
            row("a", "finetune", 85.5),
            row("b", "none", 60.0),
            row("b", "sea", 61.0),
            row("b", "finetune", 70.0),
            row("b", "none", 58.0, solver="lbfgs"),
            row("c", "none", 90.0),
            row("c", "sea", 90.5),
        ]
    )


def test_deltas_averages_and_seed_statistics(rows):
    wide = comparison(summarise(rows), "bb")
    assert list(wide.columns[:5]) == ["none", "sea", "delta", "finetune", "gap"]
    assert "lbfgs" in wide.columns  # the L-BFGS protocol is its own column, not mixed into none
    assert wide.loc["a", "none"] == pytest.approx(81.0)
    assert wide.loc["a", "delta"] == pytest.approx(4.0)
    assert wide.loc["a", "gap"] == pytest.approx(-0.5)
    assert wide.loc["b", "gap"] == pytest.approx(-9.0)
    assert wide.loc["average", "none"] == pytest.approx((81 + 60 + 90) / 3)
    assert wide.loc["average", "delta"] == pytest.approx((4 + 1 + 0.5) / 3)
    shown = build_report(rows).display["bb"]  # no predictions stored: no intervals
    assert shown.loc["a", "linear"] == "81.00 ± 1.41"  # std over the two seeds
    assert shown.loc["b", "linear"] == "60.00"  # one seed: no ± shown
    assert shown.loc["a", "delta (SeA-linear)"] == "+4.00"
    assert shown.loc["average", "fine-tune"].endswith("(2/3)")  # averaged over fewer datasets


def test_within_margin_count(rows):
    s = summarise(rows)
    m = within_margin(s, "bb", 1.0)
    assert {k: m[k] for k in ("k", "n", "margin", "datasets")} == {
        "k": 1,
        "n": 2,
        "margin": 1.0,
        "datasets": ["a"],
    }
    assert m["finetune"].startswith("fine-tuning by the full protocol")
    assert within_margin(s, "bb", 10.0)["k"] == 2
    assert within_margin(s, "bb", 0.1)["k"] == 0
    assert "on 1 of 2 tasks" in markdown(build_report(rows, margin=1.0))


def test_protocol_clash_is_refused_and_split_variants_are_kept_apart(rows):
    clash = pd.concat([rows, pd.DataFrame([row("a", "sea", 99.0, 2, val_source="official")])])
    with pytest.raises(SeabenchError, match="different protocols.*val_source"):
        summarise(clash)
    # a --no-search run beside searched ones is its own column, never averaged in
    fixed = pd.concat(
        [rows, pd.DataFrame([row("a", "sea", 99.0, 2, selected_on="none (fixed hyperparameters)")])]
    )
    wide = comparison(summarise(fixed), "bb")
    assert wide.loc["a", "sea"] == pytest.approx(85.0)
    assert wide.loc["a", "sea (fixed hyperparameters)"] == 99.0
    assert "linear+SeA (fixed hyperparameters)" in markdown(build_report(fixed))
    smoke = pd.concat(
        [rows, pd.DataFrame([row("a", "sea", 10.0, 0, manifest_hash="tiny", image_size=32)])]
    )
    wide = comparison(summarise(smoke), "bb")
    labels = [d for d in wide.index if str(d).startswith("a [split")]
    assert len(labels) == 2  # never averaged into one "a" row
    tiny = next(d for d in labels if "tiny" in d and "32 px" in d)
    assert wide.loc[tiny, "sea"] == 10.0
    assert wide.loc[next(d for d in labels if d != tiny), "sea"] == pytest.approx(85.0)


def test_baselines_merge_as_external_columns(rows, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(
        "backbone,dataset,method,metric,value,source\n"
        "bb,a,finetune,top1,88.8,Paper X Table 2\n"
        "bb,b,sea,top1,62.5,Paper Y\n"
    )
    merged = merge_baselines(rows, load_baselines(path))
    report = build_report(merged)
    wide = report.tables["bb"]
    assert wide.loc["a", "finetune (published)"] == 88.8
    assert wide.loc["a", "finetune"] == 85.5  # the measured column is untouched
    assert wide.loc["a", "gap"] == pytest.approx(-0.5)
    assert report.sources == ["Paper X Table 2", "Paper Y"]
    assert "fine-tune (published)" in report.display["bb"].columns

    bad = tmp_path / "bad.csv"
    bad.write_text("backbone,dataset,method,metric,value\nbb,a,sea,top1,1\n")
    with pytest.raises(SeabenchError, match="lacks the columns source"):
        load_baselines(bad)
    bad.write_text("backbone,dataset,method,metric,value,source\nbb,a,sea,top1,high,x\n")
    with pytest.raises(SeabenchError, match="line 2: value 'high' is not a number"):
        load_baselines(bad)


def test_shipped_example_baselines_parse():
    df = load_baselines("examples/baselines.csv")
    assert df["external"].all() and (df["source"].str.len() > 0).all()


def test_every_format_writes_a_parseable_file(rows, tmp_path):
    report = build_report(rows, extraction_seconds={"k-a": 12.5, "k-b": 3.0})
    paths = {p.suffix: p for p in write_reports(report, tmp_path, FORMATS)}
    assert set(paths) == {".md", ".csv", ".tex", ".html", ".json"}

    csv = pd.read_csv(paths[".csv"])
    assert {"backbone", "dataset", "method", "test", "std", "seeds"} <= set(csv.columns)
    assert csv[(csv.dataset == "a") & (csv.method == "sea")]["test"].item() == 85.0

    doc = json.loads(paths[".json"].read_text())
    assert doc["backbones"]["bb"]["table"]["a"]["delta"] == pytest.approx(4.0)
    assert doc["backbones"]["bb"]["within_margin"]["k"] == 1
    cost = {c["dataset"]: c for c in doc["cost"]}
    assert cost["a"]["extract_s"] == 12.5 and cost["a"]["finetune_s"] == 50.0
    assert cost["a"]["probe_s"] == pytest.approx(12.0)  # 4 probe rows x (2 + 1) s

    md = paths[".md"].read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert table[0].startswith("| dataset | metric | linear | linear+SeA |")
    assert re.fullmatch(r"\|(-+:?\|)+", table[1])
    assert len({ln.count("|") for ln in table[:6]}) == 1  # every row has the header's columns

    tex = paths[".tex"].read_text()
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") >= 2
    assert r"81.00 $\pm$ 1.41" in tex and "linear+SeA" in tex

    html = paths[".html"].read_text()
    assert html.count("<svg") >= 3 and "<table" in html  # bars, delta, cost scatter


def test_report_cli_empty_home_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["report", "--home", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "no results" in result.output and "seabench run recipes/quickstart.toml" in result.output


def test_report_cli_formats_and_baselines(rows, tmp_path):
    home = tmp_path / "home"
    ResultsStore(home / "results").append(rows.to_dict("records"))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--home",
            str(home),
            "--format",
            "csv",
            "--format",
            "json",
            "--out",
            str(out),
            "--margin",
            "10",
            "--baselines",
            "examples/baselines.csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "within 10 points of fine-tuning (or above it) on 2 of 2" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["report.csv", "report.json"]
    bad = CliRunner().invoke(
        cli, ["report", "--home", str(home), "--baselines", str(tmp_path / "missing.csv")]
    )
    assert bad.exit_code == 2 and "does not exist" in bad.output
