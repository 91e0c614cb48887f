"""The seabench command line: one module per command, each thin: parse options, call the
library, print.  This module only builds the group."""

from __future__ import annotations

import signal
import sys

import click

from seabench import __version__
from seabench.cli._common import CONTEXT, INTERRUPTED, SeabenchGroup, err
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
    try:
        cli(prog_name="seabench")
    except KeyboardInterrupt:  # outside the command: while parsing, or after it ended
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        err.print(INTERRUPTED, highlight=False)
        sys.exit(130)
    finally:
        # the command is over (its results written): a Ctrl-C now would only interrupt the
        # interpreter's shutdown (torch's finalizers) into a traceback and a misleading status
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
