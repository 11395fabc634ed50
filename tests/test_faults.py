"""Faults: kills at random moments, two writers, a dying worker, failing writes, bad folders and data."""
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from experiments.errors import UsageError
from experiments.results import ResultsDir
from tests.helpers import assert_same_tables, cli, write_grid


def start_run(grid, out, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "experiments", "run", "--grid", str(grid), "--out", str(out),
                             *map(str, extra)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def lines(path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


@pytest.fixture(scope="module")
def scratch_grid(tmp_path_factory):
    """A scratch-only grid of 36 short runs, and its tables from one uninterrupted run (default engine)."""
    folder = tmp_path_factory.mktemp("faults")
    grid = write_grid(folder / "grid.toml", loss=["mse", "bce", "ce"], lr=[1.0], seed=[0, 1, 2, 3, 4, 5],
                      activation=["sigmoid", "relu"], impl=["scratch"], epochs=[4])
    done = cli("run", "--grid", grid, "--out", folder / "reference")
    assert done.returncode == 0, done.stderr
    return grid, folder / "reference"


@pytest.fixture(scope="module")
def single_reference(scratch_grid):
    """The same grid's tables from the single engine: at lr 1 some of these runs are chaotic,
    so the engines' rounding differences grow into different numbers there."""
    grid, reference = scratch_grid
    done = cli("run", "--grid", grid, "--out", reference.parent / "single", "--engine", "single")
    assert done.returncode == 0, done.stderr
    return reference.parent / "single"


def wait_until_running(out, since: float, timeout: float = 60) -> None:
    """Until the run has started its grid: it writes manifest.json before the first run."""
    deadline = time.monotonic() + timeout
    manifest = out / "manifest.json"
    while time.monotonic() < deadline:
        if manifest.exists() and manifest.stat().st_mtime >= since - 0.01:
            return
        time.sleep(0.01)


def wait_for_lines(path, count: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until `path` has `count` lines, or the run has ended."""
    deadline = time.monotonic() + timeout
    while lines(path) < count and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def epoch_seconds(reference, engine: str) -> float:
    """How long an epoch of a unit took in the reference run: of a run (single engine), or of a
    stack of one seed's runs, whose wall_s are each the run's share of the stack (batched)."""
    runs = pd.read_csv(reference / "runs.csv")
    unit = runs.wall_s.median() if engine == "single" else runs.groupby("seed").wall_s.sum().median()
    return float(unit) / runs.epochs.iloc[0]


@pytest.mark.parametrize("engine,kills,rows_per_epoch,most_epochs,distinct",
                         [("single", 20, 1, 7, 12), ("batched", 10, 6, 4, 4)])
def test_kill_9_at_random_moments_then_resume(scratch_grid, single_reference, tmp_path, engine, kills,
                                             rows_per_epoch, most_epochs, distinct):
    """kill -9 at random moments, then resume: the tables equal an uninterrupted run's.

    Each start of the grid is killed after a random number (0 to `most_epochs`) of epochs of
    its own, at a random moment of the next epoch: the single engine 20 times, mostly in the
    middle of a run of 4 epochs; the batched engine, whose units are stacks of 6 runs (one
    seed each), 10 times, mostly in the middle of a stack. Counting epochs rather than seconds
    puts the kills at as many points of the grid on a slow machine as on a fast one."""
    grid, reference = scratch_grid
    reference = single_reference if engine == "single" else reference
    epoch = epoch_seconds(reference, engine)
    out = tmp_path / "out"
    rng = np.random.default_rng(0)
    moments = set()
    for _ in range(kills):
        started = time.time()
        proc = start_run(grid, out, "--engine", engine)
        wait_until_running(out, started)  # the rows of unfinished runs are dropped by now
        epochs = int(rng.integers(0, most_epochs + 1))
        wait_for_lines(out / "epochs.csv", lines(out / "epochs.csv") + rows_per_epoch * epochs, proc)
        time.sleep(rng.uniform(0.0, epoch))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        moments.add((lines(out / "runs.csv"), lines(out / "epochs.csv")))
        # after every kill both tables load, with whole rows only
        for name in ("runs.csv", "epochs.csv"):
            if (out / name).exists():
                pd.read_csv(out / name)
    assert len(moments) >= distinct  # the kills landed at many different points of the grid
    assert lines(out / "runs.csv") < 37  # and the grid was not finished before the last one
    done = cli("run", "--grid", grid, "--out", out, "--engine", engine)
    assert done.returncode == 0, done.stderr
    assert_same_tables(reference, out)


def test_workers_leave_when_the_client_is_killed(scratch_grid, tmp_path):
    grid, _ = scratch_grid
    proc = start_run(grid, tmp_path / "out", "--workers", "2", "--engine", "single")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(psutil.Process(proc.pid).children()) < 3:  # 2 workers, a tracker
        time.sleep(0.1)
    workers = [p for p in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    assert len(workers) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "workers went on after their client was killed"


def test_a_second_writer_is_refused_and_a_killed_lock_is_not_stuck(scratch_grid, tmp_path):
    grid, reference = scratch_grid
    out = tmp_path / "out"
    first = start_run(grid, out)
    deadline = time.monotonic() + 60
    while not (out / "manifest.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = cli("run", "--grid", grid, "--out", out)
    assert second.returncode == 2 and "another run is writing" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    first.send_signal(signal.SIGKILL)
    first.wait()
    third = cli("run", "--grid", grid, "--out", out)  # the lock died with its holder
    assert third.returncode == 0, third.stderr
    assert_same_tables(reference, out)


def test_a_dying_worker_costs_nothing(scratch_grid, tmp_path):
    grid, reference = scratch_grid
    out = tmp_path / "out"
    proc = start_run(grid, out, "--workers", "2")
    parent = psutil.Process(proc.pid)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline:
        workers = [c for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
        if lines(out / "runs.csv") >= 4 and workers:
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    assert killed is not None
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert "did not finish" in proc.stderr.read()  # the lost work is announced as it starts again
    assert_same_tables(reference, out)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_failing_write_is_a_clear_error_and_keeps_the_rows(tmp_path, monkeypatch, code):
    results = ResultsDir(tmp_path).open(lock=False)
    row = {"run_id": "abc", "impl": "scratch", "epoch": 1, "train_loss": 0.5, "train_acc": 0.9,
           "test_loss": 0.5, "test_acc": 0.9, "wall_s": 0.1}
    results.append("epochs.csv", [row])
    before = (tmp_path / "epochs.csv").read_bytes()

    def failing_write(fd, data):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(UsageError, match="rows already written are intact"):
        results.append("epochs.csv", [{**row, "epoch": 2}])
    monkeypatch.undo()
    assert (tmp_path / "epochs.csv").read_bytes() == before
    assert len(pd.read_csv(tmp_path / "epochs.csv")) == 1


def test_an_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    done = cli("run", "--set", "epochs=1", "--set", "impl=scratch", "--out", target)
    assert done.returncode == 2 and "is a file, not a results folder" in done.stderr
    assert target.read_text() == "x"


@pytest.mark.parametrize("content", [b"run_id,impl,accuracy\nx,scratch,0.9\n", b"\x89PNG\r\n\x1a\n\x00\x00binary"])
def test_foreign_tables_are_refused_and_left_untouched(tmp_path, content):
    (tmp_path / "runs.csv").write_bytes(content)
    done = cli("run", "--set", "epochs=1", "--set", "impl=scratch", "--out", tmp_path)
    assert done.returncode == 2 and "runs.csv is not a runs.csv of this version" in done.stderr
    assert (tmp_path / "runs.csv").read_bytes() == content
    assert not (tmp_path / "epochs.csv").exists() or (tmp_path / "epochs.csv").stat().st_size < 100
    inspect = cli("inspect", tmp_path)
    assert inspect.returncode == 2 and len(inspect.stderr.strip().splitlines()) == 1


def test_inspect_on_half_written_results(tmp_path):
    results = ResultsDir(tmp_path).open(lock=False)
    results.append("epochs.csv", [{"run_id": "abc", "impl": "scratch", "epoch": 1, "train_loss": 0.5,
                                   "train_acc": 0.9, "test_loss": 0.5, "test_acc": 0.9, "wall_s": 0.1}])
    done = cli("inspect", tmp_path)
    assert done.returncode == 2 and "no finished runs yet" in done.stderr and "half-written" in done.stderr


@pytest.mark.parametrize("args,named", [
    (["--set", "lrr=0.1"], "unknown key 'lrr'"),
    (["--set", "lr=abc"], "'abc'"),
    (["--set", "lr"], "key=value"),
    (["--set", "batch_size=100000"], "larger than the 4000 training images"),
    (["--set", "device=cuda", "--set", "impl=torch"], "CUDA"),
    (["--grid", "nosuchgrid"], "neither a bundled grid"),
    (["--workers", "0"], "--workers"),
])
def test_bad_run_arguments(args, named, tmp_path):
    import torch
    if "device=cuda" in args and torch.cuda.is_available():
        pytest.skip("CUDA is present")
    done = cli("run", *args, "--out", tmp_path / "out")
    assert done.returncode == 2, done.stdout
    assert named in done.stderr and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
