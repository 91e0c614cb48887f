"""Recipes are checked against the CLI's own option specs before any work, --dry-run included:
each bad value is one line naming the table, the key and the allowed values, exit 2."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from seabench import options
from seabench.cli import cli
from seabench.cli.extract import extract
from seabench.cli.finetune import finetune
from seabench.cli.probe import probe
from seabench.cli.report import report
from seabench.recipe import Recipe

HEAD = 'backbones = ["efficientnet_lite0"]\ndatasets = ["mnist5k"]\n'

# (recipe text after the head, what the one line must contain) -- the cases as they were found
CASES = {
    "epochs -1": (
        'augs = ["none"]\n[probe]\nepochs = -1\n',
        "[probe] epochs = -1: must be an integer in 1<=x<=",
    ),
    "subset -5": (
        'augs = ["none"]\n[extract]\nsubset = -5\n',
        "[extract] subset = -5: must be an integer >= 1",
    ),
    "image_size 0": (
        'augs = ["none"]\n[extract]\nimage_size = 0\n',
        "[extract] image_size = 0: must be an integer in 16<=x<=1024",
    ),
    "seeds true": (
        'augs = ["none"]\nseeds = true\n',
        "seeds = true: must be an integer in 1<=x<=1000",
    ),
    "unknown extract key": (
        'augs = ["none"]\n[extract]\nimgsize = 96\n',
        "unknown [extract] settings imgsize; known: batch_size",
    ),
    "image_size big": (
        'augs = ["none"]\n[extract]\nimage_size = "big"\n',
        '[extract] image_size = "big": must be an integer',
    ),
    "lr fast": (
        'augs = ["sea"]\n[probe]\nlr = "fast"\n',
        '[probe] lr = "fast": must be a finite number in 0<x<=100',
    ),
    "lr nan": (
        'augs = ["sea"]\n[probe]\nlr_grid = [0.2, nan]\n',
        "[probe] lr_grid = [0.2, nan]: must be a non-empty list",
    ),
    "max_steps x": (
        'augs = ["finetune"]\n[finetune]\nmax_steps = "x"\n',
        '[finetune] max_steps = "x": must be an integer',
    ),
    "formats string": (
        'augs = ["none"]\n[report]\nformats = "markdown"\n',
        '[report] formats = "markdown": must be a non-empty list, each one of: markdown, csv',
    ),
    "unknown aug": (
        'augs = ["none", "sae"]\n',
        'augs = ["none", "sae"]: must be a non-empty list, each one of: none, sea',
    ),
    "bad format": (
        'augs = ["none"]\nbackbones = [{name = "m", arch = "resnet50", format = "mocov9"}]\n',
        'backbones[0] format = "mocov9": must be one of: auto',
    ),
}


def run_recipe(tmp_path, text: str, *extra: str):
    p = tmp_path / "r.toml"
    p.write_text(text)
    return CliRunner().invoke(cli, ["run", str(p), *extra, "--home", str(tmp_path / "h")])


def error_lines(res) -> list[str]:
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: recipe ") for ln in lines), res.stderr
    return lines


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dry", [True, False])
def test_bad_recipe_value_is_one_line_and_exit_2_before_any_work(tmp_path, case, dry):
    text, message = CASES[case]
    head = 'datasets = ["mnist5k"]\n' if "backbones" in text else HEAD
    res = run_recipe(tmp_path, head + text, *(["--dry-run"] if dry else []))
    assert res.exit_code == 2, res.output
    (line,) = error_lines(res)
    assert message in line, line
    assert not (tmp_path / "h" / "features").exists() or not any(
        (tmp_path / "h" / "features").iterdir()
    )
    assert not (tmp_path / "h" / "results").exists()


def test_every_problem_of_a_recipe_is_listed_one_per_line(tmp_path):
    text = (
        HEAD + 'augs = ["none", "bogus"]\nseeds = 0\n[extract]\nsubset = -5\nwat = 1\n'
        '[probe]\nepochs = -1\n[report]\nformats = "markdown"\nmargin = "x"\n'
    )
    res = run_recipe(tmp_path, text, "--dry-run")
    assert res.exit_code == 2
    lines = error_lines(res)
    for key in (
        "augs =",
        "seeds = 0",
        "[extract] subset",
        "unknown [extract] settings wat",
        "[probe] epochs",
        "[report] formats",
        "[report] margin",
    ):
        assert sum(key in ln for ln in lines) == 1, (key, lines)
    assert len(lines) == 7


def test_a_combination_the_keys_cannot_show_is_refused_before_work(tmp_path):
    text = HEAD + 'augs = ["lbfgs"]\n[probe]\nsearch = false\n'
    res = run_recipe(tmp_path, text, "--dry-run")
    assert res.exit_code == 2
    (line,) = error_lines(res)
    assert "method lbfgs" in line and "--l2" in line


@pytest.mark.parametrize("name", ["quickstart", "paper"])
def test_shipped_recipes_validate(name, tmp_path, monkeypatch):
    from seabench import recipe_run

    monkeypatch.setenv("CKPT_DIR", str(tmp_path))
    r = Recipe.load(f"recipes/{name}.toml")
    recipe_run.check_recipe(r)  # builds every method's options
    assert r.augs


def test_cli_options_and_recipe_keys_share_one_spec():
    """The click options of the commands carry the very spec objects the recipe is checked
    against: a bound changed in one place changes both."""
    tables = {extract: options.EXTRACT, probe: options.PROBE, finetune: options.FINETUNE}
    shared = 0
    for command, table in tables.items():
        for param in command.params:
            spec = getattr(param, "spec", None)
            key = param.name if param.name in table else {"lrs": "lr", "wds": "wd"}.get(param.name)
            if key in table:
                assert spec is table[key], (command.name, param.name)
                shared += 1
    fmt = next(p for p in report.params if p.name == "formats")
    assert fmt.spec is options.REPORT["formats"]
    assert shared >= 25
    # and the values are refused the same way on both sides
    spec = options.EXTRACT["image_size"]
    assert not spec.check(0) and spec.check(224) and not spec.check(True) and not spec.check("224")


def test_static_choices_match_the_registries():
    from seabench.backbones.layers import READOUT_POOLINGS
    from seabench.data.views import VIEWS
    from seabench.finetune.options import GRIDS
    from seabench.probe.protocol import SOLVERS
    from seabench.report.render import FORMATS

    assert options.EXTRACT["views"].allowed_choices() == tuple(VIEWS)
    assert options.EXTRACT["pooling"].allowed_choices() == READOUT_POOLINGS
    assert options.PROBE["solver"].allowed_choices() == SOLVERS
    assert options.FINETUNE["grid"].allowed_choices() == GRIDS
    assert options.REPORT["formats"].allowed_choices() == (*FORMATS, "all")


def test_a_run_with_a_failed_cell_exits_nonzero_and_lists_it(tiny_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(tiny_home.root, home)
    p = tmp_path / "r.toml"
    # an unknown name is refused before any work (test_fast_errors); missing data fails its cells
    p.write_text(
        'backbones = ["efficientnet_lite0"]\ndatasets = ["mnist5k", "cifar10"]\n'
        f'data_root = "{tmp_path / "none"}"\n'
        'augs = ["none"]\n[extract]\nsubset = 200\nimage_size = 32\nbatch_size = 100\n'
        '[probe]\nepochs = 2\nlr_grid = [0.8]\nwd_grid = [1e-6]\n[report]\nformats = ["csv"]\n'
    )
    res = CliRunner().invoke(cli, ["run", str(p), "--home", str(home)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert any("cifar10" in ln and "not found" in ln for ln in errors), res.stderr
    assert "1 cell(s) of the recipe failed" in errors[-1]
    assert (home / "reports" / "report.csv").is_file()  # the finished cell is still reported
