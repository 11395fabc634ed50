"""What a hostile pass tried, and what each attempt now gets: one line and exit status 2 (or 130
for a signal), nothing already written lost or changed, and no process left behind. Planted
links and special files in a results folder, tampered manifests, closed and full standard
streams, signals in a row (Dask's cases are in test_dask.py)."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pandas as pd
import psutil
import pytest

from tests.helpers import busy_children, cli, one_line_error, said, start, write_grid


@pytest.fixture
def done(reference, tmp_path):
    """A copy of the reference grid's finished folder."""
    _, ref = reference
    shutil.copytree(ref, tmp_path / "out")
    return tmp_path / "out"


def test_a_planted_link_is_never_written_through(done, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    for name in (".report.md.tmp", ".report.html.tmp", ".manifest.json.tmp"):
        (done / name).symlink_to(victim)
    assert cli("inspect", done, "--report").returncode == 0
    assert victim.read_text() == "mine"
    (done / "report.md").unlink()
    (done / "report.md").symlink_to(victim)  # the report itself a link: refused, not followed
    one_line_error(cli("inspect", done, "--report"), "report.md", "symbolic link")
    assert victim.read_text() == "mine"


def test_two_reports_at_once_both_write(done):
    runs = [subprocess.Popen([sys.executable, "-m", "experiments", "inspect", str(done), "--plot", "--report"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in runs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert (done / "report.html").stat().st_size > 10_000


@pytest.mark.parametrize("entry,make", [
    ("manifest.json", lambda path: os.mkfifo(path)),
    ("runs.csv", lambda path: os.mkfifo(path)),
    ("epochs.csv", lambda path: path.symlink_to("/dev/zero")),
])
def test_a_special_file_in_a_results_folder_is_refused_at_once(done, entry, make):
    (done / entry).unlink()
    make(done / entry)
    for args in (["inspect", done], ["run", "--set", "epochs=1", "--set", "impl=scratch", "--out", done]):
        proc = subprocess.run([sys.executable, "-m", "experiments", *map(str, args)], capture_output=True, text=True,
                              timeout=60)  # a FIFO that were opened would block forever
        one_line_error(proc, entry)


@pytest.mark.parametrize("tamper", ["overrides of numbers", "200,000 nested lists"])
def test_a_tampered_manifest_is_one_line(done, tamper):
    path = done / "manifest.json"
    if tamper == "overrides of numbers":
        manifest = json.loads(path.read_text())
        manifest["grids"][0]["overrides"] = [5]
        path.write_text(json.dumps(manifest))
    else:
        path.write_text("[" * 200_000 + "]" * 200_000)
    grid = write_grid(done.parent / "grid.toml")
    one_line_error(cli("run", "--grid", grid, "--out", done), "manifest.json")


def test_a_folder_whose_every_run_failed_plots_and_reports_without_breaking(tmp_path, monkeypatch):
    from experiments.execution import workers

    def broken(*args, **kwargs):
        raise RuntimeError("out of luck")
    monkeypatch.setattr(workers, "run_unit", broken)
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], epochs=[1], seed=[0, 1])
    assert cli("run", "--grid", grid, "--out", tmp_path / "out").returncode == 1
    monkeypatch.undo()
    done = cli("inspect", tmp_path / "out", "--plot", "--report")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and (tmp_path / "out" / "report.md").exists()


def test_runs_with_and_without_a_validation_split_from_train_report_from_the_ones_with_it(tmp_path):
    out = tmp_path / "out"
    assert cli("train", "--impl", "scratch", "--val-size", "0", "--epochs", "1", "--out", out).returncode == 0
    assert cli("train", "--impl", "torch", "--epochs", "1", "--out", out).returncode == 0
    done = cli("inspect", out, "--report")
    assert done.returncode == 0, done.stderr
    from experiments.analysis.report import build
    _, sections, _ = build(out)
    assert sections[0].title == "The best configuration" and sections[0].facts["best"].impl == "torch"


def test_the_report_of_the_current_folder_is_titled_by_its_name(done):
    subprocess.run([sys.executable, "-m", "experiments", "inspect", ".", "--report"], cwd=done, check=True,
                   capture_output=True)
    assert (done / "report.md").read_text().splitlines()[0] == f"# What {done.name} answers"


def test_an_empty_out_and_a_loop_of_links_are_one_line(tmp_path):
    one_line_error(cli("run", "--set", "epochs=1", "--out", ""), "--out")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    one_line_error(cli("run", "--set", "epochs=1", "--set", "impl=scratch", "--out", loop), str(loop), "link")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "params").symlink_to(folder / "params")
    one_line_error(cli("run", "--set", "epochs=1", "--set", "impl=scratch", "--out", folder), "params", "link")


def shell(command: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_training_does_not_depend_on_anyone_reading_its_output(tmp_path):
    """stdout closed, stderr closed, stdout's reader gone after one line: the grid trains whole
    and exits 0 each time. inspect into a full device: one line, exit 2."""
    me = f"{sys.executable} -m experiments"
    args = "run --set epochs=1 --set seed=0 --set impl=scratch --set activation=relu"
    for name, redirect in (("closed-out", ">&-"), ("closed-err", "2>&-"), ("head", "| head -1; exit ${PIPESTATUS[0]}")):
        proc = shell(f"{me} {args} --out {name} {redirect}", tmp_path)
        assert proc.returncode == 0, (name, proc.stderr)
        assert len(pd.read_csv(tmp_path / name / "runs.csv")) == 9, name
    full = shell(f"{me} inspect closed-out > /dev/full", tmp_path)
    one_line_error(full, "No space left on device")


@pytest.mark.parametrize("signals", [("SIGINT", "SIGINT"), ("SIGINT", "SIGTERM"), ("SIGHUP",)])
def test_signals_in_a_row_end_with_one_line_and_130(long_grid, tmp_path, signals):
    proc = start(["run", "--grid", long_grid, "--out", "out", "--workers", "2"], tmp_path)
    children = busy_children(proc, 2)
    for name in signals:
        proc.send_signal(getattr(signal, name))
    assert proc.wait(timeout=30) == 130
    err = proc.stderr.read()
    assert len(said(err)) == 1 and "interrupted" in err and "Traceback" not in err, err
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
