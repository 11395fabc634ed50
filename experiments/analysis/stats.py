"""Intervals over seeds, and whether two configurations can be told apart.

A mean over n seeds carries the 95% confidence interval of Student's t:

    mean +- t_(0.975, n-1) s / sqrt(n)            (s the standard deviation over the seeds)

Two configurations A and B compare on their test accuracy at the chosen epochs. The runs of one
seed share their mini-batches (and, with the same initialisation scheme, their first weights),
so over the seeds both ran the comparison is paired: the differences d_i = a_i - b_i give

    mean(d) +- t_(0.975, n-1) s_d / sqrt(n)

Runs that share no seed are compared by Welch's interval, with the Welch-Satterthwaite degrees
of freedom. The verdict follows from the interval: A is better when it lies above 0, B when it
lies below, and otherwise the seeds at hand do not tell them apart. `seeds_needed` is the number
of seeds whose interval would exclude 0 if the mean difference and the spread stayed as measured.
"""
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
MAX_SEEDS = 10_000  # beyond this, "more seeds than anyone will run"


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with its confidence interval (NaN bounds with fewer than two seeds)."""
    mean: float
    std: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def interval(values, confidence: float = CONFIDENCE) -> Interval:
    """The mean of `values` (NaN left out) with its t interval."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, math.nan, 1)
    std = float(values.std(ddof=1))
    half = t_quantile(n - 1, confidence) * std / math.sqrt(n)
    return Interval(mean, std, mean - half, mean + half, n)


@dataclass(frozen=True)
class Difference:
    """mean(A) - mean(B) with its interval, how it was made, and what it says."""
    mean: float
    low: float
    high: float
    n: int                  # seeds both ran (paired), or the smaller count of the two (Welch)
    paired: bool
    seeds_needed: float     # seeds that would resolve a difference of this size (inf: none would)

    @property
    def verdict(self) -> str:
        """"A", "B" (the better one), or "tie" when the interval holds 0 (or cannot be computed)."""
        if self.low > 0:
            return "A"
        if self.high < 0:
            return "B"
        return "tie"


def seeds_to_resolve(mean: float, spread: float, paired: bool) -> float:
    """The least n for which t_(0.975, df) spread / sqrt(n) < |mean|: spread is s_d for a paired
    comparison (df = n - 1), sqrt(s_a^2 + s_b^2) for Welch with n seeds on each side (df ~ 2n - 2)."""
    if mean == 0 or math.isnan(mean) or math.isnan(spread):
        return math.inf
    if spread == 0:
        return 2.0
    n = np.arange(2, MAX_SEEDS + 1)
    df = n - 1 if paired else 2 * n - 2
    resolved = np.flatnonzero(stats.t.ppf(0.5 + CONFIDENCE / 2, df) * spread / np.sqrt(n) < abs(mean))
    return float(n[resolved[0]]) if len(resolved) else math.inf


def difference(a: dict[int, float], b: dict[int, float], confidence: float = CONFIDENCE) -> Difference:
    """A - B from each one's value per seed: paired over the seeds both have (two at least),
    Welch's otherwise."""
    a = {s: v for s, v in a.items() if not math.isnan(v)}
    b = {s: v for s, v in b.items() if not math.isnan(v)}
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        d = np.array([a[s] - b[s] for s in shared])
        n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
        half = t_quantile(n - 1, confidence) * sd / math.sqrt(n)
        return Difference(mean, mean - half, mean + half, n, True, seeds_to_resolve(mean, sd, True))
    xa, xb = np.array(list(a.values())), np.array(list(b.values()))
    if len(xa) < 2 or len(xb) < 2:
        mean = float(xa.mean() - xb.mean()) if len(xa) and len(xb) else math.nan
        return Difference(mean, math.nan, math.nan, min(len(xa), len(xb)), False, math.inf)
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    mean = float(xa.mean() - xb.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(mean, mean, mean, min(len(xa), len(xb)), False, 2.0 if mean else math.inf)
    df = (va + vb) ** 2 / (va ** 2 / (len(xa) - 1) + vb ** 2 / (len(xb) - 1))
    half = t_quantile(df, confidence) * se
    spread = math.sqrt(xa.var(ddof=1) + xb.var(ddof=1))
    return Difference(mean, mean - half, mean + half, min(len(xa), len(xb)), False,
                      seeds_to_resolve(mean, spread, False))
