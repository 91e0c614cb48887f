"""Few-shot probes: deterministic draws shared by every method, rows that say which draw, test
untouched, and one-line errors for bad shots and draws."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from seabench.cli import cli
from seabench.errors import SeabenchError
from seabench.probe import ProbeOptions, TrainSettings
from seabench.probe.fewshot import draw, draws_of, make_plan, parse_shots, run_fewshot
from tests.test_protocol import blobs

FAST = TrainSettings(epochs=3, batch_size=32)
SGD = dict(lr_grid=(0.5,), wd_grid=(1e-4,), settings=FAST)


def test_draws_are_deterministic_nested_and_per_class():
    fs = blobs(n=(120, 40, 60))
    a_tr, a_va, src = draw(fs, 4, 0, 4)
    b_tr, b_va, _ = draw(fs, 4, 0, 4)
    assert torch.equal(a_tr, b_tr) and torch.equal(a_va, b_va) and src == "val split"
    assert torch.bincount(fs.train_y[a_tr], minlength=4).tolist() == [4, 4, 4, 4]
    assert torch.bincount(fs.val_y[a_va], minlength=4).tolist() == [4, 4, 4, 4]
    c_tr, _, _ = draw(fs, 4, 1, 4)
    assert not torch.equal(a_tr, c_tr)  # another draw, other images
    one, _, _ = draw(fs, 1, 0, 1)
    assert set(one.tolist()) <= set(a_tr.tolist())  # 1 shot is inside 4 shots of the same draw


def test_without_val_split_val_comes_from_the_train_rest():
    fs = blobs(n=(120, 40, 60), with_val=False)
    tr, va, src = draw(fs, 2, 0, 2)
    assert src == "train rest" and not set(tr.tolist()) & set(va.tolist())


def test_rows_carry_the_draw_and_the_same_draws_go_to_every_method():
    fs = blobs(n=(120, 40, 60))
    plan = make_plan("1,4", 2)
    methods = {
        "sgd": ProbeOptions(aug="sea", strength_grid=(0.2,), **SGD),
        "lbfgs": ProbeOptions(aug="none", solver="lbfgs", l2_grid=(1.0,)),
        "knn": ProbeOptions(aug="none", solver="knn"),
    }
    seen = {}
    for name, opts in methods.items():
        stored = []
        rows = run_fewshot(fs, opts, plan, sink=stored.append)
        assert len(stored) == 4 and [r for part in stored for r in part] == rows
        assert [(r["shots"], r["draw"]) for r in rows] == [(1, 0), (1, 1), (4, 0), (4, 1)]
        for r in rows:
            assert r["n_train"] == 4 * r["shots"] and r["n_val"] == 4 * min(r["shots"], 4)
            assert r["n_test"] == 60 and r["draw_seed"] == 1000 + r["draw"]
            assert r["val_shots"] == min(r["shots"], 4)
            # --select auto: k-fold over train+val once every class holds 5+ examples
            assert r["selected_on"] in ("val", "kfold5")
        seen[name] = [r["draw_hash"] for r in rows]
    assert seen["sgd"] == seen["lbfgs"] == seen["knn"]  # paired
    assert len(set(seen["sgd"])) == 4
    # 1 shot of 4 classes: k-NN's k is capped by the 4 training images
    assert run_fewshot(fs, methods["knn"], make_plan("1", 1))[0]["hparams"]["k"] == 4


def test_test_split_is_never_drawn_from():
    fs = blobs(n=(120, 40, 60))
    for sub in draws_of(fs, make_plan([2], 3)):
        assert sub.test_x is fs.test_x and sub.test_y is fs.test_y
        assert len(sub.train_x) == 8 and len(sub.val_x) == 8


@pytest.mark.parametrize("shots", ["0", "-1", "1.5", "two", "1,,2", ""])
def test_bad_shots(shots):
    with pytest.raises(SeabenchError, match="--shots"):
        parse_shots(shots)


def test_bad_draws_and_shots_beyond_the_smallest_class():
    with pytest.raises(SeabenchError, match="--draws"):
        make_plan("1", 0)
    fs = blobs(n=(120, 40, 60))
    fs.train_y[fs.train_y == 3] = 2
    fs.train_y[0] = 3  # class 3 has 1 training image left
    with pytest.raises(SeabenchError, match=r"classes 3 \(1\).*at most 1"):
        list(draws_of(fs, make_plan("1,2", 1)))


def files(tmp_path, fs):
    args = []
    for split in ("train", "val", "test"):
        for part, flag in (("x", "features"), ("y", "labels")):
            path = tmp_path / f"{split}_{part}.pt"
            torch.save(getattr(fs, f"{split}_{part}"), path)
            args += [f"--{split}-{flag}", str(path)]
    return [*args, "--home", str(tmp_path / "h")]


def test_cli_shots_and_bad_input(tmp_path):
    args = ["probe", *files(tmp_path, blobs(n=(120, 40, 60)))]
    res = CliRunner().invoke(cli, [*args, "--method", "knn", "--shots", "1,2", "--draws", "2"])
    assert res.exit_code == 0, res.stderr
    res = CliRunner().invoke(
        cli, [*args, "--method", "knn", "--shots", "2", "--draws", "1", "--json"]
    )
    (row,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert row["shots"] == 2 and row["draw"] == 0 and row["method"] == "knn"
    for bad, word in (
        (["--shots", "0"], "--shots"),
        (["--shots", "-2"], "--shots"),
        (["--shots", "2.5"], "--shots"),
        (["--shots", "2", "--draws", "0"], "--draws"),
        (["--shots", "2", "--draws", "x"], "--draws"),
        (["--shots", "31"], "at most 30"),
        (["--draws", "3"], "go with --shots"),
    ):
        res = CliRunner().invoke(cli, [*args, "--method", "knn", *bad])
        assert res.exit_code == 2, (bad, res.stderr)
        assert word in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def few_rows():
    from tests.test_report import row

    out = [row("a", "none", 80.0), row("a", "none", 70.0, solver="knn")]
    for shots, base in ((1, 30.0), (4, 50.0), (16, 70.0)):
        for d in range(3):
            for aug, solver, gain in (
                ("none", "sgd", 0.0),
                ("sea", "sgd", 3.0),
                ("none", "knn", -2),
            ):
                extra = dict(shots=shots, draw=d, draw_hash=f"h{shots}{d}", solver=solver)
                extra["val_source"] = f"few-shot: {min(shots, 4)} per class from the val split"
                out.append(row("a", aug, base + gain + d, **extra))
    return pd.DataFrame(out)


def test_report_keeps_fewshot_rows_in_their_own_table_with_curves(tmp_path):
    from seabench.report import build_report, write_reports
    from seabench.report.render import markdown

    report = build_report(few_rows())
    main = report.tables["bb"]
    assert list(main.columns) == ["none", "knn"] and main.loc["a", "none"] == 80.0  # no shots rows
    table = report.fewshot.display["bb"]
    assert table.loc["a", "1-shot linear"] == "31.00 ± 1.00"
    assert table.loc["a", "16-shot linear+SeA"] == "74.00 ± 1.00"
    assert table.loc["a", "4-shot k-NN"] == "49.00 ± 1.00"
    assert list(table.columns)[:4] == [
        "metric",
        "1-shot linear",
        "1-shot linear+SeA",
        "1-shot k-NN",
    ]
    assert "few-shot test score" in markdown(report)
    [path] = write_reports(report, tmp_path, ["html"])
    text = path.read_text()
    assert text.count("<svg") >= 2 and "test score against shots" in text
    only_few = build_report(few_rows()[2:].reset_index(drop=True))
    assert only_few.backbones == [] and "1-shot linear" in markdown(only_few)


def test_recipe_fewshot_table_and_recorded_draws_are_not_run_again(tmp_path):
    from seabench import recipe_run, runner
    from seabench.home import Home
    from seabench.recipe import Recipe
    from seabench.results import ResultsStore

    p = tmp_path / "r.toml"
    p.write_text(
        'datasets = ["mnist5k"]\naugs = ["none", "knn"]\nbackbones = ["a"]\n'
        "[fewshot]\nshots = [1, 2]\ndraws = 2\n"
    )
    recipe = Recipe.load(p)
    plan = recipe.fewshot_plan()
    assert plan.shots == (1, 2) and plan.draws == 2 and recipe.fewshot_methods == ["none", "knn"]
    opts = recipe_run._method_options("knn", recipe)
    assert opts.solver == "knn" and opts.aug == "none"
    home = Home.resolve(tmp_path / "h")
    fs = blobs(n=(120, 40, 60))
    fs.info.update(features_key="k1", options_hash=runner.options_hash(opts))
    first = runner.probe_fewshot(home, fs, opts, plan, skip_recorded=True)
    assert len(first) == 4 and len(ResultsStore(home.results).rows()) == 4
    assert runner.probe_fewshot(home, fs, opts, plan, skip_recorded=True) == []
    # few-shot rows never count as the full-data probe being recorded
    assert runner.recorded_seeds(home, "k1", "none", fs.info["options_hash"]) == set()
    for bad, word in (("shots = [0]", "shots"), ("shots = [1]\ndraws = 0", "draws")):
        p.write_text(f'datasets = ["d"]\naugs = ["none"]\nbackbones = ["a"]\n[fewshot]\n{bad}\n')
        with pytest.raises(SeabenchError, match=word):
            Recipe.load(p).fewshot_plan()


def test_a_recipe_few_shot_line_gives_the_spread_of_its_draws():
    from seabench.recipe_run import _spread

    assert _spread([40.0, 44.0]) == "2.83"
    assert _spread([40.0]).endswith("(one draw: no spread)")
