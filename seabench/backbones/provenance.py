"""Which weights a backbone name meant: the source and weights tag in effect, in words.

A bare ``resnet50`` is both a timm and a torchvision name, and timm's default tag for it
(``resnet50.a1_in1k``) is not torchvision's weights; seabench keeps timm's meaning (the registry's
rule: a timm name first, ``torchvision:NAME`` for torchvision's) and says so: extraction prints
the source and tag beside the preprocessing, the cache sidecar records them, and every row
carries ``weights_source`` and ``weights_tag``.  Torch-free, so rows and messages need no model.
"""

from __future__ import annotations


def weights_in_effect(meta: dict) -> dict[str, str]:
    """``weights_source`` and ``weights_tag`` of a cache entry's sidecar.

    Sidecars written before these fields existed give what their identity holds.
    """
    if meta.get("weights_source"):
        return {"weights_source": meta["weights_source"], "weights_tag": meta["weights_tag"]}
    ident = (meta.get("inputs") or {}).get("backbone") or {}
    weights = str(ident.get("weights") or "")
    layout = str(ident.get("layout") or "?")
    sha = str(ident.get("weights_sha256") or "")
    if weights.startswith("timm:"):  # timm:ARCH.TAG:URL
        source, tag = "timm", weights.split(":")[1]
    elif weights.startswith(("hf-hub:", "hf:")) and layout in ("timm", "transformers"):
        source, _, tag = weights.partition(":")
    elif layout in ("timm", "torchvision", "open_clip") and weights:
        source, tag = layout, weights
    elif layout == "lukemelas-efficientnet":
        source, tag = "installed package", f"sha256 {sha[:12]}"
    else:  # a checkpoint file, by its layout
        source, tag = "checkpoint", f"layout {layout}, sha256 {sha[:12]}"
    return {"weights_source": source, "weights_tag": tag}


def describe(name: str, source: str, tag: str, torchvision_too: bool = False) -> str:
    """One line for extraction: the source and tag, and for a bare timm name which default was
    taken and how to name another (``torchvision_too``: torchvision has the name as well)."""
    line = f"weights: {source} {tag}"
    base = name.split("[")[0]
    if source == "timm" and "." not in base and ":" not in base and tag.startswith(f"{base}."):
        others = f"name a tag for other weights (`timm.list_pretrained('{base}.*')`)"
        if torchvision_too:
            others += f", or torchvision:{base} for torchvision's"
        line += f" (timm's default tag for {base}; {others})"
    return line
