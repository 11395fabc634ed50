"""Training runs of either implementation, from RunConfigs to their rows and parameters.

Both implementations start from the same scratch.Network.create(...) draw and are handed
the same mini-batches (scratch.minibatches of one generator), so in float64 their
trajectories coincide. `train_unit` trains one configuration, or configurations that share
a seed (and so their mini-batches) and differ only in what a stack lets its networks differ
in (activation, loss, init, lr, l2, momentum, lr_decay), at once as one stacked model.

After every epoch each run is evaluated on the training, validation and test sets; its
parameters are kept at the epoch of its best validation accuracy (the first of equals) and
after its last epoch.
"""
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

import scratch
from experiments.data.datasets import Dataset, Part, Pixels
from experiments.spec.config import STACK_KEY, RunConfig
from experiments.store.layout import PARTS, RUN_METRICS
from experiments.store.params import Params
from scratch import batched


@dataclass
class Engine:
    """A run or a stack of K runs, ready to train: `epochs` trains one epoch per step;
    `evaluate(x, labels)` gives the K losses and accuracies; `params(k)` network k's parameters."""
    epochs: Iterator[int]
    evaluate: Callable[[object, np.ndarray], tuple[np.ndarray, np.ndarray]]
    params: Callable[[int], Params]
    device: str


@dataclass
class RunResult:
    """What a run leaves: its runs.csv row, its epochs.csv rows, its final parameters and those of
    its best validation epoch (None without a validation split, or for a failed run)."""
    run_row: dict
    epoch_rows: list[dict]
    final: Params | None
    best: Params | None


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators from one seed: initial weights, and mini-batches."""
    init_seq, order_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(order_seq)


def batches(c: RunConfig, n: int, epochs: int | None = None):
    """The mini-batches of every epoch of a run (or a stack) of configuration c on n examples: its
    epochs, or `epochs` (the first epochs of a longer run are those of a shorter one)."""
    return scratch.minibatches(n, c.batch_size, epochs or c.epochs, seed_streams(c.seed)[1])


def initial_network(c: RunConfig) -> scratch.Network:
    return scratch.Network.create(list(c.sizes), c.activation, c.loss, c.init, seed_streams(c.seed)[0], c.dtype)


def torch_images(x, device):
    """The torch twin's view of a set of images: uint8 pixels scaled as rows are read."""
    import torch_ref  # torch: only torch runs need it
    return torch_ref.Images(x.images, x.dtype.name, device) if isinstance(x, Pixels) else x


