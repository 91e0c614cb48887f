"""The option specs, one table per command / recipe table (see ``seabench.options``)."""

from __future__ import annotations

from dataclasses import replace

from seabench.options.spec import Spec, table

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
    "Offline, timm or torchvision name, hf-hub:ORG/NAME, open_clip:ARCH/PRETRAINED or "
    "hf:ORG/NAME (see `seabench backbones`).",
    "a backbone name (see `seabench backbones`: timm, torchvision, hf-hub:, open_clip:, hf:)",
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
    "device",
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

#: CLI only for now: a recipe's rows are matched by backbone name, which --layers changes
LAYERS = Spec(
    "layers",
    "str",
    "Blocks to read (ViTs) or stages (CNNs): last1 (default), lastK, or 0-based N,M,...; "
    "concatenated. --layers last4 --pooling cls+avg is DINOv2's linear-eval feature.",
    "last1, lastK or 0-based block indices N,M,...",
    "last4",
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
