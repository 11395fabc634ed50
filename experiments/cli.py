"""The command line: mlp-twins (or python -m experiments) {train, gradcheck, run, inspect, bench} ...

Every user mistake ends with one line on stderr and exit status 2; tracebacks are for bugs.
"""
import argparse
import sys
from pathlib import Path

from experiments import __version__
from experiments.bench import CASES as BENCH_CASES
from experiments.bench import COMPILED_CASES
from experiments.config import ENGINES, RANGES, RunConfig, format_sizes, parse_sizes
from experiments.errors import UsageError

PROG = "mlp-twins"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `mlp-twins train: error: ...` and status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def number_in_range(key: str):
    """An argparse type: a number that config.RANGES[key] accepts."""
    ok, what = RANGES[key]

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value
    return parse


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text}")
        return value
    return parse


def sizes(text: str) -> tuple[int, ...]:
    try:
        return parse_sizes(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of layer sizes like 784-16-16-10 "
                                         "(integers >= 1 joined by -)") from None


def int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers like 10,100") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} has a value below 1; every value must be an integer >= 1")
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"{text!r} lists a value more than once; remove the duplicate")
    return values


def val_size(text: str) -> int | str:
    return text if text == "auto" else int_at_least(0)(text)


def add_config_flags(p: argparse.ArgumentParser) -> None:
    from experiments.config import CHOICES
    d = RunConfig()
    p.add_argument("--impl", default=d.impl, choices=CHOICES["impl"], help=f"implementation (default: {d.impl})")
    p.add_argument("--activation", default=d.activation, choices=CHOICES["activation"],
                   help=f"hidden activation (default: {d.activation})")
    p.add_argument("--loss", default=d.loss, choices=CHOICES["loss"], help=f"loss function (default: {d.loss})")
    p.add_argument("--lr", type=number_in_range("lr"), default=d.lr, help=f"learning rate (default: {d.lr})")
    p.add_argument("--l2", type=number_in_range("l2"), default=d.l2,
                   help=f"L2 strength lambda: loss + lambda/(2n) sum of squared weights (default: {d.l2})")
    p.add_argument("--momentum", type=number_in_range("momentum"), default=d.momentum,
                   help=f"momentum mu in [0, 1) (default: {d.momentum})")
    p.add_argument("--lr-decay", type=number_in_range("lr_decay"), default=d.lr_decay,
                   help=f"epoch t trains with lr * lr_decay^t (default: {d.lr_decay})")
    p.add_argument("--epochs", type=int_at_least(1), default=d.epochs, help=f"epochs (default: {d.epochs})")
    p.add_argument("--batch-size", type=int_at_least(1), default=d.batch_size,
                   help=f"mini-batch size (default: {d.batch_size})")
    p.add_argument("--seed", type=int_at_least(0), default=d.seed,
                   help=f"seed of the initial weights and the mini-batches (default: {d.seed})")
    p.add_argument("--init", default=d.init, choices=CHOICES["init"],
                   help="weight initialisation; auto is lecun for sigmoid, he for relu (default: auto)")
    p.add_argument("--dtype", default=d.dtype, choices=CHOICES["dtype"], help=f"float precision (default: {d.dtype})")
    p.add_argument("--sizes", type=sizes, default=d.sizes,
                   help=f"neurons per layer, input first (default: {format_sizes(d.sizes)})")
    p.add_argument("--dataset", default=d.dataset, choices=CHOICES["dataset"], help=f"data (default: {d.dataset})")
    p.add_argument("--val-size", type=val_size, default=d.val_size,
                   help="training images held out for validation, 0 for none; auto is 10000 for mnist and "
                        "fashion-mnist, 500 for sample (default: auto)")
    p.add_argument("--device", default="auto", choices=CHOICES["device"],
                   help="torch device; auto is cuda when available (default: auto)")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    from experiments.data import DATA_ROOT_ENV, default_data_root
    p.add_argument("--data-root", default=None, help="folder holding MNIST/raw or FashionMNIST/raw "
                   f"(default: ${DATA_ROOT_ENV} or {default_data_root()})")
    p.add_argument("--download", action="store_true", help="download mnist / fashion-mnist if missing (default: off)")


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="mlp-twins: the scratch network and its torch twin")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("train", help="train one configuration")
    add_config_flags(p)
    add_data_flags(p)
    p.add_argument("--out", default="results/train", help="results folder (default: results/train)")
    p.add_argument("--compiled", action="store_true",
                   help="torch: each step (torch.func.grad and the update) as one torch.compile graph, the same "
                        "numbers up to rounding; needs a C++ compiler, compiles for 10-20 s first (default: off)")
    p.add_argument("--extend", action="store_true",
                   help="add this run to a folder that a grid wrote (default: refuse; train runs add up freely)")

    p = sub.add_parser("gradcheck", help="compare scratch gradients with torch and finite differences")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"), help="(default: float64)")
    p.add_argument("--sizes", type=sizes, default=(784, 16, 16, 10), help="(default: 784-16-16-10)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="(default: 0)")
    p.add_argument("--out", default="results/gradcheck", help="(default: results/gradcheck)")

    p = sub.add_parser("run", help="run a grid of configurations on both implementations")
    p.add_argument("--grid", default="default", help="default, full, tuned, or a TOML file (default: default)")
    p.add_argument("--dataset", default=None, help="override the grid's dataset axis (default: the grid's)")
    add_data_flags(p)
    p.add_argument("--out", default=None, help="results folder (default: results/<grid name>)")
    p.add_argument("--workers", type=int_at_least(1), default=1, help="worker processes (default: 1)")
    p.add_argument("--scheduler", default=None,
                   help="send the work to Dask: tcp://HOST:8786 or local:N (default: this machine)")
    p.add_argument("--engine", default="batched", choices=ENGINES,
                   help="batched trains the runs of one seed (up to 36) as one stacked model; compiled also "
                        "puts the torch stacks through torch.compile (needs a C++ compiler; worth it for long "
                        "grids); single trains one run at a time (default: batched)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUES",
                   help="override an axis, e.g. --set lr=0.1,0.3 --set epochs=5 (default: none)")
    p.add_argument("--extend", action="store_true",
                   help="add this grid's runs to a folder that another grid wrote (default: refuse)")

    p = sub.add_parser("inspect", help="tables, plots and the report of a results folder")
    p.add_argument("folder", help="a results folder, e.g. results/default")
    p.add_argument("--metric", default=None, help="metric of the tables (default: final_test_acc)")
    p.add_argument("--format", default="text", choices=("text", "markdown", "csv"), help="(default: text)")
    p.add_argument("--plot", action="store_true", help="write PNG figures to FOLDER/plots (default: off)")
    p.add_argument("--report", action="store_true",
                   help="write FOLDER/report.md and a self-contained FOLDER/report.html that answer the questions "
                        "the grid can answer (default: off)")
    p.add_argument("--against", default=None, metavar="OTHER",
                   help="compare FOLDER with another results folder run for run, e.g. a CUDA run with a CPU one "
                        "(default: none)")
    p.add_argument("--data-root", default=None, help="data root for the figures of mnist runs")

    p = sub.add_parser("bench", help="seconds per epoch against scikit-learn, a per-example loop and naive torch")
    p.add_argument("--dataset", default="mnist", choices=("sample", "mnist", "fashion-mnist"),
                   help="(default: mnist)")
    p.add_argument("--data-root", default=None, help="data root of mnist (default: $MLP_TWINS_DATA_ROOT or data)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="torch devices: auto is cpu, and cuda too when present (default: auto)")
    p.add_argument("--repeats", type=int_at_least(1), default=3, help="epochs measured per case (default: 3)")
    p.add_argument("--batch-sizes", type=int_list, default=(10, 100, 1000), help="(default: 10,100,1000)")
    p.add_argument("--cases", default=None,
                   help=f"(default: {','.join(BENCH_CASES)}; the _compiled ones only where a C++ compiler is found)")
    p.add_argument("--configs", type=int_at_least(1), default=36,
                   help="configurations in a batched stack, as one seed of the full grid (default: 36)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"), help="(default: float64)")
    p.add_argument("--out", default="results/bench", help="(default: results/bench)")
    return parser


def compiler_found() -> bool:
    """Whether torch.compile finds the C++ compiler it builds its kernels with (C++ kernels on
    cpu, the launchers of its GPU kernels on cuda): $CXX, g++ or clang++."""
    import os
    import shutil
    return bool(shutil.which(os.environ.get("CXX", "g++")) or shutil.which("clang++"))


def require_compiler(what: str, instead: str) -> None:
    """Fail with one line, before any work, if torch.compile would find no C++ compiler."""
    if not compiler_found():
        raise UsageError(f"{what}: torch.compile needs a C++ compiler (g++ or clang++, or $CXX); "
                         f"install one or {instead}")


def writable(folder: Path) -> None:
    """Fail with one line unless files can be created in `folder` (made if missing)."""
    from experiments.results import check_writable
    try:
        check_writable(folder)
    except OSError as e:
        raise UsageError(f"cannot write to {folder} ({e.strerror or type(e).__name__}); choose another --out") from None


def check_devices(configs) -> None:
    """Fail before any run if a torch configuration asks for a device this machine lacks
    (cpu needs no check, and so the client of a cpu grid never imports torch)."""
    devices = sorted({c.device for c in configs if c.impl == "torch"} - {"cpu"})
    if devices:
        from torch_ref import resolve_device
    for device in devices:
        try:
            resolve_device(device)
        except ValueError as e:
            raise UsageError(str(e)) from None


def cmd_bench(args) -> int:
    import json

    import pandas as pd

    from experiments.bench import machine, run_bench
    from experiments.data import load_dataset
    from experiments.results import ResultsDir

    chosen = args.cases is not None
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] if chosen else list(BENCH_CASES)
    unknown = [c for c in cases if c not in BENCH_CASES]
    if unknown or not cases:
        named = unknown[0] if unknown else args.cases
        raise UsageError(f"unknown case {named!r}; choose from {', '.join(BENCH_CASES)}")
    if len(set(cases)) < len(cases):
        raise UsageError(f"--cases lists {next(c for c in cases if cases.count(c) > 1)!r} more than once; remove the "
                         "duplicate")
    if chosen and any(c in COMPILED_CASES for c in cases):
        require_compiler(f"the cases {', '.join(COMPILED_CASES)}", "leave them out of --cases")
    elif not compiler_found():
        cases = [c for c in cases if c not in COMPILED_CASES]
        print(f"no C++ compiler for torch.compile: leaving out {', '.join(COMPILED_CASES)}", flush=True)
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' asked for but CUDA is not available here; use --device cpu or auto")
    devices = {"cpu": ["cpu"], "cuda": ["cuda"], "auto": ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])}
    # a missing data set, batches larger than it, or stacks that would not fit in memory fail here, before any case
    load_dataset(args.dataset, args.data_root).check_fits(0, max(args.batch_sizes))
    if any(c.startswith("batched") for c in cases):
        from dataclasses import replace

        from experiments.bench import grid_stack
        from experiments.grid import MAX_RUNS
        from experiments.limits import check_memory
        if args.configs > MAX_RUNS:
            raise UsageError(f"--configs {args.configs:,} is more than a stack may hold; choose at most {MAX_RUNS:,}")
        widest = replace(grid_stack(1)[0], batch_size=max(args.batch_sizes), dtype=args.dtype)
        check_memory([[widest] * args.configs], 1, "choose fewer --configs or smaller --batch-sizes")
    out = Path(args.out)
    writable(out)  # and an --out that cannot be written too, before anything is measured

    def show_epoch(case, batch_size, device, round_, seconds):
        what = "warm-up" if round_ == 0 else f"round {round_}/{args.repeats}"
        print(f"  batch {batch_size:>4} {what}: {case} {device} {seconds:.3f} s", flush=True)

    def show(row):
        print(f"{row['case']:>16} batch {row['batch_size']:>4} {row['device']:>4}: {row['sec_per_epoch']:.3f} s/epoch, "
              f"{row['samples_per_s']:,.0f} samples/s, peak {row['peak_rss_mb']:.0f} MB", flush=True)

    rows = run_bench(args.dataset, args.data_root, devices[args.device], args.repeats, list(args.batch_sizes),
                     cases, args.configs, args.dtype, show_epoch, show)
    table = pd.DataFrame(rows)
    info = machine()
    results = ResultsDir(out)
    results.replace(out / "bench.csv", table.to_csv(index=False).encode())
    results.replace(out / "machine.json", (json.dumps(info, indent=2) + "\n").encode())
    cols = ["case", "batch_size", "device", "sec_per_epoch", "samples_per_s", "peak_rss_mb",
            "speedup_vs_sklearn", "speedup_vs_per_example", "speedup_vs_naive_torch"]
    print(f"\n{info['cpu']} ({info['torch_cpu_capability']}), {info['cores']} cores, numpy {info['numpy']}, "
          f"torch {info['torch']}, {', '.join(info['blas'])}; one compute thread per case, "
          f"median of {args.repeats} epochs")
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {out / 'bench.csv'} and {out / 'machine.json'}")
    return 0


