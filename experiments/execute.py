"""Training runs of either implementation, from RunConfigs to their CSV rows.

Both implementations start from the same scratch.Network.create(...) draw and are handed
the same mini-batches (scratch.minibatches of one generator), so in float64 their
trajectories coincide. `execute` trains one configuration; `execute_stack` trains
configurations that share a seed (and so their mini-batches) and differ in activation, loss,
init, lr, l2, momentum or lr_decay at once, as one stacked model (the batched engine).
"""
import math
import time
from typing import Callable

import numpy as np

import scratch
from experiments.config import RunConfig
from experiments.data import Dataset, Part, Pixels

PARTS = ("train", "val", "test")


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators from one seed: initial weights, and mini-batches."""
    init_seq, order_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(order_seq)


def batches(c: RunConfig, n: int):
    """The mini-batches of every epoch of a run (or a stack) of configuration c on n examples."""
    return scratch.minibatches(n, c.batch_size, c.epochs, seed_streams(c.seed)[1])


def initial_network(c: RunConfig, activation: str | None = None, loss: str | None = None,
                    init: str | None = None) -> scratch.Network:
    return scratch.Network.create(list(c.sizes), activation or c.activation, loss or c.loss, init or c.init,
                                  seed_streams(c.seed)[0], c.dtype)


def torch_images(x, device):
    """The torch twin's view of the training images: uint8 pixels scaled as rows are read."""
    import torch_ref
    return torch_ref.Images(x.images, x.dtype.name, device) if isinstance(x, Pixels) else x


def build(c: RunConfig, train: Part, compiled: bool = False):
    """(epochs iterator, evaluate(x, labels) -> (loss, accuracy), params() -> (weights, biases), device).
    compiled: the twin's step goes through torch.compile (torch_ref.train)."""
    net = initial_network(c)
    knobs = {"l2": c.l2, "momentum": c.momentum, "lr_decay": c.lr_decay}
    if c.impl == "scratch":
        return (scratch.train(net, train.x, train.labels, batches(c, len(train.x)), c.lr, **knobs),
                lambda x, labels: scratch.evaluate(net, x, labels),
                lambda: (net.weights, net.biases), "cpu")
    import torch_ref
    device = torch_ref.resolve_device(c.device)
    model = torch_ref.TwinNet.from_params(net.weights, net.biases, c.activation, c.loss, device)
    return (torch_ref.train(model, torch_images(train.x, device), train.labels, batches(c, len(train.x)), c.lr,
                            compiled=compiled, **knobs),
            lambda x, labels: torch_ref.evaluate(model, torch_images(x, device), labels),
            model.numpy_params, device.type)


STACK_KEY = ("impl", "device", "dataset", "sizes", "seed", "batch_size", "epochs", "dtype", "val_size")


def stack_key(c: RunConfig) -> tuple:
    """Configurations with the same key can train together in one stack."""
    return tuple(getattr(c, k) for k in STACK_KEY)


def stacks(configs: list[RunConfig], max_size: int = 36) -> list[list[RunConfig]]:
    """The configurations grouped by stack_key, at most max_size a group; within a group,
    those of one loss are adjacent (a stack applies each loss once per step to its run)."""
    groups: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(stack_key(c), []).append(c)
    ordered = [sorted(g, key=lambda c: (c.loss, c.activation)) for g in groups.values()]
    return [g[i:i + max_size] for g in ordered for i in range(0, len(g), max_size)]


def epoch_row(run_id: str, impl: str, epoch: int, metrics: dict[str, tuple], k: int, wall_s: float) -> dict:
    """The epochs.csv row of network k: metrics maps each part to its (K losses, K accuracies)."""
    row = {"run_id": run_id, "impl": impl, "epoch": epoch}
    for part in PARTS:
        loss, acc = metrics.get(part, (None, None))
        row[f"{part}_loss"] = float(loss[k]) if loss is not None else math.nan
        row[f"{part}_acc"] = float(acc[k]) if acc is not None else math.nan
    return row | {"wall_s": round(wall_s, 4)}


def run_row(c: RunConfig, device: str, status: str, rows: list[dict], wall_s: float) -> dict:
    """The runs.csv row: final metrics, and the epoch of best validation accuracy with the test
    accuracy there (the test set is reported, never used to choose)."""
    last = rows[-1]
    chosen = [r for r in rows if not math.isnan(r["val_acc"])]
    best = max(chosen, key=lambda r: r["val_acc"]) if chosen else None  # the first of equals: the earliest
    return {"run_id": c.run_id, **c.row(), "device": device, "status": status,
            "final_train_loss": last["train_loss"], "final_val_loss": last["val_loss"],
            "final_test_loss": last["test_loss"], "final_val_acc": last["val_acc"], "final_test_acc": last["test_acc"],
            "best_val_acc": best["val_acc"] if best else math.nan, "best_epoch": best["epoch"] if best else "",
            "test_acc_at_best": best["test_acc"] if best else math.nan, "wall_s": round(wall_s, 4)}


