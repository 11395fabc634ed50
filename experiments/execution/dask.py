"""Dask as an executor for the runner: an existing cluster, or a local one.

    --scheduler tcp://HOST:8786   a running `dask scheduler` with `dask worker`s attached
    --scheduler local:N           a LocalCluster of N worker processes, one thread each

Workers receive units of runs and return their rows; only the client writes the tables.
Each worker needs this package installed and, for mnist, the data at the same --data-root.
"""
from contextlib import contextmanager

from experiments.errors import UsageError


@contextmanager
def dask_executor(scheduler: str):
    try:
        from distributed import Client, LocalCluster  # the dask extra: only --scheduler needs it
    except ImportError:
        raise UsageError("--scheduler needs dask's distributed package: pip install -e '.[dask]'") from None
    cluster = None
    if scheduler.startswith("local:"):
        n = scheduler.removeprefix("local:")
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--scheduler {scheduler!r}: write local:N with N >= 1 worker processes")
        n = int(n)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    elif scheduler.startswith("tcp://"):
        host, _, port = scheduler.removeprefix("tcp://").rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--scheduler {scheduler!r}: write tcp://HOST:PORT with a numeric port, "
                             "e.g. tcp://10.0.0.5:8786")
        try:
            client = Client(scheduler, timeout="3s")
        except (OSError, TimeoutError, ValueError, TypeError) as e:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler} ({e}); "
                             "start it with `dask scheduler` and check the address") from None
    else:
        raise UsageError(f"--scheduler {scheduler!r}: use tcp://HOST:8786 or local:N")
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
