"""The files of a results folder, written so that a kill at any moment leaves them valid.

  runs.csv       one row per finished run (status ok, diverged or failed)
  epochs.csv     one row per run and epoch
  params/<run_id>-<impl>.npz   the final parameters W1, b1, W2, ... of each run
  manifest.json  what made the folder: the grids, the data, the versions (experiments.manifest)

Each row (or group of rows) is appended with a single write() of whole lines, which a
killed process cannot leave half done; a write cut short by a full disk is taken back. A
run is complete once its runs.csv row exists; epoch rows of runs without one are dropped
(`drop_incomplete`) before a grid resumes. Other files are written to a temporary name and
renamed into place. A lock file keeps a second writer out; the kernel releases it when its
holder dies. Every failure to read or write is a UsageError that names the file.
"""
import csv
import errno
import fcntl
import io
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.errors import UsageError

CONFIG_COLUMNS = ["impl", "device", "dataset", "sizes", "activation", "loss", "lr", "batch_size", "epochs", "seed",
                  "init", "dtype", "val_size", "l2", "momentum", "lr_decay"]
RUNS_COLUMNS = ["run_id", *CONFIG_COLUMNS, "status", "final_train_loss", "final_val_loss", "final_test_loss",
                "final_val_acc", "final_test_acc", "best_val_acc", "best_epoch", "test_acc_at_best", "wall_s"]
EPOCHS_COLUMNS = ["run_id", "impl", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
                  "test_acc", "wall_s"]
TABLES = {"runs.csv": RUNS_COLUMNS, "epochs.csv": EPOCHS_COLUMNS}
TEXT_COLUMNS = {"run_id", "impl", "device", "dataset", "sizes", "activation", "loss", "init", "dtype", "status"}
# numbers that may be empty: the validation metrics of runs without a validation split, best_epoch with them
VAL_COLUMNS = {"final_val_loss", "final_val_acc", "best_val_acc", "best_epoch", "test_acc_at_best", "val_loss",
               "val_acc"}
INTEGER_COLUMNS = {"batch_size", "epochs", "seed", "val_size", "epoch", "best_epoch"}
ACCURACY_COLUMNS = {"final_val_acc", "final_test_acc", "best_val_acc", "test_acc_at_best", "train_acc", "val_acc",
                    "test_acc"}
# the values a text column may take (the others: any text without a comma)
TEXT_VALUES = {"impl": ("scratch", "torch"), "status": ("ok", "diverged", "failed")}  # runs.csv's config: RunConfig


def make_folder(path: Path) -> None:
    """mkdir -p that, when it fails, removes the folders it made (a path the system refuses
    leaves nothing behind)."""
    made = []
    try:
        for folder in [*reversed(path.parents), path]:
            if not folder.is_dir():
                folder.mkdir()
                made.append(folder)
    except OSError:
        for folder in reversed(made):
            folder.rmdir()
        raise


def check_writable(folder: Path) -> None:
    """Raise OSError unless files can be created in `folder` (made, as make_folder does, if missing)."""
    make_folder(folder)
    with tempfile.TemporaryFile(dir=folder):
        pass


def why(e: OSError) -> str:
    return e.strerror or type(e).__name__


def format_rows(rows: list[dict], columns: list[str]) -> bytes:
    """Whole CSV lines; a missing validation metric (NaN) is written as an empty field, integers
    without a decimal point."""
    buf = io.StringIO()
    csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="raise").writerows(
        [{k: as_text(v, k) for k, v in row.items()} for row in rows])
    return buf.getvalue().encode()


