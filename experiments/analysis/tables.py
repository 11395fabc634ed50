"""The tables of `inspect`: comparison across learning rates, parity of the twins, best configurations.

Every mean over seeds carries its 95% interval (experiments.analysis.stats). As text and markdown
a cell reads `mean ± half-width`; as csv every number has a column of its own, named as
scikit-learn's cv_results_ names them where they mean the same thing: mean_<metric>,
std_<metric>, rank_<metric> (1 the best), and ci_low, ci_high, n_seeds.
"""
from pathlib import Path

import pandas as pd

from experiments.analysis.selection import chosen, contenders, label, load, varying
from experiments.analysis.stats import interval
from experiments.errors import UsageError
from experiments.spec.config import KNOBS, QUESTIONS, SETTINGS

METRICS = ("final_test_acc", "final_val_acc", "best_val_acc", "test_acc_at_best", "final_train_loss",
           "final_val_loss", "final_test_loss", "wall_s")
PARTS = ("comparison", "parity", "best")


def with_interval(mean: float, low: float, n: int) -> str:
    """`mean ± half-width` of a 95% interval; a lone seed is shown as its value."""
    if n == 0:
        return "-"
    return f"{mean:.4f}" if n == 1 else f"{mean:.4f} ± {mean - low:.4f}"


def summary(runs: pd.DataFrame, metric: str, keys: list[str]) -> pd.DataFrame:
    """Per group of `keys`: n_seeds, mean_<metric>, std_<metric>, ci_low, ci_high and
    rank_<metric> (1 the best: the highest accuracy, the lowest loss or time)."""
    rows = []
    for values, group in runs.groupby(keys, dropna=False, sort=True):
        found = interval(group[metric])
        rows.append({**dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True)),
                     "n_seeds": found.n, f"mean_{metric}": found.mean, f"std_{metric}": found.std,
                     "ci_low": found.low, "ci_high": found.high})
    table = pd.DataFrame(rows)
    if len(table):
        table[f"rank_{metric}"] = table[f"mean_{metric}"].rank(ascending="acc" not in metric, method="min") \
            .astype("Int64")
    return table


def comparison_keys(runs: pd.DataFrame) -> list[str]:
    """The rows of the comparison: activation, loss and every other axis the runs vary but lr."""
    return QUESTIONS + varying(runs, SETTINGS + [h for h in KNOBS if h != "lr"], within=QUESTIONS + ["impl"])


