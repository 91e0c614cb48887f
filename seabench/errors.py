"""Errors that the CLI turns into one clear line and exit code 2."""


class SeabenchError(Exception):
    """Bad usage or bad input: the message says what is wrong and how to fix it."""


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
