"""The work of a grid in units, and the order in which workers take them.

A unit is one run (engine `single`) or a stack of runs trained at once (engines `batched` and
`compiled`): configurations equal in every field a stack shares (experiments.spec.config.
STACK_KEY), at most MAX_STACK of them, those of one loss adjacent (a stack applies each loss
once per step to its run of networks). A stack trains for the epochs of its longest run.
"""
from experiments.errors import UsageError
from experiments.execution.training import stack_key
from experiments.spec.config import ENGINES, RunConfig

MAX_STACK = 36  # one seed of the full grid


def stacks(configs: list[RunConfig], max_size: int = MAX_STACK) -> list[list[RunConfig]]:
    """The configurations grouped by stack_key, at most max_size a group, those of one loss adjacent."""
    groups: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(stack_key(c), []).append(c)
    ordered = [sorted(g, key=lambda c: (c.loss, c.activation)) for g in groups.values()]
    return [g[i:i + max_size] for g in ordered for i in range(0, len(g), max_size)]


def epochs_of(unit: list[RunConfig]) -> int:
    """The epochs a unit trains: those of its longest run."""
    return max(c.epochs for c in unit)


def units(configs: list[RunConfig], engine: str) -> list[list[RunConfig]]:
    """The work in units, the longest first (torch before scratch, then more epochs of more
    runs), so that parallel workers run out of work at about the same time."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    work = [[c] for c in configs] if engine == "single" else stacks(configs)
    return sorted(work, key=lambda u: (u[0].impl != "torch", -len(u) * epochs_of(u)))
