"""The recipe's own option tables: [fewshot], its top-level keys and a backbone's entry.

The commands' tables (extract, probe, finetune, report) are in ``tables.py``; these build on them.
"""

from __future__ import annotations

from dataclasses import replace

from seabench.options.common import BACKBONE, DATASET, SEEDS
from seabench.options.spec import Spec, table
from seabench.options.tables import AUG, EXTRACT, _probe_methods, _solvers


def _recipe_methods() -> tuple[str, ...]:
    return (*_probe_methods(), *(m for m in _solvers() if m != "sgd"), "finetune")


#: a recipe's [fewshot] table: few-shot probes on the same features
FEWSHOT = table(
    Spec(
        "shots",
        "int",
        "Training images per class of each few-shot probe.",
        "images per class",
        "1, 4, 16",
        min=1,
        max=100_000,
        shape="list",
    ),
    Spec("draws", "int", "Random draws per shots value.", "draws", "3", min=1, max=1000),
    Spec(
        "methods",
        "choice",
        "Probe methods of the few-shot runs (default: the recipe's probe methods).",
        "probe methods",
        "sea",
        choices=lambda: tuple(m for m in _recipe_methods() if m != "finetune"),
        shape="list",
    ),
    Spec(
        "val_shots",
        "int",
        "Val images per class drawn from the validation split (default min(shots, 4)).",
        "images per class",
        "4",
        min=1,
        max=100_000,
    ),
)


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
