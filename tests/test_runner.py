"""The runner: resuming, workers, diverged and failed runs, what a folder was made by, and inspect."""
import io
import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from experiments.errors import UsageError
from experiments.execution import runner
from experiments.spec.config import RunConfig
from experiments.store.folder import ResultsDir
from tests.helpers import assert_same_tables, cli, mnist_folder, one_line_error, write_grid


def test_reference_tables(reference):
    _, out = reference
    runs = pd.read_csv(out / "runs.csv")
    epochs = pd.read_csv(out / "epochs.csv")
    assert len(runs) == 8 and len(epochs) == 16
    assert runs.run_id.nunique() == 4 and set(runs.status) == {"ok"}
    assert sorted(os.listdir(out / "params")) == sorted(f"{r}-{i}-{which}.npz" for which in ("best", "final")
                                                        for r, i in zip(runs.run_id, runs.impl, strict=True))
    manifest = json.loads((out / "manifest.json").read_text())
    (grid,) = manifest["grids"]
    assert grid["runs"] == 8 and sorted(grid["run_ids"]) == sorted(f"{r}-{i}" for r, i in zip(runs.run_id, runs.impl,
                                                                                               strict=True))
    assert manifest["data"]["sample"]["checksum"] and manifest["data"]["sample"]["validation"]["val_sizes"] == [500]
    (session,) = manifest["sessions"]
    for key in ("numpy", "torch", "cpu", "simd", "cpu_count", "git_commit", "started", "finished", "kernels"):
        assert key in session
    assert session["kernels"]["torch_cpu_capability"] and session["kernels"]["numpy_blas"]


def test_running_again_skips_everything(reference):
    grid, out = reference
    before = {name: (out / name).read_bytes() for name in ("runs.csv", "epochs.csv", "manifest.json")}
    done = cli("run", "--grid", grid, "--out", out)
    assert done.returncode == 0 and done.stdout.startswith("grid: 8 runs, 8 already complete")
    assert "scratch, lr 0.5" in done.stdout  # it ends with the answer: the comparison table
    assert {name: (out / name).read_bytes() for name in before} == before


def test_two_workers_give_the_same_metrics_and_the_client_leaves_torch_to_them(reference, tmp_path):
    """The tables of two worker processes are those of one. The client that only schedules and
    writes never imports torch (~0.5 GB a process), though half the runs are torch's."""
    import subprocess
    import sys
    grid, ref = reference
    code = ("import sys\nfrom experiments.cli.main import main\nif __name__ == '__main__':\n"
            f"    assert main(['run', '--grid', {str(grid)!r}, '--out', {str(tmp_path / 'w2')!r}, "
            "'--workers', '2']) == 0\n"
            "    print('torch imported:', 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "torch imported: False" in done.stdout
    assert_same_tables(ref, tmp_path / "w2")


def test_diverged_runs_are_recorded_and_the_grid_goes_on(tmp_path):
    import warnings
    grid = write_grid(tmp_path / "grid.toml", activation=["relu"], loss=["ce"], lr=[0.1, 1e300],
                      impl=["scratch"], init=["he"], epochs=[3])  # and a torch stack: test_batched
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = cli("run", "--grid", grid, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]  # overflow on the way is silenced
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").set_index("lr")
    assert runs.loc[1e300, "status"] == "diverged" and runs.loc[0.1, "status"] == "ok"
    epochs = pd.read_csv(tmp_path / "out" / "epochs.csv")
    assert (epochs.run_id == runs.loc[1e300, "run_id"]).sum() < 3  # stopped early


class Failing:
    """A cluster whose every task is lost with its worker (or, raising=True, raises in it)."""

    def __init__(self, raising: bool = False):
        self.raising = raising

    def submit(self, fn, *args, **kwargs):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool
        future = Future()
        future.set_exception(RuntimeError("the unit raised") if self.raising else BrokenProcessPool("worker lost"))
        return future


def test_a_failed_unit_is_announced_retried_recorded_then_tried_again(tmp_path, capsys):
    configs = [RunConfig(lr=lr, epochs=2) for lr in (0.1, 0.3)]
    out = ResultsDir(tmp_path / "out")
    outcome = runner.run_grid(configs, out, "test", {}, executor=Failing(), max_attempts=2)
    notes = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]  # not progress
    assert outcome.counts == {"failed": 2}
    assert len(notes) == 2 and "worker lost" in notes[0] and "worker lost" in notes[1]  # retried, then failed
    assert sorted(pd.read_csv(tmp_path / "out" / "runs.csv").status) == ["failed", "failed"]
    # the next run tries them again, and their failed rows give way to the real ones
    out.close()
    outcome = runner.run_grid(configs, ResultsDir(tmp_path / "out"), "test", {})
    assert outcome.counts == {"ok": 2}
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs.status) == ["ok", "ok"] and len(runs) == 2