def stacked(arrays: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per layer, the K networks' arrays stacked on a leading axis."""
    return [np.stack(layer) for layer in zip(*arrays, strict=True)]


def device_name(c: RunConfig, device) -> str:
    """The device a torch run ran on, as runs.csv names it: the configuration's, auto resolved."""
    return device.type if c.device == "auto" else c.device


def engine(configs: list[RunConfig], train: Part, compiled: bool = False) -> Engine:
    """The engine that trains `configs` (one stack_key): the textbook network or its twin for one
    configuration, a stacked model for several. compiled: a torch step goes through torch.compile."""
    c = configs[0]
    nets = [initial_network(ci) for ci in configs]
    knobs = {name: [getattr(ci, name) for ci in configs] for name in ("l2", "momentum", "lr_decay")}
    lrs = [ci.lr for ci in configs]
    order = batches(c, len(train.x), max(ci.epochs for ci in configs))
    if c.impl == "scratch" and len(configs) == 1:
        (net,) = nets
        return Engine(scratch.train(net, train.x, train.labels, order, c.lr, c.l2, c.momentum, c.lr_decay),
                      lambda x, labels: tuple(np.atleast_1d(v) for v in scratch.evaluate(net, x, labels)),
                      lambda k: Params([w.copy() for w in net.weights], [b.copy() for b in net.biases]), "cpu")
    if c.impl == "scratch":
        stack = batched.StackedNetwork(nets, lrs, n=len(train.x), **knobs)
        return Engine(batched.train(stack, train.x, train.labels, order),
                      lambda x, labels: batched.evaluate(stack, x, labels),
                      lambda k: Params([w[k].copy() for w in stack.weights], [b[k].copy() for b in stack.biases]),
                      "cpu")
    import torch_ref  # torch: only torch runs need it
    from torch_ref import batched as torch_batched
    device = torch_ref.resolve_device(c.device, c.dtype)
    images = torch_images(train.x, device)
    if len(configs) == 1:
        (net,) = nets
        model = torch_ref.TwinNet.from_params(net.weights, net.biases, c.activation, c.loss, device)
        return Engine(torch_ref.train(model, images, train.labels, order, c.lr, c.l2, c.momentum, c.lr_decay,
                                      compiled=compiled),
                      lambda x, labels: tuple(np.atleast_1d(v) for v in torch_ref.evaluate(
                          model, torch_images(x, device), labels)),
                      lambda k: Params(*model.numpy_params()), device_name(c, device))
    model = torch_batched.StackedTwin(stacked([net.weights for net in nets]), stacked([net.biases for net in nets]),
                                      [ci.activation for ci in configs], [ci.loss for ci in configs], device)
    return Engine(torch_batched.train(model, images, train.labels, order, lrs, compiled=compiled, **knobs),
                  lambda x, labels: torch_batched.evaluate(model, torch_images(x, device), labels),
                  lambda k: Params(*model.numpy_params(k)), device_name(c, device))


def stack_key(c: RunConfig) -> tuple:
    """Configurations with the same key can train together in one stack."""
    return tuple(getattr(c, k) for k in STACK_KEY)


def epoch_row(c: RunConfig, epoch: int, metrics: dict[str, tuple], k: int, wall_s: float) -> dict:
    """The epochs.csv row of network k: metrics maps each part to its (K losses, K accuracies)."""
    row = {"run_id": c.run_id, "impl": c.impl, "epoch": epoch}
    for part in PARTS:
        loss, acc = metrics.get(part, (None, None))
        row[f"{part}_loss"] = float(loss[k]) if loss is not None else math.nan
        row[f"{part}_acc"] = float(acc[k]) if acc is not None else math.nan
    return row | {"wall_s": round(wall_s, 4)}


def run_row(c: RunConfig, device: str, status: str, rows: list[dict], wall_s: float) -> dict:
    """The runs.csv row: final metrics, and the epoch of best validation accuracy with the test
    accuracy there (the test set is reported, never used to choose)."""
    last = rows[-1]
    best = best_of(rows)
    return {"run_id": c.run_id, **c.row(), "device": device, "status": status,
            "final_train_loss": last["train_loss"], "final_val_loss": last["val_loss"],
            "final_test_loss": last["test_loss"], "final_val_acc": last["val_acc"], "final_test_acc": last["test_acc"],
            "best_val_acc": best["val_acc"] if best else math.nan, "best_epoch": best["epoch"] if best else math.nan,
            "test_acc_at_best": best["test_acc"] if best else math.nan, "wall_s": round(wall_s, 4)}


def failed_row(c: RunConfig) -> dict:
    """The runs.csv row of a run that could not be trained (tried again by the next `run`)."""
    return {"run_id": c.run_id, **c.row(), "status": "failed", **dict.fromkeys(RUN_METRICS, math.nan), "wall_s": 0.0}


def candidate(row: dict) -> bool:
    """Whether an epoch may be a run's best: it has a validation accuracy, and its network computes
    numbers (a diverged epoch's accuracy is that of NaN outputs)."""
    return not math.isnan(row["val_acc"]) and math.isfinite(row["train_loss"])


def best_of(rows: list[dict]) -> dict | None:
    """The epoch row of best validation accuracy, the earliest of equals; None without one."""
    chosen = [r for r in rows if candidate(r)]
    return max(chosen, key=lambda r: r["val_acc"]) if chosen else None


def train_unit(configs: list[RunConfig], dataset: Dataset, on_epoch: Callable[[dict], None] | None = None,
               compiled: bool = False) -> list[RunResult]:
    """Train configurations of one stack_key at once (one run, or a stack): their rows and
    parameters. compiled: a torch step goes through torch.compile (torch_ref.train).

    After every epoch the loss and accuracy are measured on the whole training, validation and
    test sets. A network whose loss becomes NaN or infinite is recorded as diverged at that
    epoch and gets no rows after it; the others go on. A run of fewer epochs than its stack is
    done after its last: its rows and final parameters are those of that epoch. Each run's
    wall_s is its share of the unit's time.
    """
    if len({stack_key(c) for c in configs}) != 1:
        raise ValueError("train_unit takes configurations of one stack_key")
    c = configs[0]
    parts = {name: part for name, part in dataset.split(c.val_size).parts(c.dtype).items() if len(part.labels)}
    start = last = time.perf_counter()
    rows = [[] for _ in configs]
    live = [True] * len(configs)  # still training: not diverged, epochs left
    diverged = [False] * len(configs)
    best: list[Params | None] = [None] * len(configs)
    final: list[Params | None] = [None] * len(configs)
    best_acc = [-math.inf] * len(configs)
    # a diverging run overflows on its way to inf/NaN, which is recorded as its status
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        run = engine(configs, parts["train"], compiled)
        for epoch in run.epochs:
            metrics = {name: run.evaluate(part.x, part.labels) for name, part in parts.items()}
            now = time.perf_counter()
            for k in (k for k in range(len(configs)) if live[k]):
                row = epoch_row(configs[k], epoch, metrics, k, (now - last) / len(configs))
                if candidate(row) and row["val_acc"] > best_acc[k]:
                    best[k], best_acc[k] = run.params(k), row["val_acc"]
                    best[k].epoch = epoch
                rows[k].append(row)
                if on_epoch:
                    on_epoch(row)
                diverged[k] = not (math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"]))
                if diverged[k] or epoch == configs[k].epochs:
                    live[k] = False
                    final[k] = run.params(k)
                    final[k].epoch = epoch
            last = now
            if not any(live):
                break
    share = (time.perf_counter() - start) / len(configs)
    return [RunResult(run_row(ck, run.device, "diverged" if diverged[k] else "ok", rows[k], share), rows[k],
                      final[k], best[k]) for k, ck in enumerate(configs)]
