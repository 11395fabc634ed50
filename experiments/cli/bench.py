"""mlp-twins bench: seconds per epoch of the twins against scikit-learn, a per-example loop and naive torch."""
import argparse
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from experiments.cli.args import compiler_found, device, int_at_least, int_list, out_folder, require_compiler, writable
from experiments.data.datasets import DATASETS, load_dataset
from experiments.errors import UsageError
from experiments.execution.limits import check_memory
from experiments.spec.grid import MAX_RUNS
from experiments.store.files import write_atomic
from experiments.tools.bench import CASES, COMPILED_CASES, grid_stack, machine, run_bench


def device_list(text: str) -> list[str]:
    names = [device(name.strip()) for name in text.split(",")]
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"{text!r} lists a device more than once; remove the duplicate")
    return names


def add_parsers(sub) -> None:
    p = sub.add_parser("bench", help="seconds per epoch against scikit-learn, a per-example loop and naive torch")
    p.add_argument("--dataset", default="mnist", choices=DATASETS, help="(default: mnist)")
    p.add_argument("--data-root", default=None, help="data root of mnist (default: $MLP_TWINS_DATA_ROOT or data)")
    p.add_argument("--device", type=device_list, default=["cpu"],
                   help="devices of the torch cases, comma-separated: cpu, cuda, cuda:N, mps or auto, the best one "
                        "present, e.g. --device cpu,cuda (default: cpu)")
    p.add_argument("--repeats", type=int_at_least(1), default=3, help="epochs measured per case (default: 3)")
    p.add_argument("--batch-sizes", type=int_list, default=(10, 100, 1000), help="(default: 10,100,1000)")
    p.add_argument("--cases", default=None,
                   help=f"(default: {','.join(CASES)}; the _compiled ones only where a C++ compiler is found)")
    p.add_argument("--configs", type=int_at_least(1), default=36,
                   help="configurations in a batched stack, as one seed of the full grid (default: 36)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"), help="(default: float64)")
    p.add_argument("--out", type=out_folder, default=Path("results/bench"), help="(default: results/bench)")
    p.add_argument("--breakdown", action="store_true",
                   help="instead: where a stack's step goes, part by part (NumPy and torch, --configs networks at the "
                        "first of --batch-sizes), against the memory bandwidth and arithmetic rate measured here; "
                        "writes breakdown.csv (default: off)")
    p.set_defaults(command_fn=bench)


def chosen_cases(text: str | None) -> list[str]:
    cases = [c.strip() for c in text.split(",") if c.strip()] if text is not None else list(CASES)
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        raise UsageError(f"unknown case {unknown[0] if unknown else text!r}; choose from {', '.join(CASES)}")
    if len(set(cases)) < len(cases):
        raise UsageError(f"--cases lists {next(c for c in cases if cases.count(c) > 1)!r} more than once; remove the "
                         "duplicate")
    if text is not None and any(c in COMPILED_CASES for c in cases):
        require_compiler(f"the cases {', '.join(COMPILED_CASES)}", "leave them out of --cases")
    elif not compiler_found():
        cases = [c for c in cases if c not in COMPILED_CASES]
        print(f"no C++ compiler for torch.compile: leaving out {', '.join(COMPILED_CASES)}", flush=True)
    return cases


def torch_devices(names: list[str], dtype: str) -> list[str]:
    """The devices asked for, present here, `auto` resolved to the best one."""
    from torch_ref import resolve_device  # torch: the benchmark measures it anyway
    found = []
    for name in names:
        try:
            resolved = resolve_device(name, dtype)
        except ValueError as e:
            raise UsageError(str(e)) from None
        found.append(name if name != "auto" else resolved.type)
    return list(dict.fromkeys(found))


def breakdown(args: argparse.Namespace) -> int:
    from experiments.tools.breakdown import breakdown as parts  # torch: the breakdown measures it
    out = Path(args.out)
    writable(out)
    rows, limits = parts(args.configs, args.batch_sizes[0], args.dtype)
    table = pd.DataFrame(rows)
    info = machine() | limits
    write_atomic(out / "breakdown.csv", table.to_csv(index=False).encode())
    write_atomic(out / "machine.json", (json.dumps(info, indent=2) + "\n").encode())
    print(f"{info['cpu']}: one core moves {limits['memory_gb_s']:.1f} GB/s from memory (a 64 MB copy), "
          f"{limits['cache_gb_s']:.1f} GB/s in its caches (a copy the size of W_1) and computes "
          f"{limits['flop_rate_gflop_s']:.1f} GFLOP/s (a 1024^3 product, {args.dtype}); a stack of {args.configs} "
          f"networks 784-16-16-10 at batch {args.batch_sizes[0]}, per training step:\n")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for engine, part in table.groupby("engine", sort=False):
        print(f"{engine}: {part.us_per_step.sum():.0f} us a step, evaluation included")
    print(f"wrote {out / 'breakdown.csv'} and {out / 'machine.json'}")
    return 0


def bench(args: argparse.Namespace) -> int:
    if args.breakdown:
        return breakdown(args)
    cases = chosen_cases(args.cases)
    devices = torch_devices(args.device, args.dtype)
    # a missing data set, batches larger than it, or stacks that would not fit in memory fail here, before any case
    load_dataset(args.dataset, args.data_root).check_fits(0, max(args.batch_sizes))
    if any(c.startswith("batched") for c in cases):
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

    rows = run_bench(args.dataset, args.data_root, devices, args.repeats, list(args.batch_sizes),
                     cases, args.configs, args.dtype, show_epoch, show)
    table = pd.DataFrame(rows)
    info = machine()
    write_atomic(out / "bench.csv", table.to_csv(index=False).encode())
    write_atomic(out / "machine.json", (json.dumps(info, indent=2) + "\n").encode())
    cols = ["case", "batch_size", "device", "sec_per_epoch", "samples_per_s", "peak_rss_mb",
            "speedup_vs_sklearn", "speedup_vs_per_example", "speedup_vs_naive_torch"]
    print(f"\n{info['cpu']} ({info['torch_cpu_capability']}), {info['cores']} cores, numpy {info['numpy']}, "
          f"torch {info['torch']}, {', '.join(info['blas'])}; one compute thread per case, "
          f"median of {args.repeats} epochs")
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {out / 'bench.csv'} and {out / 'machine.json'}")
    return 0