def test_a_grid_with_failed_runs_exits_1_with_a_summary(tmp_path, monkeypatch):
    from experiments.execution import training

    def broken(*args, **kwargs):
        raise RuntimeError("out of luck")
    monkeypatch.setattr(training, "engine", broken)
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], epochs=[1])
    done = cli("run", "--grid", grid, "--out", tmp_path / "out")
    assert done.returncode == 1
    note, summary = [line for line in done.stderr.splitlines() if not line.startswith("[")]  # not progress
    assert "out of luck" in note and summary.startswith("mlp-twins run: 4 run(s) failed")
    assert sorted(pd.read_csv(tmp_path / "out" / "runs.csv").status) == ["failed"] * 4


def test_another_grid_is_refused_unless_the_folder_is_extended(reference, tmp_path):
    import shutil
    grid, ref = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    before = (out / "runs.csv").read_bytes()
    other = write_grid(tmp_path / "other.toml", lr=[0.1, 0.2], impl=["scratch"])
    one_line_error(cli("run", "--grid", other, "--out", out), "'grid'", "[0.1, 0.5]", "[0.1, 0.2]", "--extend")
    assert (out / "runs.csv").read_bytes() == before
    done = cli("run", "--grid", other, "--out", out, "--extend")
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 8 + 2  # lr 0.1 of scratch was done already
    manifest = json.loads((out / "manifest.json").read_text())
    assert [g["name"] for g in manifest["grids"]] == ["grid", "other"] and len(manifest["sessions"]) == 2


def test_other_data_under_the_same_name_is_refused(tmp_path, sample):
    """A folder made with one mnist is not resumed with other files under the data root."""
    root = tmp_path / "root"

    def write(offset: int):
        mnist_folder(root, sample.train_images[offset:offset + 300], sample.train_labels[:300],
                     sample.test_images[:100], sample.test_labels[:100])
    write(0)
    args = ["run", "--dataset", "mnist", "--data-root", root, "--set", "epochs=1", "--set", "impl=scratch",
            "--set", "val_size=100", "--set", "seed=0,1", "--set", "activation=sigmoid", "--set", "loss=ce",
            "--set", "lr=0.1", "--out", tmp_path / "out"]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("warning:") and "MNIST/raw" in done.stderr  # named in a warning
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["data"]["mnist"]["source"].startswith("not the official mnist")  # and recorded
    write(1)  # other images under the same name
    before = (tmp_path / "out" / "runs.csv").read_bytes()
    done = cli(*args)
    warning, error = done.stderr.strip().splitlines()  # the warning of unofficial files, then the one-line refusal
    assert done.returncode == 2 and "mnist" in error and manifest["data"]["mnist"]["checksum"][:12] in error
    assert (tmp_path / "out" / "runs.csv").read_bytes() == before


