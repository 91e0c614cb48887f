"""`seabench finetune`: the fine-tuning baseline on the probes' splits."""

from __future__ import annotations

import click

from seabench import options
from seabench.cli._common import (
    CONTEXT,
    _home,
    data_root_option,
    err,
    finetune_callback,
    home_option,
    progress_bar,
    weights_format_option,
    weights_option,
)
from seabench.cli._options import option

FINETUNE = options.FINETUNE


@click.command(context_settings=CONTEXT)
@option(options.DATASET, required=True)
@option(options.BACKBONE, required=True)
@weights_option
@weights_format_option
@click.option("--label", default=None, help="Backbone name in the results (default: --backbone).")
@data_root_option
@option(FINETUNE["max_steps"], default=5000, show_default=True)
@option(FINETUNE["grid"], default="full", show_default=True)
@option(FINETUNE["lr"], "--lr", "lrs", multiple=True)
@option(FINETUNE["wd"], "--wd", "wds", multiple=True)
@option(FINETUNE["batch_size"], default=64, show_default=True)
@option(FINETUNE["image_size"], default=None)
@option(FINETUNE["subset"], default=None)
@option(options.SEEDS, default=1, show_default=True)
@option(FINETUNE["workers"], default=None)
@option(FINETUNE["device"], default=None)
@home_option
def finetune(
    dataset,
    backbone,
    weights,
    weights_format,
    label,
    data_root,
    max_steps,
    grid,
    lrs,
    wds,
    batch_size,
    image_size,
    subset,
    seeds,
    workers,
    device,
    home,
):
    """Fine-tune the whole backbone with a new linear head on the probes' splits.

    SGD with Nesterov momentum and a cosine schedule; (lr, wd) chosen on val, refit on
    train+val, scored once on test.  Interrupted runs resume from their checkpoint.

    \b
    Examples:
      seabench finetune --dataset mnist5k --backbone efficientnet_lite0 --image-size 96 \\
          --grid small --max-steps 200 --batch-size 32
      seabench finetune --dataset pets --backbone resnet50 --weights swav.pth --data-root ~/data
    """
    from seabench import runner

    adapter = runner.get_dataset(dataset, data_root)
    if not adapter.is_available():
        adapter.missing()  # before torch loads
    runner.check_backbone_args(backbone, weights, weights_format)
    from seabench.finetune import FinetuneOptions

    def options(seed: int) -> FinetuneOptions:
        return FinetuneOptions(
            max_steps=max_steps,
            batch_size=batch_size,
            grid=grid,
            lr=tuple(lrs) or None,
            wd=tuple(wds) or None,
            image_size=image_size,
            subset=subset,
            seed=seed,
            device=device,
            workers=workers,
        )

    options(0).check()  # the options too, before torch loads
    from seabench.finetune import finetune_cell
    from seabench.results import test_text

    h = _home(home)
    for seed in range(seeds):
        opts = options(seed)
        with progress_bar(transient=True) as bar:
            row, recorded = finetune_cell(
                h.root,
                dataset,
                backbone,
                opts,
                data_root=data_root,
                weights=weights,
                weights_format=weights_format,
                label=label,
                skip_recorded=True,
                progress=finetune_callback(bar),
                log=lambda m: bar.console.print(m, highlight=False, markup=False, soft_wrap=True),
            )
        val = "-" if row["val"] is None else f"{row['val']:.2f}"
        err.print(
            f"{row['dataset']} / {row['backbone']} / finetune seed {row['seed']}"
            + (" (already recorded)" if recorded else "")
            + f": val {val}  {test_text(row)}, chosen lr "
            f"{row['hparams']['lr']:g} wd {row['hparams']['wd']:g} from "
            f"{row['configs_searched'] or 1} config(s), {row['wall_seconds']:.1f} s",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
