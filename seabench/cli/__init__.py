"""The seabench command line: one module per command, each thin: parse options, call the
library, print.  This module only builds the group."""

from __future__ import annotations

import click

from seabench import __version__
from seabench.cli._common import CONTEXT, SeabenchGroup
from seabench.cli.backbones import backbones
from seabench.cli.cache import cache
from seabench.cli.datasets import datasets
from seabench.cli.extract import extract
from seabench.cli.finetune import finetune
from seabench.cli.probe import probe
from seabench.cli.report import report
from seabench.cli.run import run


@click.group(cls=SeabenchGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="seabench")
def cli():
    """Linear-probe benchmarking of frozen vision backbones, with SeA.

    \b
    Quick start (offline, embedded MNIST digits + ImageNet EfficientNet-Lite0):
      seabench run recipes/quickstart.toml
    The three stages:
      seabench extract --dataset mnist5k --backbone efficientnet_lite0 --image-size 96
      seabench probe --dataset mnist5k --backbone efficientnet_lite0 --aug sea
      seabench report --format markdown --out reports/
    """


for _command in (extract, probe, report, finetune, run, datasets, backbones, cache):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="seabench")


if __name__ == "__main__":
    main()
