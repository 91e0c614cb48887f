"""One table of option specs: name, type, range or choices, help, and how to fix a bad value.

The click options of ``extract``, ``probe``, ``finetune`` and ``report`` and the recipe's
``[extract]``, ``[probe]``, ``[finetune]`` and ``[report]`` tables are both checked against these
specs (``seabench.cli._options`` turns a spec into a click option; ``validate_table`` checks a
recipe table), so a bound is written once and a recipe cannot go around the CLI's checks.
Adding an option is one ``Spec`` in the table it belongs to.

Numbers are finite: ``nan`` and ``inf`` are never a valid hyperparameter, and the bounds keep out
values that can only train to chance (``--eta 1e300``).  This module imports nothing heavy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

KINDS = ("int", "float", "bool", "str", "choice", "path")
SHAPES = ("one", "list", "one_or_list")


@dataclass(frozen=True)
class Spec:
    """One option: ``name`` is the recipe key and, dashed, the CLI flag (``image_size`` ->
    ``--image-size``); ``hint`` says what to pass and ``example`` is a good value, both used by
    the one-line error of a bad value."""

    name: str
    kind: str
    help: str
    hint: str
    example: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    #: the allowed strings of a ``choice``, or a function returning them (for registries that
    #: import torch: resolved only when a recipe is checked)
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    #: ``list``: a non-empty list of values; ``one_or_list``: a value or such a list
    shape: str = "one"

    def __post_init__(self) -> None:
        assert self.kind in KINDS and self.shape in SHAPES, self

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed_choices(self) -> tuple[str, ...]:
        c = self.choices() if callable(self.choices) else self.choices
        return tuple(c or ())

    def range_text(self) -> str:
        """The range as click writes it: ``16<=x<=1024``, ``0<x<=100``, ``x>=1``."""
        lo = hi = ""
        if self.min is not None:
            lo = f"{_num(self.min)}{'<' if self.min_open else '<='}"
        if self.max is not None:
            hi = f"{'<' if self.max_open else '<='}{_num(self.max)}"
        if lo and not hi:
            return f"x{'>' if self.min_open else '>='}{_num(self.min)}"
        if hi and not lo:
            return f"x{hi}"
        return f"{lo}x{hi}" if lo or hi else ""

    def describe_one(self) -> str:
        """The allowed values of one element, in words."""
        rng = self.range_text()
        if rng.startswith("x"):  # one bound: "an integer >= 1", not "in x>=1"
            rng = rng[1:].replace(">=", ">= ").replace("<=", "<= ")
            rng = rng if " " in rng else rng[0] + " " + rng[1:]
        elif rng:
            rng = f"in {rng}"
        if self.kind == "int":
            return "an integer" + (f" {rng}" if rng else "")
        if self.kind == "float":
            return "a finite number" + (f" {rng}" if rng else "")
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of: " + ", ".join(self.allowed_choices())
        return "a non-empty string"

    def describe(self) -> str:
        one = self.describe_one()
        if self.shape == "list":
            return f"a non-empty list, each {one}"
        if self.shape == "one_or_list":
            return f"{one}, or a non-empty list of them"
        return one

    def check_one(self, value) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind in ("str", "path"):
            return isinstance(value, str) and bool(value.strip())
        if self.kind == "choice":
            return isinstance(value, str) and value in self.allowed_choices()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return in_range(float(value), self)

    def check(self, value) -> bool:
        """True when ``value`` (as TOML gives it) is allowed."""
        if isinstance(value, list):
            if self.shape == "one" or not value:
                return False
            return all(self.check_one(v) for v in value)
        return self.shape != "list" and self.check_one(value)


def in_range(value: float, spec: Spec) -> bool:
    """Finite and within the spec's bounds."""
    if not math.isfinite(value):
        return False
    if spec.min is not None and (value <= spec.min if spec.min_open else value < spec.min):
        return False
    return spec.max is None or (value < spec.max if spec.max_open else value <= spec.max)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def toml_value(value) -> str:
    """A value written as in the recipe file (``true``, ``"big"``, ``[1, 2]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return str(value)


def _example(spec: Spec) -> str:
    one = spec.example if spec.kind in ("int", "float", "bool") else f'"{spec.example}"'
    return f"[{one}]" if spec.shape == "list" else one


def validate_table(
    where: str,
    values: dict,
    specs: dict[str, Spec],
    *,
    known: set[str] | None = None,
    unknown_label: str | None = None,
) -> list[str]:
    """One line per problem of a recipe table: unknown keys (with the known ones), values of the
    wrong type or out of range (with the allowed values and an example).

    ``where`` prefixes each key (``[probe]`` gives ``[probe] epochs = -1: ...``; empty for the
    top level); ``known`` (default: the specs' names) is what is not an unknown key.
    """
    problems = []
    known = set(specs) if known is None else known
    unknown = sorted(set(values) - known)
    if unknown:
        head = f"unknown {unknown_label or where + ' settings'} {', '.join(unknown)}"
        if unknown_label and where:
            head = f"{where}: {head}"
        problems.append(f"{head}; known: {', '.join(sorted(known))}")
    for key, value in values.items():
        spec = specs.get(key)
        if spec is not None and not spec.check(value):
            problems.append(
                f"{where + ' ' if where else ''}{key} = {toml_value(value)}: must be "
                f"{spec.describe()} (e.g. {key} = {_example(spec)})"
            )
    return problems


def table(*specs: Spec) -> dict[str, Spec]:
    return {s.name: s for s in specs}


# -- shared by several commands and tables ------------------------------------------------------

HOME = Spec(
    "home",
    "path",
    "Where features/, results/ and reports/ live (env SEABENCH_HOME).",
    "a folder for features/, results/ and reports/ (created if missing)",
    "./seabench-home",
)
DATASET = Spec(
    "dataset",
    "str",
    "Dataset name (see `seabench datasets`).",
    "a dataset name (see `seabench datasets`)",
    "mnist5k",
)
BACKBONE = Spec(
    "backbone",
    "str",
    "Offline name, timm or torchvision model name.",
    "a backbone name (see `seabench backbones`, or any timm / torchvision name)",
    "efficientnet_lite0",
)
SEEDS = Spec(
    "seeds",
    "int",
    "Number of seeds (0, 1, ..., N-1).",
    "how many seeds to run",
    "3",
    min=1,
    max=1000,
)
DEVICE = Spec(
    "device",
    "str",
    "cpu, cuda, cuda:1 ...; default: cuda if available.",
    "a torch device",
    "cpu",
)
IMAGE_SIZE = Spec(
    "image_size",
    "int",
    "Crop size; default: the backbone's own (224 for most).",
    "a crop size in pixels",
    "224",
    min=16,
    max=1024,
)
CROP_PCT = Spec(
    "crop_pct",
    "float",
    "Resize to size / crop-pct before the centre crop; default: the backbone's.",
    "the centre crop's fraction of the resized image",
    "0.875",
    min=0.1,
    max=1.0,
)
SUBSET = Spec(
    "subset",
    "int",
    "Only the first N items of each split (a smoke test; its own cache entry).",
    "a number of items per split",
    "200",
    min=1,
)
WORKERS = Spec(
    "workers",
    "int",
    "Data-loading processes; default: sized to the machine.",
    "a number of data-loading processes",
    "4",
    min=0,
    max=256,
)
BATCH_SIZE = Spec("batch_size", "int", "Batch size.", "a batch size", "64", min=1)
LR = Spec(
    "lr",
    "float",
    "Learning rate.",
    "a positive learning rate",
    "0.1",
    min=0,
    max=100,
    min_open=True,
)
WD = Spec("wd", "float", "Weight decay.", "a non-negative weight decay", "1e-6", min=0, max=100)
MOMENTUM = Spec(
    "momentum",
    "float",
    "SGD momentum.",
    "a momentum below 1",
    "0.9",
    min=0,
    max=1,
    max_open=True,
)

# -- seabench extract / recipe [extract] --------------------------------------------------------

EXTRACT = table(
    IMAGE_SIZE,
    CROP_PCT,
    Spec(
        "dtype",
        "choice",
        "Storage dtype of the cached features.",
        "a storage dtype",
        "fp16",
        choices=("fp16", "fp32"),
    ),
    BATCH_SIZE,
    WORKERS,
    SUBSET,
    DEVICE,
    Spec(
        "views",
        "choice",
        "Fixed views of each image, stored as (N, M, d) for `probe --aug views|sla`: "
        "rot4 = 0/90/180/270 degree rotations, flip2 = identity + mirror, crops5 = "
        "four corner and centre crops. One forward pass per view (M times the "
        "compute; --batch-size counts images); its own cache entry.",
        "a set of fixed views",
        "rot4",
        choices=("none", "rot4", "flip2", "crops5"),
    ),
    Spec(
        "pooling",
        "choice",
        "ViT features: class token or averaged patch tokens; default: the model's.",
        "a pooling of ViT tokens",
        "avg",
        choices=("cls", "avg"),
    ),
    Spec(
        "chunk_size",
        "int",
        "Images per resumable chunk (default 1024).",
        "a number of images per resumable chunk",
        "1024",
        min=1,
    ),
    Spec(
        "download",
        "bool",
        "Download the dataset where torchvision can.",
        "true or false",
        "true",
    ),
)

# -- seabench probe / recipe [probe] ------------------------------------------------------------

PROBE_LR = replace(LR, help="Learning rate (with --no-search).", example="1.6")
PROBE_WD = replace(WD, help="Weight decay (with --no-search).")
STRENGTH = Spec(
    "strength",
    "float",
    "Augmentation strength with --no-search (SeA's eta; default 0.8).",
    "an augmentation strength (SeA's eta)",
    "0.2",
    min=0,
    max=100,
)
L2 = Spec(
    "l2",
    "float",
    "L2 weight (1/C) of --solver lbfgs with --no-search.",
    "a positive L2 weight (scikit-learn's 1/C)",
    "1e-3",
    min=0,
    max=1e8,
    min_open=True,
)


def _probe_methods() -> tuple[str, ...]:
    from seabench.probe.augment import AUGMENTATIONS
    from seabench.probe.multiview import MULTIVIEW_AUGS

    return (*AUGMENTATIONS, *MULTIVIEW_AUGS)


AUG = Spec(
    "aug",
    "choice",
    "Feature augmentation: none, sea, adv, random, noise, dropout, mixup, nn; "
    "on multi-view features (extract --views) also views, sla, sla+sea.",
    "a feature augmentation",
    "sea",
    choices=_probe_methods,
)

PROBE = table(
    Spec(
        "search",
        "bool",
        "Search lr x wd (x strength) on val, or train one configuration.",
        "true or false",
        "true",
    ),
    Spec(
        "prune",
        "bool",
        "Searches of 12+ configurations keep the better half on val at half the epochs "
        "(the kept ones train exactly as in a full search); --no-prune trains every one.",
        "true or false",
        "true",
    ),
    Spec("epochs", "int", "Training epochs.", "a number of epochs", "100", min=1, max=100_000),
    BATCH_SIZE,
    MOMENTUM,
    Spec(
        "alpha",
        "float",
        "SeA attention temperature.",
        "a positive temperature",
        "0.01",
        min=1e-4,
        max=100,
    ),
    Spec(
        "lamda",
        "float",
        "Loss temperature.",
        "a positive temperature",
        "0.1",
        min=1e-3,
        max=100,
    ),
    Spec("delta", "float", "Logit margin.", "a logit margin", "0", min=-100, max=100),
    PROBE_LR,
    PROBE_WD,
    STRENGTH,
    replace(PROBE_LR, name="lr_grid", help="Learning rates to search.", shape="list"),
    replace(PROBE_WD, name="wd_grid", help="Weight decays to search.", shape="list"),
    replace(STRENGTH, name="strength_grid", help="Strengths to search.", shape="list"),
    DEVICE,
    Spec(
        "solver",
        "choice",
        "sgd: the batched probe with --aug; lbfgs: classic logistic regression "
        "(standardised features, L2 weight in logspace(-6, 5, 45) chosen on val).",
        "a solver",
        "lbfgs",
        choices=("sgd", "lbfgs"),
    ),
    L2,
    replace(L2, name="l2_grid", help="L2 weights to search.", shape="list"),
)

# -- seabench finetune / recipe [finetune] ------------------------------------------------------

FINETUNE = table(
    Spec(
        "max_steps",
        "int",
        "Step budget of each run (the cosine schedule spans it).",
        "a number of steps",
        "5000",
        min=1,
        max=10_000_000,
    ),
    replace(BATCH_SIZE, min=2, hint="a batch size of at least 2 (batch norm needs two)"),
    Spec(
        "grid",
        "choice",
        "full: lr in logspace(-4,-1,4) x wd in {0}+logspace(-6,-3,4)/lr, selected on "
        "val; small: one configuration (lr 0.01, wd 0).",
        "a search grid",
        "small",
        choices=("full", "small"),
    ),
    replace(LR, help="Explicit learning rates to search (repeatable).", shape="one_or_list"),
    replace(WD, help="Explicit weight decays to search (repeatable).", shape="one_or_list"),
    MOMENTUM,
    IMAGE_SIZE,
    CROP_PCT,
    replace(SUBSET, help="Only about N items of each split (a smoke test; its own split)."),
    DEVICE,
    WORKERS,
    Spec(
        "checkpoint_every",
        "int",
        "Steps between resumable checkpoints.",
        "a number of steps",
        "100",
        min=1,
    ),
    Spec(
        "eval_batch_size",
        "int",
        "Batch size of evaluation.",
        "a batch size",
        "128",
        min=1,
    ),
)

# -- seabench report / recipe [report] ----------------------------------------------------------

REPORT = table(
    Spec(
        "formats",
        "choice",
        "Also write the report in this format (repeatable; `all` for every one).",
        "a report format",
        "markdown",
        choices=("markdown", "csv", "latex", "html", "json", "all"),
        shape="list",
    ),
    Spec(
        "margin",
        "float",
        "Count the tasks where linear+SeA is within this many points of fine-tuning.",
        "a margin in points",
        "1.0",
        min=0,
        max=100,
    ),
)


def _recipe_methods() -> tuple[str, ...]:
    return (*_probe_methods(), "lbfgs", "finetune")


#: the recipe's top-level keys that are options (the others: backbones, datasets, vars, ...)
RECIPE = table(
    SEEDS,
    replace(AUG, name="augs", choices=_recipe_methods, shape="list"),
    replace(DATASET, name="datasets", shape="list"),
    Spec("data_root", "str", "Folder holding the datasets.", "a folder", "data"),
    Spec("description", "str", "What the recipe is for.", "a sentence", "my grid"),
)


def _weight_formats() -> tuple[str, ...]:
    from seabench.backbones.layouts import FORMATS

    return tuple(FORMATS)


#: keys of a backbone table in a recipe's ``backbones`` list
BACKBONE_TABLE = table(
    replace(BACKBONE, name="name", hint="the backbone's name in the results"),
    replace(BACKBONE, name="arch"),
    Spec("weights", "path", "Checkpoint file to load.", "a checkpoint file", "ckpt/swav.pth"),
    Spec(
        "format",
        "choice",
        "Layout of weights (see `seabench backbones`).",
        "a checkpoint layout",
        "auto",
        choices=_weight_formats,
    ),
    EXTRACT["pooling"],
)
