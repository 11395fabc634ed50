"""The CSV tables of a results folder, written so that a kill at any moment leaves them valid.

  runs.csv    one row per finished run (status ok or diverged)
  epochs.csv  one row per run and epoch
  params/<run_id>-<impl>.npz   the final parameters W1, b1, W2, ... of each run

Each row (or group of rows) is appended with a single write() of whole lines, which a
killed process cannot leave half done. A run is complete once its runs.csv row exists;
epoch rows of runs without one are dropped (`drop_incomplete`) before a grid resumes.
A lock file keeps a second writer out; the kernel releases it when its holder dies.
"""
import csv
import fcntl
import io
import os
from pathlib import Path

import numpy as np

from experiments.errors import UsageError

CONFIG_COLUMNS = ["impl", "device", "dataset", "sizes", "activation", "loss", "lr",
                  "batch_size", "epochs", "seed", "init", "dtype"]
RUNS_COLUMNS = ["run_id", *CONFIG_COLUMNS, "status", "final_train_loss", "final_test_loss",
                "final_test_acc", "best_test_acc", "best_epoch", "wall_s"]
EPOCHS_COLUMNS = ["run_id", "impl", "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "wall_s"]
TABLES = {"runs.csv": RUNS_COLUMNS, "epochs.csv": EPOCHS_COLUMNS}


def format_rows(rows: list[dict], columns: list[str]) -> bytes:
    buf = io.StringIO()
    csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="raise").writerows(rows)
    return buf.getvalue().encode()


def read_rows(path: Path) -> list[dict]:
    """The complete rows of a table (a trailing line without its newline is not complete)."""
    text = path.read_text()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(text)))


class ResultsDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def open(self, lock: bool = True) -> "ResultsDir":
        """Create the folder and tables, refuse tables of another layout, take the lock."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"{self.path} is a file, not a results folder; choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if lock:
                self._lock()
            for name, columns in TABLES.items():
                self._check_or_create(self.path / name, columns)
        except OSError as e:
            raise UsageError(f"cannot write results to {self.path} ({e.strerror}); "
                             "choose another --out or fix its permissions") from None
        return self

    def _lock(self) -> None:
        self._lock_file = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another run is writing to {self.path}; wait for it to finish "
                             "or choose another --out") from None

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

    def _write(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(28, "short write (disk full?)")
        finally:
            os.close(fd)

    def append(self, name: str, rows: list[dict]) -> None:
        if not rows:
            return
        try:
            self._write(self.path / name, format_rows(rows, TABLES[name]))
        except OSError as e:
            raise UsageError(f"cannot append to {self.path / name} ({e.strerror}); the rows already "
                             "written are intact: free space or fix permissions and run again to resume") from None

    def rows(self, name: str) -> list[dict]:
        path = self.path / name
        return read_rows(path) if path.exists() else []

    def completed(self) -> set[tuple[str, str]]:
        """(run_id, impl) of every run with a runs.csv row."""
        return {(r["run_id"], r["impl"]) for r in self.rows("runs.csv")}

    def drop_incomplete(self) -> int:
        """Rewrite the tables without partial lines and without epoch rows of unfinished runs."""
        done = self.completed()
        dropped = 0
        for name, columns in TABLES.items():
            path = self.path / name
            rows = self.rows(name)
            keep = [r for r in rows if (r["run_id"], r["impl"]) in done]
            # whole-line rows only: a file not ending in a newline also gets rewritten
            if len(keep) != len(rows) or not path.read_bytes().endswith(b"\n"):
                dropped += len(rows) - len(keep)
                tmp = path.with_name(f".{name}.tmp")
                tmp.write_bytes((",".join(columns) + "\n").encode() + format_rows(keep, columns))
                os.replace(tmp, path)  # atomic: a kill leaves the old or the new table
        return dropped

    def save_params(self, run_id: str, impl: str, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        folder = self.path / "params"
        folder.mkdir(exist_ok=True)
        arrays = {f"W{l}": w for l, w in enumerate(weights, 1)} | {f"b{l}": b for l, b in enumerate(biases, 1)}
        tmp = folder / f".{run_id}-{impl}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, folder / f"{run_id}-{impl}.npz")


def load_params(path: str | Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    with np.load(path, allow_pickle=False) as f:
        layers = len([k for k in f.files if k.startswith("W")])
        return [f[f"W{l}"] for l in range(1, layers + 1)], [f[f"b{l}"] for l in range(1, layers + 1)]
