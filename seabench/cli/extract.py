"""`seabench extract`: frozen features of every split into the cache."""

from __future__ import annotations

import os

import click

from seabench.cli._common import (
    CONTEXT,
    _home,
    err,
    extract_callback,
    home_option,
    progress_bar,
)


@click.command(context_settings=CONTEXT)
@click.option("--dataset", required=True, help="Dataset name (see `seabench datasets`).")
@click.option("--backbone", required=True, help="Offline name, timm or torchvision model name.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint file to load.")
@click.option(
    "--weights-format",
    default="auto",
    show_default=True,
    help="Layout of --weights (see `seabench backbones`).",
)
@click.option(
    "--pooling",
    type=click.Choice(["cls", "avg"]),
    default=None,
    help="ViT features: class token or averaged patch tokens; default: the model's.",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default="data",
    show_default=True,
    help="Folder holding the datasets in their original layouts.",
)
@click.option("--download", is_flag=True, help="Download the dataset where torchvision can.")
@click.option(
    "--image-size",
    type=click.IntRange(16, 1024),
    default=None,
    help="Crop size; default: the backbone's own (224 for most).",
)
@click.option(
    "--crop-pct",
    type=click.FloatRange(0.1, 1.0),
    default=None,
    help="Resize to size / crop-pct before the centre crop; default: the backbone's.",
)
@click.option(
    "--dtype",
    type=click.Choice(["fp16", "fp32"]),
    default="fp16",
    show_default=True,
    help="Storage dtype of the cached features.",
)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=None,
    help="Data-loading processes; default: sized to the machine.",
)
@click.option(
    "--subset",
    type=click.IntRange(1),
    default=None,
    help="Only the first N items of each split (a smoke test; its own cache entry).",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ...; default: cuda if available.")
@click.option(
    "--chunk-size",
    type=click.IntRange(1),
    default=None,
    hidden=True,
    envvar="SEABENCH_CHUNK_SIZE",
    help="Images per resumable chunk (default 1024).",
)
@click.option(
    "--views",
    type=click.Choice(["none", "rot4", "flip2", "crops5"]),
    default="none",
    show_default=True,
    help="Fixed views of each image, stored as (N, M, d) for `probe --aug views|sla`: "
    "rot4 = 0/90/180/270 degree rotations, flip2 = identity + mirror, crops5 = "
    "four corner and centre crops. One forward pass per view (M times the "
    "compute; --batch-size counts images); its own cache entry.",
)
@click.option(
    "--decode",
    type=click.Choice(["draft", "full", "device"]),
    default="draft",
    show_default=True,
    help="JPEG files: draft decodes at the smallest DCT scale (1/2, 1/4, 1/8) that still "
    "covers the resize (faster; its own cache entry); full decodes at full size (the entries "
    "made before draft existed); device decodes, resizes and normalises on --device (nvJPEG "
    "on a GPU; its own cache entry). In-memory datasets (mnist5k, CIFAR) take draft or full, "
    "the same either way.",
)
@home_option
def extract(
    dataset,
    backbone,
    weights,
    weights_format,
    pooling,
    data_root,
    download,
    image_size,
    crop_pct,
    dtype,
    batch_size,
    workers,
    subset,
    device,
    chunk_size,
    views,
    decode,
    home,
):
    """Extract frozen features of every split into the cache (reused when already there).

    \b
    Examples:
      seabench extract --dataset mnist5k --backbone efficientnet_lite0 --image-size 96
      seabench extract --dataset cifar10 --backbone resnet50 --data-root ~/data --download
      seabench extract --dataset pets --backbone resnet50 --weights mocov2.pth.tar \\
          --weights-format mocov2
    Several GPUs or nodes (the same cache entry; --home on a shared filesystem):
      torchrun --nproc_per_node=4 -m seabench extract --dataset cifar10 --backbone resnet50
    """
    from seabench import runner

    h = _home(home)
    with progress_bar() as bar:
        result = runner.extract(
            h,
            dataset,
            backbone,
            data_root=data_root,
            download=download,
            weights=weights,
            weights_format=weights_format,
            pooling=pooling,
            image_size=image_size,
            crop_pct=crop_pct,
            dtype=dtype,
            batch_size=batch_size,
            workers=workers,
            subset=subset,
            device=device,
            chunk_size=chunk_size,
            views=views,
            decode=decode,
            progress=extract_callback(bar),
        )
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun rank 0 reports
    e = result.entry
    ident = e.meta["inputs"]["backbone"]
    err.print(
        f"backbone {e.backbone}: layout {ident.get('layout')}, pooling "
        f"{ident.get('pooling')}"
        + (f", weights sha256 {ident['weights_sha256'][:12]}" if "weights_sha256" in ident else ""),
        highlight=False,
        soft_wrap=True,
    )
    err.print(f"preprocessing: {_preprocessing(e.meta['inputs']['transform'])}", highlight=False)
    if result.cached:
        err.print(f"cached: {e.path} (no extraction needed)")
    else:
        err.print(
            f"extracted {result.images} images in {result.seconds:.1f} s "
            f"({result.images_per_second:.1f} images/s) -> {e.path}"
        )
        if result.resumed:
            err.print(
                f"resumed: {result.resumed} images came from an interrupted run's finished chunks"
            )
    views = "" if e.views == "none" else f", views {e.views} ({', '.join(e.meta['view_names'])})"
    err.print(
        f"counts {e.meta['counts']}, dim {e.meta['dim']}{views}, key {e.key}",
        highlight=False,
        soft_wrap=True,
    )


def _preprocessing(t: dict) -> str:
    """The transform in effect, in words (it is part of the cache key)."""
    fmt = ", ".join
    return (
        f"resize to {round(t['size'] / t['crop_pct'])} px ({t['interpolation']}), "
        f"{t['crop_mode']} crop {t['size']} px (crop {t['crop_pct']:g}), "
        f"mean ({fmt(f'{v:g}' for v in t['mean'])}), std ({fmt(f'{v:g}' for v in t['std'])})"
    )
