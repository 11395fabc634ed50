"""The tables of `inspect`: comparison across learning rates, parity of the twins, best runs."""
from pathlib import Path

import pandas as pd

from experiments.errors import UsageError
from experiments.results import EPOCHS_COLUMNS, RUNS_COLUMNS

METRICS = ("final_test_acc", "best_test_acc", "final_train_loss", "final_test_loss", "wall_s")
# every column that tells configurations apart, except the ones that become table axes
CONFIG_KEYS = ["dataset", "sizes", "activation", "loss", "lr", "batch_size", "epochs", "init", "dtype"]


def load(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.csv and epochs.csv of a results folder, or a UsageError saying what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give a results folder such as results/default")
    tables = []
    for name, columns in (("runs.csv", RUNS_COLUMNS), ("epochs.csv", EPOCHS_COLUMNS)):
        path = folder / name
        if not path.exists():
            raise UsageError(f"{folder} has no {name}; run `python -m experiments run --out {folder}` first")
        try:
            table = pd.read_csv(path)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            raise UsageError(f"{path} is not a readable CSV table ({str(e).splitlines()[0]})") from None
        if list(table.columns) != columns:
            raise UsageError(f"{path} has other columns than this version writes; it comes from another tool "
                             "or version")
        tables.append(table)
    runs, epochs = tables
    if runs.empty:
        note = " (some runs are half-written: resume with `run`)" if len(epochs) else ""
        raise UsageError(f"{folder} has no finished runs yet{note}")
    return runs, epochs


def comparison(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """metric as `mean ± std` over seeds; rows (activation, loss), columns (impl, lr)."""
    ok = runs[runs.status != "failed"]
    stats = ok.groupby(["impl", "activation", "loss", "lr"])[metric].agg(["mean", "std", "count"])
    text = stats.apply(lambda r: f"{r['mean']:.4f} ± {0 if pd.isna(r['std']) else r['std']:.4f}", axis=1)
    return text.unstack(["impl", "lr"]).sort_index(axis=1)


def parity(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: |scratch - torch| of final_test_acc, and max over epochs of |delta train_loss|."""
    keys = ["run_id", "activation", "loss", "lr", "seed"]
    acc = runs.pivot_table(index=keys, columns="impl", values="final_test_acc", aggfunc="first")
    if not {"scratch", "torch"} <= set(acc.columns):
        return pd.DataFrame()
    acc = acc.dropna(subset=["scratch", "torch"])
    loss = epochs.pivot_table(index=["run_id", "epoch"], columns="impl", values="train_loss", aggfunc="first")
    gap = (loss["scratch"] - loss["torch"]).abs().groupby("run_id").max()
    table = pd.DataFrame({"test_acc_diff": (acc["scratch"] - acc["torch"]).abs()})
    table["max_train_loss_diff"] = gap.reindex(table.index.get_level_values("run_id")).to_numpy()
    return table.reset_index().sort_values(["activation", "loss", "lr", "seed"]).reset_index(drop=True)


def best(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """For each (activation, loss) and impl, the configuration with the best mean metric over seeds."""
    ok = runs[runs.status == "ok"]
    keys = [k for k in CONFIG_KEYS if ok[k].nunique() > 1 or k in ("activation", "loss", "lr")]
    means = ok.groupby(["impl", *keys])[metric].agg(["mean", "std", "count"]).reset_index()
    ascending = "loss" in metric or metric == "wall_s"
    means = means.sort_values("mean", ascending=ascending)
    top = means.groupby(["activation", "loss", "impl"], sort=True).head(1)
    return top.sort_values(["activation", "loss", "impl"]).rename(columns={"mean": metric, "count": "seeds"}) \
        .reset_index(drop=True)


def render(table: pd.DataFrame, fmt: str) -> str:
    if table.empty:
        return "(nothing to compare)"
    if fmt == "markdown":
        return table.to_markdown(floatfmt=".4g")
    if fmt == "csv":
        return table.to_csv()
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_rows", 500):
        return table.to_string(float_format=lambda v: f"{v:.4g}")


def report(folder: str | Path, metric: str = "final_test_acc", fmt: str = "text") -> str:
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    runs, epochs = load(folder)
    counts = runs.status.value_counts().to_dict()
    par = parity(runs, epochs)
    parts = [f"{folder}: {len(runs)} runs ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})",
             f"\n1. {metric}, mean ± std over seeds (rows: activation, loss; columns: impl, lr)\n",
             render(comparison(runs, metric), fmt),
             "\n2. Parity of the twins: |scratch - torch| per configuration\n",
             render(par, fmt)]
    if not par.empty:
        parts.append(f"\nworst case: test_acc_diff {par.test_acc_diff.max():.4g}, "
                     f"max_train_loss_diff {par.max_train_loss_diff.max():.4g}")
    parts += [f"\n3. Best configuration per (activation, loss), by mean {metric}\n", render(best(runs, metric), fmt)]
    return "\n".join(parts)
