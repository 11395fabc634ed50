"""Run a grid of configurations into a results folder, resuming where it stopped.

Runs already in runs.csv are skipped (failed ones are tried again); epoch rows of a run cut
off are dropped and the run is done again. The work is cut into units: one run each (engine
`single`), or stacks of runs trained at once (engine `batched`, see
experiments.execute.execute_stack; `compiled` also puts the torch stacks through
torch.compile). Units run in this process (one worker), in a pool of processes, or on any
concurrent.futures executor (a Dask cluster's); only this process writes the tables. Every
unit uses one compute thread, so its numbers do not depend on how it was scheduled.

Ctrl-C or SIGTERM stops the grid at once, workers included: the runs finished before are in
the tables, and the same command resumes.
"""
import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, as_completed, wait

from experiments import manifest as manifests
from experiments.config import ENGINES, RunConfig
from experiments.data import Dataset, load_dataset
from experiments.errors import UsageError
from experiments.execute import execute, execute_stack, stacks
from experiments.limits import check_memory, check_workers, estimate_seconds
from experiments.progress import Progress
from experiments.results import ResultsDir

_datasets: dict[tuple, Dataset] = {}
_checksums: dict[tuple, str] = {}
_single_thread = None


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the message says what is kept and how to resume."""


def single_thread(config: RunConfig) -> None:
    """Limit BLAS (and torch, for its runs) to one thread in this process, for the process's life."""
    global _single_thread
    if _single_thread is None:
        from threadpoolctl import threadpool_limits
        _single_thread = threadpool_limits(1)
    if config.impl == "torch":
        import torch
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
        raise RuntimeError(f"this worker's {name} at {data_root} differs from the client's (checksum)")
    return data


def units(configs: list[RunConfig], engine: str) -> list[list[RunConfig]]:
    """The work in units, the longest first (torch before scratch, then more epochs of more
    runs), so that parallel workers run out of work at about the same time."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    work = [[c] for c in configs] if engine == "single" else stacks(configs)
    return sorted(work, key=lambda u: (u[0].impl != "torch", -len(u) * u[0].epochs))


def run_unit(unit: list[RunConfig], data: Dataset, on_epoch=None, engine: str = "batched") -> list[tuple]:
    """[(runs row, epoch rows, parameters)] of a unit's runs."""
    single_thread(unit[0])
    compiled = engine == "compiled"
    if len(unit) == 1:
        return [execute(unit[0], data, on_epoch, compiled)]
    return execute_stack(unit, data, on_epoch, compiled)


_epochs_out = None  # in a worker of a local pool: the queue that carries epoch rows to the client's progress


@contextlib.contextmanager
def born_deaf_to_ctrl_c(spawning: bool):
    """While the pool spawns its workers (at its first submit), SIGINT is ignored, and so is it in
    the workers from their first instruction (an ignored signal stays ignored across exec): a
    Ctrl-C to the terminal's process group while they import numpy prints no traceback of theirs.
    (A Ctrl-C within those milliseconds is lost; SIGTERM meanwhile still stops the client.)"""
    if not spawning or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
             engine: str = "batched") -> list[tuple]:
    """A unit as a picklable task for a worker process."""
    return run_unit(unit, dataset_for(unit[0].dataset, data_root, checksum),
                    _epochs_out.put if _epochs_out is not None else None, engine)


def record(out: ResultsDir, run_row: dict, epoch_rows: list[dict], params) -> None:
    """Epoch rows, then the parameters, then the runs row that marks the run complete."""
    out.append("epochs.csv", epoch_rows)
    if params is not None:
        out.save_params(run_row["run_id"], run_row["impl"], *params)
    out.append("runs.csv", [run_row])


def failed_row(config: RunConfig) -> dict:
    from experiments.results import RUNS_COLUMNS
    metrics = RUNS_COLUMNS[RUNS_COLUMNS.index("status") + 1:]
    return {"run_id": config.run_id, **config.row(), **{m: float("nan") for m in metrics}, "best_epoch": "",
            "status": "failed", "wall_s": 0.0}


