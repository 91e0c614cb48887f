"""One table of option specs: name, type, range or choices, help, and how to fix a bad value.

The click options of ``extract``, ``probe``, ``finetune`` and ``report`` and the recipe's
``[extract]``, ``[probe]``, ``[finetune]`` and ``[report]`` tables are both checked against these
specs (``seabench.cli._options`` turns a spec into a click option; ``validate_table`` checks a
recipe table), so a bound is written once and a recipe cannot go around the CLI's checks.
Adding an option is one ``Spec`` in the table it belongs to (``common.py`` for specs
several share, ``tables.py`` for the commands, ``recipe_tables.py`` for the recipe's own keys).

Numbers are finite: ``nan`` and ``inf`` are never a valid hyperparameter, and the bounds keep out
values that can only train to chance (``--eta 1e300``).  This package imports nothing heavy.
"""

from seabench.options.common import (
    BACKBONE,
    BATCH_SIZE,
    CROP_PCT,
    DATASET,
    DEVICE,
    HOME,
    IMAGE_SIZE,
    LAYERS,
    LR,
    MOMENTUM,
    SEEDS,
    SUBSET,
    WD,
    WORKERS,
)
from seabench.options.recipe_tables import BACKBONE_TABLE, FEWSHOT, RECIPE
from seabench.options.spec import Spec, in_range, table, toml_value, validate_table
from seabench.options.tables import AUG, EXTRACT, FINETUNE, PROBE, REPORT

__all__ = [
    "AUG",
    "BACKBONE",
    "BACKBONE_TABLE",
    "BATCH_SIZE",
    "CROP_PCT",
    "DATASET",
    "DEVICE",
    "EXTRACT",
    "FEWSHOT",
    "FINETUNE",
    "HOME",
    "IMAGE_SIZE",
    "LAYERS",
    "LR",
    "MOMENTUM",
    "PROBE",
    "RECIPE",
    "REPORT",
    "SEEDS",
    "SUBSET",
    "WD",
    "WORKERS",
    "Spec",
    "in_range",
    "table",
    "toml_value",
    "validate_table",
]
