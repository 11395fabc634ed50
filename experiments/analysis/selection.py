"""Model selection: which configuration is best, chosen on validation accuracy, never on the test set.

A configuration is a run's every field but its seed and implementation (experiments.spec.config:
its questions, settings and knobs). Every table averages over seeds only: any other axis a
results folder varies keeps its runs apart, hyperparameters in rows of their own and settings
(dataset, dtype, device, sizes, val_size) never pooled. Every choice of a best configuration is
made here, by `chosen`, on the mean over seeds of each run's best validation accuracy; the test
accuracy at the chosen epochs is reported, never used to choose.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.analysis.stats import interval
from experiments.errors import UsageError
from experiments.spec.config import KNOBS, QUESTIONS, SETTINGS
from experiments.store import params as param_files
from experiments.store.folder import read_tables
from experiments.store.manifest import peek

CONFIG = QUESTIONS + SETTINGS + KNOBS  # a configuration: every axis but the seed and the implementation


def searched(folder: str | Path) -> bool:
    """Whether a search wrote the folder (its manifest says so)."""
    grids = peek(Path(folder)).get("grids")
    return isinstance(grids, list) and any(isinstance(g, dict) and g.get("search") for g in grids)


def search_ranges(folder: str | Path) -> dict[str, dict]:
    """The ranges a search drew its trials from (axis -> {low, high, log}), as its manifest records
    them; {} for a grid's folder."""
    grids = peek(Path(folder)).get("grids")
    ranges = {}
    for grid in grids if isinstance(grids, list) else []:
        if isinstance(grid, dict) and grid.get("search"):
            found = (grid.get("axes") or {}).get("ranges") or {}
            ranges.update({k: v for k, v in found.items() if isinstance(v, dict) and {"low", "high"} <= set(v)})
    return ranges


def contenders(runs: pd.DataFrame, folder: str | Path) -> pd.DataFrame:
    """The runs whose configurations compete to be the best. In a search's folder, those run on
    more than one seed (the ones the search ran again): a trial's one seed would win by luck as
    often as by merit. Elsewhere, or before a search ran anything again, every run."""
    if not searched(folder) or runs.empty:
        return runs
    seeds = runs.groupby(CONFIG + ["impl"], dropna=False).seed.transform("nunique")
    again = runs[seeds > 1]
    return again if len(again) else runs