def run_grid(configs: list[RunConfig], out: ResultsDir, grid_name: str, axes: dict, overrides: list[str] = (),
             data_root: str | None = None, workers: int = 1, executor: Executor | None = None,
             scheduler: str | None = None, max_attempts: int = 2, engine: str = "batched",
             extend: bool = False) -> dict:
    """Run every configuration not yet complete in `out`; returns counts by status. A folder of
    the wrong kind, data or a grid other than the folder's (experiments.manifest) and units that
    would not fit in memory are refused first, with nothing written; then `out` is opened
    (created and locked), the rows of cut-off and failed runs are dropped, and the rest runs."""
    configs = [c.resolved() for c in configs]
    datasets = {name: dataset_for(name, data_root) for name in sorted({c.dataset for c in configs})}
    for c in configs:
        datasets[c.dataset].check_fits(c.val_size, c.batch_size)
    uses_torch = any(c.impl == "torch" for c in configs)
    path = out.path / "manifest.json"
    data = {name: manifests.data_entry(d, configs) for name, d in datasets.items()}
    out.check()
    has_runs = bool(out.table("runs.csv") or out.table("epochs.csv"))
    grid = manifests.grid_entry(grid_name, axes, overrides, configs)
    info = manifests.check_and_update(path, grid, data, manifests.session(workers, scheduler, engine, uses_torch),
                                      extend, has_runs)
    done = out.completed()
    check_memory(units([c for c in configs if (c.run_id, c.impl) not in done], engine),
                 workers if executor is None else 1)
    if workers > 1 and executor is None:
        check_workers(workers)
    out.open()
    dropped = out.drop_incomplete()
    done = out.completed()
    todo = [c for c in configs if (c.run_id, c.impl) not in done]
    work = units(todo, engine)
    if todo or info["changed"] or not path.exists():  # a run with nothing new keeps the record as it is
        manifests.write(path, info)
    sizes = {(c.dataset, c.val_size): (len(datasets[c.dataset].train_labels) - c.val_size,
                                       len(datasets[c.dataset].train_labels) + len(datasets[c.dataset].test_labels))
             for c in todo}
    line = (f"{grid_name}: {len(configs)} runs, {len(configs) - len(todo)} already complete in {out.path}"
            + (f" ({dropped} rows of cut-off or failed runs dropped)" if dropped else ""))
    if todo:
        minutes = estimate_seconds(work, sizes, engine, workers) / 60
        line += (f", {len(todo)} to run in {len(work)} unit(s): about {minutes:.0f} min on "
                 f"{min(workers, len(work))} worker(s) (estimated from a step timed here)")
    print(line, flush=True)
    counts: dict[str, int] = {}
    progress = Progress(todo)
    try:
        if executor is None and workers <= 1:
            run_here(work, out, datasets, progress, counts, engine)
        else:
            _datasets.clear()  # the workers load the data; the client only compares checksums
            _checksums.clear()
            checksums = {name: entry["checksum"] for name, entry in data.items()}
            run_pool(work, out, data_root, checksums, workers, executor, progress, counts, max_attempts, engine)
    except KeyboardInterrupt:
        progress.close()
        finished = sum(counts.values())
        raise Interrupted(f"interrupted: the {finished} run(s) finished since the start are in {out.path}, "
                          f"{len(todo) - finished} are not (rows of runs cut off are dropped on resume); "
                          "run the same command again to resume") from None
    finally:
        progress.close()
    if todo:
        info["sessions"][-1]["finished"] = manifests.now()
        manifests.write(path, info)
    return counts


