"""mlp-twins run (a grid) and mlp-twins train (one run): both a grid into a results folder,
through experiments.execution.runner's one lifecycle."""
import argparse
import sys
from contextlib import closing, nullcontext
from pathlib import Path

from experiments.analysis.tables import report
from experiments.cli.args import (
    PROG,
    add_config_flags,
    add_data_flags,
    add_device_flag,
    check_devices,
    config_from,
    int_at_least,
    out_folder,
    require_compiler,
)
from experiments.data.datasets import download
from experiments.errors import UsageError
from experiments.execution.limits import check_processes
from experiments.execution.plan import epochs_of
from experiments.execution.progress import EpochLines
from experiments.execution.runner import Plan, plan_grid, run_plan
from experiments.spec.config import ENGINES, format_sizes
from experiments.spec.grid import expand, read_grid
from experiments.store import manifest as manifests
from experiments.store.folder import ResultsDir


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="run a grid of configurations on both implementations")
    p.add_argument("--grid", default="default", help="default, full, tuned, or a TOML file (default: default)")
    p.add_argument("--dataset", default=None, help="override the grid's dataset axis (default: the grid's)")
    add_device_flag(p, None, "override the grid's device axis for its torch runs")
    add_data_flags(p)
    p.add_argument("--out", type=out_folder, default=None, help="results folder (default: results/<grid name>)")
    p.add_argument("--workers", type=int_at_least(1), default=1, help="worker processes (default: 1)")
    add_dask_flags(p)
    p.add_argument("--engine", default="batched", choices=ENGINES,
                   help="batched trains the runs of one seed (up to 36) as one stacked model; compiled also "
                        "puts the torch stacks through torch.compile (needs a C++ compiler; worth it for long "
                        "grids); single trains one run at a time (default: batched)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUES",
                   help="override an axis, e.g. --set lr=0.1,0.3 --set epochs=5 (default: none)")
    p.add_argument("--extend", action="store_true",
                   help="add this grid's runs to a folder that another grid wrote (default: refuse)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the runs, units, estimated time and memory, and write nothing (default: off)")
    p.set_defaults(command_fn=run)

    p = sub.add_parser("train", help="train one configuration")
    add_config_flags(p)
    add_data_flags(p)
    p.add_argument("--out", type=out_folder, default=Path("results/train"),
                   help="results folder (default: results/train)")
    p.add_argument("--compiled", action="store_true",
                   help="torch: each step (torch.func.grad and the update) as one torch.compile graph, the same "
                        "numbers up to rounding; needs a C++ compiler, compiles for 10-20 s first (default: off)")
    p.add_argument("--extend", action="store_true",
                   help="add this run to a folder that a grid wrote (default: refuse; train runs add up freely)")
    p.set_defaults(command_fn=train)


