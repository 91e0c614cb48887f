"""The fine-tuning baseline: the whole backbone plus a new linear head, on the probes' splits.

The names are resolved lazily, so ``FinetuneOptions`` (and a recipe's check of its [finetune]
table) loads without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "GRIDS": "seabench.finetune.options",
    "FinetuneOptions": "seabench.finetune.options",
    "finetune_cell": "seabench.finetune.protocol",
    "run_finetune": "seabench.finetune.protocol",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