def run_here(work, out: ResultsDir, datasets: dict[str, Dataset], progress: Progress, counts: dict,
             engine: str) -> None:
    """Every unit in this process, epoch rows written as they are trained."""
    def on_epoch(row: dict) -> None:
        out.append("epochs.csv", [row])
        progress.epoch(row)
    for unit in work:
        progress.start(unit[0])
        try:
            results = run_unit(unit, datasets[unit[0].dataset], on_epoch, engine)
        except UsageError:
            raise
        except Exception as e:  # the unit failed: recorded as failed, tried again by the next run
            progress.note(f"{len(unit)} run(s) from {unit[0].run_id} ({unit[0].impl}) failed: {type(e).__name__}: {e}")
            results = [(failed_row(c), [], None) for c in unit]
        for run_row, _, params in results:
            record(out, run_row, [], params)
            counts[run_row["status"]] = counts.get(run_row["status"], 0) + 1
            progress.finish(run_row)


def run_pool(work, out, data_root, checksums, workers, executor, progress, counts, max_attempts,
             engine: str = "batched") -> None:
    """Run units on worker processes; a unit whose worker died is tried again, then marked failed."""
    attempts = {id(u): 0 for u in work}
    pending = list(work)
    context = multiprocessing.get_context("spawn")
    epochs_in = context.Queue() if executor is None else None  # a Dask cluster's workers report no epochs
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
                    futures[pool.submit(run_task, unit, data_root, checksums[unit[0].dataset], engine)] = unit
            pending = []
            for future in finished(futures, epochs_in, progress):
                unit = futures.pop(future)
                results = outcome(future, unit, attempts[id(unit)] < max_attempts, progress)
                if results is None:
                    pending.append(unit)
                    lost = str(future.exception())
                    continue
                for run_row, epoch_rows, params in results:
                    record(out, run_row, epoch_rows, params)
                    counts[run_row["status"]] = counts.get(run_row["status"], 0) + 1
                    progress.finish(run_row)
        except BaseException as e:  # Ctrl-C, or a row that cannot be written: the rest would be lost
            if isinstance(e, KeyboardInterrupt):
                for future in [f for f in futures if f.done() and not f.cancelled() and f.exception() is None]:
                    for run_row, epoch_rows, params in future.result():  # finished just before the signal
                        record(out, run_row, epoch_rows, params)
                        counts[run_row["status"]] = counts.get(run_row["status"], 0) + 1
            if own:
                stop(pool)
            else:
                for future in futures:
                    future.cancel()  # a cluster's queued units (running ones end with the client)
            raise
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
        if pending:
            progress.note(f"{len(pending)} unit(s), {sum(map(len, pending))} run(s), did not finish ({lost}); "
                          "trying them again")


def outcome(future, unit: list[RunConfig], retry: bool, progress: Progress) -> list[tuple] | None:
    """A finished unit's results; None if it should be tried again; failed rows if it failed for good."""
    try:
        return future.result()
    except UsageError:
        raise
    except Exception as e:  # a worker died (BrokenProcessPool) or was lost, or the unit raised
        if retry:
            return None
        progress.note(f"{len(unit)} run(s) from {unit[0].run_id} ({unit[0].impl}) failed: {type(e).__name__}: {e}")
        return [(failed_row(c), [], None) for c in unit]


def stop(pool: ProcessPoolExecutor) -> None:
    """End a local pool now: its workers are killed, not waited for (Python 3.14 has
    pool.kill_workers(); before it, the pool's own table of processes is the way to them)."""
    processes = list(getattr(pool, "_processes", {}).values())
    for process in processes:
        process.kill()
    for process in processes:
        process.join(1)  # reaped: SIGKILL takes effect at once
    # the pool's thread fails the units left (a cancelled future would make it raise)
    pool.shutdown(wait=False, cancel_futures=False)


def finished(futures, epochs_in, progress: Progress):
    """The futures as they finish; while waiting, the epoch rows workers report go to progress."""
    if epochs_in is None:
        yield from as_completed(list(futures))
        return
    remaining = set(futures)
    while remaining:
        done, remaining = wait(remaining, timeout=0.2, return_when=FIRST_COMPLETED)
        while True:
            try:
                progress.epoch(epochs_in.get_nowait())
            except queue.Empty:
                break
        yield from done
