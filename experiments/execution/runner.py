"""A grid into a results folder, resuming where it stopped: the one lifecycle of every run.

    plan_grid   check everything and write nothing: the folder's entries and manifest (its
                data and grid), the data, the memory; what is left to run, in units, and how
                long it should take (`run --dry-run` stops here)
    run_plan    open (create and lock) the folder, drop the rows of runs cut off or failed,
                record the manifest, train the units (experiments.execution.workers), write
                every run's epoch rows, parameters and, last, the runs.csv row that marks it
                complete; then mark the session finished

`run` and `train` (a grid of one run) both go through it. Runs already in runs.csv are skipped
(failed ones are tried again). Ctrl-C or SIGTERM stops the grid at once, workers included:
the runs finished before are in the tables, and the same command resumes.
"""
from concurrent.futures import Executor
from dataclasses import dataclass, field

from experiments.data.datasets import Dataset
from experiments.errors import Interrupted, UsageError
from experiments.execution import workers as places
from experiments.execution.limits import check_memory, check_processes, check_workers, unit_bytes, unit_seconds
from experiments.execution.plan import loads, units
from experiments.execution.progress import Progress
from experiments.execution.training import RunResult
from experiments.spec.config import RunConfig
from experiments.store import manifest as manifests
from experiments.store.folder import ResultsDir


@dataclass
class Plan:
    """What a grid will do, checked: nothing is written until run_plan."""
    configs: list[RunConfig]
    out: ResultsDir
    name: str
    todo: list[RunConfig]
    work: list[list[RunConfig]]
    datasets: dict[str, Dataset]
    manifest: dict
    engine: str
    workers: int
    data_root: str | None
    executor: Executor | None = None
    loads: list[float] = field(default_factory=list)  # estimated seconds of each worker

    @property
    def seconds(self) -> float:
        """The estimated wall time: when the last worker ends."""
        return max(self.loads, default=0.0)

    @property
    def done(self) -> int:
        return len(self.configs) - len(self.todo)

    @property
    def peak_bytes(self) -> int:
        """About the memory the largest units take at once on the workers."""
        largest = sorted((unit_bytes(u) for u in self.work), reverse=True)
        return sum(largest[:max(1, min(self.workers, len(largest)))])


