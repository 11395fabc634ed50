"""Faults: kills at every moment, signals, two writers, dying workers, full disks, read-only
folders, entries of the wrong kind, damaged tables, parameter and cache files."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from experiments.errors import UsageError
from experiments.store.folder import ResultsDir
from experiments.store.layout import RUNS_COLUMNS
from tests.helpers import TIMING, assert_same_tables, cli, write_grid


def start_run(grid, out, *extra, **popen) -> subprocess.Popen:
    """`run` in a process of its own; faulthandler prints where it stands if a test aborts it."""
    return subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "experiments", "run", "--grid", str(grid),
                             "--out", str(out), *map(str, extra)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, **popen)


def wait_or_show(proc: subprocess.Popen, timeout: float) -> int:
    """The exit status of `proc`; if it is still running after `timeout` seconds, the test fails
    showing the stacks of its threads."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait()
        raise AssertionError(f"still running after {timeout} s:\n{proc.stderr.read()[-6000:]}") from None


def lines(path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def one_line(done: subprocess.CompletedProcess) -> str:
    """The error line of a command that failed with status 2, after checking there is just one."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    errors = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    return errors[0]


class Killed(BaseException):
    """What a kill -9 does to the process at that moment: nothing after it happens."""


def run_in_process(grid, out, kill_at: int | None = None) -> int:
    """Run `grid` into `out` in this process; with kill_at, the process dies just before its
    kill_at-th file operation (an append of rows, or the rename that puts a file in place),
    leaving the folder as a kill -9 at that moment would. Returns the operations counted."""
    from experiments.cli.main import main
    from experiments.store import folder
    count = [0]
    append, replace = folder.append_whole, os.replace

    def counted(operation):
        def wrapper(*args, **kwargs):
            count[0] += 1
            if count[0] == kill_at:
                raise Killed
            return operation(*args, **kwargs)
        return wrapper
    folder.append_whole = counted(append)
    os.replace = counted(replace)
    try:
        assert main(["run", "--grid", str(grid), "--out", str(out)]) == 0
    except Killed:
        pass
    finally:
        folder.append_whole = append
        os.replace = replace
    return count[0]


def test_a_kill_at_every_moment_then_resume_equals_the_uninterrupted_run(tmp_path, capsys):
    """Deterministic fault injection: the grid is killed before each of its file operations in
    turn (every moment a kill -9 can fall between), then resumed, and the tables equal those of
    the uninterrupted run. No temporary file is left."""
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], loss=["ce"], seed=[0, 1], lr=[0.5], epochs=[2])
    operations = run_in_process(grid, tmp_path / "reference")
    assert operations == 14  # 2 table headers, manifest, 4 epoch rows, 4 parameter files, 2 runs rows, manifest
    for kill_at in range(1, operations + 1):
        out = tmp_path / f"killed-{kill_at}"
        run_in_process(grid, out, kill_at)
        for name in ("runs.csv", "epochs.csv"):  # loadable after every kill
            if (out / name).exists():
                pd.read_csv(out / name)
        run_in_process(grid, out)
        assert_same_tables(tmp_path / "reference", out)
        assert not list(out.glob("**/.*.tmp"))
    capsys.readouterr()


def test_kill_9_then_resume_equals_uninterrupted(scratch_grid, tmp_path):
    grid, reference = scratch_grid
    out = tmp_path / "out"
    proc = start_run(grid, out)
    deadline = time.monotonic() + 120
    while lines(out / "runs.csv") < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 7 <= len(pd.read_csv(out / "runs.csv")) < 36
    done = cli("run", "--grid", grid, "--out", out)
    assert done.returncode == 0, done.stderr
    assert_same_tables(reference, out)


def workers_of(proc: subprocess.Popen, count: int = 2, busy_s: float = 0.3) -> list[psutil.Process]:
    """The run's worker processes, once `count` of them have computed for busy_s seconds."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = [p for p in psutil.Process(proc.pid).children() if is_worker(p)]
        try:
            if len(children) == count and all(sum(p.cpu_times()[:2]) > busy_s for p in children):
                return children
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    raise AssertionError("the workers did not start")


@pytest.mark.parametrize("how", ["SIGINT to the client", "SIGTERM to the client", "SIGINT to the process group"])
def test_a_signal_stops_the_whole_grid_at_once_and_keeps_what_finished(long_grid, tmp_path, how):
    out = tmp_path / "out"
    proc = start_run(long_grid, out, "--workers", "2", start_new_session=True)
    deadline = time.monotonic() + 120
    while lines(out / "runs.csv") < 7 and time.monotonic() < deadline:  # a first stack of 6 is in
        time.sleep(0.02)
    workers = workers_of(proc)
    sent = time.monotonic()
    if how == "SIGINT to the process group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM if "SIGTERM" in how else signal.SIGINT)
    code = wait_or_show(proc, timeout=30)
    took = time.monotonic() - sent
    gone, alive = psutil.wait_procs(workers, timeout=5)
    err = proc.stderr.read()
    assert not alive, f"a worker went on after the signal\n{err}"
    assert code == 130 and took < 5, (code, took, err)  # it was 11-30 s when the client waited for its workers
    said = [line for line in err.splitlines() if line.startswith("mlp-twins run:")]
    assert len(said) == 1 and "interrupted" in said[0] and "run the same command again to resume" in said[0], err
    assert "Traceback" not in err and "Warning" not in err, err  # no worker's, no resource tracker's
    runs = pd.read_csv(out / "runs.csv")
    assert 6 <= len(runs) < 24 and (runs.status == "ok").all(), (len(runs), err)
    for run in runs.itertuples():  # every run in the table is whole: its epochs and parameters are there
        assert (out / "params" / f"{run.run_id}-{run.impl}-final.npz").exists()
        assert (out / "params" / f"{run.run_id}-{run.impl}-best.npz").exists()
    if how == "SIGINT to the client":  # and the same command resumes
        done = cli("run", "--grid", long_grid, "--out", out)
        assert done.returncode == 0, done.stderr
        assert len(pd.read_csv(out / "runs.csv")) == 24 and len(pd.read_csv(out / "epochs.csv")) == 24 * 8


def test_workers_leave_when_the_client_is_killed(scratch_grid, tmp_path):
    grid, _ = scratch_grid
    proc = start_run(grid, tmp_path / "out", "--workers", "2", "--engine", "single")
    workers = workers_of(proc, busy_s=0.0)
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
        time.sleep(0.02)
    second = cli("run", "--grid", grid, "--out", out)
    assert "another run is writing" in one_line(second)
    first.send_signal(signal.SIGKILL)
    first.wait()
    third = cli("run", "--grid", grid, "--out", out)  # the lock died with its holder
    assert third.returncode == 0, third.stderr
    assert_same_tables(reference, out)


def test_a_dying_worker_costs_nothing(scratch_grid, tmp_path):
    grid, reference = scratch_grid
    out = tmp_path / "out"
    proc = start_run(grid, out, "--workers", "2")
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline:
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True) if is_worker(c)]
        if lines(out / "runs.csv") >= 4 and workers:
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    assert killed is not None
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert "did not finish" in proc.stderr.read()  # the lost work is announced as it starts again
    assert_same_tables(reference, out)


