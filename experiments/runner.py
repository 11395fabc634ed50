"""Run a grid of configurations into a results folder, resuming where it stopped.

Runs already in runs.csv are skipped; epoch rows of a run cut off are dropped and the run
is done again. The work is cut into units: one run each (engine `single`), or stacks of
runs trained at once (engine `batched`, see experiments.execute.execute_stack; `compiled`
also puts the torch stacks through torch.compile). Units run
in this process (one worker), in a pool of processes, or on any concurrent.futures
executor (a Dask cluster's); only this process writes the tables. Every unit uses one
compute thread, so its numbers do not depend on how it was scheduled.
"""
import importlib.metadata
import json
import multiprocessing
import os
import platform
import queue
import subprocess
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from experiments.config import ENGINES, RunConfig
from experiments.data import Dataset, load_dataset
from experiments.errors import UsageError
from experiments.execute import execute, execute_stack, stacks
from experiments.host import cpu
from experiments.progress import Progress
from experiments.results import ResultsDir

_datasets: dict[tuple, Dataset] = {}
_single_thread = None


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
    if checksum is not None and data.checksum() != checksum:
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


def start_worker(epochs, client: int) -> None:
    """A worker process's initializer: send every epoch row to the queue `epochs` as it is
    trained, and leave when the client is gone (killed), rather than finish a unit that
    nobody will record while a resumed grid wants the cores."""
    global _epochs_out
    _epochs_out = epochs
    epochs.cancel_join_thread()  # a worker never waits at exit for progress rows to be read
    threading.Thread(target=exit_with, args=(client,), daemon=True).start()


def exit_with(parent: int) -> None:
    while os.getppid() == parent:  # a killed client's workers are adopted by another process
        time.sleep(1)
    os._exit(1)


def run_task(unit: list[RunConfig], data_root: str | None, checksum: str | None = None,
             engine: str = "batched") -> list[tuple]:
    """A unit as a picklable task for a worker process."""
    return run_unit(unit, dataset_for(unit[0].dataset, data_root, checksum),
                    _epochs_out.put if _epochs_out is not None else None, engine)


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def cuda_devices() -> list[str]:
    import torch
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def manifest(grid_name: str, axes: dict, configs: list[RunConfig], checksums: dict[str, str],
             workers: int, scheduler: str | None) -> dict:
    uses_gpu = any(c.impl == "torch" and c.device != "cpu" for c in configs)  # else torch is not imported here
    return {
        "grid": grid_name, "axes": axes, "runs": len(configs),
        "configs": [c.row() | {"run_id": c.run_id} for c in configs],
        "python": platform.python_version(), "numpy": np.__version__, "torch": importlib.metadata.version("torch"),
        "platform": platform.platform(), **cpu(),
        "cpu_count": os.cpu_count(), "cuda_devices": cuda_devices() if uses_gpu else None,
        "data_checksums": checksums, "git_commit": git_commit(), "workers": workers, "scheduler": scheduler,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "finished": None,
    }


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def record(out: ResultsDir, run_row: dict, epoch_rows: list[dict], params) -> None:
    """Epoch rows, then the parameters, then the runs row that marks the run complete."""
    out.append("epochs.csv", epoch_rows)
    out.save_params(run_row["run_id"], run_row["impl"], *params)
    out.append("runs.csv", [run_row])


def failed_row(config: RunConfig) -> dict:
    nan = float("nan")
    return {"run_id": config.run_id, **config.row(), "status": "failed", "final_train_loss": nan,
            "final_test_loss": nan, "final_test_acc": nan, "best_test_acc": nan, "best_epoch": 0, "wall_s": 0.0}


def run_grid(configs: list[RunConfig], out: ResultsDir, grid_name: str, axes: dict,
             data_root: str | None = None, workers: int = 1, executor: Executor | None = None,
             scheduler: str | None = None, max_attempts: int = 2, engine: str = "batched") -> dict:
    """Run every configuration not yet complete in `out`; returns counts by status."""
    dropped = out.drop_incomplete()
    done = out.completed()
    todo = [c for c in configs if (c.run_id, c.impl) not in done]
    checksums = {name: dataset_for(name, data_root).checksum() for name in sorted({c.dataset for c in configs})}
    info = manifest(grid_name, axes, configs, checksums, workers, scheduler) | {"engine": engine}
    if todo or not (out.path / "manifest.json").exists():  # a run with nothing to do keeps the record
        write_json(out.path / "manifest.json", info)
    print(f"{grid_name}: {len(configs)} runs, {len(configs) - len(todo)} already complete in {out.path}"
          + (f" ({dropped} rows of cut-off runs dropped)" if dropped else "")
          + (f", {len(todo)} to run" if todo else ""), flush=True)
    counts: dict[str, int] = {}
    progress = Progress(todo)
    work = units(todo, engine)
    try:
        if executor is None and workers <= 1:
            def on_epoch(row: dict) -> None:
                out.append("epochs.csv", [row])
                progress.epoch(row)
            for unit in work:
                progress.start(unit[0])
                data = dataset_for(unit[0].dataset, data_root)
                for run_row, _, params in run_unit(unit, data, on_epoch, engine):
                    record(out, run_row, [], params)
                    counts[run_row["status"]] = counts.get(run_row["status"], 0) + 1
                    progress.finish(run_row)
        else:
            _datasets.clear()  # the workers load the data; the client only compares checksums
            run_pool(work, out, data_root, checksums, workers, executor, progress, counts, max_attempts, engine)
    finally:
        progress.close()
    if todo:
        info["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(out.path / "manifest.json", info)
    return counts


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
        for unit in pending:
            attempts[id(unit)] += 1
            futures[pool.submit(run_task, unit, data_root, checksums[unit[0].dataset], engine)] = unit
        pending = []
        try:
            for future in finished(futures, epochs_in, progress):
                unit = futures[future]
                try:
                    results = future.result()
                except UsageError:
                    raise
                except (BrokenProcessPool, Exception) as e:  # a worker died or was lost
                    if attempts[id(unit)] < max_attempts:
                        pending.append(unit)
                        lost = f"{type(e).__name__}: {e}"
                        continue
                    progress.note(f"{len(unit)} run(s) from {unit[0].run_id} ({unit[0].impl}) failed: "
                                  f"{type(e).__name__}: {e}")
                    results = [(failed_row(c), [], None) for c in unit]
                for run_row, epoch_rows, params in results:
                    if params is None:
                        out.append("runs.csv", [run_row])
                    else:
                        record(out, run_row, epoch_rows, params)
                    counts[run_row["status"]] = counts.get(run_row["status"], 0) + 1
                    progress.finish(run_row)
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
        if pending:
            progress.note(f"{len(pending)} unit(s), {sum(map(len, pending))} run(s), did not finish ({lost}); "
                          "trying them again")


def finished(futures, epochs_in, progress: Progress):
    """The futures as they finish; while waiting, the epoch rows workers report go to progress."""
    if epochs_in is None:
        yield from as_completed(futures)
        return
    remaining = set(futures)
    while remaining:
        done, remaining = wait(remaining, timeout=0.5, return_when=FIRST_COMPLETED)
        while True:
            try:
                progress.epoch(epochs_in.get_nowait())
            except queue.Empty:
                break
        yield from done