def comparison(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """metric as mean ± the half-width of its 95% interval over seeds. Rows: comparison_keys;
    columns: implementation and lr, named like `scratch, lr 0.1`."""
    ok = runs[runs.status != "failed"]
    rows = comparison_keys(ok)
    cells = summary(ok, metric, rows + ["impl", "lr"])
    if cells.empty:
        return cells
    cells["cell"] = [with_interval(m, lo, n) for m, lo, n in zip(cells[f"mean_{metric}"], cells.ci_low,
                                                                 cells.n_seeds, strict=True)]
    table = cells.set_index(rows + ["impl", "lr"])["cell"].unstack(["impl", "lr"]).sort_index(axis=1)
    table.columns = [f"{impl}, lr {label(lr)}" for impl, lr in table.columns]
    return table.fillna("")


def parity(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration run by both twins: |scratch - torch| of final_test_acc, and the largest
    |scratch - torch| over epochs of train_loss, relative to torch's. (The device follows the
    implementation, scratch running on cpu, so it is no key here.)"""
    keys = ["run_id", *QUESTIONS, *varying(runs, [c for c in SETTINGS + KNOBS if c != "device"],
                                           within=QUESTIONS + ["impl"]), "seed"]
    keys = list(dict.fromkeys(keys + ["lr"]))
    acc = runs.pivot_table(index=keys, columns="impl", values="final_test_acc", aggfunc="first")
    if not {"scratch", "torch"} <= set(acc.columns):
        return pd.DataFrame()
    acc = acc.dropna(subset=["scratch", "torch"])
    loss = epochs.pivot_table(index=["run_id", "epoch"], columns="impl", values="train_loss", aggfunc="first")
    if {"scratch", "torch"} <= set(loss.columns):
        gap = ((loss["scratch"] - loss["torch"]).abs() / loss["torch"].abs()).groupby("run_id").max()
    else:  # epochs.csv lost one twin's rows: no gap to measure
        gap = pd.Series(dtype=float)
    table = pd.DataFrame({"test_acc_diff": (acc["scratch"] - acc["torch"]).abs()})
    table["max_rel_train_loss_diff"] = gap.reindex(table.index.get_level_values("run_id")).to_numpy()
    return table.reset_index().sort_values([k for k in keys if k != "run_id"]).reset_index(drop=True)


def best(runs: pd.DataFrame) -> pd.DataFrame:
    """For each activation, loss and implementation (and setting the runs vary), the configuration
    with the best mean validation accuracy over seeds (each run at its best epoch), with the mean,
    std and 95% interval of the test accuracy at those epochs, and the rank of its validation
    accuracy among them. Empty without validation accuracies."""
    top = chosen(runs, QUESTIONS + ["impl"])
    if top.empty:
        return top
    shown = QUESTIONS + varying(runs, SETTINGS, within=["impl"]) + ["impl"]
    shown += list(dict.fromkeys(["lr", *varying(runs, KNOBS)]))
    table = top.rename(columns={"best_val_acc": "mean_best_val_acc", "val_std": "std_best_val_acc",
                                "test_acc_at_best": "mean_test_acc_at_best", "test_std": "std_test_acc_at_best",
                                "test_low": "ci_low", "test_high": "ci_high", "seeds": "n_seeds"})
    table["rank_best_val_acc"] = table.mean_best_val_acc.rank(ascending=False, method="min").astype(int)
    table = table.sort_values(shown[:-1] if len(shown) > 1 else shown)
    return table[shown + ["mean_best_val_acc", "std_best_val_acc", "rank_best_val_acc", "mean_test_acc_at_best",
                          "std_test_acc_at_best", "ci_low", "ci_high", "n_seeds"]].reset_index(drop=True)


def render(table: pd.DataFrame, fmt: str, index: bool = True) -> str:
    """text, markdown or csv; markdown and csv get the row labels as columns of plain names."""
    if table.empty:
        return "(nothing to show)"
    if index and fmt in ("markdown", "csv"):
        table, index = table.reset_index(), False
    if fmt == "markdown":
        return table.to_markdown(index=index, floatfmt=".4g")
    if fmt == "csv":
        return table.to_csv(index=index).rstrip("\n")
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_rows", 500):
        return table.to_string(index=index, float_format=lambda v: f"{v:.4g}")


def report(folder: str | Path, metric: str = "final_test_acc", fmt: str = "text", parts=PARTS,
           tables: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> str:
    """The tables of `inspect` as text; `tables`: runs and epochs already loaded."""
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    runs, epochs = tables if tables is not None else load(folder)
    counts = runs.status.value_counts().to_dict()
    out = [f"{folder}: {len(runs)} runs ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})"]
    if "comparison" in parts:
        ok = runs[runs.status != "failed"]
        keys = comparison_keys(ok)
        if fmt == "csv":
            out += [f"\n{metric} over seeds, a row per configuration\n",
                    render(summary(ok, metric, keys + ["impl", "lr"]), fmt, index=False)]
        else:
            out += [f"\n{metric}, mean ± half-width of its 95% interval over seeds (rows: {', '.join(keys)}; "
                    "columns: impl, lr)\n", render(comparison(runs, metric), fmt)]
    if "parity" in parts:
        par = parity(runs, epochs)
        out += ["\nParity of the twins: |scratch - torch| per configuration\n", render(par, fmt, index=False)]
        if not par.empty:
            out.append(f"\nworst case: test_acc_diff {par.test_acc_diff.max():.4g}, "
                       f"max_rel_train_loss_diff {par.max_rel_train_loss_diff.max():.4g}")
    if "best" in parts:
        top = best(contenders(runs, folder))
        out.append("\nBest configuration per activation and loss, chosen on mean validation accuracy "
                   "(test accuracy at the chosen epochs: mean, std and 95% interval over seeds)\n")
        if not top.empty:
            out.append(render(top, fmt, index=False))
        elif (runs.val_size == 0).all():
            out.append("(no validation split in these runs (val_size 0): nothing is chosen, since choosing "
                       "on the test set would flatter the result)")
        else:
            out.append("(no run reached an epoch with a validation accuracy: nothing to choose from)")
    return "\n".join(out)
