"""One training run of either implementation, from a RunConfig to its CSV rows.

Both implementations start from the same scratch.Network.create(...) draw and take their
epoch orders from the same generator, so in float64 their trajectories coincide.
"""
import math
import time
from typing import Callable

import numpy as np

import scratch
from experiments.config import RunConfig
from experiments.data import Dataset


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators from one seed: initial weights, and epoch orders."""
    init_seq, order_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(order_seq)


def build(c: RunConfig, init_rng: np.random.Generator, order_rng: np.random.Generator, x, labels):
    """(epochs iterator, evaluate(x, labels), params() -> (weights, biases), device name)."""
    net = scratch.Network.create(list(c.sizes), c.activation, c.loss, c.init, init_rng, c.dtype)
    if c.impl == "scratch":
        return (scratch.train(net, x, labels, c.epochs, c.batch_size, c.lr, order_rng),
                lambda xe, le: scratch.evaluate(net, xe, le),
                lambda: (net.weights, net.biases), "cpu")
    import torch_ref
    device = torch_ref.resolve_device(c.device)
    model = torch_ref.TwinNet.from_scratch(net, device)
    return (torch_ref.train(model, x, labels, c.epochs, c.batch_size, c.lr, order_rng),
            lambda xe, le: torch_ref.evaluate(model, xe, le),
            model.numpy_params, device.type)


def execute(config: RunConfig, dataset: Dataset,
            on_epoch: Callable[[dict], None] | None = None) -> tuple[dict, list[dict], tuple]:
    """Train one configuration; returns (runs.csv row, epochs.csv rows, (weights, biases)).

    After every epoch the cost and accuracy are measured on the whole training and test
    sets. A run whose cost becomes NaN or infinite stops with status `diverged`.
    """
    c = config.resolved()
    run_id = config.run_id
    x_train, labels_train, x_test, labels_test = dataset.arrays(c.dtype)
    init_rng, order_rng = seed_streams(c.seed)
    start = last = time.perf_counter()
    rows, status = [], "ok"
    # a diverging run overflows on its way to inf/NaN, which is recorded below as its status
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        epochs, evaluate, params, device = build(c, init_rng, order_rng, x_train, labels_train)
        for epoch in epochs:
            train_loss, train_acc = evaluate(x_train, labels_train)
            test_loss, test_acc = evaluate(x_test, labels_test)
            now = time.perf_counter()
            row = {"run_id": run_id, "impl": c.impl, "epoch": epoch, "train_loss": train_loss,
                   "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                   "wall_s": round(now - last, 4)}
            last = now
            rows.append(row)
            if on_epoch:
                on_epoch(row)
            if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
                status = "diverged"
                break
    best = max(rows, key=lambda r: r["test_acc"])
    run_row = {"run_id": run_id, **c.row(), "device": device, "status": status,
               "final_train_loss": rows[-1]["train_loss"], "final_test_loss": rows[-1]["test_loss"],
               "final_test_acc": rows[-1]["test_acc"], "best_test_acc": best["test_acc"],
               "best_epoch": best["epoch"], "wall_s": round(time.perf_counter() - start, 4)}
    return run_row, rows, params()
