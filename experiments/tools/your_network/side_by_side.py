"""The user's network trained through its own update beside the torch twin, from the same
weights on the same mini-batches, step by step: where they part, if they do."""
import math
from dataclasses import dataclass

import numpy as np
import torch

from experiments.tools.your_network.conventions import (
    CONVENTIONS,
    find_convention,
    interleaved,
    parameters,
    tensor_names,
)
from experiments.tools.your_network.gradients import TOL_FACTOR, rel, twin_of, twin_tensors
from experiments.tools.your_network.user_code import one_thread


@dataclass(frozen=True)
class Comparison:
    steps: int                        # steps compared: every step, or up to the parting one
    total_steps: int                  # steps of the whole run (epochs x mini-batches)
    parted_at: int | None             # first step (1-based) after which a tensor differs beyond tol; None: never
    worst_gap: float                  # the largest gap seen, over the steps compared and the tensors
    gaps: dict[str, float]            # each tensor's gap at the parting step (at the last step if none)
    step_factors: dict[str, float | None]  # at the parting step, c where your step = c x the twin's (else None)
    batch_size: int                   # examples in the parting step's batch (in the last one's if none)
    tol: float

    @property
    def agrees(self) -> bool:
        return self.parted_at is None


def gap(theirs: np.ndarray, twin: np.ndarray) -> float:
    """max |theirs - twin| / max |twin|; inf where the shapes differ or a number is not finite."""
    theirs = np.asarray(theirs)
    if theirs.size != twin.size:
        return math.inf
    value = float(np.max(np.abs(theirs.reshape(twin.shape) - twin)) / (np.max(np.abs(twin)) or 1.0))
    return value if math.isfinite(value) else math.inf


def step_factor(theirs: np.ndarray, before: np.ndarray, twin: np.ndarray) -> float | None:
    """c where the user's step equals c times the twin's from the same point `before`, else None."""
    theirs = np.asarray(theirs)
    if theirs.size != twin.size:
        return None
    ours, its = theirs.reshape(twin.shape) - before, twin - before
    c = float(np.vdot(ours, its) / np.vdot(its, its)) if np.any(its) else 0.0
    return c if math.isfinite(c) and rel(ours, c * its) <= TOL_FACTOR else None


@one_thread()
def compare_training(net: object, sizes: list[int], activation: str, loss: str, x: np.ndarray, labels: np.ndarray,
                     epochs: int = 2, batch_size: int = 10, lr: float = 3.0, seed: int = 0,
                     convention: str | None = None, tol: float = 1e-9) -> Comparison:
    """Train the user's network through its own update (nielsen: update_mini_batch(batch, eta);
    rows: sgd_step or step(x, y, lr)) and the torch twin (torch.optim.SGD, W <- W - lr dC/dW with
    C averaged over the batch, which is eta/m sum_x dC_x/dW) from the same initial weights, on
    the same mini-batches: each epoch a permutation of the n examples from
    np.random.default_rng(seed), cut into batches of `batch_size` (the last one may be smaller).
    After every step, the gap max |W - W_twin| / max |W_twin| of every tensor; the run stops at
    the first step where one exceeds `tol`. x: (n, n_0) float64 in [0, 1]; labels: int (n,).
    The user's network is trained in place."""
    conv = CONVENTIONS[find_convention(net, sizes, convention)]
    twin = twin_of(net, activation, loss)
    params = twin_tensors(twin)
    names = tensor_names(len(twin.layers))
    optimizer = torch.optim.SGD(params, lr=lr)
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.eye(sizes[-1])[labels]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(seed)
    n = len(x)
    batches = [rows for _ in range(epochs) for rows in np.split(rng.permutation(n), range(batch_size, n, batch_size))]
    worst, gaps = 0.0, {}
    for step, rows in enumerate(batches, 1):
        before = [p.detach().numpy().copy() for p in params]
        conv.step(net, x[rows], y[rows], lr)
        optimizer.zero_grad(set_to_none=True)
        twin.loss(twin(xt[rows]), yt[rows]).backward()
        optimizer.step()
        theirs = interleaved(*parameters(net))
        after = [p.detach().numpy() for p in params]
        gaps = {name: gap(t, a) for name, t, a in zip(names, theirs, after, strict=True)}
        worst = max(worst, *gaps.values())
        if worst > tol:
            factors = {name: step_factor(t, b, a) for name, t, b, a in zip(names, theirs, before, after, strict=True)}
            return Comparison(step, len(batches), step, worst, gaps, factors, len(rows), tol)
    return Comparison(len(batches), len(batches), None, worst, gaps, {}, len(batches[-1]), tol)


STEP_HINTS = {  # c of your step = c x the twin's -> what it says about the update rule
    0.0: "your update did not move them",
    -1.0: "your update moves them the other way: W - eta nabla, not W + eta nabla",
    "m": "the 1/m of eta/m is missing (m = {m}, len(mini_batch))",
    "1/m": "the 1/m is applied twice (m = {m})",
    1.0: "each step agrees to 1e-6, but the tiny differences of earlier steps grew; with ReLU or a large lr, "
         "rounding (1e-16) can grow that far: compare fewer steps or a larger tol",
}


def step_hint(c: float, m: int) -> str:
    """What a step c times the twin's says about the update rule, for a batch of m examples ("" if nothing)."""
    values = {0.0: 0.0, -1.0: -1.0, "m": float(m), "1/m": 1 / m, 1.0: 1.0}
    named = next((k for k, v in values.items() if abs(c - v) <= TOL_FACTOR * max(abs(v), 1.0)), None)
    return "" if named is None else STEP_HINTS[named].format(m=m)


def format_comparison(result: Comparison) -> str:
    """One line: where your network and the twin part, or that they never do."""
    if result.agrees:
        return (f"your network and the torch twin agree after every one of the {result.steps} steps "
                f"(largest gap {result.worst_gap:.0e}, tolerance {result.tol:.0e})")
    parted = [n for n, g in result.gaps.items() if g > result.tol]
    line = (f"your network parts from the torch twin at step {result.parted_at} of {result.total_steps}: "
            + ", ".join(f"{n} {result.gaps[n]:.1e}" for n in parted)
            + f" (max |yours - twin| / max |twin|, tolerance {result.tol:.0e})")
    factors = [result.step_factors.get(n) for n in parted]
    c = factors[0] if factors and None not in factors and np.ptp(factors) <= TOL_FACTOR * max(map(abs, factors)) \
        else None
    if c is not None:
        hint = step_hint(c, result.batch_size)
        line += f"; your step is {c:.4g} times the twin's" + (f": {hint}" if hint else "")
    if c is None or abs(c - 1) > TOL_FACTOR:
        line += "; run the gradient check to see whether backprop or the update is wrong"
    return line
