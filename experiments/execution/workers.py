"""Where units train: in this process, in a pool of worker processes, or on any
concurrent.futures executor (a Dask cluster's). Every unit uses one compute thread, so its
numbers do not depend on where it ran. Finished units are handed to `on_results` in this
process, which alone writes the tables.

A unit whose worker dies (or that is lost with a Dask worker) is tried again, once by default,
then recorded as failed. A local worker hands its unit's results over as a file and sends back
only its name: a message that short reaches the pipe whole or not at all, where the results
themselves (megabytes of parameters), cut off by a worker killed while sending them, left the
pool's own thread waiting for the rest for ever. Ctrl-C or SIGTERM in the client ends a local pool's workers at once
(experiments.execution.interrupts); workers block SIGINT from their first instruction, and
leave by themselves when the client is killed.
"""
import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, CancelledError, Executor, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from threadpoolctl import threadpool_limits

from experiments.data.datasets import Dataset, load_dataset
from experiments.errors import UsageError
from experiments.execution.interrupts import kill_workers, start_resource_tracker
from experiments.execution.training import RunResult, failed_row, train_unit
from experiments.spec.config import RunConfig

OnResults = Callable[[list[RunConfig], list[RunResult], bool], None]  # unit, results, epoch rows written

_datasets: dict[tuple, Dataset] = {}  # in a worker: the data, loaded once per process
_checksums: dict[tuple, str] = {}
_single_thread = None
_epochs_out = None  # in a worker of a local pool: the queue that carries epoch rows to the client's progress


def single_thread(config: RunConfig) -> None:
    """Limit BLAS (and torch, for its runs) to one thread in this process, for the process's life."""
    global _single_thread
    if _single_thread is None:
        _single_thread = threadpool_limits(1)
    if config.impl == "torch":
        import torch  # torch: only torch runs need it
        torch.set_num_threads(1)


def dataset_for(name: str, data_root: str | None, checksum: str | None = None) -> Dataset:
    """The dataset, loaded once per process; `checksum` guards against a worker with other data."""
    key = (name, data_root)
    if key not in _datasets:
        _datasets[key] = load_dataset(name, data_root)
    data = _datasets[key]
    if checksum is not None and key not in _checksums:
        _checksums[key] = data.checksum()  # once per process: it hashes every image
    if checksum is not None and _checksums[key] != checksum:
        raise UsageError(f"a worker's {name} at {data_root} differs from the client's (checksum): give every worker "
                         "the same data at the same --data-root")
    return data


def forget_datasets() -> None:
    """Load the data again at its next use, as a new process would (it may have changed)."""
    _datasets.clear()
    _checksums.clear()


def run_unit(unit: list[RunConfig], data: Dataset, on_epoch=None, engine: str = "batched") -> list[RunResult]:
    single_thread(unit[0])
    return train_unit(unit, data, on_epoch, compiled=engine == "compiled")


def failed(unit: list[RunConfig], e: Exception, note) -> list[RunResult]:
    note(f"{len(unit)} run(s) from {unit[0].run_id} ({unit[0].impl}) failed: {type(e).__name__}: {e}")
    return [RunResult(failed_row(c), [], None, None) for c in unit]


def run_here(work: list[list[RunConfig]], datasets: dict[str, Dataset], engine: str, on_epoch, on_results: OnResults,
             progress) -> None:
    """Every unit in this process, epoch rows handed to on_epoch as they are trained."""
    for unit in work:
        progress.start(unit[0])
        try:
            results = run_unit(unit, datasets[unit[0].dataset], on_epoch, engine)
        except UsageError:
            raise
        except Exception as e:  # the unit failed: recorded as failed, tried again by the next run
            results = failed(unit, e, progress.note)
        on_results(unit, results, True)


@contextlib.contextmanager
def born_deaf_to_ctrl_c(spawning: bool):
    """While the pool spawns its workers (at its first submit), SIGINT is blocked, and so is it in
    the workers from their first instruction (a blocked signal stays blocked across fork and exec):
    a Ctrl-C to the terminal's process group while they import numpy prints no traceback of theirs.
    Threads started meanwhile (a cluster's) block it for good. The client's own Ctrl-C is held,
    not lost: it stops the command once the spawning is done."""
    if not spawning or threading.current_thread() is not threading.main_thread() or \
            not hasattr(signal, "pthread_sigmask"):  # (Windows: no signal masks, and no Ctrl-C to the group)
        yield
        return
    start_resource_tracker()  # its first start would unblock SIGINT in the thread that starts it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a Ctrl-C held meanwhile arrives now


def start_worker(epochs, client: int) -> None:
    """A worker process's initializer: send every epoch row to the queue `epochs` as it is
    trained; leave Ctrl-C to the client, which ends its workers itself; and leave when the
    client is gone (killed), rather than finish a unit that nobody will record."""
    global _epochs_out
    _epochs_out = epochs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    epochs.cancel_join_thread()  # a worker never waits at exit for progress rows to be read
    threading.Thread(target=exit_with, args=(client,), daemon=True).start()


