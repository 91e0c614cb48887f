"""The ``--layers`` and ``--pooling`` texts, checked without importing torch, so a malformed one
fails before any model loads (what they select is in ``seabench.backbones.layers``)."""

from __future__ import annotations

import re

from seabench.errors import SeabenchError

READOUT_POOLINGS = ("cls", "avg", "cls+avg")
_LAST = re.compile(r"last([1-9][0-9]*)")
LAYERS_HELP = "last1 (default), lastK (e.g. last4) or 0-based block indices N,M,..."


def check_layers_text(text: str | None) -> None:
    """Reject a malformed ``--layers`` before any model is built."""
    if text is None or _LAST.fullmatch(text.strip()):
        return
    try:
        [int(p) for p in text.split(",")]
    except ValueError:
        raise SeabenchError(f"--layers {text!r} is not understood; use {LAYERS_HELP}") from None


def check_readout_pooling(pooling: str | None) -> None:
    if pooling is not None and pooling not in READOUT_POOLINGS:
        raise SeabenchError(
            f"unknown pooling {pooling!r}; choose one of: {', '.join(READOUT_POOLINGS)}"
        )