def test_a_local_worker_sends_back_a_message_that_reaches_the_pipe_whole(tmp_path):
    """A worker killed while sending megabytes of results left a part of them in the pool's pipe,
    and the pool's thread waiting for the rest for ever (test_a_dying_worker_costs_nothing, now
    and then). It sends the name of the file that holds them: under PIPE_BUF bytes, which a pipe
    takes whole or not at all."""
    import pickle
    import select
    from concurrent.futures import Future

    from experiments.execution.workers import handed_over, run_task
    from experiments.spec.config import RunConfig
    unit = [RunConfig(impl="scratch", activation=a, epochs=1) for a in ("sigmoid", "relu")]
    sent = run_task(unit, None, spool=str(tmp_path))
    assert isinstance(sent, str) and len(pickle.dumps(sent)) + 200 < select.PIPE_BUF  # (and the pool's wrapping)
    future = Future()
    future.set_result(sent)
    results, direct = handed_over(future), run_task(unit, None)
    def rows(of):
        return [{k: v for k, v in r.run_row.items() if k not in TIMING} for r in of]
    assert rows(results) == rows(direct) and not list(tmp_path.iterdir())


def is_worker(process: psutil.Process) -> bool:
    try:
        return "spawn_main" in " ".join(process.cmdline())
    except psutil.Error:  # gone, or a zombie not yet reaped
        return False


