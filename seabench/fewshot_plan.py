"""The few-shot plan (shots per class, draws, val size), checked without importing torch, so
``--shots 0`` or ``--draws 0`` fails at once.  The draws themselves are in ``probe.fewshot``."""

from __future__ import annotations

from dataclasses import dataclass

from seabench.errors import SeabenchError

#: val images per class by default: min(k, VAL_SHOTS_MAX)
VAL_SHOTS_MAX = 4


@dataclass(frozen=True)
class FewShotPlan:
    shots: tuple[int, ...]
    draws: int
    val_shots: int | None = None  # None: min(k, 4) per class

    def val_for(self, k: int) -> int:
        return self.val_shots if self.val_shots is not None else min(k, VAL_SHOTS_MAX)


def parse_shots(text: str | list | tuple) -> tuple[int, ...]:
    """Shots "1,2,4" (or a list) -> (1, 2, 4); anything but positive integers: one line, exit 2."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        s = str(item).strip()
        try:
            k = int(s)
        except ValueError:
            k = None
        if k is None or k < 1:
            raise SeabenchError(
                f"--shots takes positive whole numbers of images per class such as 1,2,4,8,16; "
                f"got {s!r}"
            )
        out.append(k)
    if not out:
        raise SeabenchError("--shots is empty; pass e.g. --shots 1,2,4,8,16")
    return tuple(sorted(set(out)))


def make_plan(shots, draws, val_shots: int | None = None) -> FewShotPlan:
    """A checked plan: positive shots, at least one draw, a positive val size if given."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise SeabenchError(f"--draws must be a whole number of 1 or more, got {draws!r}")
    if val_shots is not None and (not isinstance(val_shots, int) or val_shots < 1):
        raise SeabenchError(f"--val-shots must be a whole number of 1 or more, got {val_shots!r}")
    return FewShotPlan(parse_shots(shots), draws, val_shots)
