"""What a grid asks of the machine, checked before any work: memory, cores, and time.

The estimates are rough on purpose: they are there to stop a grid that cannot fit, and to
say how long one that fits will take, before the first minute is spent.
"""
import math
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from experiments.errors import UsageError
from experiments.execution.plan import TORCH_FACTOR, epochs_of
from experiments.execution.training import initial_network
from experiments.spec.config import RunConfig, format_sizes
from scratch import batched

EVAL_CHUNK = 2000  # examples an evaluation computes at once (scratch.evaluate, torch_ref.evaluate)


def available_memory() -> int:
    """Bytes the system can give without swapping (Linux's MemAvailable), else the physical memory,
    else (where neither can be read) as good as unlimited."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return 1 << 62


def params(sizes) -> int:
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))


def unit_bytes(unit: list[RunConfig]) -> int:
    """About the memory a unit's training takes beyond the data: per network the parameters,
    their gradient, velocity and a spare copy, and a layer's activations for an evaluation
    chunk (kept, computed and a temporary) and for a mini-batch."""
    c = unit[0]
    item = np.dtype(c.dtype).itemsize
    widest = max(c.sizes[1:])
    per_network = params(c.sizes) * item * 4 + (EVAL_CHUNK + c.batch_size) * widest * item * 3
    return len(unit) * per_network


def check_memory(units: list[list[RunConfig]], workers: int, hint: str | None = None) -> None:
    """Refuse, with one line, units that would not fit in the memory left (`workers` at once);
    `hint`: what to do about a stack too large, when it is not run's --engine or --workers."""
    if not units:
        return
    largest = max(units, key=unit_bytes)
    need, free = unit_bytes(largest) * min(workers, len(units)), available_memory()
    if need > 0.8 * free:
        c = largest[0]
        what = f"{len(largest)} network(s) of sizes {format_sizes(c.sizes)} ({params(c.sizes):,} parameters each, " \
               f"{c.dtype})" + (f" in each of {workers} workers" if workers > 1 else "")
        if unit_bytes(largest[:1]) > 0.8 * free:
            hint = "choose smaller layers"
        elif hint is None:
            hint = "use --engine single" + (" or fewer --workers" if min(workers, len(units)) > 1 else "")
        raise UsageError(f"{what} need about {need / 1e9:.1f} GB, more than the {free / 1e9:.1f} GB this machine "
                         f"has available; {hint}")


# a worker process's own memory, before any unit: Python with numpy and pandas, and torch for torch runs
PROCESS_BYTES = {"scratch": 150e6, "torch": 600e6}


def check_processes(workers: int, uses_torch: bool, what: str = "--workers") -> None:
    """Refuse, with one line, more worker processes than the memory left can hold."""
    each = PROCESS_BYTES["torch" if uses_torch else "scratch"]
    need, free = workers * each, available_memory()
    if workers > 1 and need > 0.8 * free:
        fit = max(1, int(0.8 * free // each))
        raise UsageError(f"{what} {workers}: {workers} worker processes need about {need / 1e9:.1f} GB "
                         f"({each / 1e9:.2f} GB each{' with torch' if uses_torch else ''}), more than the "
                         f"{free / 1e9:.1f} GB this machine has available; choose at most {fit}")


def check_workers(workers: int) -> None:
    cores = os.cpu_count() or 1
    if workers > cores:
        print(f"warning: {workers} workers on {cores} cores: each worker uses one core, so the extra ones only "
              f"share them; --workers {cores} is as fast", file=sys.stderr, flush=True)


def step_seconds(c: RunConfig, k: int, l2: bool = False, momentum: bool = False) -> float:
    """Seconds of one step of a scratch stack of k networks of c's shape, timed here (~0.05 s)
    with one compute thread, as a unit trains; with weight decay and velocities where the unit
    has them (each another pass over the weights)."""
    rng = np.random.default_rng(0)
    stack = batched.StackedNetwork([initial_network(c)] * k, lr=0.01, l2=1.0 if l2 else 0.0,
                                   momentum=0.5 if momentum else 0.0, n=50_000)
    x = rng.random((c.batch_size, c.sizes[0])).astype(c.dtype)
    y = np.eye(c.sizes[-1], dtype=c.dtype)[rng.integers(0, c.sizes[-1], c.batch_size)]
    with threadpool_limits(1), np.errstate(over="ignore"):
        stack.sgd_step(x, y)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.05:
            stack.sgd_step(x, y)
            steps += 1
    return (time.perf_counter() - start) / steps


def unit_seconds(units: list[list[RunConfig]], n_images: dict[str, tuple[int, int]], engine: str) -> list[float]:
    """Seconds each unit should take on one core: steps times a scratch step timed here
    (TORCH_FACTOR[engine] times that for torch), plus evaluation (a forward pass of every image
    after each epoch, about a third of a step per mini-batch of images). n_images: per
    (dataset, val_size), (training, evaluated) images."""
    timed: dict[tuple, float] = {}
    seconds = []
    for unit in units:
        c = unit[0]
        k = 1 if engine == "single" else len(unit)
        knobs = any(ci.l2 for ci in unit), any(ci.momentum for ci in unit)
        key = (c.sizes, c.batch_size, c.dtype, k, *knobs)
        if key not in timed:
            timed[key] = step_seconds(c, k, *knobs)
        n_train, n_eval = n_images[c.dataset, c.val_size]
        steps = math.ceil(n_train / c.batch_size) + n_eval / c.batch_size / 3
        seconds.append(epochs_of(unit) * steps * timed[key] * (TORCH_FACTOR[engine] if c.impl == "torch" else 1.0))
    return seconds
