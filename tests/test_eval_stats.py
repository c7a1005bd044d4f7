"""The statistics of an evaluation against values known independently: published or closed-form
numbers, scipy's where noted (scipy 1.17.1, run by hand, not a dependency), and exact enumeration
where a distribution is small enough to write out. Nothing here is checked by simulation alone."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from tui.eval.stats import (
    Flips,
    Interval,
    flips,
    mcnemar_exact,
    oracle,
    paired_bootstrap,
    percentile,
    unanimous_and_wrong,
    wilson,
)

# --------------------------------------------------------------------------------------------
# Wilson's interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # scipy.stats.binomtest(8, 10).proportion_ci(method="wilson"); by hand: centre
        # (0.8 + 1.96²/20) / (1 + 1.96²/10) = 0.71674, half-width 0.22658.
        (8, 10, 0.4901624715366418, 0.9433178485456248),
        (0, 10, 0.0, 0.27753279986288926),
        (10, 10, 0.7224672001371109, 1.0),
        (41, 100, 0.31867313021136523, 0.5079856994658922),
    ],
)
def test_wilson_interval_matches_the_known_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    interval = wilson(successes, trials)
    assert interval.low == pytest.approx(low, abs=1e-12)
    assert interval.high == pytest.approx(high, abs=1e-12)


def test_wilson_bounds_are_exactly_0_and_1_at_the_ends_and_whole_without_trials() -> None:
    assert wilson(0, 7).low == 0.0
    assert wilson(7, 7).high == 1.0
    assert wilson(0, 0) == Interval(0.0, 1.0)


def test_wilson_refuses_more_successes_than_trials() -> None:
    with pytest.raises(ValueError):
        wilson(11, 10)


# --------------------------------------------------------------------------------------------
# McNemar's exact test


@pytest.mark.parametrize(
    ("only_first", "only_second", "p"),
    [
        # 2 · P(X ≤ 2), X ~ Bin(12, 1/2) = 2 · (1 + 12 + 66) / 4096 = 79/2048;
        # scipy.stats.binomtest(2, 12).pvalue = 0.03857421875.
        (10, 2, 79 / 2048),
        (2, 10, 79 / 2048),
        (5, 0, 2 / 32),  # the smallest p five discordant items can give
        (6, 0, 2 / 64),
        (40, 20, 0.01348929373119186),  # scipy.stats.binomtest(20, 60).pvalue
        (7, 7, 1.0),
        (0, 0, 1.0),
    ],
)
def test_mcnemar_exact_p_matches_the_binomial_on_discordant_items(
    only_first: int, only_second: int, p: float
) -> None:
    assert mcnemar_exact(only_first, only_second) == pytest.approx(p, rel=1e-12)


def test_mcnemar_is_computed_exactly_for_thousands_of_discordant_items() -> None:
    # 1,000 a side: the two tails together hold all but the middle term, so p = 1.
    assert mcnemar_exact(1000, 1000) == 1.0
    assert 0 < mcnemar_exact(1100, 900) < 1e-5


# --------------------------------------------------------------------------------------------
# The paired bootstrap


def paired(count: int, only_first: int, only_second: int, both: int = 0) -> tuple[list[bool], list[bool]]:
    """Results on `count` items: some only the first got right, some only the second, some both."""
    rest = count - only_first - only_second - both
    first = [True] * only_first + [False] * only_second + [True] * both + [False] * rest
    second = [False] * only_first + [True] * only_second + [True] * both + [False] * rest
    return first, second


def exact_bootstrap_quantiles(count: int, only_first: int, only_second: int) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the bootstrap distribution itself, written out: a
    resample's difference is (X − Y)/n, (X, Y, rest) ~ Multinomial(n; b/n, c/n, 1 − (b + c)/n)."""
    n, b, c = count, only_first, only_second
    mass: dict[int, Fraction] = {}
    for x in range(n + 1):
        for y in range(n - x + 1):
            ways = math.factorial(n) // (math.factorial(x) * math.factorial(y) * math.factorial(n - x - y))
            chance = ways * Fraction(b, n) ** x * Fraction(c, n) ** y * Fraction(n - b - c, n) ** (n - x - y)
            mass[x - y] = mass.get(x - y, Fraction(0)) + chance
    cumulative, low, high = Fraction(0), None, None
    for difference in sorted(mass):
        cumulative += mass[difference]
        if low is None and cumulative >= Fraction(25, 1000):
            low = difference
        if high is None and cumulative >= Fraction(975, 1000):
            high = difference
    assert low is not None and high is not None
    return low / n, high / n


