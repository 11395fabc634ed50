"""manifest.json: what made a results folder, read back before anything is added to it.

    grids     every grid that wrote there: its name, axes, engine and the (run_id, impl) of its runs;
              a search's entry holds its space, and the runs it has added so far
    data      per dataset: the checksum of its images and labels, where the files come from, the splits
    sessions  every command that wrote there: when, on which host, with which kernels and versions

A `run` into a folder checks that its data is the data the folder was made with (else it is
refused), and that its grid is one of the folder's grids (else it is refused, unless the
user asks to extend the folder; the grid is then added to the list).
"""
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from experiments import __version__
from experiments.errors import UsageError
from experiments.host import cpu
from experiments.spec.config import RunConfig
from experiments.spec.grid import as_json, parse_override
from experiments.store.files import read_bytes, write_atomic

FORMAT = 2
MAX_BYTES = 64 << 20  # a manifest lists run_ids: 100,000 runs take about 2 MB


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str | None:
    """The checkout's commit, marked `+changes` when tracked files differ from it."""
    def git(*args) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent,
                              timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("+changes" if commit and git("status", "--porcelain", "--untracked-files=no") else "") \
            or None
    except (OSError, subprocess.SubprocessError):
        return None


def torch_cpu_capability(here: bool = False) -> str | None:
    """The vector instructions torch's CPU kernels use (AVX512, AVX2, ...) in this process's
    environment: asked of torch here where this process has imported torch or will (`here`: it
    trains the runs itself), else of a child process (the seconds of an import), so that a client
    that only schedules never imports torch itself. Local workers inherit the environment, and so
    the capability; a Dask scheduler's workers, on their own machines, may differ."""
    if here or "torch" in sys.modules:
        import torch  # where torch is imported already, or will be for the training
        return torch.backends.cpu.get_cpu_capability()
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def kernels(uses_torch: bool, here: bool = False) -> dict:
    """What decides the floating-point kernels, and so the last bits of float32 results: the
    CPU's instruction sets (host), OpenBLAS's core type for numpy, torch's CPU capability, and
    the variables that force them. here: this process trains the runs itself."""
    blas = [{"api": i.get("internal_api"), "version": i.get("version"), "architecture": i.get("architecture")}
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return {"numpy_blas": blas, "torch_cpu_capability": torch_cpu_capability(here) if uses_torch else None,
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "MKL_CBWR",
                                                    "MKL_ENABLE_INSTRUCTIONS")}}


def session(workers: int, scheduler: str | None, engine: str, uses_torch: bool, here: bool = False) -> dict:
    """This command's entry; here: it trains its runs itself, in this process."""
    return {"started": now(), "finished": None, "mlp_twins": __version__, "git_commit": git_commit(),
            "python": platform.python_version(), "numpy": np.__version__,
            "torch": importlib.metadata.version("torch"), "platform": platform.platform(), **cpu(),
            "cpu_count": os.cpu_count(), "kernels": kernels(uses_torch, here), "engine": engine, "workers": workers,
            "scheduler": scheduler}


def grid_entry(name: str, axes: dict, overrides: list[str], configs: list[RunConfig], search: bool = False) -> dict:
    """A grid's entry; a search's (search=True, axes its space as JSON) grows by the runs it adds."""
    entry = {"name": name, "axes": axes if search else as_json(axes), "overrides": list(overrides),
             "runs": len(configs), "run_ids": sorted(f"{c.run_id}-{c.impl}" for c in configs)}
    return entry | ({"search": True} if search else {})


def same_entry(known: dict, entry: dict) -> bool:
    """Whether a manifest's entry is this grid's: its runs, or for a search its name and space."""
    if entry.get("search"):
        return bool(known.get("search")) and all(known[k] == entry[k] for k in ("name", "axes", "overrides"))
    return known["run_ids"] == entry["run_ids"]


def data_entry(dataset, configs: list[RunConfig]) -> dict:
    splits = sorted({c.val_size for c in configs if c.dataset == dataset.name})
    rule = "the last of the training images" if dataset.name != "sample" else "a stratified choice (seed 1)"
    return {"checksum": dataset.checksum(), "source": dataset.source, "train_images": len(dataset.train_labels),
            "test_images": len(dataset.test_labels),
            "validation": {"rule": rule, "val_sizes": splits}}


def peek(folder: Path) -> dict:
    """A folder's manifest as far as it can be read, for what only shows or compares it ({} when
    it is missing or not JSON); `read` is for what writes beside it."""
    try:
        manifest = json.loads(read_bytes(folder / "manifest.json", MAX_BYTES))
    except (UsageError, ValueError, RecursionError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def read(path: Path) -> dict | None:
    """The manifest of a folder, None if there is none; a damaged one is a UsageError."""
    if not path.exists() and not path.is_symlink():
        return None
    data = read_bytes(path, MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path} is larger than any manifest ({MAX_BYTES >> 20} MB); choose another --out")
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise UsageError(f"{path} is damaged ({type(e).__name__}); the folder cannot say what made it: "
                         "choose another --out") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"{path} is not a manifest of this version; choose another --out for this version's runs")
    wrong = layout_problem(manifest)
    if wrong:
        raise UsageError(f"{path} is damaged ({wrong}); the folder cannot say what made it: repair the file or "
                         "choose another --out")
    return manifest


