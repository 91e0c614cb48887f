"""Write seabench/backbones/model_names.txt: every timm architecture with its pretrained tags and
every torchvision model name, as the installed timm and torchvision list them.

The file lets ``seabench.backbones.names`` refuse a misspelt ``--backbone`` at once, without
importing torch (seconds).  ``tests/test_backbone_names.py`` fails when the file no longer matches
the installed versions; run this script then:

    python scripts/make_backbone_names.py
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "seabench" / "backbones" / "model_names.txt"


def listing() -> str:
    """The file's text for the installed timm and torchvision."""
    import timm
    import torchvision

    from seabench.backbones.names import OWN_ARCHS

    # seabench's own architectures are timm's too once registered: they are not in the list
    tags: dict[str, list[str]] = {n: [] for n in timm.list_models() if n not in OWN_ARCHS}
    for full in timm.list_pretrained():
        arch, _, tag = full.partition(".")
        if arch not in OWN_ARCHS:
            tags.setdefault(arch, []).append(tag)
    lines = [
        f"# timm {metadata.version('timm')} torchvision {metadata.version('torchvision')}",
        "# written by scripts/make_backbone_names.py; one architecture a line, then its",
        "# pretrained tags; torchvision names carry their prefix",
    ]
    lines += [" ".join([arch, *sorted(t for t in tags[arch] if t)]) for arch in sorted(tags)]
    tv = torchvision.models.list_models(module=torchvision.models)
    lines += [f"torchvision:{name}" for name in sorted(tv)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    OUT.write_text(listing())
    print(f"wrote {OUT}")
