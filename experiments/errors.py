"""UsageError: a user's mistake, reported as one line and exit status 2, never a traceback;
Interrupted: Ctrl-C or SIGTERM, reported as one line that says how to resume."""


class UsageError(Exception):
    """Bad input: the message names what was wrong and how to fix it."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the message says what is kept and how to resume."""
