"""The batched engine is a faster way to the same numbers: float64 metrics equal the single runs'."""
import numpy as np
import pytest

from experiments.config import RunConfig
from experiments.execute import execute, execute_stack, stacks
from tests.helpers import assert_same_tables, cli, write_grid

METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]


@pytest.mark.parametrize("impl", ["scratch", "torch"])
@pytest.mark.parametrize("activation,loss", [("sigmoid", "mse"), ("relu", "ce"), ("sigmoid", "bce")])
def test_stack_equals_single_runs(sample, impl, activation, loss):
    configs = [RunConfig(impl=impl, activation=activation, loss=loss, lr=lr, seed=seed, epochs=2, init=init)
               for lr, seed, init in ((0.05, 0, "auto"), (0.3, 0, "auto"), (0.3, 1, "auto"), (0.05, 1, "normal"))]
    assert len(stacks(configs)) == 1
    stacked = execute_stack(configs, sample)
    for config, (run_row, rows, (weights, biases)) in zip(configs, stacked):
        single_row, single_rows, (single_w, single_b) = execute(config, sample)
        assert run_row["run_id"] == single_row["run_id"] and run_row["status"] == "ok"
        assert len(rows) == len(single_rows) == 2
        for ours, theirs in zip(rows, single_rows):
            for m in METRICS:
                assert abs(ours[m] - theirs[m]) <= 1e-9 * abs(theirs[m]), (config, m)
        for ours, theirs in zip(weights + biases, single_w + single_b):
            assert np.linalg.norm(ours - theirs) <= 1e-9 * np.linalg.norm(theirs)


def test_a_diverging_member_does_not_touch_the_others(sample):
    configs = [RunConfig(impl="scratch", activation="relu", loss="ce", lr=lr, epochs=3) for lr in (0.1, 1e300)]
    (ok_row, ok_rows, _), (bad_row, bad_rows, _) = execute_stack(configs, sample)
    single_row, single_rows, _ = execute(configs[0], sample)
    assert bad_row["status"] == "diverged" and len(bad_rows) < 3
    assert ok_row["status"] == "ok" and [r["test_loss"] for r in ok_rows] == [r["test_loss"] for r in single_rows]


def test_grid_engines_agree(tmp_path):
    grid = write_grid(tmp_path / "grid.toml", lr=[0.1, 0.5], seed=[0, 1], loss=["ce"])
    for engine in ("single", "batched"):
        done = cli("run", "--grid", grid, "--out", tmp_path / engine, "--engine", engine)
        assert done.returncode == 0, done.stderr
    import pandas as pd
    a = pd.read_csv(tmp_path / "single" / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
    b = pd.read_csv(tmp_path / "batched" / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
    assert len(a) == len(b) == 2 * 2 * 2 * 2
    for m in METRICS:
        assert np.allclose(a[m].to_numpy(), b[m].to_numpy(), rtol=1e-9, atol=0)
