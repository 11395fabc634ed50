"""The console script (mlp-twins) and python -m experiments: experiments.cli.main.main, with an
exit that an interruption cannot hang or clutter.

An interrupted command, or one stopped by an error, leaves at once, without the interpreter's
exit handlers: what it finished is on disk, and a worker killed while it sent a result can
leave the pool's pipe half-written, which the handler that joins the pool's thread would wait
on forever. Before it leaves, the semaphores of its queues are unlinked and multiprocessing's
resource tracker is stopped (experiments.execution.interrupts).
"""
import os
import signal
import sys


def interrupt(signum, frame):
    """The first Ctrl-C, SIGTERM or SIGHUP stops the command; the ones after it are ignored, so that
    a second signal cannot break the stopping (a lock released twice, a queue half-closed). Ignored
    by a handler that does nothing, not by SIG_IGN: a signal already on its way when the handler
    became SIG_IGN would raise "ignored due to race condition"."""
    for name in STOPPING:
        signal.signal(getattr(signal, name), ignore)
    raise KeyboardInterrupt


def ignore(signum, frame):
    pass


STOPPING = [name for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


def main() -> None:
    for name in STOPPING:  # SIGTERM and SIGHUP stop a command as Ctrl-C does, from the start
        signal.signal(getattr(signal, name), interrupt)
    from experiments.cli.output import guard_standard_streams  # the standard library's alone: quick
    guard_standard_streams()
    try:
        # here, not above: numpy, pandas, ... take a second or so to import, and a Ctrl-C meanwhile is caught below
        from experiments.cli.main import main as command
        from experiments.cli.output import flush
        from experiments.execution.interrupts import leave_quietly
        code = command()
    except KeyboardInterrupt:  # the command catches its own: this one came while it was starting
        print("mlp-twins: interrupted before it started; nothing was written", file=sys.stderr)
        os._exit(130)
    flush()
    if code in (2, 130):  # interrupted, or stopped by an error, perhaps with a pool's workers killed
        leave_quietly()
        os._exit(code)
    sys.exit(code)
