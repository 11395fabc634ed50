"""Standard streams that may be closed or full: what is printed goes where it can, and a reader
that has gone (`| head`) ends nothing but the printing."""
import os
import sys


def flush() -> None:
    """Flush stdout and stderr; a reader that has left gets nothing more, quietly."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):
                pass
