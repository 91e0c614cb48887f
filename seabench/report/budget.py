"""What a cell is, when it is not what its column name suggests: fine-tuning on less than the
literature's budget, or a probe whose hyperparameters were fixed rather than selected on val.

A "fine-tune" number from 120 steps of one configuration is not the fine-tune of the transfer
literature (20 configurations x 5,000 steps, chosen on val; REFERENCE.md section 2), and a
"within 1 point of fine-tuning" claim against it says little unless the reader is told.  So a
fine-tune cell carries its budget unless it is the full protocol, and fine-tune rows of different
budgets on one dataset become separate columns: the largest keeps the fine-tune column (the one
SeA is compared with), the others are labelled with theirs.
"""

from __future__ import annotations

import pandas as pd

#: the full protocol (ssl-transfer's finetune.py; seabench.finetune.options' defaults)
FULL_STEPS = 5000
FULL_CONFIGS = 20
FIXED = "fixed hyperparameters"


def _steps(hparams) -> int | None:
    steps = hparams.get("steps") if isinstance(hparams, dict) else None
    return int(steps) if isinstance(steps, int | float) and steps == steps else None


def _configs(value) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return 1
    return max(n, 1)


def budget_text(steps: int | None, configs: int) -> str:
    """``120 steps, 1 config`` (``? steps`` when a row does not say)."""
    s = f"{steps:,} steps" if steps is not None else "? steps"
    return f"{s}, {configs} config{'s' if configs != 1 else ''}"


def add_budget(df: pd.DataFrame) -> None:
    """Fine-tune rows get ``budget`` (empty for the full protocol) and ``budget_size``; rows of
    one dataset with different budgets are split apart, the largest keeping ``finetune``."""
    df["budget"] = ""
    df["budget_size"] = 0.0
    ft = df.index[(df["method"] == "finetune") & ~df["external"]]
    if not len(ft):
        return
    hp = df.loc[ft, "hparams"] if "hparams" in df else pd.Series(None, ft)
    n = df.loc[ft, "configs_searched"] if "configs_searched" in df else pd.Series(0, ft)
    for i, h, c in zip(ft, hp, n, strict=True):
        steps, configs = _steps(h), _configs(c)
        full = (steps or 0) >= FULL_STEPS and configs >= FULL_CONFIGS
        df.at[i, "budget"] = "" if full else budget_text(steps, configs)
        df.at[i, "budget_size"] = float((steps or 0) * configs)
    for _, part in df.loc[ft].groupby(["backbone", "dataset"]):
        if part["budget"].nunique() < 2:
            continue
        top = part["budget_size"].max()
        top_budget = part.loc[part["budget_size"] == top, "budget"].iloc[0]
        other = part.index[part["budget"] != top_budget]
        df.loc[other, "method"] = [
            f"finetune ({b or 'full protocol'})" for b in df.loc[other, "budget"]
        ]


def cell_tag(method: str, budget: str, selected_on) -> str:
    """What the cell of ``method`` is, if its column name does not say it: the fine-tune budget,
    or fixed hyperparameters (``--no-search``)."""
    if method == "finetune":
        return budget or ""
    if "(" in method:  # "sea (fixed hyperparameters)", "finetune (120 steps, 1 config)"...
        return ""
    return FIXED if str(selected_on).startswith("none") else ""


def column_tags(part: pd.DataFrame, methods) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """({method: tag for the column header}, {(dataset, method): tag for one cell}).

    A tag every cell of a column shares goes in the header; otherwise each cell carries its own.
    """
    header, cells = {}, {}
    for m in methods:
        rows = part[part["method"] == m]
        if rows.empty:
            continue
        tags = dict(zip(rows["dataset"], rows["tag"], strict=True))
        if len(set(tags.values())) == 1:
            header[m] = next(iter(tags.values()))
        else:
            cells.update({(d, m): t for d, t in tags.items() if t})
    return header, cells


def finetune_name(part: pd.DataFrame, datasets) -> str:
    """Which fine-tune ``datasets``' fine-tune cells are: the full protocol, or their budget."""
    ft = part[(part["method"] == "finetune") & part["dataset"].isin(list(datasets))]
    budgets = sorted(set(ft["budget"]))
    full = f"{FULL_CONFIGS} configs x {FULL_STEPS:,} steps, chosen on val"
    if not budgets:
        return ""
    if budgets == [""]:
        return f"fine-tuning by the full protocol ({full})"
    if len(budgets) == 1:
        return f"a short fine-tune of {budgets[0]} (not the full protocol: {full})"
    where = {b: ", ".join(map(str, sorted(ft.loc[ft["budget"] == b, "dataset"]))) for b in budgets}
    per = " and ".join(f"{b or 'the full protocol'} on {where[b]}" for b in budgets)
    return f"fine-tunes of {per} (the full protocol: {full})"


def notes(summary: pd.DataFrame) -> list[str]:
    """The report's notes on what cells are: fixed hyperparameters, short fine-tunes, cells that
    hold several configurations of one seed."""
    out = []
    fixed = summary[(summary["method"] == "finetune") & (summary["selected_on"] != "val")]
    if len(fixed):
        out.append(
            "fine-tune: fixed hyperparameters (not selected on val) for "
            + ", ".join(sorted(set(fixed["dataset"])))
        )
    if (summary["tag"] == FIXED).any():
        out.append(
            f"({FIXED}): the probe's hyperparameters were given (--no-search), not selected on val"
        )
    if (summary["budget"] != "").any():
        out.append(
            "fine-tune (N steps, K configs): a shorter budget than the full protocol "
            f"({FULL_CONFIGS} configs x {FULL_STEPS:,} steps, chosen on val)"
        )
    mixed = summary[~summary["external"] & (summary["rows"] > summary["seeds"])]
    for r in mixed.itertuples():
        out.append(
            f"{r.backbone} / {r.dataset} / {r.label}: {r.rows} rows over {r.seeds} "
            f"seed{'s' if r.seeds != 1 else ''}: runs with different options are averaged in "
            "this cell; report them from separate --home directories to keep them apart"
        )
    return out
