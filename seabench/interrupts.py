"""Ctrl-C taken at a safe point: a loop that must not stop halfway through a step defers it.

A KeyboardInterrupt raised wherever the main thread happens to be can land inside an optimiser
step (half the weights updated), after a forward pass in train mode (batch-norm statistics moved
by a step that is not counted) or while a batch is being drawn (the random state advanced by a
batch that was never used).  A checkpoint of that state resumes to other numbers than the run
that was not interrupted.  :class:`DeferredInterrupt` turns the first Ctrl-C into a flag that the
loop checks between steps; a second Ctrl-C stops at once (the last checkpoint is then kept).
"""

from __future__ import annotations

import signal
import threading
from types import TracebackType


class DeferredInterrupt:
    """``with DeferredInterrupt() as stop:`` ... ``if stop.requested: raise KeyboardInterrupt``.

    Only the main thread receives signals, and only Python's own SIGINT handler is replaced (a
    program that installed its own keeps it); elsewhere ``requested`` simply stays False."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:  # asked twice: the user does not want to wait for the step
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def ignore_interrupts_in_worker(_worker_id: int = 0) -> None:
    """``worker_init_fn`` of data-loader processes: Ctrl-C reaches the whole process group, and a
    worker that dies of it fails the main process's next batch with 'worker exited
    unexpectedly' before the main process can stop at a safe point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
