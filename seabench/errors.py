"""Errors that the CLI turns into one clear line and exit code 2."""


class SeabenchError(Exception):
    """Bad usage or bad input: the message says what is wrong and how to fix it.

    Raised in a data-loader worker process (a damaged image met by ``--workers N``), it comes
    back from torch as the same class with the worker's whole traceback as its message; its
    ``str()`` is still the one line it was raised with."""

    def __str__(self) -> str:
        return _from_worker(super().__str__(), type(self))


def _from_worker(text: str, cls: type) -> str:
    """The original message of an exception torch's DataLoader re-raised from a worker:
    ``Caught X in DataLoader worker process N.\nOriginal Traceback ...\nmodule.X: message``."""
    first = text.split("\n", 1)[0]
    if not (text.startswith("Caught ") and "DataLoader worker process" in first):
        return text
    marker = f"\n{cls.__module__}.{cls.__qualname__}: "
    at = text.rfind(marker)
    return text[at + len(marker) :].rstrip("\n") if at >= 0 else text


class DataNotFoundError(SeabenchError):
    """A dataset, checkpoint or cache entry the user asked for is not where it should be."""


class UnsafeFileError(SeabenchError):
    """A file that would run code when read (a planted pickle): stops the whole command, even a
    dry run, instead of being listed as one more missing dataset."""


class SeabenchWarning(UserWarning):
    """Something the user should know that does not stop the command (the CLI prints each
    distinct one once, as one line on stderr)."""


class StorageError(SeabenchError):
    """A result could not be stored (full disk, quota, read-only home).  ``kept`` holds what was
    computed (e.g. the probe's rows) so the caller can still show it before the error."""

    def __init__(self, message: str, kept: object = None):
        super().__init__(message)
        self.kept = kept