def record_epochs(configs: list[RunConfig], epochs, evaluate, parts: dict[str, Part], on_epoch, start: float):
    """Per configuration, its epoch rows and whether it is still finite; evaluate gives (K,) arrays.

    After every epoch the loss and accuracy are measured on the whole training, validation and
    test sets. A configuration whose loss becomes NaN or infinite gets no rows after that
    epoch; the loop stops once none is left.
    """
    rows = [[] for _ in configs]
    live = [True] * len(configs)
    last = start
    for epoch in epochs:
        metrics = {name: evaluate(part.x, part.labels) for name, part in parts.items() if len(part.labels)}
        now = time.perf_counter()
        for k in (k for k in range(len(configs)) if live[k]):
            row = epoch_row(configs[k].run_id, configs[k].impl, epoch, metrics, k, (now - last) / len(configs))
            rows[k].append(row)
            if on_epoch:
                on_epoch(row)
            live[k] = math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"])
        last = now
        if not any(live):
            break
    return rows, live


def execute(config: RunConfig, dataset: Dataset, on_epoch: Callable[[dict], None] | None = None,
            compiled: bool = False) -> tuple[dict, list[dict], tuple]:
    """Train one configuration; returns (runs.csv row, epochs.csv rows, (weights, biases)).
    compiled: a torch run's step goes through torch.compile (torch_ref.train).
    A run whose loss becomes NaN or infinite stops with status `diverged`."""
    c = config.resolved()
    parts = dataset.split(c.val_size).parts(c.dtype)
    start = time.perf_counter()
    # a diverging run overflows on its way to inf/NaN, which is recorded as its status
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        epochs, evaluate, params, device = build(c, parts["train"], compiled)
        (rows,), (live,) = record_epochs([c], epochs, lambda x, labels: np.atleast_1d(*evaluate(x, labels)),
                                         parts, on_epoch, start)
    status = "ok" if live else "diverged"
    return run_row(c, device, status, rows, time.perf_counter() - start), rows, params()


def build_stack(configs: list[RunConfig], train: Part, compiled: bool = False):
    """(epochs iterator, evaluate(x, labels) -> (K losses, K accuracies), params(k), device name)."""
    from scratch import batched
    c = configs[0]
    nets = [initial_network(c, ci.activation, ci.loss, ci.init) for ci in configs]
    knobs = {name: [getattr(ci, name) for ci in configs] for name in ("lr", "l2", "momentum", "lr_decay")}
    if c.impl == "scratch":
        stack = batched.StackedNetwork(nets, n=len(train.x), **knobs)
        return (batched.train(stack, train.x, train.labels, batches(c, len(train.x))),
                lambda x, labels: batched.evaluate(stack, x, labels),
                lambda k: ([w[k].copy() for w in stack.weights], [b[k].copy() for b in stack.biases]), "cpu")
    import torch_ref
    from torch_ref import batched as torch_batched
    device = torch_ref.resolve_device(c.device)
    model = torch_batched.StackedTwin([np.stack(ws) for ws in zip(*(net.weights for net in nets), strict=True)],
                                      [np.stack(bs) for bs in zip(*(net.biases for net in nets), strict=True)],
                                      [ci.activation for ci in configs], [ci.loss for ci in configs], device)
    return (torch_batched.train(model, torch_images(train.x, device), train.labels, batches(c, len(train.x)),
                                compiled=compiled, **knobs),
            lambda x, labels: torch_batched.evaluate(model, torch_images(x, device), labels),
            model.numpy_params, device.type)


def execute_stack(configs: list[RunConfig], dataset: Dataset, on_epoch: Callable[[dict], None] | None = None,
                  compiled: bool = False) -> list[tuple[dict, list[dict], tuple]]:
    """`execute` for configurations of one stack_key, trained at once: the same rows, and numbers
    equal up to rounding. compiled: a torch stack's step goes through torch.compile.

    A network whose loss becomes NaN or infinite is recorded as diverged at that epoch, as
    in its single run; the others go on. Each run's wall_s is its share of the stack's time.
    """
    configs = [c.resolved() for c in configs]
    if len({stack_key(c) for c in configs}) != 1:
        raise ValueError("execute_stack takes configurations of one stack_key")
    parts = dataset.split(configs[0].val_size).parts(configs[0].dtype)
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        epochs, evaluate, params, device = build_stack(configs, parts["train"], compiled)
        rows, live = record_epochs(configs, epochs, evaluate, parts, on_epoch, start)
    share = (time.perf_counter() - start) / len(configs)
    return [(run_row(ci, device, "ok" if live[k] else "diverged", rows[k], share), rows[k], params(k))
            for k, ci in enumerate(configs)]
