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
    for key in ('"numpy"', '"torch"', '"cpu"', '"simd"', '"cpu_count"', '"data_checksums"', '"git_commit"',
                '"started"', '"finished"'):
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


def test_the_client_of_a_cpu_grid_leaves_torch_to_its_workers(tmp_path):
    """Importing torch costs a process about 0.5 GB: a client that only schedules and writes keeps out of it."""
    grid = write_grid(tmp_path / "grid.toml", lr=[0.5], epochs=[1])
    code = ("import sys\nfrom experiments.cli import main\nif __name__ == '__main__':\n"
            f"    assert main(['run', '--grid', {str(grid)!r}, '--out', {str(tmp_path / 'out')!r}, '--workers', '2']) == 0\n"
            "    print('torch imported:', 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "torch imported: False" in done.stdout
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert set(runs.impl) == {"scratch", "torch"} and set(runs.status) == {"ok"}


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


def test_progress_counts_epochs_and_the_epochs_a_diverged_run_skips():
    import io
    from experiments.config import RunConfig
    from experiments.progress import Progress
    configs = [RunConfig(lr=lr, epochs=4).resolved() for lr in (0.1, 0.2)]
    stream = io.StringIO()
    progress = Progress(configs, every_s=0.0, stream=stream)
    first, second = ({"run_id": c.run_id, "impl": c.impl, "activation": c.activation, "loss": c.loss, "lr": c.lr,
                      "seed": c.seed, "final_test_acc": 0.5} for c in configs)
    progress.epoch({**first, "epoch": 1, "test_acc": 0.5})
    assert stream.getvalue().splitlines()[-1].startswith("[0/2 runs, 1/8 epochs]")
    progress.finish({**first, "status": "diverged"})  # its 3 epochs left count as done
    progress.epoch({**first, "epoch": 2, "test_acc": 0.5})  # a row that came after the run's result
    assert stream.getvalue().splitlines()[-1].startswith("[1/2 runs, 4/8 epochs]")
    for epoch in (1, 2, 3, 4):
        progress.epoch({**second, "epoch": epoch, "test_acc": 0.5})
    progress.finish({**second, "status": "ok"})
    assert stream.getvalue().splitlines()[-1].startswith("[2/2 runs, 8/8 epochs]")


def test_workers_report_epochs_while_they_train(tmp_path, monkeypatch):
    from experiments import runner
    from experiments.config import RunConfig
    from experiments.results import ResultsDir
    reported = []

    class Recording(runner.Progress):
        def epoch(self, row):
            reported.append(row["epoch"])
            super().epoch(row)

    monkeypatch.setattr(runner, "Progress", Recording)
    configs = [RunConfig(lr=lr, seed=seed, epochs=3) for lr in (0.1, 0.3) for seed in (0, 1)]
    out = ResultsDir(tmp_path / "out").open()
    counts = runner.run_grid(configs, out, "test", {}, workers=2)
    assert counts == {"ok": 4}
    assert reported and set(reported) <= {1, 2, 3}  # rows from the worker processes, before the results


def test_a_unit_that_fails_every_time_is_announced_retried_then_recorded_failed(tmp_path, capsys):
    from concurrent.futures import Executor, Future
    from experiments import runner
    from experiments.config import RunConfig
    from experiments.results import ResultsDir

    class Failing(Executor):  # a cluster whose every task is lost
        def submit(self, fn, *args, **kwargs):
            future = Future()
            future.set_exception(RuntimeError("worker lost"))
            return future

    configs = [RunConfig(lr=lr, epochs=2) for lr in (0.1, 0.3)]
    out = ResultsDir(tmp_path / "out").open()
    counts = runner.run_grid(configs, out, "test", {}, executor=Failing(), max_attempts=2)
    err = capsys.readouterr().err
    assert counts == {"failed": 2}
    assert "1 unit(s), 2 run(s), did not finish (RuntimeError: worker lost); trying them again" in err
    assert "2 run(s) from" in err and "failed: RuntimeError: worker lost" in err
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs.status) == ["failed", "failed"]
