"""A results folder, written so that a kill at any moment leaves it valid.

  runs.csv       one row per finished run (status ok, diverged or failed)
  epochs.csv     one row per run and epoch
  params/        the parameters of each run, final and at its best epoch (experiments.store.params)
  manifest.json  what made the folder: the grids, the data, the versions (experiments.store.manifest)

Rows are appended whole (experiments.store.files.append_whole); other files are written to a
temporary name and renamed into place. A run is complete once its runs.csv row exists; epoch
rows of runs without one are dropped (`drop_incomplete`) before a grid resumes. A lock file
keeps a second writer out; the operating system releases it when its holder dies. Every entry
must be what it should be (a regular file, the params folder a folder): anything else is
refused before it is opened. Every failure to read or write is a UsageError that names the file.
"""
import sys
from pathlib import Path

import filelock
import pandas as pd

from experiments.errors import UsageError
from experiments.store import params as param_files
from experiments.store.files import (
    append_whole,
    make_folder,
    read_bytes,
    remove_stale_temporaries,
    require,
    why,
    write_atomic,
)
from experiments.store.layout import (
    CONFIG_COLUMNS,
    EPOCHS_COLUMNS,
    INTEGER_COLUMNS,
    RUNS_COLUMNS,
    TABLES,
    format_rows,
    header,
    parse_table,
)

ENTRIES = {"runs.csv": "file", "epochs.csv": "file", "manifest.json": "file", "params": "folder", "plots": "folder",
           "report.md": "file", "report.html": "file", "study.journal": "file", ".lock": "file"}


def check_entries(folder: Path) -> None:
    """Refuse, writing nothing, a folder that is not one or holds an entry of the wrong kind
    (a FIFO as runs.csv, a link as params, a folder as manifest.json)."""
    if folder.is_symlink() and not folder.exists():
        raise UsageError(f"{folder} is a symbolic link that leads nowhere (a loop, or a missing target); choose "
                         "another folder")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a results folder; choose another folder")
    for name, kind in ENTRIES.items():
        require(folder / name, kind)


def read_table(path: Path, warn: bool = True) -> list[dict]:
    """The rows of runs.csv or epochs.csv (empty if the file is missing), damaged lines left out and
    named in a warning on stderr, and one row per run (and epoch): the last, as a resume reads them."""
    if not require(path, "file"):
        return []
    columns = TABLES[path.name]
    rows, damaged, truncated = parse_table(read_bytes(path), columns, path)
    if truncated:
        damaged.append("the last line is cut off (a run still writing, or killed)")
    keys = ("run_id", "impl", "epoch") if "epoch" in columns else ("run_id", "impl")
    last = {tuple(r[k] for k in keys): r for r in rows}
    if len(last) < len(rows):
        damaged.append(f"{len(rows) - len(last)} line(s) repeat a run {'and epoch ' if 'epoch' in columns else ''}"
                       "of a later line (the later one is kept)")
    if damaged and warn:
        shown = "; ".join(damaged[:5]) + (f"; and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        print(f"warning: {path}: {len(damaged)} damaged line(s) left out: {shown}", file=sys.stderr, flush=True)
    return list(last.values())


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=columns)
    for column in INTEGER_COLUMNS - {"best_epoch"}:
        if column in table:
            table[column] = table[column].astype("int64")
    return table


def read_tables(folder: Path, warn: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.csv and epochs.csv as DataFrames (see read_table). A missing folder or table is a UsageError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; give a results folder such as results/default")
    check_entries(folder)
    for name in TABLES:
        if not (folder / name).exists():
            raise UsageError(f"{folder} has no {name}; run `mlp-twins run --out {folder}` first")
    return (frame(read_table(folder / "runs.csv", warn), RUNS_COLUMNS),
            frame(read_table(folder / "epochs.csv", warn), EPOCHS_COLUMNS))


class ResultsDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = None

    def check(self) -> "ResultsDir":
        check_entries(self.path)
        return self

    def open(self) -> "ResultsDir":
        """Create the folder and tables, refuse tables of another layout, take the lock (once)."""
        self.check()
        try:
            make_folder(self.path)
            if self.lock is None:
                self.take_lock()
                remove_stale_temporaries(self.path)  # the lock says no one is writing now
                if (self.path / "params").is_dir():
                    remove_stale_temporaries(self.path / "params")
            for name, columns in TABLES.items():
                self.check_or_create(self.path / name, columns)
        except OSError as e:
            raise UsageError(f"cannot write results to {self.path} ({why(e)}); "
                             "choose another --out or fix its permissions") from None
        return self

    def take_lock(self) -> None:
        lock = filelock.FileLock(self.path / ".lock", timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise UsageError(f"another run is writing to {self.path}; wait for it to finish "
                             "or choose another --out") from None
        self.lock = lock

    def close(self) -> None:
        """Release the lock (the operating system also does when the process ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def check_or_create(self, path: Path, columns: list[str]) -> None:
        if not path.exists() or path.stat().st_size == 0:
            write_atomic(path, header(columns))
            return
        first = read_bytes(path, 4096).partition(b"\n")[0]
        if first.decode(errors="replace").rstrip("\r").split(",") != columns:
            raise UsageError(f"{path} is not a {path.name} of this version (its columns differ); "
                             "it was left untouched: choose another --out or move it away")

    def append(self, name: str, rows: list[dict]) -> None:
        if not rows:
            return
        try:
            append_whole(self.path / name, format_rows(rows, TABLES[name]))
        except OSError as e:
            raise UsageError(f"cannot append to {self.path / name} ({why(e)}); the rows already "
                             "written are intact: free space or fix permissions and run again to resume") from None

    def rows(self, name: str) -> list[dict]:
        """The rows of a table; a damaged line is a UsageError (a resume must not guess)."""
        path = self.path / name
        if not require(path, "file"):
            return []
        rows, damaged, _ = parse_table(read_bytes(path), TABLES[name], path)
        if damaged:
            raise UsageError(f"{path} is damaged ({damaged[0]}" + (f", and {len(damaged) - 1} more" if len(damaged) > 1
                             else "") + "); repair or remove those lines, then run again")
        return rows

    def statuses(self) -> dict[tuple[str, str], str]:
        """(run_id, impl) -> status of every run with a runs.csv row (the last, if several)."""
        return {(r["run_id"], r["impl"]): r["status"] for r in self.rows("runs.csv")}

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
            rows = self.rows(name)
            keep = [r for r in rows if (r["run_id"], r["impl"]) in done]
            # whole-line rows only: a file not ending in a newline also gets rewritten
            if len(keep) != len(rows) or not read_bytes(path).endswith(b"\n"):
                dropped += len(rows) - len(keep)
                write_atomic(path, header(columns) + format_rows(keep, columns))
        return dropped

    def save_params(self, run_row: dict, which: str, params: param_files.Params) -> None:
        """A run's parameters, `which` being final or best."""
        folder = self.path / "params"
        try:
            require(folder, "folder")
            folder.mkdir(exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create {folder} ({why(e)}); free space or fix permissions and run again "
                             "to resume") from None
        config = {k: run_row[k] for k in ["run_id", *CONFIG_COLUMNS]}
        data = param_files.encode(params, config, run_row["activation"], run_row["loss"], run_row["run_id"],
                                  run_row["impl"])
        write_atomic(folder / param_files.file_name(run_row["run_id"], run_row["impl"], which), data)
