"""Reading pickled data files without running code from them.

A pickle names the callables that rebuild its objects, and ``pickle.load`` imports and calls any
of them (``os.system`` included), so a dataset file planted or swapped in a data folder could run
code on ``seabench extract`` or even ``run --dry-run``.  Data pickles (the CIFAR python batches)
only need numpy arrays and builtin containers; :func:`load` allows exactly the globals that
rebuild those, looked up in a fixed table (never imported by the name in the file), and refuses
anything else with :class:`RefusedGlobal`, before it is called.
"""

from __future__ import annotations

import codecs
import pickle
from typing import IO, Any

import numpy as np


def _numpy_function(module: str, name: str):
    """``module.name`` under numpy 2 (``numpy._core``) or numpy 1 (``numpy.core``)."""
    import importlib

    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {module}.{name}")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """What a protocol-2 pickle written by Python 3 calls to rebuild ``bytes`` (``_codecs.encode``
    of a latin-1 string); any other codec is refused."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with codec {encoding!r} is not data")
    return text.encode("latin1")


def _bytes(*args) -> bytes:
    """``bytes()`` as protocol-2 pickles rebuild an empty bytes object (no other form)."""
    if args and not (len(args) == 1 and isinstance(args[0], (bytes, list, tuple))):
        raise pickle.UnpicklingError("bytes() with these arguments is not data")
    return bytes(*args)


def _allowed() -> dict[tuple[str, str], Any]:
    reconstruct = _numpy_function("multiarray", "_reconstruct")
    frombuffer = _numpy_function("numeric", "_frombuffer")
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("__builtin__", "bytes"): _bytes,
        ("builtins", "bytes"): _bytes,
    }
    for prefix in ("numpy.core", "numpy._core"):
        table[(f"{prefix}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{prefix}.numeric", "_frombuffer")] = frombuffer
    return table


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a callable that data files never need (``module.name``)."""

    def __init__(self, module: str, name: str):
        self.global_name = f"{module}.{name}"
        super().__init__(f"refused global {self.global_name}")


class DataUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and builtin containers, and nothing else."""

    _table: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if DataUnpickler._table is None:
            DataUnpickler._table = _allowed()
        found = DataUnpickler._table.get((module, name))
        if found is None:
            raise RefusedGlobal(module, name)
        return found


def load(fh: IO[bytes], *, encoding: str = "latin1") -> Any:
    """``pickle.load`` that refuses every global but numpy array reconstruction.

    ``encoding``: how Python 2 ``str`` objects are decoded (latin1 keeps the bytes of the
    CIFAR batches' array data intact, as the CIFAR page's own reader does).
    """
    return DataUnpickler(fh, encoding=encoding).load()
