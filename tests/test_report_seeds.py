"""What a report counts and says about its cells: a seed recorded twice counts once (the latest
row kept, the others listed by `report --verbose`), cells of --no-search rows say fixed
hyperparameters, and a fine-tune short of the full protocol carries its budget, in its column
and in the "within 1 point of fine-tuning" line."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner

from seabench.cli import cli
from seabench.report import build_report
from seabench.report.compare import compare_table
from seabench.report.intervals import IntervalSettings
from seabench.report.render import csv_text, html_text, markdown
from seabench.results import ResultsStore
from tests.test_report import row
from tests.test_report_intervals import scored

FIXED = "none (fixed hyperparameters)"


def probe(aug: str, test: float, seed: int = 0, dataset: str = "mnist5k", **extra) -> dict:
    """A row as `seabench probe` writes it: its options fingerprint and features key."""
    base = {"options_hash": f"opts-{aug}", "device": "cpu", "versions": {"seabench": "0"}}
    return row(dataset, aug, test, seed, "lite0", **{**base, **extra})


def finetune(test: float, steps: int, configs: int, dataset: str = "mnist5k", **extra) -> dict:
    """A row as `seabench finetune` writes it: steps in hparams, 0 configs searched for one."""
    return row(
        dataset,
        "finetune",
        test,
        0,
        "lite0",
        hparams={"lr": 0.01, "wd": 0.0, "steps": steps, "batch_size": 32},
        configs_searched=configs if configs > 1 else 0,
        selected_on="val" if configs > 1 else FIXED,
        options_hash=f"ft-{steps}-{configs}",
        **extra,
    )


def demo_then_readme(home) -> ResultsStore:
    """`make demo`, then the README's two probe commands, then the plain probe once more on
    another device: each command appends its own file."""
    store = ResultsStore(home / "results")
    store.append([probe("none", 93.07), probe("sea", 94.0)])  # the recipe, seed 0
    store.append([probe("none", 93.07)])  # probe --aug none
    store.append([probe("sea", 94.5, s) for s in range(3)])  # probe --aug sea --seeds 3
    store.append([probe("none", 93.20, device="cuda")])  # the same run again, elsewhere
    return store


def cells(report) -> pd.DataFrame:
    return report.summary.set_index("method")


def test_a_seed_recorded_again_counts_once_and_the_latest_row_is_kept(tmp_path):
    store = demo_then_readme(tmp_path)
    store.append([probe("sea", 95.5, 1), probe("sea", 96.5, 2)])  # seeds 1 and 2 again
    report = build_report(store.frame(located=True))
    s = cells(report)
    assert s.loc["none", "seeds"] == 1 and s.loc["none", "test"] == pytest.approx(93.20)
    assert s.loc["sea", "seeds"] == 3  # 0, 1, 2: not the 6 rows recorded
    assert s.loc["sea", "test"] == pytest.approx((94.5 + 95.5 + 96.5) / 3)
    shown = report.display["lite0"].loc["mnist5k"]
    assert shown["linear"] == "93.20"  # one seed: no "± 0.00" over copies of it
    assert shown["linear+SeA"] == "95.50 ± 1.00"
    assert len(report.superseded) == 5  # two older linear seed 0, sea seed 0 once, 1 and 2
    assert any("as a later row" in n and "--verbose" in n for n in report.notes)


def test_distinct_seeds_keep_their_own_rows_and_other_options_are_not_merged(tmp_path):
    rows = pd.DataFrame(
        [probe("sea", 90.0, s) for s in (0, 1, 2, 3)]
        + [probe("sea", 80.0, 0, options_hash="opts-sea-50-epochs")]
    )
    report = build_report(rows)
    s = cells(report)
    assert s.loc["sea", "seeds"] == 4 and s.loc["sea", "rows"] == 5
    assert report.superseded.empty  # another configuration of seed 0 is not a repeat
    assert any("5 rows over 4 seeds" in n and "different options" in n for n in report.notes)


def test_verbose_lists_the_rows_left_out_with_their_file_and_line(tmp_path):
    demo_then_readme(tmp_path)
    files = sorted(p.name for p in (tmp_path / "results").glob("rows-*.jsonl"))
    args = ["report", "--home", str(tmp_path), "--format", "json", "--out", str(tmp_path / "o")]
    quiet = CliRunner().invoke(cli, args)
    assert quiet.exit_code == 0, quiet.output
    said = " ".join(quiet.output.split())  # undo the console's wrapping
    assert "superseded by" not in said and "as a later row" in said
    loud = CliRunner().invoke(cli, [*args, "--verbose"])
    assert loud.exit_code == 0, loud.output
    out = " ".join(loud.output.split())  # undo the console's wrapping
    assert "3 row(s) left out" in out
    # the recipe's rows (first file, lines 1 and 2) and the first README probe (second file)
    assert f"lite0 / mnist5k / linear seed 0: test 93.07 at {tmp_path}" in out
    assert f"{files[0]} line 1 (superseded by " in out
    assert f"{files[0]} line 2 (superseded by " in out  # SeA seed 0 of the recipe
    assert f"{files[1]} line 1 (superseded by " in out
    assert f"(superseded by {tmp_path / 'results' / files[3]} line 1)" in out


def test_rows_written_in_the_same_second_still_keep_the_latest(tmp_path):
    store = ResultsStore(tmp_path)
    for test in (70.0, 71.0, 72.0, 73.0, 74.0):
        store.append([probe("none", test)])
    assert cells(build_report(store.frame(located=True))).loc["none", "test"] == 74.0


def test_few_shot_draws_recorded_again_count_once(tmp_path):
    def shot(test, draw):
        return probe("sea", test, 0, shots=4, draw=draw, draw_hash=f"h{draw}")

    store = ResultsStore(tmp_path)
    store.append([shot(50.0, 0), shot(60.0, 1)])
    store.append([shot(52.0, 0), shot(62.0, 1)])  # the same draws again
    few = build_report(store.frame(located=True)).fewshot
    line = few.summary.iloc[0]
    assert line["draws"] == 2 and line["test"] == pytest.approx(57.0)


def test_intervals_and_paired_deltas_pair_each_seed_once(tmp_path):
    settings = IntervalSettings(resamples=500)
    clean, twice = tmp_path / "clean", tmp_path / "twice"
    for home in (clean, twice):
        store = ResultsStore(home / "results")
        if home == twice:  # an earlier run of the same seed, then the one kept
            store.append([scored("a", "none", 0.50, 0)])
        store.append([scored("a", "none", 0.70, 0), scored("a", "sea", 0.80, 0)])
        store.append([scored("b", "none", 0.60, 0), scored("b", "sea", 0.62, 0)])
    reports = {}
    for home in (clean, twice):
        store = ResultsStore(home / "results")
        frame = store.frame(located=True)
        rep = build_report(frame, predictions=store.predictions(), settings=settings)
        table = compare_table(frame, "sea", "none", store.predictions(), settings)
        reports[home] = (rep, table)
    (a, ta), (b, tb) = reports[clean], reports[twice]
    cols = ["delta", "ci_low", "ci_high", "p"]
    pd.testing.assert_frame_equal(a.deltas[cols], b.deltas[cols])
    pd.testing.assert_frame_equal(ta[cols], tb[cols])
    assert a.summary["ci_low"].tolist() == b.summary["ci_low"].tolist()


def test_cells_of_only_no_search_rows_say_fixed_hyperparameters():
    rows = pd.DataFrame(
        [
            probe("none", 90.0, selected_on=FIXED),
            probe("sea", 91.0, selected_on=FIXED),
            probe("sea", 92.0, dataset="other", selected_on=FIXED),
            probe("none", 89.0, dataset="other"),  # searched: this column is mixed
        ]
    )
    report = build_report(rows)
    shown = report.display["lite0"]
    assert "linear+SeA (fixed hyperparameters)" in shown.columns  # every SeA cell is fixed
    assert shown.loc["mnist5k", "linear"] == "90.00 (fixed hyperparameters)"
    assert shown.loc["other", "linear"] == "89.00"
    assert "delta (SeA-linear)" in shown.columns  # still compared, and the cells say what
    assert any("--no-search" in n for n in report.notes)
    assert "linear+SeA (fixed hyperparameters)" in markdown(report)
    csv = pd.read_csv(io.StringIO(csv_text(report)))
    assert set(csv.loc[csv["kind"] == "score", "tag"].fillna("")) == {"fixed hyperparameters", ""}


def test_a_short_fine_tune_states_its_budget_and_the_headline_names_it():
    rows = pd.DataFrame([probe("sea", 92.0), finetune(92.73, 120, 1)])
    report = build_report(rows)
    assert "fine-tune (120 steps, 1 config)" in report.display["lite0"].columns
    line = report.margins["lite0"]["finetune"]
    assert "120 steps, 1 config" in line and "not the full protocol" in line
    text = markdown(report)
    assert "on 1 of 1 task, against a short fine-tune of 120 steps, 1 config (not the" in text
    assert "against a short fine-tune of 120 steps, 1 config" in html_text(report)


def test_the_full_protocol_is_named_and_shorter_runs_get_their_own_column():
    rows = pd.DataFrame(
        [probe("sea", 92.0), finetune(95.0, 5000, 20), finetune(92.5, 120, 1), probe("none", 90)]
    )
    report = build_report(rows)
    shown = report.display["lite0"]
    assert "fine-tune" in shown.columns  # the full protocol needs no label
    assert shown.loc["mnist5k", "fine-tune (120 steps, 1 config)"] == "92.50"
    assert report.tables["lite0"].loc["mnist5k", "gap"] == pytest.approx(-3.0)  # vs the full one
    assert "against fine-tuning by the full protocol (20 configs x 5,000 steps" in markdown(report)


def test_fine_tunes_of_different_budgets_per_dataset_are_each_labelled():
    rows = pd.DataFrame(
        [
            probe("sea", 92.0),
            finetune(92.5, 120, 1),
            probe("sea", 80.0, dataset="other"),
            finetune(85.0, 5000, 20, dataset="other"),
        ]
    )
    report = build_report(rows)
    shown = report.display["lite0"]
    assert shown.loc["mnist5k", "fine-tune"] == "92.50 (120 steps, 1 config)"
    assert shown.loc["other", "fine-tune"] == "85.00"
    line = report.margins["lite0"]["finetune"]
    assert "120 steps, 1 config on mnist5k" in line and "the full protocol on other" in line


def test_a_subset_run_is_its_own_dataset_row_not_another_budget():
    small = {"manifest_hash": "m-subset", "image_size": 96}
    rows = pd.DataFrame(
        [
            probe("sea", 92.0),
            finetune(95.0, 5000, 20),
            probe("sea", 85.0, **small),
            finetune(80.0, 120, 1, **small),
        ]
    )
    shown = build_report(rows).display["lite0"]
    assert list(shown.columns) == ["metric", "linear+SeA", "fine-tune", "gap to fine-tune"]
    subset = next(d for d in shown.index if "[split m-subs" in str(d))
    assert shown.loc[subset, "fine-tune"] == "80.00 (120 steps, 1 config)"


def test_a_few_shot_only_report_still_says_which_rows_it_left_out():
    rows = pd.DataFrame([probe("sea", 50.0 + i, 0, shots=1, draw=0, draw_hash="h") for i in (0, 1)])
    report = build_report(rows)
    assert report.backbones == [] and len(report.superseded) == 1
    assert any("as a later row" in n for n in report.notes)
    assert report.fewshot.summary.iloc[0]["test"] == 51.0
