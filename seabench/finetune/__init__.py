"""The fine-tuning baseline: the whole backbone plus a new linear head, on the probes' splits."""

from seabench.finetune.options import GRIDS, FinetuneOptions
from seabench.finetune.protocol import finetune_cell, run_finetune

__all__ = ["GRIDS", "FinetuneOptions", "finetune_cell", "run_finetune"]
