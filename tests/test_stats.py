"""Intervals over seeds and the verdict of a comparison, against values worked out by hand."""
import math

import pytest

from experiments.analysis.stats import difference, interval, seeds_to_resolve

T_2 = 4.302652729749464  # Student's t, 97.5% quantile, 2 degrees of freedom (a printed table gives 4.303)
T_4, T_5, T_6 = 2.7764451051977987, 2.5705818356363146, 2.4469118511449692


def test_a_mean_over_three_seeds_and_its_interval():
    found = interval([0.95, 0.96, 0.97])  # mean 0.96, s = 0.01
    assert found.n == 3 and found.mean == pytest.approx(0.96, abs=1e-15) and found.std == pytest.approx(0.01)
    half = T_2 * 0.01 / math.sqrt(3)
    assert (found.low, found.high) == pytest.approx((0.96 - half, 0.96 + half))
    assert found.half_width == pytest.approx(0.024841377, abs=1e-9)  # 2.5 standard deviations at n = 3
    one = interval([0.9])
    assert one.n == 1 and one.mean == 0.9 and math.isnan(one.low) and math.isnan(one.std)


def test_a_paired_difference_that_three_seeds_cannot_tell_apart():
    # d = (0.01, 0, 0.02): mean 0.01, s_d 0.01, half-width t_2 s_d / sqrt(3) = 0.0248
    found = difference({0: 0.95, 1: 0.96, 2: 0.97}, {0: 0.94, 1: 0.96, 2: 0.95})
    assert found.paired and found.n == 3
    assert (found.mean, found.low, found.high) == pytest.approx((0.01, 0.01 - 0.0248414, 0.01 + 0.0248414), abs=1e-7)
    assert found.verdict == "tie"
    # the same mean and spread resolve once t_(n-1) / sqrt(n) < 1: n = 5 gives 1.24, 6 gives 1.05, 7 gives 0.92
    assert T_4 / math.sqrt(5) > 1 and T_5 / math.sqrt(6) > 1 and T_6 / math.sqrt(7) < 1
    assert found.seeds_needed == 7


def test_pairing_resolves_what_the_spread_over_seeds_hides():
    """Seeds move both configurations alike (a hard seed is hard for both): paired, a steady
    0.002 lead is clear though each one's spread over seeds is ten times larger."""
    a = {0: 0.952, 1: 0.972, 2: 0.962, 3: 0.982}
    b = {seed: value - 0.002 + (0.0001 if seed % 2 else -0.0001) for seed, value in a.items()}
    found = difference(a, b)
    assert found.paired and found.verdict == "A" and found.low > 0
    welch = difference(a, {seed + 10: value for seed, value in b.items()})  # no seed shared: unpaired
    assert not welch.paired and welch.verdict == "tie" and welch.seeds_needed > found.seeds_needed


def test_welch_where_no_seed_is_shared():
    # a: mean 2, var 1; b: mean 4, var 4; se^2 = 1/3 + 4/3; df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2) = 50/17
    found = difference({0: 1, 1: 2, 2: 3}, {5: 2, 6: 4, 7: 6})
    assert not found.paired and found.mean == -2 and found.verdict == "tie"
    half = 3.21876 * math.sqrt(5 / 3)  # t_(0.975, 50/17) = 3.21876: between 4.303 (2 degrees) and 3.182 (3)
    assert (found.low, found.high) == pytest.approx((-2 - half, -2 + half), abs=1e-5)


def test_b_better_and_no_seeds_for_no_difference():
    assert difference({0: 0.90, 1: 0.91, 2: 0.92}, {0: 0.95, 1: 0.955, 2: 0.97}).verdict == "B"
    assert seeds_to_resolve(0.0, 0.01, True) == math.inf
    lone = difference({0: 0.9}, {0: 0.8})
    assert lone.verdict == "tie" and math.isnan(lone.low) and lone.seeds_needed == math.inf