def cmd_inspect(args) -> int:
    from experiments.tables import load, report

    if args.against:
        if args.plot or args.report or args.metric:
            raise UsageError("--against compares every final and per-epoch metric of two folders; run --plot, "
                             "--report or --metric without it")
        from experiments.compare import against
        print(against(args.folder, args.against, args.format))
        return 0
    tables = load(args.folder)  # once: a damaged row is named once
    print(report(args.folder, args.metric or "final_test_acc", args.format, tables=tables))
    if args.plot:
        from experiments.plots import plot_all
        for path in plot_all(Path(args.folder), *tables, args.data_root):
            print(f"wrote {path}")
    if args.report:
        from experiments.report import write_report
        for path in write_report(args.folder, args.data_root, tables):
            print(f"wrote {path}")
    return 0


def cmd_run(args) -> int:
    from experiments.grid import expand, read_grid
    from experiments.results import ResultsDir
    from experiments.runner import run_grid
    from experiments.tables import report

    name, axes = read_grid(args.grid)
    overrides = list(args.set) + ([f"dataset={args.dataset}"] if args.dataset else [])
    configs = expand(axes, overrides)
    check_devices(configs)
    if args.engine == "compiled" and any(c.impl == "torch" for c in configs):
        require_compiler("--engine compiled", "use --engine batched")
    if args.download:
        from experiments.data import load_dataset
        for dataset in sorted({c.dataset for c in configs}):
            load_dataset(dataset, args.data_root, download=True)
    out = ResultsDir(args.out or Path("results") / name)  # opened by run_grid once its checks have passed
    options = {"data_root": args.data_root, "workers": args.workers, "scheduler": args.scheduler,
               "engine": args.engine, "extend": args.extend}
    if args.scheduler:
        from experiments.cluster import dask_executor
        with dask_executor(args.scheduler) as executor:
            counts = run_grid(configs, out, name, axes, overrides, executor=executor, **options)
    else:
        counts = run_grid(configs, out, name, axes, overrides, **options)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to run"
    print(f"done: {summary}; results in {out.path}\n")
    print(report(out.path, "final_test_acc", "text", parts=("comparison",)))
    if counts.get("failed"):
        print(f"{PROG} run: {counts['failed']} run(s) failed (see the lines above); run the same command again "
              "to try them again", file=sys.stderr)
        return 1
    return 0


