"""The work of a grid in units, cut and ordered so that every worker is busy to the end.

A unit is one run (engine `single`) or a stack of runs trained at once (engines `batched` and
`compiled`): configurations equal in every field a stack shares (experiments.spec.config.
STACK_KEY), at most MAX_STACK of them, those of one loss adjacent (a stack applies each loss
once per step to its run of networks). A stack trains for the epochs of its longest run.

On N workers, the units are cut and ordered by their cost: a step of a stack of K networks
costs about OVERHEAD + K network-steps (measured: 80 + 20 K microseconds in NumPy at batch 10),
times TORCH_FACTOR for torch's (`bench --breakdown` shows why: autograd's many small operations).
A stack is cut into parts where that shortens the time to the
last unit's end (a torch stack beside a NumPy one on two workers, both cut in halves), and the
units go out longest first, each to the worker free first.
"""
import heapq
import itertools

from experiments.errors import UsageError
from experiments.execution.training import stack_key
from experiments.spec.config import ENGINES, RunConfig

MAX_STACK = 36      # one seed of the full grid
OVERHEAD = 4        # a step's fixed cost, in network-steps of a stack
MAX_PARTS = 4       # a stack is cut into at most this many parts
SEARCHED = 6        # up to this many units, every way of cutting them is tried; beyond, a greedy cut
# a torch unit's step against a NumPy one of the same size, per engine (results/bench, batch 10)
TORCH_FACTOR = {"single": 3.2, "batched": 2.0, "compiled": 1.1}


def epochs_of(unit: list[RunConfig]) -> int:
    """The epochs a unit trains: those of its longest run."""
    return max(c.epochs for c in unit)


def by_loss(configs: list[RunConfig]) -> list[RunConfig]:
    return sorted(configs, key=lambda c: (c.loss, c.activation))


def stacks(configs: list[RunConfig], max_size: int = MAX_STACK) -> list[list[RunConfig]]:
    """The configurations grouped by stack_key, at most max_size a group (runs of like epochs
    together), those of one loss adjacent within each."""
    groups: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(stack_key(c), []).append(c)
    out = []
    for group in groups.values():
        group = sorted(group, key=lambda c: (c.epochs, c.loss, c.activation))
        out += [by_loss(group[i:i + max_size]) for i in range(0, len(group), max_size)]
    return out


def cost(unit: list[RunConfig], engine: str) -> float:
    """A unit's time, in network-steps of a NumPy stack per training example."""
    factor = TORCH_FACTOR[engine] if unit[0].impl == "torch" else 1.0
    size = len(unit) if engine != "single" else 1
    return epochs_of(unit) * (OVERHEAD + size) * factor


def parts(unit: list[RunConfig], count: int) -> list[list[RunConfig]]:
    """A stack cut into `count` parts as equal as they go, each with its losses adjacent."""
    ordered = sorted(unit, key=lambda c: (c.epochs, c.loss, c.activation))
    size, extra = divmod(len(ordered), count)
    cuts = [0]
    for k in range(count):
        cuts.append(cuts[-1] + size + (k < extra))
    return [by_loss(ordered[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def loads(costs: list[float], workers: int) -> list[float]:
    """Each worker's total, the units given longest first to the worker free first (as the pool
    hands them out)."""
    free = [0.0] * max(1, min(workers, len(costs)))
    for unit_cost in sorted(costs, reverse=True):
        heapq.heapreplace(free, free[0] + unit_cost)
    return free


def makespan(units: list[list[RunConfig]], engine: str, workers: int) -> float:
    """When the last unit ends."""
    return max(loads([cost(u, engine) for u in units], workers))


def cut(work: list[list[RunConfig]], engine: str, workers: int) -> list[list[RunConfig]]:
    """The stacks cut into parts where that ends the work sooner on `workers`: every choice of
    parts for a few units, a greedy one (the part that helps most, one at a time) for many."""
    if workers < 2 or engine == "single":
        return work
    choices = [range(1, min(MAX_PARTS, len(u)) + 1) for u in work]
    if len(work) <= SEARCHED:
        best = min(itertools.product(*choices), key=lambda counts: (
            makespan([p for u, n in zip(work, counts, strict=True) for p in parts(u, n)], engine, workers),
            sum(counts)))
        return [p for u, n in zip(work, best, strict=True) for p in parts(u, n)]
    counts = [1] * len(work)
    while True:
        now = makespan([p for u, n in zip(work, counts, strict=True) for p in parts(u, n)], engine, workers)
        tries = [(makespan([p for j, (u, n) in enumerate(zip(work, counts, strict=True))
                            for p in parts(u, n + (j == i))], engine, workers), i)
                 for i in range(len(work)) if counts[i] < min(MAX_PARTS, len(work[i]))]
        if not tries or min(tries)[0] >= now:
            return [p for u, n in zip(work, counts, strict=True) for p in parts(u, n)]
        counts[min(tries)[1]] += 1


def units(configs: list[RunConfig], engine: str, workers: int = 1) -> list[list[RunConfig]]:
    """The work in units, cut for `workers` and the longest first (torch before scratch at equal
    cost), so that parallel workers run out of work at about the same time."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    work = [[c] for c in configs] if engine == "single" else cut(stacks(configs), engine, workers)
    return sorted(work, key=lambda u: (-cost(u, engine), u[0].impl != "torch"))
