"""Which layers and which pooling make the feature: ``--layers`` and ``--pooling``.

ViTs of every source expose their blocks as *token sources*: one forward pass returns, for the
requested block indices, each block's output after the model's final norm, split into the class
token and the patch tokens (register tokens dropped).  The readout then concatenates:

- ``cls``: the class token of every selected block;
- ``avg``: the average of the patch tokens of every selected block;
- ``cls+avg``: the class tokens of every selected block, then the average of the patch tokens of
  the *last* selected block only.  With ``--layers last4`` this is DINOv2's linear-evaluation
  feature (``create_linear_input(x, use_n_blocks=4, use_avgpool=True)`` over
  ``get_intermediate_layers(x, 4, return_class_token=True, norm=True)``): 5 x width numbers.

CNNs (timm) read stages instead: ``--layers`` selects timm's feature stages (0-based, as
``forward_intermediates`` numbers them), each global-average pooled; ``last1`` stays the model's
own pooled pre-logits feature (which may follow a final conv after the last stage).

``--layers last1`` with ``cls`` or ``avg`` is the model's own pooled output, as before these
options existed; such a backbone's cache key and name do not change.  Any other choice adds the
resolved block indices and the pooling to the backbone identity (so to the cache key) and a
``:layers:pooling`` suffix to the backbone name (so to every row and report column;
brackets would be read as markup by rich tables).
"""

from __future__ import annotations

import torch
from torch import nn

# the option texts are checked without torch (before any model loads) in readout_options
from seabench.backbones.readout_options import (  # noqa: F401  (re-exported)
    _LAST,
    LAYERS_HELP,
    READOUT_POOLINGS,
    check_layers_text,
    check_readout_pooling,
)
from seabench.errors import SeabenchError


def resolve_layers(text: str | None, count: int, what: str, name: str) -> list[int]:
    """Block (or stage) indices, 0-based and in range, from ``last1``/``lastK``/``N,M,...``."""
    text = (text or "last1").strip()
    check_layers_text(text)
    found = _LAST.fullmatch(text)
    if found:
        k = int(found.group(1))
        if k > count:
            raise SeabenchError(
                f"--layers {text}: {name} has only {count} {what}; use last1 ... last{count}"
            )
        return list(range(count - k, count))
    out = []
    for part in text.split(","):
        i = int(part)
        if not -count <= i < count:
            raise SeabenchError(
                f"--layers {text}: index {i} is out of range; {name} has {count} {what} "
                f"(0 ... {count - 1}, or negative from the end)"
            )
        out.append(i % count)
    if len(set(out)) != len(out):
        raise SeabenchError(f"--layers {text} names a {what[:-1]} twice; name each once")
    return sorted(out)


def layers_label(indices: list[int], count: int) -> str:
    """``lastK`` when the indices are the last K blocks, else ``N,M,...``."""
    k = len(indices)
    return f"last{k}" if indices == list(range(count - k, count)) else ",".join(map(str, indices))


def is_native(indices: list[int], count: int, pooling: str | None) -> bool:
    """The model's own last-block output: no new key fields, the backbone's name unchanged."""
    return indices == [count - 1] and pooling in (None, "cls", "avg")


def readout_name(name: str, label: str, pooling: str) -> str:
    return f"{name}:{label}:{pooling}"


class ReadoutFeatures(nn.Module):
    """One forward pass of a token source; the selected blocks pooled and concatenated.

    ``source(x, indices)`` returns one ``(cls, patches)`` pair per index: ``cls`` (B, D) or None,
    ``patches`` (B, N, D), both after the model's final norm.
    """

    def __init__(self, source: nn.Module, indices: list[int], pooling: str):
        super().__init__()
        self.source, self.indices, self.pooling = source, list(indices), pooling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = self.source(x, self.indices)
        parts: list[torch.Tensor] = []
        if self.pooling in ("cls", "cls+avg"):
            parts += [cls for cls, _ in outs]
        if self.pooling == "avg":
            parts += [patches.mean(dim=1) for _, patches in outs]
        if self.pooling == "cls+avg":
            parts.append(outs[-1][1].mean(dim=1))
        return torch.cat(parts, dim=-1)


def readout_dim(width: int, indices: list[int], pooling: str) -> int:
    return width * (len(indices) + (1 if pooling == "cls+avg" else 0))