def cmd_train(args) -> int:
    from experiments import manifest as manifests
    from experiments.data import load_dataset
    from experiments.execute import execute
    from experiments.limits import check_memory
    from experiments.results import ResultsDir

    device = args.device
    if args.impl == "scratch":
        device = "cpu" if device == "auto" else device
    config = RunConfig(impl=args.impl, device=device, dataset=args.dataset, sizes=args.sizes,
                       activation=args.activation, loss=args.loss, lr=args.lr, batch_size=args.batch_size,
                       epochs=args.epochs, seed=args.seed, init=args.init, dtype=args.dtype, val_size=args.val_size,
                       l2=args.l2, momentum=args.momentum, lr_decay=args.lr_decay).resolved()
    check_devices([config])
    if args.compiled and config.impl != "torch":
        raise UsageError("--compiled puts the torch twin's step through torch.compile; use it with --impl torch")
    if args.compiled:
        require_compiler("--compiled", "leave --compiled out")
    check_memory([[config]], 1)
    dataset = load_dataset(config.dataset, args.data_root, args.download)
    dataset.check_fits(config.val_size, config.batch_size)
    split = dataset.split(config.val_size)
    # train follows run's rules: the folder's data must be this data, and a folder made by a grid takes a
    # training run only with --extend; each training run is a grid of its own, and they add up freely
    out = ResultsDir(args.out).check()
    path = out.path / "manifest.json"
    made_by = manifests.read(path)
    extend = args.extend or made_by is None or all(g["name"] == "train" for g in made_by["grids"])
    info = manifests.check_and_update(
        path, manifests.grid_entry("train", {}, [], [config]), {dataset.name: manifests.data_entry(dataset, [config])},
        manifests.session(1, None, "compiled" if args.compiled else "single", config.impl == "torch"),
        extend=extend, has_runs=bool(out.statuses()))
    out.open()
    out.drop_incomplete()
    n_val, n_test = len(split.val_labels), len(split.test_labels)
    print(f"{config.impl} {config.activation}/{config.loss} lr={config.lr} l2={config.l2} momentum={config.momentum} "
          f"lr_decay={config.lr_decay} batch={config.batch_size} init={config.init} {config.dtype} "
          f"sizes={format_sizes(config.sizes)} on {config.dataset} ({len(split.train_labels)} train / {n_val} "
          f"validation / {n_test} test), run_id {config.run_id}")
    if (config.run_id, config.impl) in out.completed():
        print(f"already complete in {out.path}; nothing to train")
        return 0
    manifests.write(path, info)

    def on_epoch(row: dict) -> None:
        out.append("epochs.csv", [row])
        val = f"val_acc {100 * row['val_acc']:.2f}%  " if n_val else ""
        print(f"epoch {row['epoch']:3d}/{config.epochs}: {val}test_acc {100 * row['test_acc']:.2f}%  "
              f"train_loss {row['train_loss']:.4g}  {row['wall_s']:.2f} s", flush=True)

    run_row, _, (weights, biases) = execute(config, dataset, on_epoch, args.compiled)
    out.save_params(run_row["run_id"], run_row["impl"], weights, biases)
    out.append("runs.csv", [run_row])
    info["sessions"][-1]["finished"] = manifests.now()
    manifests.write(path, info)
    best = (f"; best validation accuracy {100 * run_row['best_val_acc']:.2f}% at epoch {run_row['best_epoch']}, "
            f"where the test accuracy was {100 * run_row['test_acc_at_best']:.2f}%" if n_val else "")
    print(f"{run_row['status']}: final test accuracy {100 * run_row['final_test_acc']:.2f}%{best}; "
          f"{run_row['wall_s']:.1f} s; rows appended to {out.path}/runs.csv and epochs.csv")
    return 0


