"""An option spec (name, type, range or choices, help, how to fix a bad value) and the check of
a recipe table against a table of them.

The tables of specs are in ``tables.py``; what they are for is in ``seabench.options``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from seabench.options.device import is_device

KINDS = ("int", "float", "bool", "str", "choice", "path", "device")
SHAPES = ("one", "list", "one_or_list")


@dataclass(frozen=True)
class Spec:
    """One option: ``name`` is the recipe key and, dashed, the CLI flag (``image_size`` ->
    ``--image-size``); ``hint`` says what to pass and ``example`` is a good value, both used by
    the one-line error of a bad value."""

    name: str
    kind: str
    help: str
    hint: str
    example: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    #: the allowed strings of a ``choice``, or a function returning them (names that can grow
    #: at run time: read when a value is checked)
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    #: ``list``: a non-empty list of values; ``one_or_list``: a value or such a list
    shape: str = "one"

    def __post_init__(self) -> None:
        assert self.kind in KINDS and self.shape in SHAPES, self

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def allowed_choices(self) -> tuple[str, ...]:
        c = self.choices() if callable(self.choices) else self.choices
        return tuple(c or ())

    def range_text(self) -> str:
        """The range as click writes it: ``16<=x<=1024``, ``0<x<=100``, ``x>=1``."""
        lo = hi = ""
        if self.min is not None:
            lo = f"{_num(self.min)}{'<' if self.min_open else '<='}"
        if self.max is not None:
            hi = f"{'<' if self.max_open else '<='}{_num(self.max)}"
        if lo and not hi:
            return f"x{'>' if self.min_open else '>='}{_num(self.min)}"
        if hi and not lo:
            return f"x{hi}"
        return f"{lo}x{hi}" if lo or hi else ""

    def describe_one(self) -> str:
        """The allowed values of one element, in words."""
        rng = self.range_text()
        if rng.startswith("x"):  # one bound: "an integer >= 1", not "in x>=1"
            rng = rng[1:].replace(">=", ">= ").replace("<=", "<= ")
            rng = rng if " " in rng else rng[0] + " " + rng[1:]
        elif rng:
            rng = f"in {rng}"
        if self.kind == "int":
            return "an integer" + (f" {rng}" if rng else "")
        if self.kind == "float":
            return "a finite number" + (f" {rng}" if rng else "")
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of: " + ", ".join(self.allowed_choices())
        if self.kind == "device":
            return "a torch device (cpu, cuda, cuda:N, mps, ...)"
        return "a non-empty string"

    def describe(self) -> str:
        one = self.describe_one()
        if self.shape == "list":
            return f"a non-empty list, each {one}"
        if self.shape == "one_or_list":
            return f"{one}, or a non-empty list of them"
        return one

    def check_one(self, value) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind in ("str", "path"):
            return isinstance(value, str) and bool(value.strip())
        if self.kind == "choice":
            return isinstance(value, str) and value in self.allowed_choices()
        if self.kind == "device":
            return is_device(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return in_range(float(value), self)

    def check(self, value) -> bool:
        """True when ``value`` (as TOML gives it) is allowed."""
        if isinstance(value, list):
            if self.shape == "one" or not value:
                return False
            return all(self.check_one(v) for v in value)
        return self.shape != "list" and self.check_one(value)


def in_range(value: float, spec: Spec) -> bool:
    """Finite and within the spec's bounds."""
    if not math.isfinite(value):
        return False
    if spec.min is not None and (value <= spec.min if spec.min_open else value < spec.min):
        return False
    return spec.max is None or (value < spec.max if spec.max_open else value <= spec.max)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


def toml_value(value) -> str:
    """A value written as in the recipe file (``true``, ``"big"``, ``[1, 2]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return str(value)


def _example(spec: Spec) -> str:
    one = spec.example if spec.kind in ("int", "float", "bool") else f'"{spec.example}"'
    return f"[{one}]" if spec.shape == "list" else one


def validate_table(
    where: str,
    values: dict,
    specs: dict[str, Spec],
    *,
    known: set[str] | None = None,
    unknown_label: str | None = None,
) -> list[str]:
    """One line per problem of a recipe table: unknown keys (with the known ones), values of the
    wrong type or out of range (with the allowed values and an example).

    ``where`` prefixes each key (``[probe]`` gives ``[probe] epochs = -1: ...``; empty for the
    top level); ``known`` (default: the specs' names) is what is not an unknown key.
    """
    problems = []
    known = set(specs) if known is None else known
    unknown = sorted(set(values) - known)
    if unknown:
        head = f"unknown {unknown_label or where + ' settings'} {', '.join(unknown)}"
        if unknown_label and where:
            head = f"{where}: {head}"
        problems.append(f"{head}; known: {', '.join(sorted(known))}")
    for key, value in values.items():
        spec = specs.get(key)
        if spec is not None and not spec.check(value):
            problems.append(
                f"{where + ' ' if where else ''}{key} = {toml_value(value)}: must be "
                f"{spec.describe()} (e.g. {key} = {_example(spec)})"
            )
    return problems


def table(*specs: Spec) -> dict[str, Spec]:
    return {s.name: s for s in specs}
