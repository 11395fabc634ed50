"""The benchmark: seconds per epoch of each implementation against the usual alternatives.

Every case runs in its own process with one compute thread, so that its peak memory (RSS)
is its own. The cases of one batch size are measured in rounds, one epoch of each case per
round, so that the machine's drift falls on all of them alike; each figure is the median of
`repeats` rounds after a warm-up round, and the speedups are ratios of figures taken in the
same run.

  scratch          scratch.train, one configuration
  torch            torch_ref.train (autograd, torch.optim.SGD), one configuration
  torch_compiled   torch_ref.train with each step put through torch.compile (torch.func.grad
                   and SGD's update as one graph, torch_ref.compiled)
  batched_scratch  scratch.batched, K configurations of one seed of the full grid (loss x
                   activation x lr) at once; figures per configuration
  batched_torch    torch_ref.batched, the same in torch
  batched_torch_compiled  the same with each step put through torch.compile
  sklearn          MLPClassifier((16, 16), logistic, plain SGD), one partial_fit epoch
  per_example      Nielsen's loop: backprop one example at a time within each mini-batch
  naive_torch      nn.Sequential, torch.optim.SGD and indexing of every mini-batch
"""
import os
import platform
import statistics
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from experiments.data.datasets import load_dataset
from experiments.execution.plan import stacks
from experiments.execution.training import engine, initial_network, seed_streams
from experiments.host import cpu
from experiments.spec.config import RunConfig
from experiments.spec.grid import expand, read_grid
from experiments.tools.baselines import per_example_epoch, sklearn_classifier
from scratch.train import one_hot

CASES = ("scratch", "torch", "torch_compiled", "batched_scratch", "batched_torch", "batched_torch_compiled",
         "sklearn", "per_example", "naive_torch")
TORCH_CASES = ("torch", "torch_compiled", "batched_torch", "batched_torch_compiled", "naive_torch")
COMPILED_CASES = ("torch_compiled", "batched_torch_compiled")  # torch.compile: a C++ compiler is needed


def bench_config(impl: str, device: str, batch_size: int, dtype: str, dataset: str):
    """The benchmark's network: sigmoid, quadratic loss, lr 0.3, all training images, unending."""
    return RunConfig(impl=impl, device=device, dataset=dataset, activation="sigmoid", loss="mse", lr=0.3,
                     init="lecun", batch_size=batch_size, epochs=10 ** 6, dtype=dtype, val_size=0)


def epochs_of(case: str, train, batch_size: int, device: str, configs: int, dataset: str):
    """An iterator that trains one epoch per step; train: the training Part (x, labels)."""
    x, labels = train
    dtype = x.dtype.name
    impl = "torch" if case in TORCH_CASES else "scratch"
    if case in TORCH_CASES:
        import torch  # torch: only its cases need it
        torch.set_num_threads(1)
    config = bench_config(impl, device, batch_size, dtype, dataset)
    compiled = case in COMPILED_CASES
    if case in ("scratch", "torch", "torch_compiled"):
        return engine([config], train, compiled).epochs
    if case in ("batched_scratch", "batched_torch", "batched_torch_compiled"):
        stack = [replace(c, impl=impl, device=config.device, dataset=dataset, batch_size=batch_size,
                         epochs=config.epochs, dtype=dtype, val_size=0) for c in grid_stack(configs)]
        return engine(stack, train, compiled).epochs
    if case == "per_example":
        net = initial_network(config)
        weights, biases = net.weights, [b.reshape(-1, 1).copy() for b in net.biases]
        y = one_hot(labels, x.dtype)
        order_rng = seed_streams(0)[1]
        return (per_example_epoch(weights, biases, x, y, batch_size, 0.3, order_rng.permutation(len(x)))
                for _ in iter(int, 1))
    if case == "sklearn":
        from sklearn.exceptions import ConvergenceWarning  # the bench extra: only this case needs it
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = sklearn_classifier(batch_size, 0.3)
        return (model.partial_fit(x, labels, classes=np.arange(10)) for _ in iter(int, 1))
    if case == "naive_torch":
        return naive_torch_epochs(x, labels, batch_size, device, seed_streams(0)[1])
    raise ValueError(case)


def grid_stack(configs: int) -> list:
    """The first `configs` configurations of one seed of the full grid, in the grid's stack
    order (by loss); past the 36 of a seed they repeat, each next to its loss's others."""
    (grid,) = stacks(expand(read_grid("full").axes, ["seed=0", "impl=scratch"]))
    order = {loss: k for k, loss in enumerate(dict.fromkeys(c.loss for c in grid))}
    return sorted((grid[k % len(grid)] for k in range(configs)), key=lambda c: order[c.loss])


