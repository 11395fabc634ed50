"""Dask as an executor for the runner: an existing cluster, or a local one.

    --scheduler tcp://HOST:8786   a running `dask scheduler` with `dask worker`s attached
    --scheduler local:N           a LocalCluster of N worker processes, one thread each

Workers receive units of runs and return their rows; only the client writes the tables.
Each worker needs this package installed and, for mnist, the data at the same --data-root.

What can go wrong says so in one line: a scheduler with no worker is waited for, saying so,
for at most --dask-wait seconds; a scheduler that goes away mid-run ends the command (the runs
finished are kept, and the same command resumes); Ctrl-C kills a local cluster's worker
processes at once, even while the cluster starts; they block SIGINT themselves (they are
started while the client blocks it), so that none prints a traceback of its own.
"""
import logging
import multiprocessing
import os
import time
import warnings
from contextlib import contextmanager

from experiments.errors import Interrupted, UsageError
from experiments.execution.limits import check_workers
from experiments.execution.workers import born_deaf_to_ctrl_c

WAIT_S = 60  # how long a scheduler without workers is waited for, by default (--dask-wait)


class Lost(UsageError):
    """The scheduler went away, or no worker came."""


class DaskPool:
    """A Dask client as a concurrent.futures executor, that knows when it has no one to work."""

    def __init__(self, client, address: str, wait_s: float):
        self.client, self.address, self.wait_s = client, address, wait_s
        self.executor = client.get_executor(pure=False)
        self.waiting_since: float | None = None
        self.checked = 0.0

    def submit(self, fn, *args, **kwargs):
        if self.closed:  # units to try again after the scheduler went away: nowhere to send them
            raise self.lost()
        return self.executor.submit(fn, *args, **kwargs)

    def lost(self) -> "Lost":
        return Lost(f"lost the Dask scheduler at {self.address} ({self.client.status}); the runs finished are "
                    "kept: start it again and run the same command to resume")

    @property
    def closed(self) -> bool:
        """Whether the client has let go of the scheduler (nothing can be cancelled there any more)."""
        return self.client.status not in ("running", "connecting")

    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def check(self, note) -> None:
        """Called while the runner waits: a lost scheduler, or no worker for longer than wait_s, ends
        the command; the first second without a worker is said (note)."""
        now = time.monotonic()
        if now - self.checked < 1.0:
            return
        self.checked = now
        if self.closed:
            raise self.lost()
        if self.client.status != "running" or self.workers():
            self.waiting_since = None
            return
        if self.waiting_since is None:
            self.waiting_since = now
            note(f"waiting for a Dask worker at {self.address} (for at most {self.wait_s:g} s: --dask-wait); start "
                 f"one with `dask worker {self.address}`")
        elif now - self.waiting_since > self.wait_s:
            raise Lost(f"no Dask worker at {self.address} for {self.wait_s:g} s; start one with `dask worker "
                       f"{self.address}`, or give --dask-wait more time")


def parse(scheduler: str) -> tuple[str, int | None]:
    """("local", N) or ("tcp", None), after checking the spelling."""
    if scheduler.startswith("local:"):
        n = scheduler.removeprefix("local:")
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--scheduler {scheduler!r}: write local:N with N >= 1 worker processes")
        return "local", int(n)
    if scheduler.startswith("tcp://"):
        host, _, port = scheduler.removeprefix("tcp://").rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--scheduler {scheduler!r}: write tcp://HOST:PORT with a numeric port, "
                             "e.g. tcp://10.0.0.5:8786")
        return "tcp", None
    raise UsageError(f"--scheduler {scheduler!r}: use tcp://HOST:8786 or local:N")


def kill_local_workers() -> None:
    """A local cluster's worker processes (this process's children), killed now."""
    for process in multiprocessing.active_children():
        process.kill()


def silence_dask_logs() -> None:
    """Dask's loggers quiet, here and in the worker processes a local cluster starts (which read
    dask's config from the environment): what goes wrong is said here, in one line."""
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "critical"
    for name in [name for name in logging.root.manager.loggerDict if name.startswith("distributed")] + ["distributed"]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


@contextmanager
def dask_executor(scheduler: str, wait_s: float = WAIT_S, worker_bytes=None):
    """A DaskPool for --scheduler; worker_bytes(n): refuses, with one line, n workers that would not
    fit in memory (as --workers is refused)."""
    kind, n = parse(scheduler)
    try:
        from distributed import Client, LocalCluster  # the dask extra: only --scheduler needs it
    except ImportError:
        raise UsageError("--scheduler needs dask's distributed package: pip install -e '.[dask]'") from None
    silence_dask_logs()  # before the cluster starts: it logs the folders it purges, for one
    cluster = client = None
    interrupted = False
    try:
        if kind == "local":
            if worker_bytes is not None:
                worker_bytes(n)
            check_workers(n)
            with born_deaf_to_ctrl_c(True), warnings.catch_warnings():  # its workers block SIGINT from the start
                # older Dask starts a dashboard anyway, and warns when another cluster holds its port
                warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="3s")
            except (OSError, TimeoutError, ValueError, TypeError) as e:
                raise UsageError(f"cannot reach the Dask scheduler at {scheduler} ({e}); "
                                 "start it with `dask scheduler` and check the address") from None
        silence_dask_logs()  # and the loggers its start made
        yield DaskPool(client, scheduler, wait_s)
    except (KeyboardInterrupt, Interrupted):  # stop now: the workers are killed, not waited for
        interrupted = True
        if kind == "local":  # (a Ctrl-C while the cluster starts, too)
            kill_local_workers()
        raise
    finally:
        if not interrupted:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
