"""Training runs of either implementation, from RunConfigs to their CSV rows.

Both implementations start from the same scratch.Network.create(...) draw and take their
epoch orders from the same generator, so in float64 their trajectories coincide.
`execute` trains one configuration; `execute_stack` trains configurations that share a seed
(and so their batch order) and differ in activation, cost, lr or init at once, as one
stacked model (the batched engine).
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


def build(c: RunConfig, init_rng: np.random.Generator, order_rng: np.random.Generator, x, labels,
          compiled: bool = False):
    """(epochs iterator, evaluate(x, labels), params() -> (weights, biases), device name).
    compiled: the twin's step goes through torch.compile (torch_ref.train)."""
    net = scratch.Network.create(list(c.sizes), c.activation, c.loss, c.init, init_rng, c.dtype)
    if c.impl == "scratch":
        return (scratch.train(net, x, labels, c.epochs, c.batch_size, c.lr, order_rng),
                lambda xe, le: scratch.evaluate(net, xe, le),
                lambda: (net.weights, net.biases), "cpu")
    import torch_ref
    device = torch_ref.resolve_device(c.device)
    model = torch_ref.TwinNet.from_scratch(net, device)
    return (torch_ref.train(model, x, labels, c.epochs, c.batch_size, c.lr, order_rng, compiled),
            lambda xe, le: torch_ref.evaluate(model, xe, le),
            model.numpy_params, device.type)


STACK_KEY = ("impl", "device", "dataset", "sizes", "seed", "batch_size", "epochs", "dtype")


def stack_key(c: RunConfig) -> tuple:
    """Configurations with the same key can train together in one stack."""
    return tuple(getattr(c, k) for k in STACK_KEY)


def stacks(configs: list[RunConfig], max_size: int = 36) -> list[list[RunConfig]]:
    """The configurations grouped by stack_key, at most max_size a group; within a group,
    those of one cost are adjacent (a stack applies each cost once per step to its run)."""
    groups: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(stack_key(c), []).append(c)
    ordered = [sorted(g, key=lambda c: (c.loss, c.activation)) for g in groups.values()]
    return [g[i:i + max_size] for g in ordered for i in range(0, len(g), max_size)]


def epoch_row(run_id: str, impl: str, epoch: int, train_loss, train_acc, test_loss, test_acc, wall_s) -> dict:
    return {"run_id": run_id, "impl": impl, "epoch": epoch, "train_loss": float(train_loss),
            "train_acc": float(train_acc), "test_loss": float(test_loss), "test_acc": float(test_acc),
            "wall_s": round(wall_s, 4)}


def run_row(c: RunConfig, run_id: str, device: str, status: str, rows: list[dict], wall_s: float) -> dict:
    best = max(rows, key=lambda r: r["test_acc"])
    return {"run_id": run_id, **c.row(), "device": device, "status": status,
            "final_train_loss": rows[-1]["train_loss"], "final_test_loss": rows[-1]["test_loss"],
            "final_test_acc": rows[-1]["test_acc"], "best_test_acc": best["test_acc"],
            "best_epoch": best["epoch"], "wall_s": round(wall_s, 4)}


def execute(config: RunConfig, dataset: Dataset, on_epoch: Callable[[dict], None] | None = None,
            compiled: bool = False) -> tuple[dict, list[dict], tuple]:
    """Train one configuration; returns (runs.csv row, epochs.csv rows, (weights, biases)).
    compiled: a torch run's step goes through torch.compile (torch_ref.train).

    After every epoch the cost and accuracy are measured on the whole training and test
    sets. A run whose cost becomes NaN or infinite stops with status `diverged`.
    """
    c = config.resolved()
    data = dataset.pixels(c.dtype)
    init_rng, order_rng = seed_streams(c.seed)
    start = time.perf_counter()
    # a diverging run overflows on its way to inf/NaN, which is recorded as its status
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        epochs, evaluate, params, device = build(c, init_rng, order_rng, data[0], data[1], compiled)
        (rows,), (live,) = record_epochs([c], epochs, lambda xe, le: np.atleast_1d(*evaluate(xe, le)),
                                         data, on_epoch, start)
    status = "ok" if live else "diverged"
    return run_row(c, c.run_id, device, status, rows, time.perf_counter() - start), rows, params()