def test_a_batch_larger_than_the_data_found_is_refused(tmp_path, sample):
    """A data root holding a few hundred images under the name mnist: sizes are checked against
    the files found, not the 60,000 of the official set."""
    mnist_folder(tmp_path / "root", sample.train_images[:300], sample.train_labels[:300], sample.test_images[:100],
                 sample.test_labels[:100])
    done = cli("run", "--dataset", "mnist", "--data-root", tmp_path / "root", "--set", "epochs=1", "--set",
               "impl=scratch", "--set", "val_size=100", "--set", "batch_size=250", "--out", tmp_path / "out")
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    (error,) = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
    assert "batch_size 250" in error and "200 training images" in error and "100 held out" in error


def test_many_workers_on_few_cores_is_a_warning(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], epochs=[1], lr=[0.1])
    many = os.cpu_count() + 1  # (not so many that the memory free, which the other tests use, refuses them)
    done = cli("run", "--grid", grid, "--out", tmp_path / "out", "--workers", many)
    assert done.returncode == 0, done.stderr
    assert f"warning: {many} workers on {os.cpu_count()} cores" in done.stderr


def test_the_count_and_an_estimate_come_before_training(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], epochs=[1], lr=[0.1])
    done = cli("run", "--grid", grid, "--out", tmp_path / "out")
    first = done.stdout.splitlines()[0]
    assert re.fullmatch(r"grid: 2 runs, 0 already complete in \S+, 2 to run in 1 unit\(s\): about \d+ min on 1 "
                        r"worker\(s\) .*", first), first


