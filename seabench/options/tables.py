"""The commands' option tables (extract, probe, finetune, report); see ``seabench.options``."""

from __future__ import annotations

from dataclasses import replace

from seabench.options.common import (
    BATCH_SIZE,
    CROP_PCT,
    DEVICE,
    IMAGE_SIZE,
    LR,
    MOMENTUM,
    SUBSET,
    WD,
    WORKERS,
)
from seabench.options.spec import Spec, table

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
        "ViT features: class token, averaged patch tokens, or both (class tokens of the "
        "selected blocks + average patch token of the last one); default: the model's.",
        "a pooling of ViT tokens",
        "avg",
        choices=("cls", "avg", "cls+avg"),
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
    Spec(
        "decode",
        "choice",
        "JPEG files: draft decodes at the smallest DCT scale (1/2, 1/4, 1/8) that still "
        "covers the resize (faster; its own cache entry); full decodes at full size (the entries "
        "made before draft existed); device decodes, resizes and normalises on --device (nvJPEG "
        "on a GPU; its own cache entry). In-memory datasets (mnist5k, CIFAR) take draft or full, "
        "the same either way.",
        "a JPEG decode path",
        "draft",
        choices=("draft", "full", "device"),
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


def _solvers() -> tuple[str, ...]:
    from seabench.probe.names import METHODS

    return tuple(METHODS)


def _probe_methods() -> tuple[str, ...]:
    from seabench.probe.names import aug_names

    return aug_names()


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
    Spec(
        "select",
        "choice",
        "Choose the configuration on val (holdout), by stratified k-fold over train+val "
        "(kfold; refit on train+val either way), or auto: kfold when the smallest class has "
        "fewer than 200 train+val examples (measured in scripts/selection_optimism.py).",
        "a selection protocol",
        "kfold",
        choices=("auto", "holdout", "kfold"),
    ),
    Spec(
        "folds",
        "int",
        "Folds of --select kfold (at least 2, at most the smallest class's count).",
        "a number of folds",
        "5",
        min=2,
        max=100,
    ),
    Spec("epochs", "int", "Training epochs.", "a number of epochs", "100", min=1, max=100_000),
    Spec(
        "bootstrap",
        "int",
        "Resamples of the test items for each interval (and paired delta).",
        "a number of resamples",
        "10000",
        min=100,
        max=10_000_000,
    ),
    Spec(
        "confidence",
        "float",
        "Coverage of the percentile intervals.",
        "a coverage in [0.5, 1)",
        "0.95",
        min=0.5,
        max=1,
        max_open=True,
    ),
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
        "(standardised features, L2 weight in logspace(-6, 5, 45) chosen on val); knn: weighted "
        "k-NN (DINO: cosine similarity, votes exp(sim/0.07), k in 10,20,50,100,200 chosen on "
        "val).",
        "a probe method",
        "lbfgs",
        choices=_solvers,
    ),
    Spec(
        "k",
        "int",
        "Neighbours of --method knn with --no-search.",
        "a number of neighbours",
        "20",
        min=1,
        max=100_000,
    ),
    Spec(
        "k_grid",
        "int",
        "Neighbour counts of --method knn to search on val.",
        "numbers of neighbours",
        "10, 20, 50",
        min=1,
        max=100_000,
        shape="list",
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
