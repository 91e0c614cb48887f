"""`seabench extract`: frozen features of every split into the cache."""

from __future__ import annotations

import os

import click

from seabench import options
from seabench.cli._common import (
    CONTEXT,
    _home,
    data_root_option,
    err,
    extract_callback,
    home_option,
    progress_bar,
    weights_format_option,
    weights_option,
)
from seabench.cli._options import option

EXTRACT = options.EXTRACT
#: how JPEG files were decoded, where it is not at full size (it changes the pixels too)
DECODE_WORDS = {
    "draft": "; JPEG files decoded at the smallest DCT scale covering the resize (--decode "
    "draft; --decode full decodes at full size)",
    "device": "; JPEG files decoded and resized on the device (--decode device)",
}


@click.command(context_settings=CONTEXT)
@option(options.DATASET, required=True)
@option(options.BACKBONE, required=True)
@weights_option
@weights_format_option
@option(EXTRACT["pooling"], default=None)
@option(options.LAYERS, default=None)
@data_root_option
@option(EXTRACT["download"], is_flag=True)
@option(EXTRACT["image_size"], default=None)
@option(EXTRACT["crop_pct"], default=None)
@option(EXTRACT["dtype"], default="fp16", show_default=True)
@option(EXTRACT["batch_size"], default=64, show_default=True)
@option(EXTRACT["workers"], default=None)
@option(EXTRACT["subset"], default=None)
@option(EXTRACT["device"], default=None)
@option(EXTRACT["chunk_size"], default=None, hidden=True, envvar="SEABENCH_CHUNK_SIZE")
@option(EXTRACT["views"], default="none", show_default=True)
@option(EXTRACT["decode"], default="draft", show_default=True)
@home_option
def extract(
    dataset,
    backbone,
    weights,
    weights_format,
    pooling,
    layers,
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
      seabench extract --dataset pets --backbone hf:facebook/dinov2-small \\
          --layers last4 --pooling cls+avg
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
            layers=layers,
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
        + (f", layers {ident['layers']}" if "layers" in ident else "")
        + (f", weights sha256 {ident['weights_sha256'][:12]}" if "weights_sha256" in ident else ""),
        highlight=False,
        soft_wrap=True,
        markup=False,
    )
    err.print(_weights_line(e), highlight=False, soft_wrap=True, markup=False)
    err.print(
        f"preprocessing: {_preprocessing(e.meta['inputs']['transform'])}"
        + DECODE_WORDS.get(e.meta["inputs"].get("decode", "full"), ""),
        highlight=False,
        soft_wrap=True,
    )
    if result.cached:
        err.print(f"cached: {e.path} (no extraction needed)", markup=False)
    else:
        err.print(
            f"extracted {result.images} images in {result.seconds:.1f} s "
            f"({result.images_per_second:.1f} images/s) -> {e.path}",
            markup=False,
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
        markup=False,
    )


def _weights_line(entry) -> str:
    """The source and weights tag in effect (a bare ``resnet50`` says it means timm's)."""
    from seabench.backbones.names import torchvision_knows
    from seabench.backbones.provenance import describe, weights_in_effect

    w = weights_in_effect(entry.meta)
    tv = torchvision_knows(entry.backbone.split("[")[0])
    return describe(entry.backbone, w["weights_source"], w["weights_tag"], tv)


def _preprocessing(t: dict) -> str:
    """The transform in effect, in words (it is part of the cache key)."""
    fmt = ", ".join
    return (
        f"resize to {round(t['size'] / t['crop_pct'])} px ({t['interpolation']}), "
        f"{t['crop_mode']} crop {t['size']} px (crop {t['crop_pct']:g}), "
        f"mean ({fmt(f'{v:g}' for v in t['mean'])}), std ({fmt(f'{v:g}' for v in t['std'])})"
    )
