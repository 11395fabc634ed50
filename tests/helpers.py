"""Shared by the grid tests: a small grid file, running the CLI, comparing result tables."""
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd

TIMING = ["wall_s"]


def write_grid(path: Path, **axes) -> Path:
    base = {"activation": ["sigmoid"], "loss": ["mse", "ce"], "lr": [0.1, 0.5], "seed": [0],
            "impl": ["scratch", "torch"], "epochs": [2], "dataset": ["sample"]}
    base.update(axes)
    lines = []
    for key, values in base.items():
        items = ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in values)
        lines.append(f"{key} = [{items}]")
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args) -> subprocess.CompletedProcess:
    """The command line run in this process (no interpreter to start, torch imported once), with
    its exit status, stdout and stderr as a subprocess would give them. Tests of what only a
    process shows (signals, kills, the environment) start one with cli_process."""
    from experiments import runner
    from experiments.cli import main
    runner._datasets.clear()  # as a new process would, load the data again: it may have changed
    runner._checksums.clear()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's own exits
            code = e.code
    return subprocess.CompletedProcess(["mlp-twins", *map(str, args)], code, out.getvalue(), err.getvalue())


def cli_process(*args, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    """The command line in a process of its own."""
    return subprocess.run([sys.executable, "-m", "experiments", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.csv and epochs.csv without timing columns, in a canonical row order."""
    runs = pd.read_csv(folder / "runs.csv").drop(columns=TIMING + ["device"])
    epochs = pd.read_csv(folder / "epochs.csv").drop(columns=TIMING)
    return (runs.sort_values(["run_id", "impl"]).reset_index(drop=True),
            epochs.sort_values(["run_id", "impl", "epoch"]).reset_index(drop=True))


def assert_same_tables(a: Path, b: Path) -> None:
    (runs_a, epochs_a), (runs_b, epochs_b) = tables(a), tables(b)
    pd.testing.assert_frame_equal(runs_a, runs_b)
    pd.testing.assert_frame_equal(epochs_a, epochs_b)
    assert not runs_a.duplicated(["run_id", "impl"]).any()
    assert not epochs_a.duplicated(["run_id", "impl", "epoch"]).any()