def load(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.csv and epochs.csv of a results folder, or a UsageError saying what is missing."""
    runs, epochs = read_tables(Path(folder))
    if runs.empty:
        note = " (some runs are half-written: the command that wrote them resumes them)" if len(epochs) else ""
        raise UsageError(f"{folder} has no finished runs yet{note}")
    return runs, epochs


def varying(runs: pd.DataFrame, columns: list[str], within: list[str] = ()) -> list[str]:
    """The columns among `columns` that take more than one value within a group of `within`
    (init=auto, he for relu and lecun for sigmoid, does not vary within an activation; the device
    of scratch, always cpu, not within an implementation)."""
    if runs.empty:
        return []
    if within:
        return [c for c in columns if (runs.groupby(list(within))[c].nunique(dropna=False) > 1).any()]
    return [c for c in columns if runs[c].nunique(dropna=False) > 1]


def label(value) -> str:
    """A value as a column or row label: 0.1, 1e-05, 40; as many digits as tell it apart."""
    if isinstance(value, (float, np.floating)):
        short = f"{value:g}"
        return short if float(short) == value else repr(float(value))
    return str(value)


def scored(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that are chosen among (not failed, with a validation split), each scored at its best
    epoch; a run that diverged before any epoch computed numbers is scored at the accuracies it ended
    with (its network's, at chance), so that a configuration pays for the seeds it lost. A
    configuration every seed of which diverged so is no candidate: it has no network to choose."""
    ok = runs[(runs.status != "failed") & (runs.val_size > 0)]
    has_best = ok.best_val_acc.notna().groupby([ok[c] for c in ["impl", *CONFIG]], dropna=False).transform("any")
    ok = ok[has_best]
    ok = ok.assign(best_val_acc=ok.best_val_acc.fillna(ok.final_val_acc),
                   test_acc_at_best=ok.test_acc_at_best.fillna(ok.final_test_acc))
    return ok[ok.best_val_acc.notna()]


def configurations(runs: pd.DataFrame) -> pd.DataFrame:
    """Every configuration of each implementation that has a validation accuracy, best first:
    best_val_acc (mean over seeds of each run's best), its std, test_acc_at_best (mean), its std
    and its 95% interval (test_low, test_high), the mean best epoch, the mean final test accuracy,
    how many seeds ran and diverged."""
    stats = scored(runs).groupby(["impl", *CONFIG], dropna=False).agg(
        best_val_acc=("best_val_acc", "mean"), val_std=("best_val_acc", "std"),
        test_acc_at_best=("test_acc_at_best", "mean"), test_std=("test_acc_at_best", "std"),
        test_low=("test_acc_at_best", lambda v: np.clip(interval(v).low, 0, 1)),  # an accuracy's mean is in [0, 1]
        test_high=("test_acc_at_best", lambda v: np.clip(interval(v).high, 0, 1)),  # (NaN for one seed stays NaN)
        best_epoch=("best_epoch", "mean"), final_test_acc=("final_test_acc", "mean"), seeds=("seed", "nunique"),
        diverged=("status", lambda s: int((s == "diverged").sum()))).reset_index()
    return stats.sort_values("best_val_acc", ascending=False, kind="stable").reset_index(drop=True)


def runs_of(runs: pd.DataFrame, config: pd.Series) -> pd.DataFrame:
    """The scored runs (one per seed) of a configuration: a row of `configurations`."""
    mine = scored(runs)
    mine = mine[mine.impl == config.impl]
    for column in CONFIG:
        mine = mine[(mine[column] == config[column]) | (mine[column].isna() & pd.isna(config[column]))]
    return mine


def per_seed(runs: pd.DataFrame, config: pd.Series, metric: str = "test_acc_at_best") -> dict[int, float]:
    """A configuration's `metric` by seed."""
    return {int(r.seed): float(r[metric]) for _, r in runs_of(runs, config).iterrows()}


def chosen(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of `by` (and of every setting the runs vary: those are never pooled), the
    configuration with the best mean validation accuracy over seeds, best first."""
    stats = configurations(runs)
    groups = list(dict.fromkeys(by + varying(runs, SETTINGS, within=["impl"])))
    return stats.groupby(groups, sort=False, dropna=False).head(1) if groups else stats.head(1)


def reference_impl(runs: pd.DataFrame) -> str | None:
    """The implementation whose runs answer: scratch, unless only torch's runs can be chosen among (a
    scratch run without a validation split beside torch runs with one); None when no run can be."""
    impls = set(scored(runs).impl)
    return "scratch" if "scratch" in impls else min(impls) if impls else None


def best_run(runs: pd.DataFrame) -> pd.Series | None:
    """A run of the best configuration: its seed with the best validation accuracy (of the reference
    implementation's runs); None when no run has one."""
    impl = reference_impl(runs)
    if impl is None:
        return None
    top = chosen(runs[runs.impl == impl], [])
    return runs_of(runs, top.iloc[0]).sort_values("best_val_acc", ascending=False, kind="stable").iloc[0]


class NoNetwork(UsageError):
    """A folder that chose no network: no run with a validation accuracy, or no parameter file of it."""


def chosen_network(folder: Path, runs: pd.DataFrame):
    """(the run of best_run, its parameters at its best validation epoch): the network the folder
    chose. NoNetwork says why there is none to take; a damaged file is a UsageError naming it."""
    run = best_run(contenders(runs, folder))
    if run is None:
        raise NoNetwork(f"no run in {folder} has a validation accuracy to choose the best by (val_size 0); "
                        "run the grid with a validation split")
    path = param_files.path_of(folder, run.run_id, run.impl, "best")
    if not path.exists():
        raise NoNetwork(f"the parameters of the chosen run at its best epoch, {path.name}, are not in {path.parent} "
                        "(written by an older version, or moved): run that run again")
    network = param_files.load(path)
    if not network.activation:  # written without its metadata
        network.activation, network.loss = run.activation, run.loss
    return run, network


def best_params(folder: str | Path) -> Path:
    """The parameter file of a results folder's chosen network: the run of the best configuration
    (chosen on validation) at its best epoch, as the report draws it. scratch.Network.load and
    torch_ref.TwinNet.load read it."""
    folder = Path(folder)
    runs, _ = load(folder)
    return chosen_network(folder, runs)[1].path
