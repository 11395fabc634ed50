"""inspect A --against B: two results folders compared run for run.

Runs are matched by implementation and configuration, device and dtype aside (so that the
run_id of a float64 run meets its float32 twin's), and a seed being part of the configuration.

The tool that checks a CUDA run against the CPU's, float32 against float64, or one machine
against another: what differs in how the folders were made (from their manifests), then per
configuration the largest absolute differences of the final and per-epoch metrics, a summary
of how many runs agree to 1e-9 and 1e-6 relative, and the runs only one folder holds.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.analysis.selection import label, load
from experiments.analysis.tables import render
from experiments.spec.config import COLUMNS as CONFIG_COLUMNS
from experiments.spec.config import QUESTIONS
from experiments.store.manifest import peek

MATCH = [c for c in CONFIG_COLUMNS if c not in ("device", "dtype")]  # impl and the configuration

FINAL = ["final_train_loss", "final_val_loss", "final_test_loss", "final_val_acc", "final_test_acc",
         "test_acc_at_best"]
PER_EPOCH = ["train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc"]
SESSION_KEYS = ["cpu", "simd", "cpu_count", "python", "numpy", "torch", "mlp_twins", "git_commit", "engine"]


def made_by(folder: Path, runs: pd.DataFrame) -> dict[str, str]:
    """How a folder was made, as text per item: devices and dtypes of its runs, and what its
    manifest's sessions record (CPU, SIMD, versions, kernels)."""
    info = {"device": ", ".join(sorted(runs.device.unique())), "dtype": ", ".join(sorted(runs.dtype.unique()))}
    sessions = sessions_of(folder)
    for key in SESSION_KEYS:
        values = {json.dumps(s.get(key)) for s in sessions}
        info[key] = ", ".join(sorted(v.strip('"') for v in values)) if values else "(no manifest)"
    kernels = {json.dumps(kernels_of(s.get("kernels")), sort_keys=True) for s in sessions}
    info["kernels"] = "; ".join(sorted(kernels)) if kernels else "(no manifest)"
    return info


def kernels_of(kernels) -> dict:
    """What decides the kernels, from a session's record (anything else in it is ignored)."""
    kernels = kernels if isinstance(kernels, dict) else {}
    blas = kernels.get("numpy_blas")
    env = kernels.get("env")
    return {"torch": kernels.get("torch_cpu_capability"),
            "numpy": [b.get("architecture") for b in blas if isinstance(b, dict)] if isinstance(blas, list) else [],
            "env": {k: v for k, v in env.items() if v} if isinstance(env, dict) else {}}


def relative(x, y) -> np.ndarray:
    """|x - y| / max(|x|, |y|) elementwise: 0 where both are equal (NaN included), inf where one is NaN."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    scale = np.maximum(np.abs(x), np.abs(y))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(scale > 0, np.abs(x - y) / np.where(scale > 0, scale, 1.0), 0.0)
    out = np.where(np.isnan(x) & np.isnan(y), 0.0, out)
    return np.where(np.isnan(x) ^ np.isnan(y), np.inf, out)


def largest(values) -> float:
    """The largest value that is not NaN, 0 when there is none."""
    values = np.asarray(values, dtype=float)
    return float(values[~np.isnan(values)].max(initial=0.0))


def sessions_of(folder: Path) -> list[dict]:
    """The sessions a folder's manifest records; none when it is missing or not of this layout."""
    sessions = peek(folder).get("sessions", [])
    return [s for s in sessions if isinstance(s, dict)] if isinstance(sessions, list) else []