def check_token_pooling(pooling: str, has_cls: bool, name: str) -> None:
    if pooling in ("cls", "cls+avg") and not has_cls:
        raise SeabenchError(f"{name} has no class token; use --pooling avg")


# --- timm models -----------------------------------------------------------------------------


class TimmTokens(nn.Module):
    """A timm ViT's blocks through its own ``forward_intermediates`` (one pass, final norm)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.has_cls = getattr(model, "cls_token", None) is not None

    def forward(self, x: torch.Tensor, indices: list[int]):
        outs = self.model.forward_intermediates(
            x,
            indices=indices,
            norm=True,
            output_fmt="NLC",
            intermediates_only=True,
            return_prefix_tokens=True,
            stop_early=True,
        )
        return [(prefix[:, 0] if self.has_cls else None, patches) for patches, prefix in outs]


class TimmStages(nn.Module):
    """A timm CNN's stages through ``forward_intermediates``, each global-average pooled."""

    def __init__(self, model: nn.Module, indices: list[int]):
        super().__init__()
        self.model, self.indices = model, list(indices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.model.forward_intermediates(
            x, indices=self.indices, intermediates_only=True, stop_early=True
        )
        return torch.cat([m.float().mean(dim=(2, 3)).to(m.dtype) for m in maps], dim=-1)


def is_timm_vit(model: nn.Module) -> bool:
    return hasattr(model, "num_prefix_tokens") and hasattr(model, "blocks")


def timm_stage_widths(model: nn.Module) -> list[int]:
    """Channels of each stage ``forward_intermediates`` can return (timm's feature_info)."""
    info = getattr(model, "feature_info", None)
    if not info:
        return []
    return [int(f["num_chs"]) for f in info]


def timm_readout(model: nn.Module, name: str, layers: str | None, pooling: str | None):
    """(module, dim, identity fields, label) of a timm model's readout, or None when native."""
    if not hasattr(model, "forward_intermediates"):
        if layers not in (None, "last1") or pooling == "cls+avg":
            raise SeabenchError(
                f"{name} has no intermediate-layer API; --layers and --pooling cls+avg need a "
                "timm model with forward_intermediates"
            )
        return None
    if is_timm_vit(model):
        count = len(model.blocks)
        indices = resolve_layers(layers, count, "blocks", name)
        if is_native(indices, count, pooling):
            return None
        tokens = TimmTokens(model)
        pooled = pooling or ("avg" if getattr(model, "global_pool", "") == "avg" else "cls")
        check_token_pooling(pooled, tokens.has_cls, name)
        module = ReadoutFeatures(tokens, indices, pooled)
        dim = readout_dim(model.num_features, indices, pooled)
        return module, dim, indices, pooled, layers_label(indices, count)
    if pooling in ("cls", "cls+avg"):
        raise SeabenchError(
            f"--pooling {pooling} is a ViT option and {name} is a CNN; drop --pooling "
            "(CNN features are global-average pooled) or pick a ViT"
        )
    if layers in (None, "last1"):
        return None
    widths = timm_stage_widths(model)
    indices = resolve_layers(layers, len(widths), "stages", name)
    dim = sum(widths[i] for i in indices)
    return TimmStages(model, indices), dim, indices, "avg", layers_label(indices, len(widths))


def with_readout(backbone, module: nn.Module, dim: int, indices, pooled: str, label: str):
    """The backbone reading ``indices`` with ``pooled``: identity, name and width updated."""
    from dataclasses import replace

    return replace(
        backbone,
        name=readout_name(backbone.name, label, pooled),
        model=module.eval(),
        dim=dim,
        identity={**backbone.identity, "pooling": pooled, "layers": list(indices)},
    )


def apply_timm_readout(backbone, layers: str | None, pooling: str | None):
    """A timm-built backbone (a name, a hub name, a checkpoint file) with its readout applied."""
    from seabench.backbones.base import TimmFeatures

    if not isinstance(backbone.model, TimmFeatures):
        raise SeabenchError(
            f"--layers and --pooling cls+avg are not available for {backbone.name}; use the "
            "timm version of the model (or a hub, open_clip or transformers name)"
        )
    found = timm_readout(backbone.model.model, backbone.name, layers, pooling)
    if found is None:
        return backbone
    module, dim, indices, pooled, label = found
    return with_readout(backbone, module, dim, indices, pooled, label)
