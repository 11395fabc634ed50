"""inspect A --against B: two results folders compared run for run.

Runs are matched on every field of their configuration, the implementation and the seed
included. A setting in which the two folders differ as wholes (every run of one in float64,
every run of the other in float32; one on cpu, the other on cuda) is matched across, and the
table shows it; a setting either folder varies within itself is matched on, so that a folder
of float32 and float64 runs compared with itself pairs each run with its own.

The tool that checks a CUDA run against the CPU's, float32 against float64, or one machine
against another: what differs in how the folders were made (from their manifests), then per
configuration the largest absolute differences of the final and per-epoch metrics, a summary
of how many runs agree to 1e-9 and 1e-6 relative, and the runs only one folder holds.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.analysis.selection import label, load
from experiments.analysis.tables import render
from experiments.spec.config import COLUMNS as CONFIG_COLUMNS
from experiments.spec.config import QUESTIONS, SETTINGS
from experiments.store.manifest import peek

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


@dataclass
class Comparison:
    """Two folders run for run: what differs in how they were made, a row per run in both, and the
    runs only one holds."""
    differences: dict[str, tuple[str, str]]  # how they were made, where it differs: item -> (a, b)
    across: list[str]       # settings matched across (each folder all of one value, the two apart)
    table: pd.DataFrame     # a row per run in both, the most different first
    only_a: pd.DataFrame
    only_b: pd.DataFrame
    one_sided: int          # runs in both with epoch rows in only one folder

    @property
    def both(self) -> int:
        return len(self.table)

    def agree(self, tolerance: float) -> int:
        """How many runs agree to `tolerance` relative in every final and per-epoch metric."""
        return int((self.table.max_rel_diff <= tolerance).sum()) if self.both else 0

    @property
    def ended_otherwise(self) -> pd.DataFrame:
        return self.table[self.table.status.str.contains("|", regex=False)] if self.both else self.table


def matched_across(runs_a: pd.DataFrame, runs_b: pd.DataFrame) -> list[str]:
    """The settings in which the folders differ as wholes: one value in each, not the same."""
    return [c for c in SETTINGS if runs_a[c].nunique() == 1 and runs_b[c].nunique() == 1
            and runs_a[c].iloc[0] != runs_b[c].iloc[0]]


def pairs(runs_a: pd.DataFrame, runs_b: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The runs of one folder beside their match in the other (columns _a and _b), each
    implementation matched on its own (the scratch runs of a cuda grid stay on cpu), and the
    settings matched across."""
    merged, across = [], []
    for impl in sorted(set(runs_a.impl) & set(runs_b.impl)):
        mine, theirs = runs_a[runs_a.impl == impl], runs_b[runs_b.impl == impl]
        apart = matched_across(mine, theirs)
        both = mine.merge(theirs, on=[c for c in CONFIG_COLUMNS if c not in apart], suffixes=("_a", "_b"))
        for c in set(CONFIG_COLUMNS) - set(apart) - {"run_id"}:
            both[f"{c}_a"] = both[f"{c}_b"] = both[c]
        merged.append(both)
        across += [c for c in apart if c not in across]
    return (pd.concat(merged, ignore_index=True) if merged else pd.DataFrame()), across


def compare(a: Path, b: Path) -> Comparison:
    runs_a, epochs_a = load(a)
    runs_b, epochs_b = load(b)
    both, across = pairs(runs_a, runs_b)
    rows, one_sided = [], 0
    for _, run in both.iterrows():
        a_rows = epochs_a[(epochs_a.run_id == run.run_id_a) & (epochs_a.impl == run.impl)]
        b_rows = epochs_b[(epochs_b.run_id == run.run_id_b) & (epochs_b.impl == run.impl)]
        mine = a_rows.merge(b_rows, on="epoch", how="outer", suffixes=("_a", "_b"))
        one_sided += a_rows.empty != b_rows.empty
        row = {"run_id": run.run_id_a, "impl": run.impl, **{q: run[q] for q in QUESTIONS}, "lr": run.lr,
               "seed": run.seed, **{c: f"{run[c + '_a']} | {run[c + '_b']}" for c in across},
               "status": run.status_a if run.status_a == run.status_b else f"{run.status_a} | {run.status_b}"}
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
    if len(table):
        table = table.sort_values("max_rel_diff", ascending=False, kind="stable").reset_index(drop=True)
    matched_a = set(zip(both.get("run_id_a", []), both.get("impl", []), strict=True))
    matched_b = set(zip(both.get("run_id_b", []), both.get("impl", []), strict=True))
    only_a = runs_a[[k not in matched_a for k in zip(runs_a.run_id, runs_a.impl, strict=True)]]
    only_b = runs_b[[k not in matched_b for k in zip(runs_b.run_id, runs_b.impl, strict=True)]]
    info_a, info_b = made_by(a, runs_a), made_by(b, runs_b)
    differences = {k: (info_a[k], info_b[k]) for k in info_a if info_a[k] != info_b[k]}
    return Comparison(differences, across, table, only_a, only_b, int(one_sided))


def against(a: str | Path, b: str | Path, fmt: str = "text") -> str:
    a, b = Path(a), Path(b)
    found = compare(a, b)
    out = [f"{a} against {b}", ""]
    if found.differences:
        out.append("How they were made differs in:")
        out += [f"  {k}: {va}  |  {vb}" for k, (va, vb) in found.differences.items()]
    else:
        out.append("How they were made: the same devices, dtypes, CPU, versions and kernels.")
    if found.across:
        out.append(f"Runs are matched across {', '.join(found.across)} (each folder's runs have one, not the "
                   "other's) and on every other field of their configuration.")
    if found.both:
        w = found.table.iloc[0]
        out += ["", f"{found.both} runs in both: {found.agree(1e-9)} agree to 1e-9 relative in every final and "
                f"per-epoch metric, {found.agree(1e-6)} to 1e-6; the worst, {w.activation}/{w.loss} lr {label(w.lr)} "
                f"seed {w.seed} ({w.impl}, run {w.run_id}), differs by {w.max_rel_diff:.3g} relative "
                f"(final test accuracy by {w.abs_diff_final_test_acc:.4g})."]
        if found.one_sided:
            out.append(f"{found.one_sided} of them have epoch rows in only one folder's epochs.csv: their "
                       "per-epoch metrics cannot be compared, and count as differing by inf.")
        otherwise = found.ended_otherwise
        if len(otherwise):
            listed = ", ".join(f"{r.run_id}-{r.impl} ({r.status})" for r in otherwise.head(10).itertuples())
            out.append(f"{len(otherwise)} run(s) ended otherwise in the two folders: {listed}")
    else:
        out += ["", "No run is in both folders."]
    for name, only in ((a, found.only_a), (b, found.only_b)):
        if len(only):
            listed = ", ".join(f"{r.run_id}-{r.impl}" for r in only.head(10).itertuples())
            out.append(f"{len(only)} run(s) only in {name}: {listed}" + (" ..." if len(only) > 10 else ""))
    if found.both:
        out += ["", render(found.table, fmt, index=False)]
    return "\n".join(out)