def parse_table(path: Path, columns: list[str]) -> tuple[list[dict], list[str], bool]:
    """(rows with numbers as floats, a description of every damaged line, whether the last line
    was cut off). A damaged line has the wrong number of fields or a metric that is not a
    number (empty only where the column allows it), or is an ok run with a NaN metric. A file
    that is not UTF-8 text of this layout is a UsageError."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path} ({why(e)}); check that it is a file you may read") from None
    if data.partition(b"\n")[0].decode(errors="replace").rstrip("\r").split(",") != columns:
        raise UsageError(f"{path} is not a {path.name} of this version (its columns differ); "
                         "it was left untouched: choose another folder or move it away")
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is damaged: byte {e.start} is not UTF-8 text; repair the file or move it "
                         "away") from None
    truncated = not text.endswith("\n")
    lines = text.split("\n")[:-1]  # whole lines: a last one without its newline is cut off
    seen = _lines.setdefault(tuple(columns), {})
    rows, damaged = [], []
    for number, line in enumerate(lines[1:], start=2):
        if line not in seen:
            seen[line] = parse_line(line, columns)
        row, problem = seen[line]
        if problem:
            damaged.append(f"line {number} {problem}")
        else:
            rows.append(row)
    return rows, damaged, truncated


# every line parsed in this process, per layout: a table read again (a resume reads runs.csv several
# times, and a configuration's check costs ~0.1 ms) parses only its new lines; rows are never changed
_lines: dict[tuple[str, ...], dict[str, tuple[dict | None, str | None]]] = {}


def parse_line(line: str, columns: list[str]) -> tuple[dict | None, str | None]:
    """(the row, with numbers as floats, or None; what is wrong with the line, or None)."""
    fields = next(csv.reader([line]), [])
    if len(fields) != len(columns):
        return None, f"has {len(fields)} fields, not {len(columns)}"
    row = {}
    for column, value in zip(columns, fields, strict=True):
        if column in TEXT_COLUMNS:
            row[column] = value
            continue
        try:
            row[column] = float(value) if value != "" or column not in VAL_COLUMNS else math.nan
        except ValueError:
            return None, f"has {column} {value!r}, not a number"
    problem = out_of_range(row) or ("activation" in row and config_problem(row))
    if not problem and row.get("status") == "ok":  # an ok run has every metric, and with validation its own
        empty = [c for c in columns if c not in TEXT_COLUMNS and math.isnan(row[c])
                 and (c not in VAL_COLUMNS or row.get("val_size", 0) > 0)]
        if empty:
            problem = f"is an ok run with {empty[0]} NaN"
    return (None, problem) if problem else (row, None)


def out_of_range(row: dict) -> str | None:
    """What is wrong with a parsed row's values, or None: a count that is not a whole number >= 0, an
    accuracy outside [0, 1], a text value no run writes."""
    for column, value in row.items():
        if column in TEXT_VALUES and value not in TEXT_VALUES[column]:
            return f"has {column} {value!r}, not one of {', '.join(TEXT_VALUES[column])}"
        if isinstance(value, float) and not math.isnan(value):
            low = 1 if column in ("epoch", "best_epoch") else 0
            if column in INTEGER_COLUMNS and not (value >= low and value.is_integer() and value < 2 ** 53):
                return f"has {column} {value!r}, not a whole number >= {low}"
            if column in ACCURACY_COLUMNS and not 0 <= value <= 1:
                return f"has {column} {value!r}, not an accuracy in [0, 1]"
            if column == "wall_s" and not 0 <= value < math.inf:
                return f"has wall_s {value!r}, not a time >= 0"
        elif column in INTEGER_COLUMNS - VAL_COLUMNS and isinstance(value, float):
            return f"has {column} NaN, not a whole number >= 0"
    return None


def config_problem(row: dict) -> str | None:
    """What is wrong with a runs.csv row's configuration, or None: a value no run can have, or
    a run_id that is not the hash of the configuration beside it (a value changed by hand)."""
    from experiments.config import RunConfig, parse_sizes
    try:
        sizes = parse_sizes(row["sizes"])
    except ValueError:
        return f"has sizes {row['sizes']!r}, not layer sizes like 784-16-16-10"
    values = {k: row[k] for k in CONFIG_COLUMNS} | {"sizes": sizes}
    values |= {k: int(values[k]) for k in ("batch_size", "epochs", "seed", "val_size")}
    try:
        run_id = RunConfig(**values).run_id
    except UsageError as e:
        return f"has a configuration no run can have ({e})"
    if run_id != row["run_id"]:
        return f"has run_id {row['run_id']!r}, not {run_id}, the hash of its configuration (a value was changed)"
    return None


def repeated(rows: list[dict], keys: tuple[str, ...]) -> tuple[list[dict], int]:
    """The rows with one per key (the last, as a resume reads them), and how many were dropped."""
    last = {tuple(r[k] for k in keys): r for r in rows}
    return list(last.values()), len(rows) - len(last)


def read_tables(folder: Path, warn=True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.csv and epochs.csv as DataFrames, damaged lines left out and named in a warning on
    stderr (a cut-off last line too). A missing folder or table is a UsageError."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give a results folder such as results/default")
    frames = []
    for name, columns in TABLES.items():
        path = folder / name
        if not path.exists():
            raise UsageError(f"{folder} has no {name}; run `mlp-twins run --out {folder}` first")
        rows, damaged, truncated = parse_table(path, columns)
        if truncated:
            damaged.append("the last line is cut off (a run still writing, or killed)")
        rows, copies = repeated(rows, ("run_id", "impl", "epoch") if "epoch" in columns else ("run_id", "impl"))
        if copies:
            damaged.append(f"{copies} line(s) repeat a run {'and epoch ' if 'epoch' in columns else ''}of a later "
                           "line (the later one is kept)")
        if damaged and warn:
            shown = "; ".join(damaged[:5]) + (f"; and {len(damaged) - 5} more" if len(damaged) > 5 else "")
            print(f"warning: {path}: {len(damaged)} damaged line(s) left out: {shown}", file=sys.stderr, flush=True)
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("batch_size", "epochs", "seed", "val_size", "epoch"):
            if column in frame:
                frame[column] = frame[column].astype("int64")
        frames.append(frame)
    return frames[0], frames[1]


class ResultsDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_file = None

    def check(self) -> "ResultsDir":
        """Refuse, writing nothing, a path that is a file or holds an entry of the wrong kind."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"{self.path} is a file, not a results folder; choose another --out")
        for name, kind in (("runs.csv", "file"), ("epochs.csv", "file"), ("manifest.json", "file"),
                           ("params", "folder")):
            entry = self.path / name
            if entry.exists() and (entry.is_dir() if kind == "file" else not entry.is_dir()):
                raise UsageError(f"{entry} should be a {kind} but is not; move it away or choose another --out")
        return self

    def open(self, lock: bool = True) -> "ResultsDir":
        """Create the folder and tables, refuse tables of another layout, take the lock (once)."""
        self.check()
        try:
            make_folder(self.path)
            if lock and self._lock_file is None:
                self._lock()
                for tmp in [*self.path.glob(".*.tmp"), *self.path.glob("params/.*.tmp")]:
                    tmp.unlink()  # left by a writer killed mid-rename; the lock says none is writing now
            for name, columns in TABLES.items():
                self._check_or_create(self.path / name, columns)
        except OSError as e:
            raise UsageError(f"cannot write results to {self.path} ({why(e)}); "
                             "choose another --out or fix its permissions") from None
        return self

    def _lock(self) -> None:
        lock_file = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise UsageError(f"another run is writing to {self.path}; wait for it to finish "
                             "or choose another --out") from None
        self._lock_file = lock_file

    def close(self) -> None:
        """Release the lock (the kernel also does when the process ends)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _check_or_create(self, path: Path, columns: list[str]) -> None:
        if not path.exists() or path.stat().st_size == 0:
            self._write(path, (",".join(columns) + "\n").encode())
            return
        with open(path, "rb") as f:
            first = f.readline()
        try:
            header = first.decode().rstrip("\r\n").split(",")
        except UnicodeDecodeError:
            header = None
        if header != columns:
            raise UsageError(f"{path} is not a {path.name} of this version (its columns differ); "
                             "it was left untouched: choose another --out or move it away")

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Append `data` in one write(); a write cut short is taken back, leaving the file as it was."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            before = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
            except OSError:
                os.ftruncate(fd, before)
                raise
            if written != len(data):
                os.ftruncate(fd, before)
                raise OSError(errno.ENOSPC, "No space left on device (a short write)")
        finally:
            os.close(fd)

    def append(self, name: str, rows: list[dict]) -> None:
        if not rows:
            return
        try:
            self._write(self.path / name, format_rows(rows, TABLES[name]))
        except OSError as e:
            raise UsageError(f"cannot append to {self.path / name} ({why(e)}); the rows already "
                             "written are intact: free space or fix permissions and run again to resume") from None

    def table(self, name: str) -> list[dict]:
        """The rows of a table; a damaged line is a UsageError (a resume must not guess)."""
        path = self.path / name
        if not path.exists():
            return []
        rows, damaged, _ = parse_table(path, TABLES[name])
        if damaged:
            raise UsageError(f"{path} is damaged ({damaged[0]}" + (f", and {len(damaged) - 1} more" if len(damaged) > 1
                             else "") + "); repair or remove those lines, then run again")
        return rows

    def statuses(self) -> dict[tuple[str, str], str]:
        """(run_id, impl) -> status of every run with a runs.csv row (the last, if several)."""
        return {(r["run_id"], r["impl"]): r["status"] for r in self.table("runs.csv")}

    def completed(self) -> set[tuple[str, str]]:
        """(run_id, impl) of every run that finished: ok or diverged (a failed run is tried again)."""
        return {key for key, status in self.statuses().items() if status != "failed"}

    def drop_incomplete(self) -> int:
        """Rewrite the tables without partial lines, without the rows of failed runs (they are run
        again) and without epoch rows of unfinished runs; returns how many rows were dropped."""
        done = self.completed()
        dropped = 0
        for name, columns in TABLES.items():
            path = self.path / name
            rows = self.table(name)
            keep = [r for r in rows if (r["run_id"], r["impl"]) in done]
            # whole-line rows only: a file not ending in a newline also gets rewritten
            if len(keep) != len(rows) or not path.read_bytes().endswith(b"\n"):
                dropped += len(rows) - len(keep)
                self.replace(path, (",".join(columns) + "\n").encode() + format_rows(keep, columns))
        return dropped

    def replace(self, path: Path, data: bytes) -> None:
        """Write `data` to `path` through a temporary file and a rename: a kill or a full disk
        leaves the old file or the new one, and no temporary file."""
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise UsageError(f"cannot write {path} ({why(e)}); it was left as it was: free space or fix "
                             "permissions and run again") from None
        finally:
            tmp.unlink(missing_ok=True)  # after a failure or Ctrl-C mid-write; gone already after the rename

    def save_params(self, run_id: str, impl: str, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        folder = self.path / "params"
        arrays = {f"W{l}": w for l, w in enumerate(weights, 1)} | {f"b{l}": b for l, b in enumerate(biases, 1)}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        try:
            folder.mkdir(exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create {folder} ({why(e)}); free space or fix permissions and run again "
                             "to resume") from None
        self.replace(folder / f"{run_id}-{impl}.npz", buf.getvalue())


def as_text(value, column: str):
    """A parsed table value as it is written back: integers without .0, NaN as an empty field
    where the column allows it."""
    if isinstance(value, float):
        if math.isnan(value) and column in VAL_COLUMNS:
            return ""
        if value.is_integer() and column in ("batch_size", "epochs", "seed", "val_size", "epoch", "best_epoch"):
            return int(value)
    return value


def load_params(path: str | Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """W_l and b_l of a parameter file; a damaged file is a UsageError that names it."""
    try:
        with np.load(path, allow_pickle=False) as f:
            layers = len([k for k in f.files if k.startswith("W")])
            weights = [f[f"W{l}"] for l in range(1, layers + 1)]
            biases = [f[f"b{l}"] for l in range(1, layers + 1)]
    except Exception as e:  # zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError: all say "damaged"
        raise UsageError(f"{path} is not a readable parameter file ({type(e).__name__}); run that run again "
                         "or move the file away") from None
    chained = all(w.ndim == 2 and b.shape == (w.shape[0],) and np.issubdtype(w.dtype, np.floating)
                  and b.dtype == w.dtype for w, b in zip(weights, biases, strict=True))
    chained = chained and bool(weights) and all(after.shape[1] == w.shape[0]
                                                for w, after in zip(weights[:-1], weights[1:], strict=True))
    if not chained or weights[0].shape[1] != 784 or weights[-1].shape[0] != 10:
        raise UsageError(f"{path} does not hold the weights and biases of a network from 784 pixels to 10 digits; "
                         "run that run again or move the file away")
    if not all(np.isfinite(t).all() for t in weights + biases):
        raise UsageError(f"{path} holds weights that are not finite numbers (its run diverged, or the file was "
                         "changed); run that run again or move the file away")
    return weights, biases