@dataclass
class Outcome:
    """The runs trained now: their runs.csv rows, and how many ended with each status."""
    rows: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.counts[row["status"]] = self.counts.get(row["status"], 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def plan_grid(configs: list[RunConfig], out: ResultsDir, name: str, axes: dict, overrides: list[str] = (),
              data_root: str | None = None, workers: int = 1, executor: Executor | None = None,
              scheduler: str | None = None, engine: str = "batched", extend: bool = False, search: bool = False,
              continuing: bool = False) -> Plan:
    """Refuse, writing nothing, a folder of the wrong kind, data or a grid other than the folder's
    (experiments.store.manifest), and units that would not fit in memory; what is left to run.
    search: the runs are a batch of a search (axes: its space as JSON); continuing: a later batch
    of the same command, which records no new session."""
    datasets = {dataset: places.dataset_for(dataset, data_root) for dataset in sorted({c.dataset for c in configs})}
    for c in configs:
        datasets[c.dataset].check_fits(c.val_size, c.batch_size)
    out.check()
    rows = out.rows("runs.csv")
    has_runs = bool(rows or out.rows("epochs.csv"))
    done = out.completed()
    check_devices_of(configs, rows, out)
    session = None if continuing else manifests.session(workers, scheduler, engine,
                                                        any(c.impl == "torch" for c in configs),
                                                        here=executor is None and workers <= 1)  # as run_plan
    manifest = manifests.check_and_update(
        out.path / "manifest.json", manifests.grid_entry(name, axes, list(overrides), configs, search),
        {dataset: manifests.data_entry(d, configs) for dataset, d in datasets.items()}, session, extend, has_runs)
    todo = [c for c in configs if (c.run_id, c.impl) not in done]
    if executor is None:
        check_processes(workers, any(c.impl == "torch" for c in todo))
    at_once = workers if executor is None else 1  # a cluster's size is its own: its units are not cut for it
    work = units(todo, engine, at_once)
    check_memory(work, at_once)
    images = {(c.dataset, c.val_size): (len(datasets[c.dataset].train_labels) - c.val_size,
                                        len(datasets[c.dataset].train_labels) + len(datasets[c.dataset].test_labels))
              for c in todo}
    busy = loads(unit_seconds(work, images, engine), at_once) if todo else []
    return Plan(configs, out, name, todo, work, datasets, manifest, engine, workers, data_root, executor, busy)


def check_devices_of(configs: list[RunConfig], rows: list[dict], out: ResultsDir) -> None:
    """Refuse torch runs asked for on one device into a folder that holds them on another: they share
    their run_id, so the folder's would count as done."""
    ran_on = {(r["run_id"], r["impl"]): r["device"] for r in rows if r["impl"] == "torch" and r["status"] != "failed"}
    for c in configs:
        there = ran_on.get((c.run_id, c.impl))
        if there is not None and c.device not in ("auto", there):
            raise UsageError(f"{out.path} holds the torch runs on {there}, and these ask for {c.device}: they share "
                             "their run_ids, so they would count as done; choose another --out for this device")


def run_plan(plan: Plan, progress: Progress | None = None, max_attempts: int = 2,
             always_record: bool = False) -> Outcome:
    """Train what the plan says is left, writing as it goes; the counts of the runs trained, by status.
    always_record: write the manifest (with this command's session) even with nothing to train."""
    out, path = plan.out, plan.out.path / "manifest.json"
    if plan.workers > 1 and plan.executor is None:
        check_workers(plan.workers)
    out.open()
    out.drop_incomplete()
    done = out.completed()  # again, under the lock: another run may have finished some since the plan
    if any((c.run_id, c.impl) in done for c in plan.todo):
        plan.todo = [c for c in plan.todo if (c.run_id, c.impl) not in done]
        plan.work = units(plan.todo, plan.engine, plan.workers if plan.executor is None else 1)
    if plan.todo or plan.manifest["changed"] or always_record or not path.exists():  # nothing new: kept as it is
        manifests.write(path, plan.manifest)
    progress = progress or Progress(plan.todo)
    outcome = Outcome()

    def record(unit: list[RunConfig], results: list[RunResult], epochs_written: bool) -> None:
        for result in results:
            write_run(out, result, epochs_written)
            outcome.add(result.run_row)
            progress.finish(result.run_row)

    def on_epoch(row: dict) -> None:
        out.append("epochs.csv", [row])
        progress.epoch(row)
    try:
        if plan.executor is None and plan.workers <= 1:
            places.run_here(plan.work, plan.datasets, plan.engine, on_epoch, record, progress)
        else:
            places.forget_datasets()  # the workers load the data; the client only compares checksums
            checksums = {name: entry["checksum"] for name, entry in plan.manifest["data"].items()}
            places.run_pool(plan.work, plan.data_root, checksums, plan.workers, plan.executor, plan.engine, record,
                            progress, max_attempts)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: the {outcome.total} run(s) finished since the start are in {out.path}, "
                          f"{len(plan.todo) - outcome.total} are not (rows of runs cut off are dropped on resume); "
                          "run the same command again to resume") from None
    finally:
        progress.close()
    if plan.todo:
        plan.manifest["sessions"][-1]["finished"] = manifests.now()
        manifests.write(path, plan.manifest)
    return outcome


def write_run(out: ResultsDir, result: RunResult, epochs_written: bool) -> None:
    """The epoch rows (unless they were written as they were trained), then the parameters, then
    the runs.csv row that marks the run complete."""
    if not epochs_written:
        out.append("epochs.csv", result.epoch_rows)
    for which, params in (("best", result.best), ("final", result.final)):
        if params is not None:
            out.save_params(result.run_row, which, params)
    out.append("runs.csv", [result.run_row])


def run_grid(configs: list[RunConfig], out: ResultsDir, name: str, axes: dict, overrides: list[str] = (),
             progress: Progress | None = None, max_attempts: int = 2, **options) -> Outcome:
    """plan_grid, then run_plan: a grid from Python, as `mlp-twins run` does it."""
    return run_plan(plan_grid(configs, out, name, axes, overrides, **options), progress, max_attempts)
