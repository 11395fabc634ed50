"""mlp-twins search: a hyperparameter search over ranges with Optuna, trained and written as a grid
is (experiments.execution.search)."""
import argparse
import sys
from contextlib import closing
from pathlib import Path

from experiments.analysis.tables import report
from experiments.cli.args import PROG, add_data_flags, int_at_least, out_folder, require_compiler
from experiments.cli.run import add_dask_flags, executor_for
from experiments.data.datasets import download
from experiments.errors import UsageError
from experiments.spec.config import ENGINES
from experiments.spec.space import read_space
from experiments.store.folder import ResultsDir


def add_parsers(sub) -> None:
    p = sub.add_parser("search", help="search hyperparameters over ranges with Optuna, chosen on validation")
    p.add_argument("--space", default="default",
                   help="a bundled search space (default, full) or a TOML file of ranges, choices and fixed "
                        "settings (default: default)")
    p.add_argument("--trials", type=int_at_least(1), default=24, help="trials to complete in all (default: 24)")
    p.add_argument("--out", type=out_folder, default=None, help="results folder (default: results/search-<space>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUES",
                   help="fix an axis, or make it a choice, as in run: --set epochs=30 (default: none)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seeds Optuna's sampler (default: 0)")
    p.add_argument("--batch", type=int_at_least(1), default=36,
                   help="trials asked at once and trained as one grid, stacked (default: 36)")
    p.add_argument("--confirm", type=int_at_least(0), default=3,
                   help="the best configurations run again on --confirm-seeds seeds at the end (default: 3)")
    p.add_argument("--confirm-seeds", type=int_at_least(2), default=5,
                   help="seeds each of them runs on, its trial's seed among them; the report chooses among these "
                        "(default: 5)")
    add_data_flags(p)
    p.add_argument("--workers", type=int_at_least(1), default=1, help="worker processes (default: 1)")
    add_dask_flags(p)
    p.add_argument("--engine", default="batched", choices=ENGINES, help="as in run (default: batched)")
    p.add_argument("--extend", action="store_true",
                   help="add this search's runs to a folder that a grid or another search wrote (default: refuse)")
    p.set_defaults(command_fn=search)


def search(args: argparse.Namespace) -> int:
    try:
        import optuna  # noqa: F401  the search extra: only this command needs it
    except ImportError:
        raise UsageError("search needs Optuna: pip install -e '.[search]'") from None
    from experiments.execution.search import run_search  # optuna: only this command needs it
    space = read_space(args.space, args.set)
    if args.engine == "compiled" and space.fixed.get("impl") == "torch":
        require_compiler("--engine compiled", "use --engine batched")
    if args.download and space.fixed.get("dataset", "sample") != "sample":
        download(space.fixed["dataset"], args.data_root)
    out = ResultsDir(args.out or Path("results") / f"search-{space.name}")
    with closing(out), executor_for(args, space.fixed.get("impl") == "torch") as executor:  # the lock, let go
        outcome = run_search(space, args.trials, out, args.set, args.data_root, args.workers, executor,
                             args.scheduler, args.engine, args.seed, args.batch, args.confirm, args.confirm_seeds,
                             args.extend, announce=lambda text: print(text, flush=True))
    print(f"\ndone: {outcome.trials} trials complete, {outcome.trained} run(s) trained now; results in {out.path}")
    if outcome.best is not None:
        print(f"best trial (validation accuracy {100 * outcome.best_value:.2f}%): {outcome.best.describe()}")
    print(report(out.path, "test_acc_at_best", "text", parts=("best",)))
    failed = sum(1 for r in out.rows("runs.csv") if r["status"] == "failed")
    if failed:
        print(f"{PROG} search: {failed} run(s) failed; run the same command again to try them again", file=sys.stderr)
        return 1
    return 0
