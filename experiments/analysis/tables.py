"""The tables of `inspect`: comparison across learning rates, parity of the twins, best configurations."""
from pathlib import Path

import pandas as pd

from experiments.analysis.selection import chosen, label, load, varying
from experiments.errors import UsageError
from experiments.spec.config import KNOBS, QUESTIONS, SETTINGS

METRICS = ("final_test_acc", "final_val_acc", "best_val_acc", "test_acc_at_best", "final_train_loss",
           "final_val_loss", "final_test_loss", "wall_s")
PARTS = ("comparison", "parity", "best")


def mean_std(values: pd.Series) -> str:
    """`mean ± std` over seeds; a lone seed is shown as its value."""
    values = values.dropna()
    if len(values) == 0:
        return "-"
    if len(values) == 1:
        return f"{values.iloc[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std():.4f}"


def comparison(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """metric as mean ± std over seeds. Rows: activation, loss and every other axis the runs
    vary but lr; columns: implementation and lr, named like `scratch, lr 0.1`."""
    ok = runs[runs.status != "failed"]
    rows = QUESTIONS + varying(ok, SETTINGS + [h for h in KNOBS if h != "lr"], within=QUESTIONS + ["impl"])
    cells = ok.groupby(rows + ["impl", "lr"], dropna=False)[metric].apply(mean_std)
    table = cells.unstack(["impl", "lr"]).sort_index(axis=1)
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
    with the best mean validation accuracy over seeds (each run at its best epoch), with the mean
    and std of the test accuracy at those epochs. Empty without validation accuracies."""
    top = chosen(runs, QUESTIONS + ["impl"])
    if top.empty:
        return top
    shown = QUESTIONS + varying(runs, SETTINGS, within=["impl"]) + ["impl"]
    shown += list(dict.fromkeys(["lr", *varying(runs, KNOBS, within=QUESTIONS)]))
    table = top.sort_values(shown[:-1] if len(shown) > 1 else shown)[
        shown + ["best_val_acc", "test_acc_at_best", "test_std", "seeds"]]
    return table.rename(columns={"test_std": "test_acc_std"}).reset_index(drop=True)


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
    table = comparison(runs, metric)
    if "comparison" in parts:
        out += [f"\n{metric}, mean ± std over seeds (rows: {', '.join(table.index.names)}; columns: impl, lr)\n",
                render(table, fmt)]
    if "parity" in parts:
        par = parity(runs, epochs)
        out += ["\nParity of the twins: |scratch - torch| per configuration\n", render(par, fmt, index=False)]
        if not par.empty:
            out.append(f"\nworst case: test_acc_diff {par.test_acc_diff.max():.4g}, "
                       f"max_rel_train_loss_diff {par.max_rel_train_loss_diff.max():.4g}")
    if "best" in parts:
        top = best(runs)
        out.append("\nBest configuration per activation and loss, chosen on mean validation accuracy "
                   "(test accuracy at the chosen epochs: mean and std over seeds)\n")
        if not top.empty:
            out.append(render(top, fmt, index=False))
        elif (runs.val_size == 0).all():
            out.append("(no validation split in these runs (val_size 0): nothing is chosen, since choosing "
                       "on the test set would flatter the result)")
        else:
            out.append("(no run reached an epoch with a validation accuracy: nothing to choose from)")
    return "\n".join(out)