def add_dask_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", default=None,
                   help="send the work to Dask: tcp://HOST:8786 or local:N (default: this machine)")
    p.add_argument("--dask-wait", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for a Dask worker when the scheduler has none (default: 60)")


def executor_for(args: argparse.Namespace, uses_torch: bool):
    """A Dask executor for --scheduler, or a context that gives None (this machine)."""
    if args.scheduler is None:
        return nullcontext(None)
    from experiments.execution.dask import dask_executor  # the dask extra: only --scheduler needs it
    return dask_executor(args.scheduler, args.dask_wait,
                         lambda n: check_processes(n, uses_torch, "--scheduler local:N, N ="))


def describe_plan(plan: Plan) -> str:
    """What --dry-run prints: the runs, the units, the estimated time and memory."""
    lines = [f"{plan.name}: {len(plan.configs)} runs, {plan.done} already complete in {plan.out.path}, "
             f"{len(plan.todo)} to run in {len(plan.work)} unit(s)"]
    for k, unit in enumerate(plan.work, 1):
        c = unit[0]
        lines.append(f"  unit {k}: {c.impl} on {c.device}, {len(unit)} run(s) of {c.dataset} {format_sizes(c.sizes)} "
                     f"{c.dtype} seed {c.seed}, {epochs_of(unit)} epochs, batch {c.batch_size}: "
                     + ", ".join(f"{ci.activation}/{ci.loss} lr={ci.lr:g}" for ci in unit[:4])
                     + (f", ... ({len(unit) - 4} more)" if len(unit) > 4 else ""))
    workers = min(plan.workers, len(plan.work)) if plan.executor is None else "the cluster's"
    balance = ", ".join(f"{s / 60:.1f}" for s in plan.loads)
    lines.append(f"about {plan.seconds / 60:.1f} min on {workers} worker(s) (minutes of each: {balance}), about "
                 f"{plan.peak_bytes / 1e6:.0f} MB of memory beyond the data (estimated from a step timed here); "
                 "nothing was written")
    return "\n".join(lines)


def announce(plan: Plan) -> None:
    line = f"{plan.name}: {len(plan.configs)} runs, {plan.done} already complete in {plan.out.path}"
    if plan.todo:
        workers = f"{min(plan.workers, len(plan.work))} worker(s)" if plan.executor is None else "the cluster"
        line += (f", {len(plan.todo)} to run in {len(plan.work)} unit(s): about {plan.seconds / 60:.0f} min on "
                 f"{workers} (estimated from a step timed here)")
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    name, path, axes = read_grid(args.grid)
    overrides = list(args.set) + ([f"dataset={args.dataset}"] if args.dataset else []) \
        + ([f"device={args.device}"] if args.device else [])
    configs = expand(axes, overrides, str(path))
    check_devices(configs)
    if args.engine == "compiled" and any(c.impl == "torch" for c in configs):
        require_compiler("--engine compiled", "use --engine batched")
    if args.download:
        for dataset in sorted({c.dataset for c in configs} - {"sample"}):
            download(dataset, args.data_root)
    out = ResultsDir(args.out or Path("results") / name)
    with closing(out), executor_for(args, any(c.impl == "torch" for c in configs)) as executor:  # the lock, let go
        plan = plan_grid(configs, out, name, axes, overrides, args.data_root, args.workers, executor, args.scheduler,
                         args.engine, args.extend)
        if args.dry_run:
            print(describe_plan(plan))
            return 0
        announce(plan)
        outcome = run_plan(plan)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts.items())) or "nothing to run"
    print(f"done: {summary}; results in {out.path}\n")
    print(report(out.path, "final_test_acc", "text", parts=("comparison", "best")))
    print(f"\nmore: {PROG} inspect {out.path} --report (a page that answers what these runs can answer)")
    if outcome.counts.get("failed"):
        print(f"{PROG} run: {outcome.counts['failed']} run(s) failed (see the lines above); run the same command "
              "again to try them again", file=sys.stderr)
        return 1
    return 0


def train(args: argparse.Namespace) -> int:
    """One configuration: a grid of one run, named `train`. Training runs add up freely in a folder
    of training runs; into a folder a grid made, only with --extend."""
    config = config_from(args)
    check_devices([config])
    if args.compiled and config.impl != "torch":
        raise UsageError("--compiled puts the torch twin's step through torch.compile; use it with --impl torch")
    if args.compiled:
        require_compiler("--compiled", "leave --compiled out")
    if args.download and config.dataset != "sample":
        download(config.dataset, args.data_root)
    out = ResultsDir(args.out).check()
    made_by = manifests.read(out.path / "manifest.json")
    extend = args.extend or made_by is None or all(g["name"] == "train" for g in made_by["grids"])
    plan = plan_grid([config], out, "train", {}, [], args.data_root, 1, None, None,
                     "compiled" if args.compiled else "single", extend)
    split = plan.datasets[config.dataset].split(config.val_size)
    n_val = len(split.val_labels)
    print(f"{config.describe()} batch={config.batch_size} init={config.init} {config.dtype} "
          f"sizes={format_sizes(config.sizes)} on {config.dataset} ({len(split.train_labels)} train / {n_val} "
          f"validation / {len(split.test_labels)} test), run_id {config.run_id}", flush=True)
    if not plan.todo:
        print(f"already complete in {out.path}; nothing to train")
        return 0
    with closing(out):  # the lock, let go
        outcome = run_plan(plan, EpochLines(plan.todo, has_validation=n_val > 0))
    (row,) = outcome.rows
    if row["status"] == "failed":
        print(f"{PROG} train: the run failed (see the line above); run the same command again to try it again",
              file=sys.stderr)
        return 1
    best = (f"; best validation accuracy {100 * row['best_val_acc']:.2f}% at epoch {int(row['best_epoch'])}, "
            f"where the test accuracy was {100 * row['test_acc_at_best']:.2f}%" if n_val and row["best_epoch"] > 0
            else "; no epoch computed numbers to choose" if n_val else "")
    print(f"{row['status']}: final test accuracy {100 * row['final_test_acc']:.2f}%{best}; "
          f"{row['wall_s']:.1f} s; rows appended to {out.path}/runs.csv and epochs.csv")
    return 0