def naive_torch_epochs(x, labels, batch_size, device, rng):
    """The textbook torch loop: nn.Sequential, an optimizer, the batch gathered by index every step."""
    import torch  # torch: only its cases need it
    from torch import nn
    dtype = getattr(torch, x.dtype.name)
    model = nn.Sequential(nn.Linear(784, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(),
                          nn.Linear(16, 10), nn.Sigmoid()).to(device=device, dtype=dtype)
    generator = torch.Generator().manual_seed(0)  # the weights from a seeded generator, not torch's global one
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=dtype) * 0.1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    xt = torch.from_numpy(x).to(device)
    yt = nn.functional.one_hot(torch.from_numpy(labels), 10).to(device=device, dtype=dtype)
    while True:
        order = torch.from_numpy(rng.permutation(len(x))).to(device)
        for k in range(0, len(x), batch_size):
            idx = order[k:k + batch_size]
            optimizer.zero_grad()
            loss = 0.5 * ((model(xt[idx]) - yt[idx]) ** 2).sum() / len(idx)
            loss.backward()
            optimizer.step()
        yield


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (VmHWM; ru_maxrss would also count
    the parent's memory that a spawned child had before its exec)."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kb / 1024


_epochs = None  # in a case's process: the iterator that trains one epoch per step


def start(case: str, batch_size: int, dataset: str, data_root, device: str, configs: int, dtype: str) -> int:
    """Runs in the case's own process: load the data and build the case; the training-set size."""
    global _epochs
    threadpool_limits(1)
    train = load_dataset(dataset, data_root).arrays(dtype)["train"]
    _epochs = epochs_of(case, train, batch_size, device, configs, dataset)
    return len(train.x)


def epoch_seconds(device: str) -> float:
    """Runs in the case's own process: the seconds of its next epoch."""
    if device != "cpu":
        import torch  # torch: only its cases run on another device
        torch.cuda.synchronize()
    begin = time.perf_counter()
    next(_epochs)
    if device != "cpu":
        torch.cuda.synchronize()
    return time.perf_counter() - begin


def machine() -> dict:
    import torch  # torch: the benchmark measures it anyway
    return {**cpu(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "blas": sorted({f"{i['internal_api']} {i['version']}" for i in threadpool_info()}),
            "gpu": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}


def run_bench(dataset: str, data_root, devices: list[str], repeats: int, batch_sizes: list[int],
              cases: list[str], configs: int, dtype: str, on_epoch=None, on_row=None) -> list[dict]:
    """For each batch size, every case in its own process, measured in rounds: each round
    times one epoch of every case in turn, so that a slow spell of the machine falls on all
    cases alike and leaves their ratios. Round 0 warms caches and allocators up.
    on_epoch(case, batch_size, device, round, seconds) follows every epoch, on_row(row) every row."""
    rows = []
    for batch_size in batch_sizes:
        members = [(case, device) for case in cases for device in (devices if case in TORCH_CASES else ["cpu"])]
        pools = {m: ProcessPoolExecutor(1, mp_context=get_context("spawn")) for m in members}
        try:
            sizes = {m: pools[m].submit(start, m[0], batch_size, dataset, data_root, m[1], configs, dtype)
                     for m in members}
            sizes = {m: size.result() for m, size in sizes.items()}
            times = {m: [] for m in members}
            for round_ in range(repeats + 1):
                for case, device in members:
                    times[case, device].append(pools[case, device].submit(epoch_seconds, device).result())
                    if on_epoch:
                        on_epoch(case, batch_size, device, round_, times[case, device][-1])
            for case, device in members:
                per_config = configs if case.startswith("batched") else 1
                seconds = statistics.median(times[case, device][1:]) / per_config
                row = {"case": case, "batch_size": batch_size, "device": device, "configs": per_config,
                       "sec_per_epoch": seconds, "samples_per_s": sizes[case, device] / seconds,
                       "peak_rss_mb": pools[case, device].submit(peak_rss_mb).result(),
                       "repeats": repeats, "dataset": dataset, "dtype": dtype}
                rows.append(row)
                if on_row:
                    on_row(row)
        finally:
            for pool in pools.values():
                pool.shutdown()
    return add_speedups(rows)


def add_speedups(rows: list[dict]) -> list[dict]:
    """Per batch size: how many times faster each case is than sklearn, per_example and naive_torch."""
    for row in rows:
        for baseline in ("sklearn", "per_example", "naive_torch"):
            base = [r for r in rows if r["case"] == baseline and r["batch_size"] == row["batch_size"]
                    and (baseline != "naive_torch" or r["device"] == row["device"])]
            row[f"speedup_vs_{baseline}"] = base[0]["sec_per_epoch"] / row["sec_per_epoch"] if base else float("nan")
    return rows
