"""A grid sent to a local Dask cluster of 2 worker processes writes the tables of a local run; a
scheduler without workers, one that goes away mid-run, a Ctrl-C and a cluster too large for the
memory each end with one line, keeping what finished and leaving no process behind."""
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from tests.helpers import assert_same_tables, busy_children, cli, one_line_error, said, start, wait_for, write_grid

pytest.importorskip("distributed")


def test_local_cluster_matches_a_local_run(reference, tmp_path):
    grid, ref = reference
    dask = cli("run", "--grid", grid, "--out", tmp_path / "dask", "--scheduler", "local:2")
    assert dask.returncode == 0, dask.stderr
    assert_same_tables(ref, tmp_path / "dask")


@pytest.mark.parametrize("address,named", [("udp://nowhere", "tcp://HOST:8786 or local:N"),
                                           ("tcp://localhost:abc", "numeric port"),
                                           ("local:0", "local:N with N >= 1"),
                                           ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler")])
def test_bad_scheduler_is_a_usage_error(tmp_path, address, named):
    done = cli("run", "--scheduler", address, "--set", "epochs=1", "--set", "impl=scratch", "--out", tmp_path / "out")
    assert done.returncode == 2 and named in done.stderr and len(done.stderr.strip().splitlines()) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scheduler(tmp_path):
    """A `dask scheduler` on a free port of this machine, with no worker."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", str(port), "--no-dashboard"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    try:
        wait_for(listening, "the dask scheduler listens", timeout=60, proc=proc)
        yield proc, f"tcp://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_a_scheduler_without_workers_is_waited_for_then_given_up(scheduler, tmp_path):
    _, address = scheduler
    started = time.monotonic()
    done = cli("run", "--scheduler", address, "--dask-wait", "3", "--set", "epochs=1", "--set", "impl=scratch",
               "--out", tmp_path / "out")
    assert time.monotonic() - started < 60
    note, error = done.stderr.strip().splitlines()
    assert "waiting for a Dask worker" in note and done.returncode == 2
    assert error.startswith("mlp-twins run: error:") and "--dask-wait" in error


def test_a_scheduler_that_goes_away_mid_run_is_one_line_and_keeps_what_finished(scheduler, tmp_path):
    proc, address = scheduler
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], seed=list(range(12)), epochs=[3])
        run = start(["run", "--grid", grid, "--out", "out", "--scheduler", address], tmp_path)
        runs = tmp_path / "out" / "runs.csv"
        wait_for(lambda: runs.exists() and len(runs.read_text().splitlines()) >= 3, "two runs are written",
                 proc=run)
        proc.kill()
        code = run.wait(timeout=60)
        err = run.stderr.read()
        assert code == 2, err
        lines = [line for line in said(err) if not line.startswith("waiting for a Dask worker")]
        assert len(lines) == 1 and "lost the Dask scheduler" in lines[0], err  # (the worker may join late)
        kept = len(pd.read_csv(tmp_path / "out" / "runs.csv"))
        assert kept >= 2
        assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0  # resumed here
        assert len(pd.read_csv(tmp_path / "out" / "runs.csv")) == 2 * 2 * 12
    finally:
        worker.kill()
        worker.wait()


def test_ctrl_c_with_a_local_cluster_stops_within_seconds_and_leaves_nothing(long_grid, tmp_path):
    proc = start(["run", "--grid", long_grid, "--out", "out", "--scheduler", "local:2"], tmp_path)
    # the manifest is written once the cluster is up (a Ctrl-C while it starts waits for its end: the next test)
    wait_for((tmp_path / "out" / "manifest.json").exists, "the cluster is up", proc=proc)
    children = busy_children(proc, 2)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    assert proc.wait(timeout=30) == 130
    took = time.monotonic() - sent
    err = proc.stderr.read()
    assert took < 5, (took, err)  # at once: hundredths of a second, with room for a busy host
    assert len(said(err)) == 1 and "interrupted" in err and "Traceback" not in err, err
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_ctrl_c_while_a_local_cluster_starts_is_not_lost(long_grid, tmp_path):
    proc = start(["run", "--grid", long_grid, "--out", "out", "--scheduler", "local:2"], tmp_path)
    wait_for(lambda: psutil.Process(proc.pid).children(), "the cluster's first process is spawned", proc=proc)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    err = proc.stderr.read()
    assert len(said(err)) == 1 and "interrupted" in err and "Traceback" not in err, err
    deadline = time.monotonic() + 30  # a process spawned at the signal's moment leaves once it sees its parent gone
    while (left := [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(tmp_path)]) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, left


def test_a_local_cluster_larger_than_the_memory_is_refused(tmp_path):
    started = time.monotonic()
    one_line_error(cli("run", "--scheduler", "local:1000", "--set", "epochs=1", "--out", tmp_path / "out"),
                   "local:N", "1000", "GB")
    assert time.monotonic() - started < 10 and not (tmp_path / "out").exists()
