"""The images under class folders, listed as torchvision's ``make_dataset`` lists them, with
symbolic-link loops refused.

``make_dataset`` walks with ``os.walk(followlinks=True)``, which follows a link back to one of
its own ancestor folders again and again until the path is too long: every image is listed once
per level (a silently repeated training set), and with two such links in one folder the walk
branches at every level and never ends.  This walk lists the same files in the same order (so
manifests and their hashes do not change) and stops at the first link to an ancestor folder
with one line naming it.  Links to other folders are followed as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from seabench.errors import SeabenchError


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def walk_files(top: str, dataset: str) -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) of ``top`` and every folder under it, links followed, loops refused."""
    above: dict[str, tuple] = {top: (_identity(top),)}
    for root, dirs, files in os.walk(top, followlinks=True):
        chain = above.pop(root, ())
        for d in dirs:
            path = os.path.join(root, d)
            ident = _identity(path)
            if ident is not None and ident in chain:
                target = os.path.realpath(path)
                raise SeabenchError(
                    f"{dataset}: {path} is a symbolic link to {target}, a folder that holds it "
                    "(a link loop: its images would be listed without end); remove the link"
                )
            above[path] = (*chain, ident)
        yield root, files


def class_images(
    directory: str | os.PathLike,
    class_to_idx: dict[str, int],
    extensions: tuple[str, ...],
    dataset: str,
) -> list[tuple[str, int]]:
    """(path, class index) of every image under ``directory/<class>/``, in torchvision's order;
    FileNotFoundError naming the classes without one (as ``make_dataset`` raises it)."""
    lowered = tuple(e.lower() for e in extensions)
    found, seen = [], set()
    for name in sorted(class_to_idx):
        target = os.path.join(os.path.expanduser(str(directory)), name)
        if not os.path.isdir(target):
            continue
        for root, files in sorted(walk_files(target, dataset)):
            for fname in sorted(files):
                if fname.lower().endswith(lowered):
                    found.append((os.path.join(root, fname), class_to_idx[name]))
                    seen.add(name)
    empty = set(class_to_idx) - seen
    if empty:
        raise FileNotFoundError(
            f"Found no valid file for the classes {', '.join(sorted(empty))}. "
            f"Supported extensions are: {', '.join(extensions)}"
        )
    return found