def test_inspect_prints_the_tables_and_plots(reference, tmp_path):
    _, out = reference
    runs = pd.read_csv(out / "runs.csv")
    done = cli("inspect", out, "--plot")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "final_test_acc, mean ±" in text and "Parity" in text and "Best configuration" in text
    # the comparison table shows each cell's value (one seed here) under a plain header
    cell = runs[(runs.impl == "scratch") & (runs.loss == "ce") & (runs.lr == 0.5)].final_test_acc.iloc[0]
    assert f"{cell:.4f}" in text and "scratch, lr 0.5" in text and "('scratch'" not in text
    # the best configuration is chosen on validation and reports the test accuracy there
    ok = runs[(runs.impl == "scratch") & (runs.loss == "ce")]
    chosen = ok.loc[ok.best_val_acc.idxmax()]
    best = text.split("Best configuration")[1]
    assert f" {chosen.lr:g} " in best and f"{chosen.test_acc_at_best:.4g}" in best
    for name in ("learning_curves_test_acc", "learning_curves_train_loss", "lr_sweep", "first_layer", "confusion"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 5000
    md = cli("inspect", out, "--format", "markdown")
    assert md.returncode == 0 and "| scratch, lr 0.1 |" in re.sub(" +", " ", md.stdout)
    assert "| activation | loss | scratch, lr 0.1 |" in re.sub(" +", " ", md.stdout) and "('" not in md.stdout
    csv = cli("inspect", out, "--format", "csv")
    table = pd.read_csv(io.StringIO(csv.stdout.split("\n\n")[2]))  # the comparison: a number a column
    assert list(table.columns) == ["activation", "loss", "impl", "lr", "n_seeds", "mean_final_test_acc",
                                   "std_final_test_acc", "ci_low", "ci_high", "rank_final_test_acc"]
    mine = table[(table.impl == "scratch") & (table.loss == "ce") & (table.lr == 0.5)].iloc[0]
    assert mine.mean_final_test_acc == cell and mine.n_seeds == 1 and np.isnan(mine.ci_low)
    assert table.rank_final_test_acc.min() == 1 and table.loc[table.rank_final_test_acc.idxmin()].mean_final_test_acc \
        == table.mean_final_test_acc.max()


@pytest.mark.parametrize("axis,values", [("batch_size", [10, 200]), ("l2", [0.0, 5.0])])
def test_tables_keep_apart_what_a_grid_varies_besides_seeds(tmp_path, axis, values):
    """A grid that varies batch size (or l2) shows each value in rows of its own, never as one
    mean ± std over runs of different configurations."""
    from experiments.analysis.tables import best, comparison, load
    grid = write_grid(tmp_path / "grid.toml", impl=["scratch"], loss=["ce"], lr=[0.5], seed=[0, 1], epochs=[1],
                      **{axis: values})
    done = cli("run", "--grid", grid, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    runs, _ = load(tmp_path / "out")
    table = comparison(runs, "final_test_acc")
    assert axis in table.index.names and len(table) == 2
    for value in values:
        seeds = runs[runs[axis] == value].final_test_acc
        row = table.xs(value, level=axis).iloc[0]["scratch, lr 0.5"]
        half = 12.706204736174698 * seeds.std() / 2 ** 0.5  # t_(0.975, 1) s / sqrt(2): two seeds
        assert row == f"{seeds.mean():.4f} ± {half:.4f}"
    top = best(runs)
    assert len(top) == 1 and top[axis].iloc[0] in values  # the best of the two, chosen on validation
    chosen = runs[runs[axis] == top[axis].iloc[0]]
    assert top.mean_best_val_acc.iloc[0] == pytest.approx(chosen.best_val_acc.mean())
    assert runs.groupby(axis).best_val_acc.mean().idxmax() == top[axis].iloc[0]


def test_inspect_on_empty_folder_says_so(tmp_path):
    one_line_error(cli("inspect", tmp_path), "runs.csv")


def test_progress_counts_epochs_and_the_epochs_a_diverged_run_skips():
    import io

    from experiments.execution.progress import Progress
    configs = [RunConfig(lr=lr, epochs=4) for lr in (0.1, 0.2)]
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


def test_workers_report_epochs_while_they_train(tmp_path):
    from experiments.execution.progress import Progress
    reported = []

    class Recording(Progress):
        def epoch(self, row):
            reported.append(row["epoch"])
            super().epoch(row)

    configs = [RunConfig(lr=lr, seed=seed, epochs=3) for lr in (0.1, 0.3) for seed in (0, 1)]
    outcome = runner.run_grid(configs, ResultsDir(tmp_path / "out"), "test", {}, progress=Recording(configs),
                              workers=2)
    assert outcome.counts == {"ok": 4}
    assert reported and set(reported) <= {1, 2, 3}  # rows from the worker processes, before the results


def test_torch_runs_asked_on_another_device_than_the_folders_are_refused(tmp_path):
    """A torch run's run_id leaves out its device: into a folder that holds it on the cpu, the same
    run on cuda would count as done, so it is refused (and an `auto` device takes what is there)."""
    on_cpu = RunConfig(impl="torch", device="cpu")
    rows = [{"run_id": on_cpu.run_id, "impl": "torch", "device": "cpu", "status": "ok"}]
    out = ResultsDir(tmp_path / "out")
    runner.check_devices_of([on_cpu, RunConfig(impl="torch", device="auto")], rows, out)
    with pytest.raises(UsageError, match="holds the torch runs on cpu, and these ask for cuda"):
        runner.check_devices_of([RunConfig(impl="torch", device="cuda")], rows, out)
    runner.check_devices_of([RunConfig(impl="torch", device="cuda")], [{**rows[0], "status": "failed"}], out)


def test_a_unit_that_raises_is_recorded_failed_without_a_second_try(tmp_path, capsys):
    """Only a lost worker is worth another try: code that raised would raise again."""
    configs = [RunConfig(lr=lr, epochs=2) for lr in (0.1, 0.3)]
    outcome = runner.run_grid(configs, ResultsDir(tmp_path / "out"), "test", {}, executor=Failing(raising=True),
                              max_attempts=2)
    notes = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert outcome.counts == {"failed": 2}
    assert len(notes) == 1 and "RuntimeError: the unit raised" in notes[0]
