"""What the tests share: running the command line, checking a one-line error, comparing numbers
and tables, and building grids and MNIST folders."""
import contextlib
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

TIMING = ["wall_s"]


def rel(a, b) -> float:
    """The largest |a - b| relative to the largest |b|, over whole arrays (or lists of them)."""
    a, b = (np.concatenate([np.ravel(x) for x in v]) if isinstance(v, (list, tuple)) else np.ravel(v) for v in (a, b))
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


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
    from experiments.cli.main import main
    from experiments.execution.workers import forget_datasets
    forget_datasets()  # as a new process would, load the data again: it may have changed
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


def one_line_error(done: subprocess.CompletedProcess, *named: str, status: int = 2) -> str:
    """The error line of a command that failed as a user's mistake must: exit status 2, one line
    on stderr, no traceback, naming each of `named` (the values behind the message)."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == status, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    for name in named:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file: big-endian magic number and counts, then the bytes."""
    return np.array([magic, *array.shape], dtype=">u4").tobytes() + array.astype(np.uint8).tobytes()


def mnist_folder(root: Path, train_images, train_labels, test_images, test_labels, folder: str = "MNIST") -> Path:
    """A data root holding <folder>/raw with the four IDX files of the given digits ((n, 784) uint8)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images, labels in (("train", train_images, train_labels), ("t10k", test_images, test_labels)):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(np.asarray(images).reshape(-1, 28, 28), 2051))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(np.asarray(labels), 2049))
    return root


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


def start(args, cwd, **kwargs) -> subprocess.Popen:
    """The command line in a process of its own, in a session of its own (a process group to signal)."""
    return subprocess.Popen([sys.executable, "-m", "experiments", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True, **kwargs)


def said(stderr: str) -> list[str]:
    """What a command said on stderr, without its progress: where stderr is not a terminal, a
    "[n/N runs, ...]" line comes every few seconds, and how many depends on the host's speed."""
    return [line for line in stderr.strip().splitlines() if not re.match(r"\[\d+/\d+ runs, ", line)]


def wait_for(done, what: str, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    """Poll done() until it holds; fail saying `what` did not happen (and why, if proc ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        if proc is not None and proc.poll() is not None:
            try:  # (a process it left behind may hold its stderr open)
                err = proc.communicate(timeout=5)[1]
            except subprocess.TimeoutExpired:
                err = "(its stderr still open)"
            raise AssertionError(f"{what}: the command ended first, status {proc.returncode}: {err}")
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def busy_children(proc: subprocess.Popen, count: int, timeout: float = 120) -> list:
    """The processes under `proc`, once `count` of them have computed for half a second."""
    import psutil
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [p for p in psutil.Process(proc.pid).children(recursive=True)]
        try:
            busy = [p for p in children if sum(p.cpu_times()[:2]) > 0.5]
        except psutil.NoSuchProcess:
            continue
        if len(busy) >= count:
            return children
        time.sleep(0.05)
    raise AssertionError("the workers did not start")
