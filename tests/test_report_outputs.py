"""Outputs that fit where researchers paste them: terminal tables within the terminal's width
(names whole), LaTeX with booktabs / caption above / label / escaped names, a labelled log time
axis, and one provenance block in Markdown, HTML and JSON."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

from seabench.cli import cli
from seabench.report import build_report, write_reports
from seabench.report.names import break_name
from seabench.report.plots import cost_scatter, duration, time_ticks
from seabench.report.render import markdown
from seabench.report.render_html import html_text
from seabench.report.render_latex import LATEX_SPECIAL, latex, tex
from seabench.report.terminal import print_report
from seabench.results import ResultsStore

LONG = "imagefolder:/data/shared/projects/birds_2024/my_set_1"
SPECIAL = "a&b%"


def row(dataset, aug, test, seed=0, **extra):
    base = {
        "dataset": dataset,
        "backbone": "bb",
        "aug": aug,
        "solver": "finetune" if aug == "finetune" else "sgd",
        "metric": "top1",
        "test": test,
        "val": test,
        "seed": seed,
        "seconds": 1.0,
        "search_seconds": 20.0,
        "wall_seconds": 900.0 if aug == "finetune" else None,
        "selected_on": "val",
        "val_source": "holdout20",
        "manifest_hash": f"m-{dataset}",
        "image_size": 96,
        "device": "cuda",
        "versions": {"seabench": "0.1.0", "torch": "2.5.1", "timm": "1.0.31"},
        "created": "2026-12-01T10:00:00+0000",
    }
    base.update(extra)
    return base


def rows_for(datasets) -> pd.DataFrame:
    out = []
    for d in datasets:
        for aug, t in (("none", 80.0), ("sea", 82.0), ("finetune", 85.0)):
            out += [row(d, aug, t), row(d, aug, t + 1, seed=1)]
        out.append(row(d, "none", 70.0, solver="lbfgs"))
        out.append(row(d, "none", 71.0, solver="knn"))
    return pd.DataFrame(out)


@pytest.fixture
def report():
    return build_report(rows_for([LONG, "cifar10", SPECIAL]))


def _printed(report, width: int, **kw) -> str:
    out = io.StringIO()
    print_report(report, Console(file=out, width=width, color_system=None), **kw)
    return out.getvalue()


def _column(text: str, title: str, col: int, starts: int) -> list[str]:
    """Column ``col`` of one printed table, each cell's wrapped lines joined; a row starts where
    column ``starts`` has a value that does not continue the one above (``± 0.71``)."""
    block = text[text.index(title) :]
    block = block[: block.index("└")]
    cells: list[str] = []
    for line in block.splitlines():
        if not line.startswith("│"):
            continue
        parts = [p.strip() for p in line.split("│")[1:-1]]
        if parts[starts] and not parts[starts].startswith("±"):
            cells.append("")
        cells[-1] += parts[col]
    return cells


def test_narrow_terminal_keeps_every_name_and_column(report):
    text = _printed(report, 80)
    assert max(len(ln) for ln in text.splitlines()) <= 80
    assert "…" not in text and "..." not in text  # nothing cut short
    assert _column(text, "bb: test score", 0, 1) == [SPECIAL, "cifar10", LONG, "average"]
    assert _column(text, "cost (seconds)", 1, 0) == [SPECIAL, "cifar10", LONG]
    # every column is there, under a short header that a legend spells out
    header = text[text.index("bb: test score") : text.index("┡")]
    for short in ("lin", "SeA", "FT", "BFGS", "k-NN"):
        assert short in header
    assert header.splitlines()[2].count("┃") == 1 + 8  # dataset and the 7 method columns
    assert "SeA = linear+SeA" in text and "FT = fine-tune" in text
    assert "metric top1" in text  # a column with one value throughout moved into the title


def test_wide_prints_full_headers_unwrapped(report):
    text = _printed(report, 80, wide=True)
    assert max(len(ln) for ln in text.splitlines()) > 80
    for header in ("delta (SeA-linear)", "gap to fine-tune", "logreg (L-BFGS)", "fine-tune CPU s"):
        assert header in text
    assert any(LONG in ln and "80.50 ± 0.71" in ln for ln in text.splitlines())
    assert "SeA = linear+SeA" not in text  # nothing abbreviated, so no legend


def test_a_wide_terminal_is_not_abbreviated(report):
    text = _printed(report, 220)
    assert "delta (SeA-linear)" in text and "= linear+SeA" not in text


def test_cli_report_wide_and_skipped_lines(tmp_path):
    home = tmp_path / "home"
    path = ResultsStore(home / "results").append(rows_for([LONG, "cifar10"]).to_dict("records"))
    path.write_text(path.read_text() + "not a row\n")
    args = ["report", "--home", str(home), "--format", "json", "--out", str(tmp_path / "o")]
    narrow = CliRunner().invoke(cli, args)
    assert narrow.exit_code == 0, narrow.output
    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    assert doc["provenance"]["rows"]["unreadable_skipped"] == 1  # the skipped line is counted
    wide = CliRunner().invoke(cli, [*args, "--wide"])
    assert wide.exit_code == 0, wide.output
    assert any(LONG in ln for ln in wide.output.splitlines())
    assert "delta (SeA-linear)" in wide.output


def test_piped_report_fits_columns_when_set(tmp_path, monkeypatch):
    home = tmp_path / "home"
    ResultsStore(home / "results").append(rows_for([LONG, "cifar10"]).to_dict("records"))
    args = ["report", "--home", str(home), "--format", "json", "--out", str(tmp_path / "o")]
    monkeypatch.setenv("COLUMNS", "90")  # a log or pipe that says its width
    piped = CliRunner().invoke(cli, args)
    assert piped.exit_code == 0, piped.output
    assert max(len(ln) for ln in piped.output.splitlines()) <= 90
    assert "…" not in piped.output


def test_break_name_keeps_path_components_whole():
    broken = break_name(LONG, 20)
    assert broken.replace("\n", "") == LONG
    assert all(len(ln) <= 20 for ln in broken.splitlines())
    assert len(broken.splitlines()) == 3 and broken.endswith("my_set_1")
    assert all(ln.endswith("/") for ln in broken.splitlines()[:-1])  # broken between components
    assert break_name("x" * 45, 20).replace("\n", "") == "x" * 45  # no separator: folded


def _untex(text: str) -> str:
    back = {v: k for k, v in LATEX_SPECIAL.items()}
    pattern = "|".join(re.escape(v) for v in sorted(back, key=len, reverse=True))
    return re.sub(pattern, lambda m: back[m.group(0)], text)


@pytest.mark.parametrize("name", [LONG, SPECIAL, r"odd_#1 {x} ~$^\ <|>"])
def test_latex_escapes_round_trip(name):
    escaped = tex(name)
    assert _untex(escaped) == name
    rest = escaped
    for sequence in sorted(LATEX_SPECIAL.values(), key=len, reverse=True):
        rest = rest.replace(sequence, "")
    assert not set(rest) & set(LATEX_SPECIAL)  # every special character was escaped


def test_latex_uses_booktabs_caption_above_and_labels(report):
    tex_text = latex(report)
    assert tex_text.startswith("%") and r"\usepackage{booktabs}" in tex_text.split("\n\n")[0]
    tables = re.findall(r"\\begin\{table\}.*?\\end\{table\}", tex_text, re.S)
    assert len(tables) == 2  # scores, cost
    labels = []
    for t in tables:
        assert "\\hline" not in t
        order = [t.index(k) for k in (r"\caption{", r"\label{", r"\begin{tabular}", r"\toprule")]
        assert order == sorted(order)  # caption, then label, above the tabular
        assert t.index(r"\midrule") < t.index(r"\bottomrule") < t.index(r"\end{tabular}")
        labels += re.findall(r"\\label\{(tab:[A-Za-z0-9-]+)\}", t)
    assert len(labels) == len(set(labels)) == 2
    assert tex(LONG) in tex_text and r"a\&b\%" in tex_text
    assert LONG not in tex_text and "a&b%" not in tex_text  # never unescaped
    body = tex_text.split("\n\n", 1)[1]  # outside the comment block: balanced braces
    assert body.replace("\\{", "").count("{") == body.replace("\\}", "").count("}")
    odd = latex(build_report(rows_for(["x"]).assign(backbone="vit_b_16#1")))
    assert r"\caption{vit\_b\_16\#1: test score" in odd  # the caption is escaped too
    assert r"\label{tab:seabench-scores-vit-b-16-1}" in odd


def test_time_ticks_are_labelled_in_readable_units():
    assert [duration(t) for t in time_ticks(12, 18)] == ["10 s", "20 s"]
    assert [duration(t) for t in time_ticks(3, 3000)] == ["1 s", "10 s", "1 min", "10 min", "1 h"]
    for lo, hi in [(0.3, 0.4), (5, 5), (45, 7200), (0.5, 200_000)]:
        ticks = time_ticks(lo, hi)
        assert 2 <= len(ticks) <= 7 and ticks[0] <= lo and ticks[-1] >= hi


def test_cost_plot_has_labelled_log_ticks_and_axis_titles(report):
    svg = cost_scatter(report)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    # probe: 2 seeds x 21 s = 42 s; fine-tuning: 2 x 900 s = 30 min
    assert {"1 min", "10 min"} <= set(texts) or {"1 min", "30 min"} <= set(texts), texts
    assert any("log scale" in t for t in texts) and "test score (%)" in texts


def _font_sizes(svg: str) -> set[str]:
    return set(re.findall(r"font-size: ?([0-9.]+px)", svg))


def test_plot_fonts_do_not_shrink_with_more_datasets():
    few = html_text(build_report(rows_for(["d0", "d1", "d2"])))
    many = html_text(build_report(rows_for([f"dataset_{i}" for i in range(12)])))
    assert _font_sizes(many) == _font_sizes(few) != set()
    assert "max-width:100%;height:auto" not in many  # plots are never scaled down to fit
    assert ".plot{overflow-x:auto" in many


def test_provenance_in_markdown_html_and_json(tmp_path):
    rows = pd.concat([rows_for(["a", "b"]), pd.DataFrame([row("c", "sea", 50.0, device="cpu",
        selected_on="kfold5")])])  # fmt: skip
    report = build_report(rows, skipped=3)
    p = report.provenance
    assert p["versions"]["timm"] == {"1.0.31": len(rows)}
    assert p["devices"] == {"cpu": 1, "cuda": len(rows) - 1}
    assert p["selected_on"] == {"kfold5": 1, "val": len(rows) - 1}
    assert p["rows"]["read"] == len(rows) and p["rows"]["unreadable_skipped"] == 3
    assert p["rows"]["counted"] + p["rows"]["not_counted"] == len(rows)
    assert set(p["generated_with"]) == {"seabench", "torch", "timm"}
    paths = {x.suffix: x for x in write_reports(report, tmp_path, ["markdown", "html", "json"])}
    doc = json.loads(paths[".json"].read_text())
    assert doc["provenance"]["rows"] == p["rows"] and doc["provenance"]["devices"] == p["devices"]
    md = paths[".md"].read_text()
    html = paths[".html"].read_text()
    for text in (md, html):
        assert "Provenance" in text
        assert "timm 1.0.31" in text and "torch 2.5.1" in text and "seabench 0.1.0" in text
        assert "cuda (" in text and "kfold5 (1 row)" in text
        assert "3 unreadable line(s) skipped" in text
        assert p["generated"] in text
    assert '<section class="provenance"' in html
    assert markdown(report).count("## Provenance") == 1


def test_provenance_names_this_machine_when_rows_record_no_device():
    rows = rows_for(["a"]).drop(columns=["device", "versions"])
    p = build_report(rows).provenance
    assert p["devices"] == {} and p["this_device"] and "this machine" in p["devices_from"]
    assert p["versions"]["torch"] == {}
    assert "torch not recorded" in markdown(build_report(rows))


NUMBERS = {"80.50", "0.71", "82.50", "+2.00", "85.50", "-3.00", "70.00", "71.00", "81.50"}


def test_too_narrow_for_every_column_gives_parts_never_broken_numbers(report):
    """At 60 columns the 8 score columns cannot all sit beside the names with whole numbers:
    the table comes in parts (each with the names), not as ``80.5`` over ``0``."""
    text = _printed(report, 60)
    assert max(len(ln) for ln in text.splitlines()) <= 60
    score_part = text[text.index("bb: test score") : text.index("cost (seconds)")]
    table_lines = [ln for ln in score_part.splitlines() if ln.startswith("│")]
    numbers = {n for ln in table_lines for n in re.findall(r"[+-]?\d+(?:\.\d+)?", ln)}
    assert numbers <= NUMBERS | {"10", "2024", "1"}, numbers - NUMBERS  # (in the names)
    assert "(1/2)" in text and "(2/2)" in text
    assert _column(text, "(1/2)", 0, 1) == [SPECIAL, "cifar10", LONG, "average"]
    assert _column(text, "(2/2)", 0, 1) == [SPECIAL, "cifar10", LONG, "average"]
    for short in ("lin", "SeA", "FT", "BFGS", "k-NN"):
        assert short in score_part


def test_room_goes_to_whole_cells_and_short_headers_before_wrapping(report):
    """At 120 columns every score cell fits on one line under one-line short headers (the
    name column wraps at its slashes) rather than ``82.50 ±`` over ``0.71`` beside free room."""
    text = _printed(report, 120)
    block = text[text.index("bb: test score") : text.index("└")]
    header = block[block.index("┏") : block.index("┡")]
    assert len(header.splitlines()) == 2  # the top rule and one line of headers
    assert any("80.50 ± 0.71" in ln and "85.50 ± 0.71" in ln for ln in block.splitlines())
    assert _column(text, "bb: test score", 0, 1) == [SPECIAL, "cifar10", LONG, "average"]


def test_latex_keeps_double_hyphens_of_options():
    """``--no-search`` in a note must not print as an en dash (LaTeX's ``--`` ligature)."""
    assert tex("(--no-search)") == "(-{}-no-search)"
    assert tex("a---b") == "a-{}-{}-b" and tex("-1.2") == "-1.2"
    fixed = build_report(rows_for(["x"]).assign(selected_on="none (fixed hyperparameters)"))
    assert "--no-search" not in latex(fixed).split("\n\n", 1)[1]
    assert "-{}-no-search" in latex(fixed)