def exit_with(parent: int) -> None:
    while os.getppid() == parent:  # a killed client's workers are adopted by another process
        time.sleep(0.5)
    os._exit(1)


def run_task(unit: list[RunConfig], data_root: str | None, checksum: str | None = None,
             engine: str = "batched", spool: str | None = None) -> list[RunResult] | str:
    """A unit as a picklable task for a worker process: its results, or, given a `spool` folder,
    the name of the file in it that holds them (`handed_over`)."""
    results = run_unit(unit, dataset_for(unit[0].dataset, data_root, checksum),
                       _epochs_out.put if _epochs_out is not None else None, engine)
    if spool is None:
        return results
    fd, path = tempfile.mkstemp(suffix=".pickle", dir=spool)  # a file cut off by a kill is never named
    with os.fdopen(fd, "wb") as f:
        pickle.dump(results, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def handed_over(future) -> list[RunResult]:
    """A finished unit's results, read back (and removed) where its worker wrote them to a file."""
    path = future.result()
    if not isinstance(path, str):  # a Dask cluster's, or a unit run in this process
        return path
    with open(path, "rb") as f:
        results = pickle.load(f)
    os.remove(path)
    return results


def run_pool(work: list[list[RunConfig]], data_root: str | None, checksums: dict[str, str], workers: int,
             executor: Executor | None, engine: str, on_results: OnResults, progress, max_attempts: int = 2) -> None:
    """Run units on worker processes (a local pool of `workers`, or `executor`); a unit whose worker
    died is tried again, then recorded as failed."""
    attempts = {id(u): 0 for u in work}
    pending = list(work)
    context = multiprocessing.get_context("spawn")
    epochs_in = context.Queue() if executor is None else None  # a Dask cluster's workers report no epochs
    # where a local pool's workers leave their results (run_task)
    spooled = tempfile.TemporaryDirectory(prefix="mlp-twins-", ignore_cleanup_errors=True) if executor is None \
        else contextlib.nullcontext()
    with spooled as spool:
        while pending:
            own = executor is None
            pool = executor or ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker,
                                                   initargs=(epochs_in, os.getpid()))
            futures = {}
            lost = ""
            try:
                with born_deaf_to_ctrl_c(own):
                    for unit in pending:
                        attempts[id(unit)] += 1
                        future = pool.submit(run_task, unit, data_root, checksums[unit[0].dataset], engine, spool)
                        futures[future] = unit
                pending = []
                for future in finished(futures, epochs_in, progress, getattr(pool, "check", None)):
                    unit = futures.pop(future)
                    if future.cancelled() or (getattr(pool, "closed", False) and future.exception() is not None):
                        # a cluster that lost its scheduler cancels everything (or, in older Dask, fails it):
                        # not the unit's doing
                        attempts[id(unit)] -= 1
                        pending.append(unit)
                        lost = "cancelled"
                        continue
                    results = outcome(future, unit, attempts[id(unit)] < max_attempts, progress)
                    if results is None:
                        pending.append(unit)
                        lost = str(future.exception())
                        continue
                    on_results(unit, results, False)
            except BaseException as e:  # Ctrl-C, or a row that cannot be written: the rest would be lost
                if isinstance(e, KeyboardInterrupt):
                    for future in [f for f in futures if f.done() and not f.cancelled() and f.exception() is None]:
                        on_results(futures[future], handed_over(future), False)  # finished just before the signal
                if own:
                    kill_workers(pool)
                elif not getattr(pool, "closed", False):  # a cluster's queued units (running ones end with the client)
                    for future in futures:
                        future.cancel()
                raise
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
            if pending and lost != "cancelled":  # a cancelled unit's cluster says what became of it (check)
                progress.note(f"{len(pending)} unit(s), {sum(map(len, pending))} run(s), did not finish ({lost}); "
                              "trying them again")


def outcome(future, unit: list[RunConfig], retry: bool, progress) -> list[RunResult] | None:
    """A finished unit's results; None if it should be tried again; failed rows if it failed for good."""
    try:
        return handed_over(future)
    except UsageError:
        raise
    except (Exception, CancelledError) as e:  # a worker died (BrokenProcessPool) or was lost, or the unit raised
        if retry and lost_worker(e):
            return None
        return failed(unit, e, progress.note)


def lost_worker(e: BaseException) -> bool:
    """Whether a unit did not finish because its worker went away (tried again), rather than because
    it raised (recorded as failed at once, as in this process)."""
    return isinstance(e, (BrokenProcessPool, CancelledError)) or type(e).__name__ in ("KilledWorker",
                                                                                      "CommClosedError")


def finished(futures, epochs_in, progress, check=None):
    """The futures as they finish; while waiting, the epoch rows workers report go to progress, and
    check(note), when given (a cluster's), may end the wait with an error."""
    remaining = set(futures)
    while remaining:
        done, remaining = wait(remaining, timeout=0.2, return_when=FIRST_COMPLETED)
        while epochs_in is not None:
            try:
                progress.epoch(epochs_in.get_nowait())
            except queue.Empty:
                break
        if check is not None:
            check(progress.note)
        yield from done
