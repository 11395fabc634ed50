"""What stopping at once takes of CPython's multiprocessing, in one place.

A Ctrl-C must end a grid within a second, workers included, and leave without a traceback or
a warning. Three things that needs are not public in Python 3.11, and live here alone, each
with a test (tests/test_interrupts.py), so that a Python upgrade that moves them breaks a
test rather than a Ctrl-C:

  kill_workers(pool)      a ProcessPoolExecutor's processes (public from Python 3.14 as
                          pool.kill_workers(); before it, the pool's table `_processes`)
  unlink_semaphores()     the finalizers that unlink the semaphores of this process's queues
                          (multiprocessing.util._run_finalizers), run before an os._exit
  stop_resource_tracker() the tracker process (its `_pid`), which would otherwise warn about
                          semaphores whose unlinking it had not yet been told of

and one thing it does that a blocked SIGINT must know of:

  start_resource_tracker() the tracker, started before SIGINT is blocked for a spawn: the thread
                          that first starts it unblocks SIGINT afterwards (and its processes and
                          threads inherit that), whatever the caller had blocked
"""
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import resource_tracker, util


def pool_processes(pool: ProcessPoolExecutor) -> list:
    """The worker processes of a pool (its private table: see the module's docstring)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def kill_workers(pool: ProcessPoolExecutor) -> None:
    """End a local pool now: its workers killed, not waited for; the pool's units left fail."""
    if hasattr(pool, "kill_workers"):  # Python 3.14
        pool.kill_workers()
    else:
        processes = pool_processes(pool)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(1)  # reaped: SIGKILL takes effect at once
    pool.shutdown(wait=False, cancel_futures=False)  # the pool's thread fails the units left


def start_resource_tracker() -> None:
    """The resource tracker running, so that no later first start unblocks SIGINT in a thread."""
    resource_tracker.ensure_running()


def unlink_semaphores() -> None:
    """Run the finalizers of this process's queues (priority >= 0), which unlink their semaphores."""
    util._run_finalizers(0)


def stop_resource_tracker() -> None:
    """Stop multiprocessing's resource tracker, if this process started one."""
    pid = getattr(resource_tracker._resource_tracker, "_pid", None)
    if pid is not None:
        try:
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        except OSError:
            pass


def leave_quietly() -> None:
    """Before an os._exit: unlink the semaphores, then stop the tracker that would warn about them."""
    try:
        unlink_semaphores()
        stop_resource_tracker()
    except Exception:  # leaving is what matters now; tests/test_interrupts.py checks each step
        pass