def layout_problem(manifest: dict) -> str | None:
    """What in a manifest's layout is not what `write` writes, or None (the entries read back)."""
    def kind(value, *types) -> bool:
        return isinstance(value, types) and not isinstance(value, bool)
    if not (kind(manifest.get("grids"), list) and kind(manifest.get("data"), dict)
            and kind(manifest.get("sessions"), list)):
        return "grids, data and sessions must be a list, an object and a list"
    for k, grid in enumerate(manifest["grids"]):
        if not (isinstance(grid, dict) and kind(grid.get("name"), str) and kind(grid.get("axes"), dict)
                and kind(grid.get("overrides"), list) and all(kind(o, str) for o in grid["overrides"])
                and kind(grid.get("runs"), int)
                and kind(grid.get("run_ids"), list) and all(kind(r, str) for r in grid["run_ids"])):
            return f"grids[{k}] is not a grid entry"
    for name, entry in manifest["data"].items():
        validation = entry.get("validation") if isinstance(entry, dict) else None
        if not (kind(entry.get("checksum") if validation is not None else None, str) and isinstance(validation, dict)
                and kind(validation.get("val_sizes"), list) and all(kind(v, int) for v in validation["val_sizes"])):
            return f"data[{name!r}] is not a data entry"
    if not all(isinstance(s, dict) for s in manifest["sessions"]):
        return "a session is not an object"
    return None


def effective(entry: dict) -> dict:
    """A grid entry's axes with its --set overrides applied, as the manifest writes them."""
    axes = dict(entry["axes"])
    for text in entry["overrides"]:
        try:
            key, values = parse_override(text)
        except UsageError:
            continue
        axes[key] = as_json({key: values})[key]
    return axes


def difference(old: dict, new: dict, shown: int = 3) -> str:
    """The axes on which two grid entries differ (after their --set), in words: the first few."""
    a, b = effective(old), effective(new)
    keys = sorted(set(a) | set(b))
    pairs = [(k, a.get(k, "(default)"), b.get(k, "(default)")) for k in keys if a.get(k) != b.get(k)]
    if not pairs:
        return f"its {old['runs']} runs differ from these {new['runs']}"
    words = [f"{k} is {x} there and {y} here" for k, x, y in pairs[:shown]]
    return "; ".join(words) + (f"; and {len(pairs) - shown} more axes" if len(pairs) > shown else "")


def check_and_update(path: Path, grid: dict, data: dict[str, dict], new_session: dict | None, extend: bool,
                     has_runs: bool) -> dict:
    """The manifest to write for this command, after refusing data or a grid the folder was not
    made with. `has_runs`: the folder already holds rows. `new_session` None: the command's
    session is already the last one (a search that plans batch after batch)."""
    folder = path.parent
    manifest = read(path)
    if manifest is None:
        if has_runs and not extend:
            raise UsageError(f"{folder} holds runs but no manifest.json, so what made them is unknown; "
                             "add --extend to add this grid's runs anyway, or choose another --out")
        manifest = {"format": FORMAT, "grids": [], "data": {}, "sessions": []}
    for name, entry in data.items():
        known = manifest["data"].get(name)
        if known and known["checksum"] != entry["checksum"]:
            raise UsageError(f"{folder} was made with other {name} data (checksum {known['checksum'][:12]} there, "
                             f"{entry['checksum'][:12]} now: the files under the data root changed); point "
                             "--data-root at the data it was made with, or choose another --out")
    manifest["changed"] = False
    same = [g for g in manifest["grids"] if same_entry(g, grid)]
    if not same and manifest["grids"] and not extend:
        last = manifest["grids"][-1]
        if grid["name"] == "train":
            raise UsageError(f"{folder} was made by grid {last['name']!r}; add --extend to add this training run to "
                             "it, or choose another --out")
        if all(g["name"] == "train" for g in manifest["grids"]):
            raise UsageError(f"{folder} was made by `train` ({len(manifest['grids'])} run(s)), not by this grid; "
                             "add --extend to add the grid's runs to the folder, or choose another --out")
        raise UsageError(f"{folder} was made by grid {last['name']!r} and this grid differs "
                         f"({difference(last, grid)}); add --extend to add its runs to the folder, "
                         "or choose another --out")
    if not same:
        manifest["grids"].append(grid)
        manifest["changed"] = True  # a new grid: written even if all its runs were done
    elif grid.get("search") and not set(grid["run_ids"]) <= set(same[0]["run_ids"]):
        same[0]["run_ids"] = sorted(set(same[0]["run_ids"]) | set(grid["run_ids"]))
        same[0]["runs"] = len(same[0]["run_ids"])
        manifest["changed"] = True
    for name, entry in data.items():
        known = manifest["data"].get(name)
        if known:
            entry["validation"]["val_sizes"] = sorted(set(known["validation"]["val_sizes"])
                                                      | set(entry["validation"]["val_sizes"]))
        manifest["data"][name] = entry
    if new_session is not None:
        manifest["sessions"].append(new_session)
    return manifest


def write(path: Path, manifest: dict) -> None:
    record = {k: v for k, v in manifest.items() if k != "changed"}
    write_atomic(path, (json.dumps(record, indent=1, default=str) + "\n").encode())
