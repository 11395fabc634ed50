"""The runner: resume after kill -9, diverged runs, workers, and inspect on a finished grid."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.helpers import assert_same_tables, cli, write_grid


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the small grid, with one worker."""
    folder = tmp_path_factory.mktemp("reference")
    grid = write_grid(folder / "grid.toml")
    done = cli("run", "--grid", grid, "--out", folder / "out")
    assert done.returncode == 0, done.stderr
    return grid, folder / "out"


def test_reference_tables(reference):
    _, out = reference
    runs = pd.read_csv(out / "runs.csv")
    epochs = pd.read_csv(out / "epochs.csv")
    assert len(runs) == 8 and len(epochs) == 16
    assert runs.run_id.nunique() == 4 and set(runs.status) == {"ok"}
    assert sorted(os.listdir(out / "params")) == sorted(f"{r}-{i}.npz" for r, i in zip(runs.run_id, runs.impl))
    manifest = (out / "manifest.json").read_text()
    for key in ('"numpy"', '"torch"', '"cpu_count"', '"data_checksums"', '"git_commit"', '"started"', '"finished"'):
        assert key in manifest


def test_running_again_skips_everything(reference, tmp_path):
    grid, out = reference
    before = (out / "runs.csv").read_bytes()
    done = cli("run", "--grid", grid, "--out", out)
    assert done.returncode == 0 and "8 already complete" in done.stdout
    assert (out / "runs.csv").read_bytes() == before


def test_kill_9_then_resume_equals_uninterrupted(reference, tmp_path):
    grid, ref = reference
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "experiments", "run", "--grid", str(grid), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once a few runs are in, mid-grid
        runs = out / "runs.csv"
        if runs.exists() and runs.read_text().count("\n") >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = pd.read_csv(out / "runs.csv")
    assert 3 <= len(partial) < 8
    done = cli("run", "--grid", grid, "--out", out)
    assert done.returncode == 0, done.stderr
    assert_same_tables(ref, out)


def test_two_workers_give_the_same_metrics(reference, tmp_path):
    grid, ref = reference
    done = cli("run", "--grid", grid, "--out", tmp_path / "w2", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert_same_tables(ref, tmp_path / "w2")


def test_diverged_runs_are_recorded_and_the_grid_goes_on(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", activation=["relu"], loss=["ce"], lr=[0.1, 1e300],
                      impl=["scratch", "torch"], init=["he"], epochs=[3])
    done = cli("run", "--grid", grid, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").set_index("lr")
    assert set(runs.loc[1e300, "status"]) == {"diverged"} and set(runs.loc[0.1, "status"]) == {"ok"}
    epochs = pd.read_csv(tmp_path / "out" / "epochs.csv")
    assert (epochs.run_id == runs.loc[1e300, "run_id"].iloc[0]).sum() < 6  # stopped early
    assert "RuntimeWarning" not in done.stderr


def test_inspect_prints_the_three_tables_and_plots(reference, tmp_path):
    _, out = reference
    runs = pd.read_csv(out / "runs.csv")
    done = cli("inspect", out, "--plot")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "1. final_test_acc" in text and "2. Parity" in text and "3. Best configuration" in text
    # the comparison table shows the mean over seeds of each cell
    cell = runs[(runs.impl == "scratch") & (runs.loss == "ce") & (runs.lr == 0.5)].final_test_acc.mean()
    assert f"{cell:.4f} ± 0.0000" in text
    # parity: float64 twins at lr 0.5 agree exactly on test accuracy
    assert "worst case: test_acc_diff" in text
    best = runs.loc[runs.final_test_acc.idxmax()]
    assert f"{best.final_test_acc:.4g}" in text
    for name in ("learning_curves_test_acc", "learning_curves_train_loss", "lr_sweep", "first_layer", "confusion"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 5000
    md = cli("inspect", out, "--format", "markdown")
    assert md.returncode == 0 and "|" in md.stdout


def test_inspect_on_empty_folder_says_so(tmp_path):
    done = cli("inspect", tmp_path)
    assert done.returncode == 2 and "no runs.csv" in done.stderr and len(done.stderr.strip().splitlines()) == 1