def cmd_gradcheck(args) -> int:
    import pandas as pd

    from experiments.gradcheck import TOLERANCES, gradcheck
    from experiments.results import ResultsDir

    out = Path(args.out)
    writable(out)
    checks = gradcheck(args.dtype, args.sizes, args.seed)
    table = pd.DataFrame([{**c.__dict__, "passed": c.passed} for c in checks])
    ResultsDir(out).replace(out / "gradcheck.csv", table.to_csv(index=False).encode())
    worst = table.assign(l2=table.l2.map("{:g}".format)).pivot_table(
        index=["activation", "loss", "l2"], columns="reference", values="rel_err", aggfunc="max")
    with pd.option_context("display.float_format", "{:.2e}".format, "display.width", 120):
        print(f"largest rel_err over the {len(args.sizes) - 1} layers' weights and biases ({args.dtype}; "
              "tolerances: torch "
              f"{table[table.reference == 'torch'].tolerance.iloc[0]:g}, finite_difference "
              f"{TOLERANCES[args.dtype]['finite_difference']:g} plus the difference quotient's rounding error)\n")
        print(worst.to_string())
    for _, r in table[table.entries == 0].iterrows():
        print(f"note: {r.activation}/{r.loss} l2={r.l2:g} {r.param}: no entry could be compared by finite "
              "differences (each step crossed a ReLU kink); it is checked against torch only")
    failed = table[~table.passed]
    for _, r in failed.iterrows():
        print(f"FAILED {r.activation}/{r.loss} l2={r.l2:g} {r.param} against {r.reference}: "
              f"rel_err {r.rel_err:.2e} > {r.tolerance:g}")
    empty = int((table.entries == 0).sum())
    print(f"\n{len(table) - len(failed)} / {len(table)} checks within tolerance"
          + (f" ({empty} of them with no entry to compare)" if empty else "") + f"; wrote {out / 'gradcheck.csv'}")
    return 1 if len(failed) else 0


COMMANDS = {"train": cmd_train, "gradcheck": cmd_gradcheck, "run": cmd_run, "inspect": cmd_inspect, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    """A command's exit status (SIGTERM is made a Ctrl-C by the console entry, experiments.console)."""
    from experiments.console import flush
    from experiments.runner import Interrupted

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as e:
        flush()  # what the command printed comes before its error, in a file of both
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"{PROG} {args.command}: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        kept = {"train": "; the epoch rows written so far are kept, and the same command trains the run again",
                "run": "; the rows written so far are kept, and the same command resumes"}
        print(f"{PROG} {args.command}: interrupted{kept.get(args.command, '')}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout left (| head): not an error of this command
        flush()
        return 141
    except OSError as e:  # a path the system refuses (a name too long, a loop of links, ...): the user's to fix
        if e.filename is None:
            raise
        print(f"{PROG} {args.command}: error: {e.filename}: {e.strerror or type(e).__name__}; choose another path",
              file=sys.stderr)
        return 2
