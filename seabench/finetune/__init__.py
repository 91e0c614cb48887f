"""The fine-tuning baseline: the whole backbone plus a new linear head, on the probes' splits.

The names are resolved lazily, so ``FinetuneOptions`` (and a recipe's check of its [finetune]
table) loads without torch.
"""

from __future__ import annotations

from seabench._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "GRIDS": "seabench.finetune.options",
        "FinetuneOptions": "seabench.finetune.options",
        "finetune_cell": "seabench.finetune.protocol",
        "run_finetune": "seabench.finetune.protocol",
    },
)
