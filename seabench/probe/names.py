"""The names of the probe's augmentations and methods, as data.

Checking an ``--aug``, ``--solver``/``--method`` or recipe value needs only the names, which this
module holds without importing torch; the implementations (which need torch) are imported where
they run and register under these names (``augment.register``, ``registry.register_method``).
A test keeps the tables equal to the registrations, so a new augmentation or method is its
implementation plus its name here.
"""

from __future__ import annotations

import difflib

from seabench.errors import SeabenchError

#: feature-space augmentations (``seabench.probe.augment``), in ``--aug`` order
AUGMENTATIONS: list[str] = ["none", "sea", "adv", "random", "noise", "dropout", "mixup", "nn"]
#: multi-view probe names -> (mode, the feature-space augmentation used inside it)
MULTIVIEW_AUGS: dict[str, tuple[str, str]] = {
    "views": ("views", "none"),
    "sla": ("sla", "none"),
    "sla+sea": ("sla", "sea"),
}
#: probe methods (``--solver``/``--method``; ``seabench/probe/methods/``), in choice order
METHODS: list[str] = ["sgd", "lbfgs", "knn"]


def aug_names() -> tuple[str, ...]:
    """Every ``--aug`` value: the augmentations, then the multi-view modes."""
    return (*AUGMENTATIONS, *MULTIVIEW_AUGS)


def declare(table: list[str], name: str) -> None:
    """Add a name registered at run time through the Python API (the built-ins are listed)."""
    if name not in table:
        table.append(name)


def unknown(what: str, name: str, choices: tuple[str, ...] | list[str]) -> SeabenchError:
    """The one-line error of an unknown name: the closest known ones, then all of them."""
    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.6)
    near = f" (did you mean {' or '.join(close)}?)" if close else ""
    return SeabenchError(f"unknown {what} {name!r}{near}; choose one of: {', '.join(choices)}")


def check_aug(name: str) -> None:
    """Raise SeabenchError for an ``--aug`` value that is neither an augmentation nor a view
    mode."""
    if name not in aug_names():
        raise unknown("augmentation", name, aug_names())


def check_method(name: str) -> None:
    if name not in METHODS:
        raise unknown("solver", name, METHODS)