def mount_tmpfs(path, size: str):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill up ({done.stderr.decode().strip() or 'not root'})")


@pytest.mark.parametrize("size,where", [("8k", "manifest.json"), ("64k", ".npz")])
def test_a_full_disk_is_one_line_and_leaves_whole_files_only(tmp_path, size, where):
    """A real full disk (a small tmpfs as the results folder): a manifest that does not fit, or a
    parameter file that does not fit after the rows of its epochs."""
    disk = tmp_path / "disk"
    mount_tmpfs(disk, size)
    try:
        grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.5], epochs=[1])
        line = one_line(cli("run", "--grid", grid, "--out", disk / "out"))
        assert "No space left on device" in line and str(disk / "out") in line and where in line
        assert not list((disk / "out").glob("**/.*.tmp"))
        for name in ("runs.csv", "epochs.csv"):
            pd.read_csv(disk / "out" / name)  # whole rows
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_stops_a_pool_at_once(tmp_path):
    """With --workers 2, the first row that cannot be written ends the command: its workers are
    killed rather than left to train the rest of the grid (about a minute) for nothing."""
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "64k")
    try:
        grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.5], epochs=[60], seed=list(range(24)))
        proc = start_run(grid, disk / "out", "--workers", "2", "--engine", "single")
        code = wait_or_show(proc, timeout=30)
        err = proc.stderr.read()
        errors = [line for line in err.splitlines() if line.startswith("mlp-twins run: error")]
        assert code == 2 and len(errors) == 1 and "No space left on device" in errors[0], err
        assert "Traceback" not in err
        assert not [p for p in psutil.process_iter(["cmdline"]) if str(disk) in " ".join(p.info["cmdline"] or [])]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.fixture
def immutable(tmp_path):
    """chattr +i on a path (not even root may write there), undone after the test."""
    made = []

    def make(path):
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not possible here ({done.stderr.decode().strip()})")
        made.append(path)
    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)])


def test_a_read_only_folder_is_one_line(reference, tmp_path, immutable):
    grid, ref = reference
    out = tmp_path / "out"
    out.mkdir()
    immutable(out)
    assert "cannot write results to" in one_line(cli("run", "--grid", grid, "--out", out))


def test_a_read_only_table_is_one_line_and_keeps_the_rows(tmp_path, immutable):
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.5], epochs=[1])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 0
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], lr=[0.5, 0.1], epochs=[1])
    before = (tmp_path / "out" / "runs.csv").read_bytes()
    immutable(tmp_path / "out" / "epochs.csv")
    line = one_line(cli("run", "--grid", grid, "--out", tmp_path / "out", "--extend"))
    assert "epochs.csv" in line and "Operation not permitted" in line
    assert (tmp_path / "out" / "runs.csv").read_bytes() == before


def test_bench_checks_its_out_before_measuring(tmp_path, immutable):
    out = tmp_path / "bench"
    out.mkdir()
    immutable(out)
    done = cli("bench", "--dataset", "sample", "--cases", "scratch", "--out", out)
    assert "cannot write to" in one_line(done) and "round" not in done.stdout


