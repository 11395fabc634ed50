"""The row layout of runs.csv and epochs.csv, derived from RunConfig's fields.

    runs.csv    run_id, every field of RunConfig, status, then the run's metrics
    epochs.csv  run_id, impl, epoch, then loss and accuracy on each part, and wall_s

A line is read back only if it is what a run writes: the right number of fields, numbers where
numbers belong (empty only for the validation metrics of a run without a validation split),
accuracies in [0, 1], whole numbers where counts belong, and, in runs.csv, a configuration a
RunConfig accepts whose run_id is the one beside it (a value changed by hand is named).
"""
import csv
import io
import math

from experiments.errors import UsageError
from experiments.spec.config import COLUMNS as CONFIG_COLUMNS
from experiments.spec.config import FIELDS, IMPLS, INTEGERS, RunConfig, parse_sizes

PARTS = ("train", "val", "test")
STATUSES = ("ok", "diverged", "failed")
RUN_METRICS = ["final_train_loss", "final_val_loss", "final_test_loss", "final_val_acc", "final_test_acc",
               "best_val_acc", "best_epoch", "test_acc_at_best", "wall_s"]
EPOCH_METRICS = [f"{part}_{what}" for part in PARTS for what in ("loss", "acc")] + ["wall_s"]
RUNS_COLUMNS = ["run_id", *CONFIG_COLUMNS, "status", *RUN_METRICS]
EPOCHS_COLUMNS = ["run_id", "impl", "epoch", *EPOCH_METRICS]
TABLES = {"runs.csv": RUNS_COLUMNS, "epochs.csv": EPOCHS_COLUMNS}

TEXT_COLUMNS = {"run_id", "status", *(name for name, f in FIELDS.items() if f.metadata["kind"] == "text")}
INTEGER_COLUMNS = {*INTEGERS, "epoch", "best_epoch"}
# numbers that may be empty: the validation metrics of runs without a validation split, best_epoch with them
VAL_COLUMNS = {"final_val_loss", "final_val_acc", "best_val_acc", "best_epoch", "test_acc_at_best", "val_loss",
               "val_acc"}
ACCURACY_COLUMNS = {c for c in RUNS_COLUMNS + EPOCHS_COLUMNS if c.endswith("_acc") or c == "test_acc_at_best"}
TEXT_VALUES = {"impl": IMPLS, "status": STATUSES}


def header(columns: list[str]) -> bytes:
    return (",".join(columns) + "\n").encode()


def as_text(value, column: str):
    """A value as it is written: integers without .0, NaN as an empty field where the column allows it."""
    if isinstance(value, float):
        if math.isnan(value) and column in VAL_COLUMNS:
            return ""
        if value.is_integer() and column in INTEGER_COLUMNS:
            return int(value)
    return value


def format_rows(rows: list[dict], columns: list[str]) -> bytes:
    """Whole CSV lines."""
    buf = io.StringIO()
    csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="raise").writerows(
        [{k: as_text(v, k) for k, v in row.items()} for row in rows])
    return buf.getvalue().encode()


def parse_table(data: bytes, columns: list[str], path) -> tuple[list[dict], list[str], bool]:
    """(rows with numbers as floats, a description of every damaged line, whether the last line
    was cut off). A file that is not UTF-8 text of this layout is a UsageError."""
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
    rows, damaged = [], []
    for number, line in enumerate(lines[1:], start=2):
        row, problem = parse_line(line, columns)
        if problem:
            damaged.append(f"line {number} {problem}")
        else:
            rows.append(row)
    return rows, damaged, truncated


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


def config_of(row: dict) -> RunConfig:
    """The RunConfig of a runs.csv row (a UsageError if no run can have it)."""
    values = {k: row[k] for k in CONFIG_COLUMNS}
    try:
        values["sizes"] = parse_sizes(row["sizes"])
    except ValueError:
        raise UsageError(f"sizes {row['sizes']!r} are not layer sizes like 784-16-16-10") from None
    return RunConfig(**values | {k: int(values[k]) for k in INTEGERS})


def config_problem(row: dict) -> str | None:
    """What is wrong with a runs.csv row's configuration, or None: a value no run can have, or
    a run_id that is not the hash of the configuration beside it (a value changed by hand)."""
    try:
        run_id = config_of(row).run_id
    except UsageError as e:
        return f"has a configuration no run can have ({e})"
    if run_id != row["run_id"]:
        return f"has run_id {row['run_id']!r}, not {run_id}, the hash of its configuration (a value was changed)"
    return None
