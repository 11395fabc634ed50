"""Where a stack's step goes: `mlp-twins bench --breakdown`.

One stack of K networks (one seed of the full grid: 36, 784-16-16-10) at batch m, on one core,
its step cut into the parts the engines compute one after the other, each timed on its own
(the median of several rounds of many calls) with the numbers it moves and computes:

    forward, layer 1     z^1 = W_1 x^T: reads W_1 (K n_1 n_0 numbers), 2 K n_1 n_0 m flops
    forward, above       the other layers, the activations, the loss's output
    backward, above      delta^L and the steps of the layers above the first
    layer 1 step         W_1 <- W_1 - (lr delta^1)^T x, fused: reads and writes W_1, 2 K n_1 n_0 m flops
    evaluation           the forward pass of a chunk of 2,000 images, per training step's share
                         (every image of the training, validation and test sets after each epoch)

and the machine's limits measured on the spot, on the same core: the bandwidth of memory (a copy
of an array far larger than the caches), that of the caches for an array the size of W_1 (which,
read and written every step, stays in them), and the arithmetic rate (a large matrix product). A
part that moves B bytes in t seconds runs at B / t against the bandwidths; one that computes F
flops at F / t against the arithmetic rate. What the first layer's parts reach against them says
how far a step is from its limit.
"""
import statistics
import time
from dataclasses import dataclass, replace

import numpy as np
from threadpoolctl import threadpool_limits

from experiments.execution.training import initial_network
from scratch import batched
from scratch.train import one_hot

EVAL_CHUNK = 2000


@dataclass
class Part:
    engine: str        # numpy or torch
    part: str
    us: float          # microseconds per training step
    bytes: float       # bytes moved per step (of the first layer's weights, where they dominate)
    flops: float       # floating-point operations per step

    def row(self, limits: dict) -> dict:
        gb_s = self.bytes / self.us / 1e3 if self.bytes else float("nan")
        gflop_s = self.flops / self.us / 1e3 if self.flops else float("nan")
        return {"engine": self.engine, "part": self.part, "us_per_step": self.us, "mb_moved": self.bytes / 1e6,
                "gb_per_s": gb_s, "of_memory": gb_s / limits["memory_gb_s"], "of_cache": gb_s / limits["cache_gb_s"],
                "gflop_per_s": gflop_s, "of_flop_rate": gflop_s / limits["flop_rate_gflop_s"]}