@pytest.mark.parametrize("entry,kind", [("params", "file"), ("manifest.json", "dir"), ("runs.csv", "dir")])
def test_an_entry_of_the_wrong_kind_is_one_line(tmp_path, entry, kind):
    out = tmp_path / "out"
    out.mkdir()
    (out / entry).mkdir() if kind == "dir" else (out / entry).write_text("x")
    line = one_line(cli("run", "--set", "epochs=1", "--set", "impl=scratch", "--out", out))
    assert entry in line and "move it away" in line


@pytest.mark.parametrize("manifest,named", [
    ({"grids": "grid", "data": {}, "sessions": []}, "grids, data and sessions"),
    ({"grids": [{"name": 1, "axes": {}, "overrides": [], "runs": 1, "run_ids": []}], "data": {}, "sessions": []},
     "grids[0]"),
    ({"grids": [], "data": {"sample": {"checksum": 7, "validation": {}}}, "sessions": []}, "data['sample']"),
    ({"grids": [], "data": {}, "sessions": ["yesterday"]}, "a session"),
])
def test_a_manifest_of_the_wrong_shape_is_one_line(reference, tmp_path, manifest, named):
    """The right keys holding the wrong kinds of values: named as damage, before any run, by run;
    inspect --against, which only reads what it can of a manifest, still compares."""
    import json
    import shutil
    grid, ref = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    (out / "manifest.json").write_text(json.dumps({"format": 2, **manifest}))
    before = (out / "runs.csv").read_bytes()
    line = one_line(cli("run", "--grid", grid, "--out", out))
    assert "manifest.json is damaged" in line and named in line
    assert (out / "runs.csv").read_bytes() == before
    done = cli("inspect", ref, "--against", out)
    assert done.returncode == 0 and "8 runs in both: 8 agree to 1e-9" in done.stdout, done.stderr


def test_a_failing_write_is_a_clear_error_and_keeps_the_rows(tmp_path, monkeypatch):
    results = ResultsDir(tmp_path).open()
    row = {"run_id": "abc", "impl": "scratch", "epoch": 1, "train_loss": 0.5, "train_acc": 0.9, "val_loss": 0.5,
           "val_acc": 0.9, "test_loss": 0.5, "test_acc": 0.9, "wall_s": 0.1}
    results.append("epochs.csv", [row])
    before = (tmp_path / "epochs.csv").read_bytes()
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:7]))  # a short write: the disk filled
    with pytest.raises(UsageError, match="rows already written are intact"):
        results.append("epochs.csv", [{**row, "epoch": 2}])
    monkeypatch.undo()
    assert (tmp_path / "epochs.csv").read_bytes() == before  # the part that was written is taken back


def test_a_path_the_system_refuses_is_one_line(tmp_path):
    """A name longer than the file system allows (255 bytes), as --out, as a results folder to
    inspect, and as a grid file."""
    long = tmp_path / ("a" * 300)
    for args in (["run", "--set", "epochs=1", "--out", long], ["inspect", long], ["run", "--grid", long]):
        line = one_line(cli(*args))
        assert "File name too long" in line and str(long) in line


def test_an_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    assert "is a file, not a results folder" in one_line(cli("run", "--set", "epochs=1", "--set", "impl=scratch",
                                                             "--out", target))
    assert target.read_text() == "x"


@pytest.mark.parametrize("content", [b"run_id,impl,accuracy\nx,scratch,0.9\n", b"\x89PNG\r\n\x1a\n\x00\x00binary"])
def test_foreign_tables_are_refused_and_left_untouched(tmp_path, content):
    (tmp_path / "runs.csv").write_bytes(content)
    line = one_line(cli("run", "--set", "epochs=1", "--set", "impl=scratch", "--out", tmp_path))
    assert "runs.csv is not a runs.csv of this version" in line
    assert (tmp_path / "runs.csv").read_bytes() == content
    one_line(cli("inspect", tmp_path))