@pytest.mark.parametrize(("count", "only_first", "only_second"), [(20, 6, 2), (30, 8, 3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_bootstrap_interval_is_the_exact_bootstrap_distributions_percentiles(
    count: int, only_first: int, only_second: int, seed: int
) -> None:
    # Chosen where the exact cumulative mass steps past 2.5% and 97.5% at least three standard
    # errors of 10,000 resamples away from either (n=20: .0201 → .0465 and .9549 → .9811).
    low, high = exact_bootstrap_quantiles(count, only_first, only_second)
    first, second = paired(count, only_first, only_second, both=5)
    interval = paired_bootstrap(first, second, seed=seed)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)


def test_the_bootstrap_interval_on_many_items_is_the_normal_one() -> None:
    # n = 1000, 60 items only the first got right, 30 only the second: the difference is .03 with
    # a standard error of sqrt(((b + c)/n − ((b − c)/n)²)/n) = .00944, so about .03 ± .0185.
    interval = paired_bootstrap(*paired(1000, 60, 30, both=700))
    assert interval.low == pytest.approx(0.03 - 1.96 * 0.00944, abs=0.002)
    assert interval.high == pytest.approx(0.03 + 1.96 * 0.00944, abs=0.002)


def test_the_bootstrap_is_the_same_on_the_same_seed_whatever_the_order_of_the_items() -> None:
    first, second = paired(100, 12, 4, both=60)
    pairs = list(zip(first, second, strict=True))
    random.Random(5).shuffle(pairs)
    shuffled_first, shuffled_second = (list(column) for column in zip(*pairs, strict=True))
    # A pin: what seed 0 gives. PCG64's bit stream is one numpy keeps from version to version.
    assert paired_bootstrap(first, second, seed=0) == Interval(0.0, 0.16)
    assert paired_bootstrap(shuffled_first, shuffled_second, seed=0) == Interval(0.0, 0.16)
    assert paired_bootstrap(first, second, seed=0, resamples=2000) != paired_bootstrap(
        first, second, seed=9, resamples=2000
    )


def test_the_bootstrap_of_results_that_never_differ_is_zero() -> None:
    assert paired_bootstrap(*paired(50, 0, 0, both=30)) == Interval(0.0, 0.0)
    assert paired_bootstrap(*paired(10, 10, 0)) == Interval(1.0, 1.0)


def test_the_bootstrap_refuses_results_of_different_lengths_or_none() -> None:
    with pytest.raises(ValueError):
        paired_bootstrap([True], [True, False])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


# --------------------------------------------------------------------------------------------
# Oracle, flips, unanimous and wrong, percentiles


def test_oracle_counts_items_any_first_answer_got_right() -> None:
    assert oracle([(False, True, False), (False, False, False), (True, True, True)]) == 2


def test_flips_count_each_way_between_two_results() -> None:
    before = [True, True, False, False, True]
    after = [True, False, True, True, True]
    assert flips(before, after) == Flips(right_to_wrong=1, wrong_to_right=2)


def test_unanimous_and_wrong_needs_every_seat_and_the_same_wrong_answer() -> None:
    keys = [("7", "7", "7"), ("7", "7", "8"), ("18", "18", "18"), ("7", "7", None), ("7",)]
    correct = [(False,) * 3, (False,) * 3, (True,) * 3, (False,) * 3, (False,)]
    assert unanimous_and_wrong(keys, correct) == 1


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        (list(range(1, 21)), 0.50, 10),  # rank ceil(.5 · 20) = 10
        (list(range(1, 21)), 0.95, 19),  # rank ceil(.95 · 20) = 19
        (list(range(1, 101)), 0.07, 7),  # rank 7, though 0.07 * 100 is 7.000000000000001 as a float
        (list(range(1, 101)), 0.95, 95),
        ([3, 1, 2], 0.50, 2),
        ([5], 0.95, 5),
        ([4, 9], 0.50, 4),
    ],
)
def test_percentiles_are_nearest_rank_values_that_occurred(
    values: list[int], share: float, expected: int
) -> None:
    assert percentile(values, share) == expected


def test_no_values_have_no_percentile() -> None:
    assert percentile([], 0.5) is None
