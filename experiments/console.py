"""The console script (mlp-twins) and python -m experiments: experiments.cli.main, with an exit
that an interruption cannot hang or clutter.

An interrupted command, or one stopped by an error, leaves at once, without the interpreter's
exit handlers: what it finished is on disk, and a worker killed while it sent a result can
leave the pool's pipe half-written, which the handler that joins the pool's thread would wait
on forever. Before it leaves, the semaphores of its queues are unlinked, and multiprocessing's
resource tracker is stopped before it can warn about them.
"""
import os
import sys


def leave_quietly() -> None:
    """Unlink the semaphores of the process's queues (their finalizers, priority >= 0), then stop
    the resource tracker, which would otherwise warn about semaphores whose unlinking it had not
    yet been told of."""
    import signal
    from multiprocessing import resource_tracker, util
    try:
        util._run_finalizers(0)
        pid = getattr(resource_tracker._resource_tracker, "_pid", None)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
    except Exception:  # leaving is what matters now
        pass


def interrupt(signum, frame):
    raise KeyboardInterrupt


def flush() -> None:
    """Flush stdout and stderr; a reader that has left (`| head`) gets nothing more, quietly."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def main() -> None:
    import signal
    signal.signal(signal.SIGTERM, interrupt)  # SIGTERM stops a command as Ctrl-C does, from the start
    try:
        from experiments.cli import main as command  # numpy, pandas, ...: a second or so to import
        code = command()
    except KeyboardInterrupt:  # the command catches its own: this one came while it was starting
        print("mlp-twins: interrupted before it started; nothing was written", file=sys.stderr)
        code = 130
    flush()
    if code in (2, 130):  # interrupted, or stopped by an error, perhaps with a pool's workers killed
        leave_quietly()
        os._exit(code)
    sys.exit(code)
