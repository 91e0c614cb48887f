"""Option specs shared by several commands and recipe tables (one bound, written once)."""

from __future__ import annotations

from seabench.options.spec import Spec

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
