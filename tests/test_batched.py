"""The batched engine is a faster way to the same numbers: float64 metrics equal the single runs'."""
import numpy as np
import pytest

from experiments.config import RunConfig
from experiments.execute import execute, execute_stack, stacks
from tests.helpers import assert_same_tables, cli, write_grid

METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]


@pytest.mark.parametrize("impl,compiled", [("scratch", False), ("torch", False), ("torch", True)])
def test_stack_equals_single_runs(sample, impl, compiled):
    """One stack of every activation and cost at two learning rates (and sigmoid with N(0, 1)
    weights too), given in a mixed order; every run's metrics and weights are its single run's,
    also when the torch stack goes through torch.compile.

    The runs are ones that train stably: in chaotic ones (lr 3, or relu units fed by N(0, 1)
    weights, which saturate the outputs) rounding differences grow, as between the twins."""
    pairs = [(a, c) for c in ("mse", "bce", "ce") for a in ("relu", "sigmoid")]
    configs = [RunConfig(impl=impl, activation=a, loss=c, lr=lr, seed=3, epochs=2, init=init)
               for (a, c) in pairs for lr, init in ((0.03, "auto"), (0.1, "auto"), (0.1, "normal"))
               if a == "sigmoid" or init == "auto"]
    (stack,) = stacks(configs)
    assert sorted(c.run_id for c in stack) == sorted(c.run_id for c in configs)
    stacked = execute_stack(stack, sample, compiled=compiled)
    for config, (run_row, rows, (weights, biases)) in zip(stack, stacked):
        single_row, single_rows, (single_w, single_b) = execute(config, sample)
        assert run_row["run_id"] == single_row["run_id"] and run_row["status"] == "ok"
        assert len(rows) == len(single_rows) == 2
        for ours, theirs in zip(rows, single_rows):
            for m in METRICS:
                assert abs(ours[m] - theirs[m]) <= 1e-9 * abs(theirs[m]), (config, m)
        for ours, theirs in zip(weights + biases, single_w + single_b):
            assert np.linalg.norm(ours - theirs) <= 1e-9 * np.linalg.norm(theirs)


def test_a_stack_is_one_seed_with_each_cost_together():
    configs = [RunConfig(activation=a, loss=c, lr=lr, seed=seed)
               for seed in (0, 1) for lr in (0.1, 1.0) for c in ("ce", "mse") for a in ("sigmoid", "relu")]
    grouped = stacks(configs)
    assert [len(g) for g in grouped] == [8, 8]
    for g in grouped:
        assert len({c.seed for c in g}) == 1
        losses = [c.loss for c in g]
        assert losses == ["ce"] * 4 + ["mse"] * 4


def test_a_diverging_member_does_not_touch_the_others(sample):
    configs = [RunConfig(impl="scratch", activation="relu", loss="ce", lr=lr, epochs=3) for lr in (0.1, 1e300)]
    (ok_row, ok_rows, _), (bad_row, bad_rows, _) = execute_stack(configs, sample)
    single_row, single_rows, _ = execute(configs[0], sample)
    assert bad_row["status"] == "diverged" and len(bad_rows) < 3
    assert ok_row["status"] == "ok" and len(ok_rows) == len(single_rows) == 3
    for ours, theirs in zip(ok_rows, single_rows):
        assert abs(ours["test_loss"] - theirs["test_loss"]) <= 1e-9 * theirs["test_loss"]


def test_grid_engines_agree(tmp_path):
    """The three engines give every run's per-epoch metrics to 1e-9 relative in float64; the
    compiled engine's torch stacks go through torch.compile (a stack per seed here)."""
    grid = write_grid(tmp_path / "grid.toml", lr=[0.1, 0.5], seed=[0, 1], loss=["ce"])
    for engine in ("single", "batched", "compiled"):
        done = cli("run", "--grid", grid, "--out", tmp_path / engine, "--engine", engine)
        assert done.returncode == 0, done.stderr
    import pandas as pd
    a = pd.read_csv(tmp_path / "single" / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
    for engine in ("batched", "compiled"):
        b = pd.read_csv(tmp_path / engine / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
        assert len(a) == len(b) == 2 * 2 * 2 * 2
        for m in METRICS:
            assert np.allclose(a[m].to_numpy(), b[m].to_numpy(), rtol=1e-9, atol=0), (engine, m)


def test_units_start_with_the_longest():
    from experiments.runner import units
    configs = [RunConfig(impl=impl, lr=lr, seed=seed, epochs=epochs)
               for impl in ("scratch", "torch") for seed, epochs, lrs in ((0, 2, (0.1,)), (1, 5, (0.1, 0.3)))
               for lr in lrs]
    work = units(configs, "batched")
    assert [(u[0].impl, len(u), u[0].epochs) for u in work] == [
        ("torch", 2, 5), ("torch", 1, 2), ("scratch", 2, 5), ("scratch", 1, 2)]
