"""Standard streams that may be closed, left by their reader, or full: what is printed goes where
it can, and the work goes on whatever becomes of the printing.

At the start, a standard file descriptor that is closed (`>&-`) is opened on the null device, so
that no file the command opens later takes its number (and gets the printing). sys.stdout and
sys.stderr are then wrapped: a reader that leaves (`| head`) stops the printing quietly; any
other failure (a full disk: `> /dev/full`) stops it too, and is remembered, so that a command
whose work is its output can say so when it ends.
"""
import errno
import io
import os
import sys


class Stream(io.TextIOBase):
    """A standard stream that never raises: writes to it after its end are dropped."""

    def __init__(self, stream):
        self.stream = stream
        self.ended = stream is None
        self.failure: OSError | None = None  # why it ended, when it was not its reader leaving

    def write(self, text: str) -> int:
        if not self.ended:
            try:
                self.stream.write(text)
            except (OSError, ValueError) as e:
                self.end(e)
        return len(text)

    def flush(self) -> None:
        if not self.ended:
            try:
                self.stream.flush()
            except (OSError, ValueError) as e:
                self.end(e)

    def end(self, e: Exception) -> None:
        self.ended = True
        if isinstance(e, OSError) and e.errno != errno.EPIPE:
            self.failure = e
        try:  # what the interpreter flushes at its exit goes nowhere
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def isatty(self) -> bool:
        return not self.ended and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno() if self.stream is not None else -1

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


def guard_standard_streams() -> None:
    """The null device on closed descriptors 0-2, and sys.stdout and sys.stderr wrapped."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # a lower descriptor was free: put the null device where it belongs
                os.dup2(opened, fd)
                os.close(opened)
    for name in ("stdout", "stderr"):
        if not isinstance(getattr(sys, name), Stream):
            setattr(sys, name, Stream(getattr(sys, name)))


def flush() -> None:
    """Flush stdout and stderr (a wrapped stream never raises; a bare one is let be)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def output_failure() -> OSError | None:
    """Why stdout could not be written, when it was not its reader leaving; None otherwise."""
    return getattr(sys.stdout, "failure", None)
