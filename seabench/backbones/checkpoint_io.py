"""Reading a checkpoint file once: its hash, its integrity and its contents, safely.

The file is read from disk once; the same bytes give the SHA-256 (the cache key's weights hash),
the zip records' CRC-32 check (a ``.pth`` written by ``torch.save`` is a zip archive whose every
record carries a CRC-32: a file damaged in transfer is refused instead of benchmarked), and the
unpickling with ``torch.load(weights_only=True)`` (tensors, containers and plain numbers only;
``argparse.Namespace`` is allowlisted because DINO and others store their arguments beside the
weights) or safetensors.  A refused pickled object is named; PyTorch's advice to retry with
``weights_only=False`` is not repeated, because following it runs the file's code.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import warnings
import zipfile
import zlib
from pathlib import Path

from seabench.backbones.pickle_scan import is_global_name, refused_globals
from seabench.errors import DataNotFoundError, SeabenchError

#: allowed beside tensors and containers: DINO and others store their arguments beside weights
SAFE_GLOBALS = [argparse.Namespace]

_ZIP_MAGIC = b"PK\x03\x04"


def damaged(path: Path, why: str) -> SeabenchError:
    return SeabenchError(
        f"checkpoint {path} is damaged ({why}); download it again (or copy it again) and "
        "check it against the publisher's checksum"
    )


def verify_zip(data: bytes, path: Path) -> None:
    """Check every record of a zip checkpoint against its CRC-32 (zipfile checks as it reads)."""
    name = "the archive's directory"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = info.filename
                with archive.open(info) as member:
                    while member.read(1 << 24):
                        pass
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise damaged(path, f"{name}: {exc}") from exc


def read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataNotFoundError(
            f"checkpoint {path} does not exist; pass an existing --weights file"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SeabenchError(f"cannot read checkpoint {path}: {exc}") from exc


def load_bytes(data: bytes, path: Path) -> dict:
    """The checkpoint in ``data`` as a (possibly nested) dict, without running pickled code."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load as load_safetensors

        try:
            return load_safetensors(data)
        except Exception as exc:  # noqa: BLE001  (safetensors raises its own error types)
            raise damaged(path, f"not a readable safetensors file: {exc}") from exc
    if data.startswith(_ZIP_MAGIC):
        verify_zip(data, path)
    elif not data.startswith(b"\x80"):  # neither torch.save's zip nor its legacy pickle
        raise SeabenchError(
            f"{path} is not a PyTorch checkpoint (neither the zip archive torch.save writes nor "
            "a pickle) nor .safetensors; pass the checkpoint file itself"
        )
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Detected pickle protocol 4": said below if fatal
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many types for bad files)
        raise _refusal(data, path, str(exc)) from None
    if not isinstance(obj, dict):
        raise SeabenchError(
            f"{path} holds a {type(obj).__name__}, not a state dict; "
            "save model.state_dict() rather than the model"
        )
    return obj


def _allowed_globals() -> set[str]:
    """The globals torch's weights-only loader rebuilds (with seabench's few additions)."""
    import torch

    allowed = {f"{g.__module__}.{g.__qualname__}" for g in SAFE_GLOBALS}
    try:  # torch keeps its allowlist private; without it only the additions are known
        from torch import _weights_only_unpickler as unpickler

        with torch.serialization.safe_globals(SAFE_GLOBALS):
            allowed |= set(unpickler._get_allowed_globals())
            allowed |= set(unpickler._get_user_allowed_globals())
    except (ImportError, AttributeError):
        pass
    return allowed


def _refusal(data: bytes, path: Path, text: str) -> SeabenchError:
    """Why the weights-only load failed, in one line: a hostile object named, an unreadable
    protocol said, else damaged.  Never PyTorch's advice to load with ``weights_only=False``."""
    try:
        refused, protocol = refused_globals(data, _allowed_globals())
    except Exception:  # noqa: BLE001  (broken opcodes: the pickle itself is damaged)
        refused, protocol = [], 0
    said = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", text)
    if said and not refused and is_global_name(said.group(1)):
        refused = [said.group(1)]
    if refused:
        return SeabenchError(
            f"{path} contains a pickled object ({', '.join(refused[:3])}), refused because "
            "unpickling it could run code; nothing was run; save a plain state dict "
            "(torch.save(model.state_dict(), ...)) or .safetensors"
        )
    if protocol > 2 and "Unsupported operand" in text:
        return SeabenchError(
            f"{path} was pickled with protocol {protocol}, which PyTorch's weights-only loader "
            "cannot read; save it again with torch.save's default protocol or as .safetensors"
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(\n\n|$)", text, re.S)
    why = (detail.group(1) if detail else (text.strip().splitlines() or [""])[0]) or "unreadable"
    return damaged(path, f"its contents cannot be unpickled: {why.strip()}")


def read_checkpoint_hashed(path: str | Path) -> tuple[dict, str]:
    """(contents, SHA-256 of the file): one read, integrity checked, weights-only."""
    path = Path(path)
    data = read_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    return load_bytes(data, path), sha


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint as a (possibly nested) dict, read without unpickling arbitrary objects."""
    return read_checkpoint_hashed(path)[0]
