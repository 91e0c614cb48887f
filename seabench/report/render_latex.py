"""The report as LaTeX tables ready to paste into a paper: booktabs rules, the caption above the
table (the convention of most venues), a ``\\label`` to cite, every name and caption escaped."""

from __future__ import annotations

import re

import pandas as pd

from seabench.report import fewshot
from seabench.report.cost import cost_display
from seabench.report.provenance import lines as provenance_lines
from seabench.report.tables import Report, margin_line

#: LaTeX's special characters (and the ASCII ones that OT1 fonts draw as other glyphs)
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "±": r"$\pm$",
    "†": r"$\dagger$",
}


def tex(value) -> str:
    """``value`` as LaTeX text that prints as it reads (``a&b%`` -> ``a\\&b\\%``; ``--no-search``
    keeps its two hyphens rather than becoming an en dash)."""
    text = "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(value))
    return re.sub(r"-(?=-)", "-{}", text)


def label_key(text: str) -> str:
    """A ``\\label`` key from a name: letters, digits and ``-`` only (safe in every package)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "table"


def latex_table(df: pd.DataFrame, caption: str, label: str, names: int = 1) -> str:
    """One ``table`` float: caption, label, then a booktabs ``tabular`` (``names`` left columns)."""
    spec = "l" * names + "r" * (len(df.columns) - names)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        rf"\caption{{{tex(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex(c) for c in df.columns) + r" \\",
        r"\midrule",
    ]
    for r in df.itertuples(index=False):
        if str(r[0]) == "average":
            lines.append(r"\midrule")
        lines.append(" & ".join(tex(v) for v in r) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def latex(report: Report) -> str:
    """Every table of the report; the preamble needs ``\\usepackage{booktabs}``."""
    used: set[str] = set()

    def key(*parts: str) -> str:
        base = "tab:seabench-" + "-".join(label_key(p) for p in parts)
        k, i = base, 2
        while k in used:
            k, i = f"{base}-{i}", i + 1
        used.add(k)
        return k

    head = [
        "% seabench report: put \\usepackage{booktabs} in the preamble (\\toprule, \\midrule,",
        "% \\bottomrule); each table has a \\label{tab:seabench-...} to \\ref.",
    ]
    if report.provenance:
        head += [f"% {what}: {value}" for what, value in provenance_lines(report.provenance)]
    parts = ["\n".join(head)]
    for b in report.backbones:
        parts.append(
            latex_table(
                report.display_ci[b].reset_index(),
                f"{b}: test score (%). {margin_line(report, b)}.",
                key("scores", b),
            )
        )
    fs = report.fewshot
    for b in fs.backbones if fs else []:
        parts.append(
            latex_table(
                fs.display[b].reset_index(), fewshot.caption(fs, b) + ".", key("fewshot", b)
            )
        )
    if not report.cost.empty:
        parts.append(latex_table(cost_display(report), "Cost in seconds.", key("cost"), 2))
    parts += [rf"\noindent{{\small {tex(n)}}}\par" for n in report.notes]
    return "\n\n".join(parts) + "\n"
