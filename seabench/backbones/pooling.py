"""Which pooled output of a timm model is the feature: the class token or the averaged tokens.

ViTs default to the class token (what their heads were trained on); ``pooling="avg"`` averages
the patch tokens after the final norm instead.  CNNs pool with their own global average.  The
resolved name goes into the backbone identity, so it is part of the feature cache key.
"""

from __future__ import annotations

from torch import nn

from seabench.errors import SeabenchError

POOLINGS = ("cls", "avg")
_TIMM_NAME = {"token": "cls", "": "none"}


def check_pooling(pooling: str | None) -> None:
    if pooling is not None and pooling not in POOLINGS:
        raise SeabenchError(f"unknown pooling {pooling!r}; choose one of: {', '.join(POOLINGS)}")


def native_pooling(model: nn.Module) -> str:
    """The pooling the model was built with, in seabench's words (cls, avg, map, ...)."""
    pool = getattr(model, "global_pool", None)
    if isinstance(pool, str):
        return _TIMM_NAME.get(pool, pool)
    return getattr(pool, "pool_type", None) or "avg"


def set_pooling(model: nn.Module, pooling: str | None, arch: str) -> str:
    """Switch a token model's pooling where asked; return the pooling in use."""
    check_pooling(pooling)
    native = native_pooling(model)
    if pooling is None or pooling == native:
        return native
    switchable = (
        isinstance(getattr(model, "global_pool", None), str)
        and hasattr(model, "num_prefix_tokens")
        and getattr(model, "attn_pool", None) is None
    )
    if not switchable:
        raise SeabenchError(
            f"pooling {pooling!r} is not available for {arch} (it pools with {native!r}); "
            "--pooling cls|avg applies to ViT-style models"
        )
    if pooling == "cls" and getattr(model, "cls_token", None) is None:
        raise SeabenchError(f"{arch} has no class token; use --pooling avg")
    model.global_pool = "token" if pooling == "cls" else "avg"
    return pooling
