"""UsageError: a user's mistake, reported as one line and exit status 2, never a traceback."""


class UsageError(Exception):
    """Bad input: the message names what was wrong and how to fix it."""