def compare(a: Path, b: Path) -> tuple[dict, pd.DataFrame, dict]:
    """(what differs in how they were made, a row per run in both folders, a summary)."""
    runs_a, epochs_a = load(a)
    runs_b, epochs_b = load(b)
    both = runs_a.merge(runs_b, on=MATCH, suffixes=("_a", "_b"))
    rows, one_sided = [], 0
    for _, run in both.iterrows():
        a_rows = epochs_a[(epochs_a.run_id == run.run_id_a) & (epochs_a.impl == run.impl)]
        b_rows = epochs_b[(epochs_b.run_id == run.run_id_b) & (epochs_b.impl == run.impl)]
        mine = a_rows.merge(b_rows, on="epoch", how="outer", suffixes=("_a", "_b"))
        one_sided += a_rows.empty != b_rows.empty
        row = {"run_id": run.run_id_a, "impl": run.impl, **{q: run[q] for q in QUESTIONS}, "lr": run.lr,
               "seed": run.seed, "status": run.status_a if run.status_a == run.status_b
               else f"{run.status_a} | {run.status_b}"}
        for m in FINAL:  # NaN where a side has no value (a failed run), never a difference of 0
            row[f"abs_diff_{m}"] = abs(run[f"{m}_a"] - run[f"{m}_b"])
        for kind, metrics in (("loss", PER_EPOCH[:3]), ("acc", PER_EPOCH[3:])):
            gaps = [largest(np.abs(mine[f"{m}_a"] - mine[f"{m}_b"])) for m in metrics]
            row[f"max_abs_diff_epoch_{kind}"] = float(max(gaps))
        rel = [relative(run[f"{m}_a"], run[f"{m}_b"]) for m in FINAL]
        rel += [relative(mine[f"{m}_a"], mine[f"{m}_b"]).max(initial=0.0) for m in PER_EPOCH]
        # inf where one side lacks a value or an epoch (a failed or diverged run against a finished one)
        row["max_rel_diff"] = float(max(np.max(r) for r in rel)) if run.status_a == run.status_b else np.inf
        rows.append(row)
    table = pd.DataFrame(rows)
    only_a = runs_a.merge(runs_b[MATCH], on=MATCH, how="left", indicator=True).query("_merge == 'left_only'")
    only_b = runs_b.merge(runs_a[MATCH], on=MATCH, how="left", indicator=True).query("_merge == 'left_only'")
    summary = {"both": len(table), "only_a": only_a, "only_b": only_b, "one_sided": int(one_sided)}
    if len(table):
        table = table.sort_values("max_rel_diff", ascending=False, kind="stable").reset_index(drop=True)
        summary.update(agree_9=int((table.max_rel_diff <= 1e-9).sum()), agree_6=int((table.max_rel_diff <= 1e-6).sum()),
                       status=table[table.status.str.contains("|", regex=False)], worst=table.iloc[0])
    info_a, info_b = made_by(a, runs_a), made_by(b, runs_b)
    differences = {k: (info_a[k], info_b[k]) for k in info_a if info_a[k] != info_b[k]}
    return differences, table, summary


def against(a: str | Path, b: str | Path, fmt: str = "text") -> str:
    a, b = Path(a), Path(b)
    differences, table, summary = compare(a, b)
    out = [f"{a} against {b}", ""]
    if differences:
        out.append("How they were made differs in:")
        out += [f"  {k}: {va}  |  {vb}" for k, (va, vb) in differences.items()]
    else:
        out.append("How they were made: the same devices, dtypes, CPU, versions and kernels.")
    if summary["both"]:
        w = summary["worst"]
        out += ["", f"{summary['both']} runs in both: {summary['agree_9']} agree to 1e-9 relative in every final and "
                f"per-epoch metric, {summary['agree_6']} to 1e-6; the worst, {w.activation}/{w.loss} lr {label(w.lr)} "
                f"seed {w.seed} ({w.impl}, run {w.run_id}), differs by {w.max_rel_diff:.3g} relative "
                f"(final test accuracy by {w.abs_diff_final_test_acc:.4g})."]
        if summary["one_sided"]:
            out.append(f"{summary['one_sided']} of them have epoch rows in only one folder's epochs.csv: their "
                       "per-epoch metrics cannot be compared, and count as differing by inf.")
        if len(summary["status"]):
            listed = ", ".join(f"{r.run_id}-{r.impl} ({r.status})" for r in summary["status"].head(10).itertuples())
            out.append(f"{len(summary['status'])} run(s) ended otherwise in the two folders: {listed}")
    else:
        out += ["", "No run is in both folders."]
    for name, only in ((a, summary["only_a"]), (b, summary["only_b"])):
        if len(only):
            listed = ", ".join(f"{r.run_id}-{r.impl}" for r in only.head(10).itertuples())
            out.append(f"{len(only)} run(s) only in {name}: {listed}" + (" ..." if len(only) > 10 else ""))
    if len(table):
        out += ["", render(table, fmt, index=False)]
    return "\n".join(out)
