"""Errors that the CLI turns into one clear line and exit code 2."""


class SeabenchError(Exception):
    """Bad usage or bad input: the message says what is wrong and how to fix it."""


class DataNotFoundError(SeabenchError):
    """A dataset, checkpoint or cache entry the user asked for is not where it should be."""


class SeabenchWarning(UserWarning):
    """Input that is suspicious but usable: the CLI prints it as one ``warning:`` line."""