def record_epochs(configs: list[RunConfig], epochs, evaluate, data, on_epoch, start: float):
    """Per configuration, its epoch rows and whether it is still finite; evaluate gives (K,) arrays.

    A configuration whose cost becomes NaN or infinite gets no rows after that epoch; the
    loop stops once none is left.
    """
    x_train, labels_train, x_test, labels_test = data
    run_ids = [c.run_id for c in configs]
    rows = [[] for _ in configs]
    live = [True] * len(configs)
    last = start
    for epoch in epochs:
        train_loss, train_acc = evaluate(x_train, labels_train)
        test_loss, test_acc = evaluate(x_test, labels_test)
        now = time.perf_counter()
        for k in (k for k in range(len(configs)) if live[k]):
            row = epoch_row(run_ids[k], configs[k].impl, epoch, train_loss[k], train_acc[k], test_loss[k],
                            test_acc[k], (now - last) / len(configs))
            rows[k].append(row)
            if on_epoch:
                on_epoch(row)
            live[k] = math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"])
        last = now
        if not any(live):
            break
    return rows, live


def build_stack(configs: list[RunConfig], x, labels, compiled: bool = False):
    """(epochs iterator, evaluate(x, labels) -> (K costs, K accuracies), params(k), device name)."""
    from scratch import batched
    c = configs[0]
    nets = [scratch.Network.create(list(c.sizes), ci.activation, ci.loss, ci.init, seed_streams(c.seed)[0], c.dtype)
            for ci in configs]
    stack = batched.StackedNetwork(nets, [ci.lr for ci in configs])
    order_rng = seed_streams(c.seed)[1]
    if c.impl == "scratch":
        return (batched.train(stack, x, labels, c.epochs, c.batch_size, order_rng),
                lambda xe, le: batched.evaluate(stack, xe, le),
                lambda k: ([w[k].copy() for w in stack.weights], [b[k].copy() for b in stack.biases]), "cpu")
    import torch_ref
    from torch_ref import batched as torch_batched
    device = torch_ref.resolve_device(c.device)
    model = torch_batched.StackedTwin.from_scratch(stack, device)
    return (torch_batched.train(model, x, labels, c.epochs, c.batch_size, order_rng, compiled),
            lambda xe, le: torch_batched.evaluate(model, xe, le), model.numpy_params, device.type)


def execute_stack(configs: list[RunConfig], dataset: Dataset, on_epoch: Callable[[dict], None] | None = None,
                  compiled: bool = False) -> list[tuple[dict, list[dict], tuple]]:
    """`execute` for configurations of one stack_key, trained at once: the same rows, and numbers
    equal up to rounding (the learning rate scales the cost here, the gradient there).
    compiled: a torch stack's step goes through torch.compile (torch_ref.batched.train).

    A network whose cost becomes NaN or infinite is recorded as diverged at that epoch, as
    in its single run; the others go on. Each run's wall_s is its share of the stack's time.
    """
    configs = [c.resolved() for c in configs]
    assert len({stack_key(c) for c in configs}) == 1, "execute_stack takes configurations of one stack"
    data = dataset.pixels(configs[0].dtype)
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        epochs, evaluate, params, device = build_stack(configs, data[0], data[1], compiled)
        rows, live = record_epochs(configs, epochs, evaluate, data, on_epoch, start)
    share = (time.perf_counter() - start) / len(configs)
    return [(run_row(ci, ci.run_id, device, "ok" if live[k] else "diverged", rows[k], share), rows[k], params(k))
            for k, ci in enumerate(configs)]