def timed(f, calls: int = 200, rounds: int = 5) -> float:
    """Microseconds per call of f: the median of `rounds` rounds of `calls` calls, after one."""
    f()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def bandwidth_gb_s(size: int = 64 << 20) -> float:
    """GB/s of a copy of `size` bytes into as many (read and written), on one core."""
    a = np.ones(size // 8)
    b = np.empty_like(a)
    us = timed(lambda: np.copyto(b, a), calls=max(5, (64 << 20) // size))
    return 2 * a.nbytes / us / 1e3


def flop_rate_gflop_s(dtype: str = "float64") -> float:
    """GFLOP/s of a 1024 x 1024 by 1024 x 1024 matrix product, on one core."""
    a = np.random.default_rng(0).random((1024, 1024)).astype(dtype)
    us = timed(lambda: a @ a, calls=2, rounds=3)
    return 2 * 1024 ** 3 / us / 1e3


def stack_configs(k: int, batch_size: int, dtype: str):
    from experiments.tools.bench import grid_stack  # a seed of the full grid, in its stack order
    return [replace(c, batch_size=batch_size, dtype=dtype) for c in grid_stack(k)]


def batch_of(m: int, dtype: str):
    """m MNIST-like images (a fifth of the pixels inked) and one-hot labels."""
    rng = np.random.default_rng(0)
    x = ((rng.random((m, 784)) < 0.2) * rng.random((m, 784))).astype(dtype)
    return x, one_hot(rng.integers(0, 10, m), x.dtype)


def numpy_parts(k: int = 36, m: int = 10, dtype: str = "float64", evaluated: float = 70_000 / 5_000) -> list[Part]:
    """The NumPy stack's step in parts. evaluated: images evaluated per training step (70,000 after
    each epoch of 5,000 steps of the full MNIST)."""
    configs = stack_configs(k, m, dtype)
    stack = batched.StackedNetwork([initial_network(c) for c in configs], [c.lr for c in configs], n=50_000)
    x, y = batch_of(m, dtype)
    chunk, _ = batch_of(EVAL_CHUNK, dtype)
    item = np.dtype(dtype).itemsize
    w1 = stack.weights[0].size * item
    flops1 = 2 * stack.weights[0].size * m
    with threadpool_limits(1), np.errstate(over="ignore"):
        for _ in range(50):
            stack.sgd_step(x, y)
        *activations, z = stack.forward(x)
        lr_delta = stack.output_delta(z, y) * 1e-12  # tiny steps: the stack stays where it is
        below = stack.layer_step(1, activations[1], stack.layer_step(2, activations[2], lr_delta))
        first = timed(lambda: stack.layer(0, x))
        forward = timed(lambda: stack.forward(x))
        backward = timed(lambda: stack.layer_step(1, activations[1], stack.layer_step(
            2, activations[2], stack.output_delta(z, y) * 1e-12)))
        step = timed(lambda: stack.first_layer_step(x, below))
        evaluation = timed(lambda: stack.logits(chunk), calls=5) * evaluated / EVAL_CHUNK
    return [Part("numpy", "forward, layer 1", first, w1, flops1),
            Part("numpy", "forward, above", forward - first, 0, 0),
            Part("numpy", "backward, above (delta^L, layers 3 and 2)", backward, 0, 0),
            Part("numpy", "layer 1 step (fused)", step, 2 * w1, flops1),
            Part("numpy", "evaluation", evaluation, w1 * evaluated / EVAL_CHUNK, flops1 * evaluated / m)]


def torch_parts(k: int = 36, m: int = 10, dtype: str = "float64", evaluated: float = 70_000 / 5_000) -> list[Part]:
    """The torch stack's eager step in parts (torch_ref.batched.StackedSGD.eager_step)."""
    import torch  # torch: only its part of the breakdown needs it

    from torch_ref import batched as torch_batched
    from torch_ref.images import Images
    torch.set_num_threads(1)
    configs = stack_configs(k, m, dtype)
    nets = [initial_network(c) for c in configs]
    model = torch_batched.StackedTwin([np.stack([n.weights[l] for n in nets]) for l in range(3)],
                                      [np.stack([n.biases[l] for n in nets]) for l in range(3)],
                                      [c.activation for c in configs], [c.loss for c in configs])
    x, y = batch_of(m, dtype)
    chunk, _ = batch_of(EVAL_CHUNK, dtype)
    lrs = np.array([c.lr for c in configs]) * 1e-12  # tiny steps: the stack stays where it is
    zeros = np.zeros(k)
    sgd = torch_batched.StackedSGD(model, Images(x, dtype), torch.from_numpy(y), lrs, zeros, zeros, np.ones(k))
    index = torch.arange(m)
    xb, yb = torch.from_numpy(x), torch.from_numpy(y)
    w1, b1 = model.layers[0]
    item = np.dtype(dtype).itemsize
    size = w1.numel() * item
    flops1 = 2 * w1.numel() * m

    def backward():
        z1t = model.first(xb, w1.detach(), b1.detach()).requires_grad_()
        above = model.layers[1:]
        loss = sgd.lr @ model.losses_of(model.above(z1t, above), yb)
        return torch.autograd.grad(loss, [z1t, *(w for w, _ in above), *(b for _, b in above)])
    with threadpool_limits(1):
        for _ in range(50):
            sgd.step(index)
        lr_delta, *grads = backward()
        first = timed(lambda: model.first(xb, w1.detach(), b1.detach()))
        forward_and_back = timed(backward)
        with torch.no_grad():
            update = timed(lambda: sgd.update(grads, first=1))
            step = timed(lambda: sgd.first_layer_step(xb, lr_delta))
            evaluation = timed(lambda: model(torch.from_numpy(chunk)), calls=5) * evaluated / EVAL_CHUNK
    return [Part("torch", "forward, layer 1", first, size, flops1),
            Part("torch", "forward and backward, above (autograd)", forward_and_back - first, 0, 0),
            Part("torch", "update, above", update, 0, 0),
            Part("torch", "layer 1 step (fused)", step, 2 * size, flops1),
            Part("torch", "evaluation", evaluation, size * evaluated / EVAL_CHUNK, flops1 * evaluated / m)]


def breakdown(k: int = 36, m: int = 10, dtype: str = "float64") -> tuple[list[dict], dict]:
    """(a row per part of each engine's step, the machine's limits)."""
    w1 = k * 16 * 784 * np.dtype(dtype).itemsize
    with threadpool_limits(1):
        limits = {"memory_gb_s": bandwidth_gb_s(), "cache_gb_s": bandwidth_gb_s(w1 // 2),
                  "flop_rate_gflop_s": flop_rate_gflop_s(dtype)}
    rows = [p.row(limits) for p in numpy_parts(k, m, dtype) + torch_parts(k, m, dtype)]
    return rows, limits