@pytest.fixture
def finished(reference, tmp_path):
    """A copy of the reference results, to damage."""
    import shutil
    _, ref = reference
    shutil.copytree(ref, tmp_path / "out")
    return tmp_path / "out"


def damage(path, how: str) -> None:
    text = path.read_text()
    head, first, *rest = text.splitlines(keepends=True)
    fields = first.rstrip("\n").split(",")
    metric = RUNS_COLUMNS.index("final_test_acc" if how != "a NaN metric in an ok run" else "test_acc_at_best")
    if how == "a field too many":
        first = ",".join(fields + ["x"]) + "\n"
    elif how == "a metric that is not a number":
        fields[metric] = "lots"
        first = ",".join(fields) + "\n"
    elif how == "a NaN metric in an ok run":
        fields[metric] = "nan"
        first = ",".join(fields) + "\n"
    elif how == "an accuracy above 1":
        fields[metric] = "1.5"
        first = ",".join(fields) + "\n"
    elif how == "a seed that is not a whole number":
        fields[RUNS_COLUMNS.index("seed")] = "inf"
        first = ",".join(fields) + "\n"
    elif how == "a status no run writes":
        fields[RUNS_COLUMNS.index("status")] = "okay"
        first = ",".join(fields) + "\n"
    elif how == "an activation changed by hand":  # a valid value, but not the one its run_id was made of
        column = RUNS_COLUMNS.index("activation")
        fields[column] = "relu" if fields[column] == "sigmoid" else "sigmoid"
        first = ",".join(fields) + "\n"
    elif how == "a learning rate no run can have":
        fields[RUNS_COLUMNS.index("lr")] = "-1"
        first = ",".join(fields) + "\n"
    elif how == "a repeated row":
        rest.append(first)
    elif how == "a cut-off last row":
        rest[-1] = rest[-1][:20]
    path.write_text(head + first + "".join(rest))


HOW = ["a field too many", "a metric that is not a number", "a NaN metric in an ok run", "an accuracy above 1",
       "a seed that is not a whole number", "a status no run writes", "an activation changed by hand",
       "a learning rate no run can have", "a repeated row", "a cut-off last row"]


@pytest.mark.parametrize("how", HOW)
def test_inspect_names_damaged_rows_and_leaves_them_out(finished, how):
    damage(finished / "runs.csv", how)
    done = cli("inspect", finished)
    assert done.returncode == 0, done.stderr
    warning = done.stderr.strip()
    assert len(warning.splitlines()) == 1 and warning.startswith("warning:") and "runs.csv" in warning
    assert {"a cut-off last row": "cut off", "a repeated row": "repeat a run"}.get(how, "line 2") in warning
    assert f": {8 if how == 'a repeated row' else 7} runs (" in done.stdout.splitlines()[0]  # of the 8 it held


@pytest.mark.parametrize("how", HOW[:8] + ["a byte that is not UTF-8"])
def test_run_refuses_a_damaged_table_with_one_line(finished, reference, how):
    grid, _ = reference
    if how == "a byte that is not UTF-8":
        (finished / "runs.csv").write_bytes((finished / "runs.csv").read_bytes() + b"\xff\n")
    else:
        damage(finished / "runs.csv", how)
    before = (finished / "runs.csv").read_bytes()
    line = one_line(cli("run", "--grid", grid, "--out", finished))
    assert "runs.csv" in line and "damaged" in line
    assert (finished / "runs.csv").read_bytes() == before


def test_inspect_plot_names_a_damaged_parameter_file(finished):
    for path in (finished / "params").iterdir():
        path.write_bytes(path.read_bytes()[:100])
    line = one_line(cli("inspect", finished, "--plot"))
    assert ".npz is not a readable parameter file" in line
