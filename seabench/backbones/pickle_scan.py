"""Why PyTorch's weights-only loader refused a checkpoint, read from the pickle's opcodes.

``torch.load(weights_only=True)`` words its refusals in several ways (``Unsupported global``,
``... whose module posix is blocked``, ``Unsupported operand 149``) and prefixes each with advice
to retry with ``weights_only=False``, which would run the file's code.  The opcodes say it
plainly: :func:`pickled_globals` lists the callables a pickle names (``GLOBAL`` and, from
protocol 4, ``STACK_GLOBAL``) with :mod:`pickletools`, which parses without importing or calling
anything, so a hostile file is named as such and a damaged one as damaged.
"""

from __future__ import annotations

import io
import pickletools
import re
import zipfile

#: ``module.name`` as Python spells them (dotted identifiers)
_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
#: opcodes that push a string a later STACK_GLOBAL may take as module or name
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING"}
#: opcodes between those strings and the STACK_GLOBAL that leave them where they are
_KEEP = _STRINGS | {"MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT", "BINGET", "LONG_BINGET", "GET"}


def main_pickle(data: bytes) -> tuple[bytes, int]:
    """The pickle that holds a checkpoint's objects and where it starts in it.

    A zip checkpoint keeps it in ``<name>/data.pkl``; the legacy format is four pickles in a row
    (magic number, protocol, system info, then the objects): the offset is the fourth's.
    """
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            return archive.read(name), 0
    stream = io.BytesIO(data)
    for _ in range(3):
        for _op in pickletools.genops(stream):
            pass
    return data, stream.tell()


def pickled_globals(pickle: bytes, start: int = 0) -> tuple[list[str], int]:
    """(``module.name`` of every global the pickle names, its protocol), without running it.

    Raises ValueError (or another parsing error) where the opcodes themselves are broken.
    """
    stream = io.BytesIO(pickle)
    stream.seek(start)
    found: list[str] = []
    recent: list[object] = []  # values pushed, for STACK_GLOBAL's two operands
    memo: dict[int, object] = {}
    protocol = 0
    for op, arg, _pos in pickletools.genops(stream):
        name = op.name
        if name == "PROTO":
            protocol = int(arg)
        elif name == "GLOBAL":
            found.append(str(arg).replace(" ", "."))
        elif name in _STRINGS:
            recent.append(arg)
        elif name == "MEMOIZE" and recent:
            memo[len(memo)] = recent[-1]
        elif name in ("BINPUT", "LONG_BINPUT", "PUT") and recent:
            memo[int(arg)] = recent[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            recent.append(memo.get(int(arg)))
        elif name == "STACK_GLOBAL":
            module, attr = recent[-2:] if len(recent) >= 2 else ("?", "?")
            found.append(f"{module}.{attr}")
        if name not in _KEEP:
            recent.clear()
    return found, protocol


def is_global_name(name: str) -> bool:
    """Whether ``name`` is a dotted Python name (not bytes of a damaged file read as one)."""
    return bool(_NAME.fullmatch(name))


def refused_globals(data: bytes, allowed: set[str]) -> tuple[list[str], int]:
    """(the globals of a checkpoint's pickle that ``allowed`` lacks, in order, once; protocol)."""
    pickle, start = main_pickle(data)
    names, protocol = pickled_globals(pickle, start)
    if not all(map(is_global_name, names)):  # bytes that only parse as opcodes
        raise ValueError("the pickle names no importable global: its bytes are damaged")
    refused = [n for n in dict.fromkeys(names) if n not in allowed]
    return refused, protocol
