"""Atomic file writes: a crash or a kill leaves the old file or the new one, never half of one.

Writes that fail for lack of room or permission (a full disk, a quota, a read-only home) are the
user's to fix, not internal errors: :func:`storage_problem` says which one it is, so callers can
turn the OSError into one line that names the path and keeps what was computed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, fsync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (the one place file contents are written: OSErrors carry their
    errno, unlike a library's own writer)."""
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        if exc.filename is None:  # write() and close() errors do not name the file
            exc.filename = str(path)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda p: write_bytes(p, data))


#: errno -> what it means for the user
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def storage_problem(exc: BaseException) -> str | None:
    """ "no space left on device" etc. when ``exc`` is a storage OSError the user can fix."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return STORAGE_ERRNOS[exc.errno]
    return None


def storage_fix(problem: str) -> str:
    """How the user fixes a storage problem from :func:`storage_problem`."""
    if problem.startswith(("no space", "disk quota")):
        return "free space"
    return "make it writable (or pass another --home)"


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def canonical_json(obj: object) -> str:
    """The one serialisation that hashes are taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, read in chunks (weights files are large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
