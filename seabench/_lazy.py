"""Lazy package exports (PEP 562): a package names what it offers without importing it.

The CLI checks names and options before torch loads, so the packages it touches on the way
(``seabench``, ``backbones``, ``features``, ``probe``, ``finetune``) resolve their exports on
first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], object], list[str]]:
    """A module ``__getattr__`` importing ``exports[name]`` on first use, and ``__all__``."""

    def __getattr__(name: str) -> object:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(exports)
