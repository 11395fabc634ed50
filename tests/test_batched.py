"""The batched engine is a faster way to the same numbers: float64 metrics equal the single runs'."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from experiments.execution.plan import stacks, units
from experiments.execution.training import train_unit
from experiments.spec.config import RunConfig
from tests.conftest import needs_compiler
from tests.helpers import cli, rel

METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]


def stack_of_every_kind(impl: str) -> list[RunConfig]:
    """Every activation and loss at two learning rates, one of them with L2, momentum and decay,
    and sigmoid with N(0, 1) weights too. The runs are ones that train stably: in chaotic ones
    (lr 3, or relu units fed by N(0, 1) weights, which saturate the outputs) rounding
    differences grow, as between the twins."""
    pairs = [(a, c) for c in ("mse", "bce", "ce") for a in ("relu", "sigmoid")]
    knobs = [(0.03, "auto", 0.0, 0.0, 1.0), (0.1, "auto", 3.0, 0.5, 0.8), (0.1, "normal", 0.0, 0.0, 1.0)]
    return [RunConfig(impl=impl, activation=a, loss=c, lr=lr, seed=3, epochs=2, init=init, l2=l2, momentum=mu,
                      lr_decay=gamma)
            for (a, c) in pairs for lr, init, l2, mu, gamma in knobs if a == "sigmoid" or init == "auto"]


@pytest.fixture(scope="module")
def textbook_runs(sample):
    """The single runs of the textbook network (scratch.Network, scratch.sgd) of every kind."""
    return {c.run_id: train_unit([c], sample)[0] for c in stack_of_every_kind("scratch")}


@pytest.mark.parametrize("impl,compiled", [("scratch", False), ("torch", False),
                                           pytest.param("torch", True, marks=needs_compiler)])
def test_stack_equals_single_runs_of_the_textbook_network(sample, textbook_runs, impl, compiled):
    """One stack of every kind, given in a mixed order: every run's metrics and weights are
    those of its single run of the textbook network, in the numpy stack, the torch stack, and
    the torch stack put through torch.compile."""
    configs = stack_of_every_kind(impl)
    (stack,) = stacks(configs)
    assert sorted(c.run_id for c in stack) == sorted(c.run_id for c in configs)
    stacked = train_unit(stack, sample, compiled=compiled)
    for config, ours in zip(stack, stacked, strict=True):
        single = textbook_runs[config.run_id]
        assert ours.run_row["run_id"] == single.run_row["run_id"] and ours.run_row["status"] == "ok"
        assert len(ours.epoch_rows) == len(single.epoch_rows) == 2
        for row, theirs in zip(ours.epoch_rows, single.epoch_rows, strict=True):
            for m in METRICS:
                assert abs(row[m] - theirs[m]) <= 1e-9 * abs(theirs[m]), (config, m)
        for kept in ("final", "best"):
            mine, textbook = getattr(ours, kept), getattr(single, kept)
            assert mine.epoch == textbook.epoch
            for a, b in zip(mine.weights + mine.biases, textbook.weights + textbook.biases, strict=True):
                assert np.linalg.norm(a - b) <= 1e-9 * np.linalg.norm(b)
        assert ours.run_row["best_epoch"] == single.run_row["best_epoch"]


def test_a_stack_is_one_seed_with_each_loss_together():
    configs = [RunConfig(activation=a, loss=c, lr=lr, seed=seed)
               for seed in (0, 1) for lr in (0.1, 1.0) for c in ("ce", "mse") for a in ("sigmoid", "relu")]
    grouped = stacks(configs)
    assert [len(g) for g in grouped] == [8, 8]
    for g in grouped:
        assert len({c.seed for c in g}) == 1
        assert [c.loss for c in g] == ["ce"] * 4 + ["mse"] * 4


@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_a_diverging_member_does_not_touch_the_others(sample, impl):
    configs = [RunConfig(impl=impl, activation="relu", loss="ce", lr=lr, epochs=3) for lr in (0.1, 1e300)]
    ok, bad = train_unit(configs, sample)
    (single,) = train_unit(configs[:1], sample)
    assert bad.run_row["status"] == "diverged" and len(bad.epoch_rows) < 3
    assert ok.run_row["status"] == "ok" and len(ok.epoch_rows) == len(single.epoch_rows) == 3
    for ours, theirs in zip(ok.epoch_rows, single.epoch_rows, strict=True):
        assert abs(ours["test_loss"] - theirs["test_loss"]) <= 1e-9 * theirs["test_loss"]


def test_grid_engines_agree(reference, single_engine):
    """The single engine gives every run's per-epoch metrics of the shared reference grid (run by
    the default engine, batched) to 1e-9 relative in float64."""
    grid, ref = reference
    a = pd.read_csv(single_engine / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
    b = pd.read_csv(ref / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
    assert len(a) == len(b) == 4 * 2 * 2
    for m in METRICS:
        assert np.allclose(a[m].to_numpy(), b[m].to_numpy(), rtol=1e-9, atol=0), m


def test_the_compiled_engine_hands_every_torch_stack_and_no_scratch_one_to_torch_compile(tmp_path, monkeypatch,
                                                                                        reference):
    """`run --engine compiled` hands each torch stack's step to torch.compile (counted here, with
    the compiler replaced by the identity: the compiled numbers are tested above and in test_parity)."""
    import importlib
    batched = importlib.import_module("torch_ref.batched")
    compiled = []
    monkeypatch.setattr(batched, "compile_step", lambda step: compiled.append(step) or step)
    monkeypatch.setattr("experiments.cli.args.compiler_found", lambda: True)
    grid, ref = reference
    assert cli("run", "--grid", grid, "--out", tmp_path / "out", "--engine", "compiled").returncode == 0
    assert len(compiled) == 1  # the one torch stack of the grid (its scratch stack is numpy's)
    a = pd.read_csv(tmp_path / "out" / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
    b = pd.read_csv(ref / "epochs.csv").sort_values(["run_id", "impl", "epoch"])
    for m in METRICS:
        assert np.allclose(a[m].to_numpy(), b[m].to_numpy(), rtol=1e-9, atol=0), m


def test_units_start_with_the_longest():
    configs = [RunConfig(impl=impl, lr=lr, seed=seed, epochs=epochs)
               for impl in ("scratch", "torch") for seed, epochs, lrs in ((0, 2, (0.1,)), (1, 5, (0.1, 0.3)))
               for lr in lrs]
    work = units(configs, "batched")
    assert [(u[0].impl, len(u), u[0].epochs) for u in work] == [
        ("torch", 2, 5), ("scratch", 2, 5), ("torch", 1, 2), ("scratch", 1, 2)]


def test_two_workers_get_the_stacks_of_a_seed_cut_so_that_neither_idles():
    """One seed of the full grid: a torch stack and a NumPy stack of 36, the torch one longer. On
    one worker they stay whole; on two, both are cut in halves, and the last ends sooner."""
    from experiments.execution.plan import makespan
    from experiments.spec.grid import expand, read_grid
    configs = expand(read_grid("full").axes, ["seed=0"])
    whole = units(configs, "batched", 1)
    assert [len(u) for u in whole] == [36, 36] and whole[0][0].impl == "torch"
    cut = units(configs, "batched", 2)
    assert sorted(len(u) for u in cut) == [18, 18, 18, 18]
    assert makespan(cut, "batched", 2) < 0.95 * makespan(whole, "batched", 2)
    for unit in cut:  # each part keeps its losses adjacent, and every run is in one part
        losses = [c.loss for c in unit]
        assert losses == sorted(losses)
    assert sorted(c.run_id + c.impl for u in cut for c in u) == sorted(c.run_id + c.impl for c in configs)
    all_seeds = expand(read_grid("full").axes)  # ten stacks: cut only where that helps
    five, whole = units(all_seeds, "batched", 2), units(all_seeds, "batched", 1)
    assert len(whole) == 10 and len(five) >= 10
    assert makespan(five, "batched", 2) <= makespan(whole, "batched", 2)


@pytest.mark.parametrize("impl,stacked", [("scratch", False), ("torch", False), ("scratch", True), ("torch", True)])
def test_the_best_epoch_kept_is_the_run_trained_for_that_many_epochs(sample, impl, stacked):
    """The parameters kept at a run's best validation epoch equal those of the same run (or the
    same stack) trained for exactly best_epoch epochs (float64, 1e-12): single runs and stacks,
    numpy and torch. The runs peak before their last epoch, so the final parameters differ."""
    configs = [RunConfig(impl=impl, activation="relu", loss="ce", lr=lr, epochs=6, seed=3) for lr in (0.5, 0.1)]
    configs = configs if stacked else configs[:1]
    results = train_unit(configs, sample)
    for k, result in enumerate(results):
        best = result.best
        assert best.epoch == result.run_row["best_epoch"] < 6
        again = train_unit([replace(c, epochs=best.epoch) for c in configs], sample)[k]
        assert again.final.epoch == best.epoch
        assert rel(best.weights + best.biases, again.final.weights + again.final.biases) <= 1e-12
        assert rel(result.final.weights, again.final.weights) > 1e-3


def test_runs_of_fewer_epochs_ride_in_a_longer_stack_as_its_first_epochs(sample):
    """A stack of runs of 2 and 4 epochs trains 4: the 2-epoch run's rows and final parameters are
    those of its single run (1e-9), and the stack is one unit."""
    configs = [RunConfig(activation="sigmoid", loss="ce", lr=0.1, epochs=4, seed=1),
               RunConfig(activation="sigmoid", loss="ce", lr=0.1, epochs=2, seed=1)]
    assert len(stacks(configs)) == 1
    long, short = train_unit(configs, sample)
    (single,) = train_unit(configs[1:], sample)
    assert len(long.epoch_rows) == 4 and len(short.epoch_rows) == 2 and short.final.epoch == 2
    assert short.run_row["status"] == "ok" and short.run_row["epochs"] == 2
    for row, theirs in zip(short.epoch_rows, single.epoch_rows, strict=True):
        assert all(abs(row[m] - theirs[m]) <= 1e-9 * abs(theirs[m]) for m in METRICS)
    assert rel(short.final.weights + short.final.biases, single.final.weights + single.final.biases) <= 1e-9
    assert rel(long.epoch_rows[1]["train_loss"], short.epoch_rows[1]["train_loss"]) <= 1e-9  # the same network
