"""mlp-twins inspect: the tables of a results folder, its figures, its report, or a comparison
with another folder run for run."""
import argparse
from pathlib import Path

from experiments.analysis.compare import against
from experiments.analysis.selection import load
from experiments.analysis.tables import METRICS, report
from experiments.errors import UsageError


def add_parsers(sub) -> None:
    p = sub.add_parser("inspect", help="tables, plots and the report of a results folder")
    p.add_argument("folder", help="a results folder, e.g. results/default")
    p.add_argument("--metric", default=None, choices=METRICS, help="metric of the tables (default: final_test_acc)")
    p.add_argument("--format", default="text", choices=("text", "markdown", "csv"), help="(default: text)")
    p.add_argument("--plot", action="store_true", help="write PNG figures to FOLDER/plots (default: off)")
    p.add_argument("--report", action="store_true",
                   help="write FOLDER/report.md and a self-contained FOLDER/report.html that answer the questions "
                        "the grid can answer (default: off)")
    p.add_argument("--against", default=None, metavar="OTHER",
                   help="compare FOLDER with another results folder run for run, e.g. a CUDA run with a CPU one "
                        "(default: none)")
    p.add_argument("--data-root", default=None,
                   help="folder holding MNIST/raw, for the figures of mnist runs "
                        "(default: $MLP_TWINS_DATA_ROOT or data)")
    p.set_defaults(command_fn=inspect)


def inspect(args: argparse.Namespace) -> int:
    if args.against:
        if args.plot or args.report or args.metric:
            raise UsageError("--against compares every final and per-epoch metric of two folders; run --plot, "
                             "--report or --metric without it")
        print(against(args.folder, args.against, args.format))
        return 0
    tables = load(args.folder)  # once: a damaged row is named once
    print(report(args.folder, args.metric or "final_test_acc", args.format, tables=tables))
    if args.plot:
        from experiments.analysis.plots import plot_all  # matplotlib: only figures need it
        for path in plot_all(Path(args.folder), *tables, args.data_root):
            print(f"wrote {path}")
    if args.report:
        from experiments.analysis.report import write_report  # matplotlib: only figures need it
        for path in write_report(args.folder, args.data_root, tables):
            print(f"wrote {path}")
    return 0
