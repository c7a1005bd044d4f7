"""The statistics of an evaluation, each small enough to check by hand.

- `wilson` — a 95% interval for an accuracy. Wilson's score interval rather than the textbook
  p ± 1.96·sd (Wald): Wald's interval collapses to a point at 0/n and n/n and covers far less than
  95% near them and at small n, which is where a strong panel on a small set lives; Wilson's holds
  its coverage there and needs nothing but arithmetic.
- `mcnemar_exact` — whether two modes asked the same items differ: McNemar's exact test, a
  two-sided binomial test on the discordant items (those only one of the two got right).
- `paired_bootstrap` — an interval for the difference of two modes' accuracies on the same items:
  items resampled with replacement, both modes' results moving together, the 2.5th and 97.5th
  percentiles of the resampled differences. Seeded, and drawn from numpy's PCG64 bit stream
  itself, which numpy keeps stable across its versions (its `Generator` methods it does not).
- `oracle`, `flips`, `unanimous_and_wrong` — what a panel's first answers held, and what its final
  answer made of them.
- `percentile` — nearest rank: always a value that occurred (the p95 of 20 wall times is the
  19th fastest), never an interpolation between two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

Z_95 = 1.959963984540054
"""The standard normal's 97.5th percentile: `statistics.NormalDist().inv_cdf(0.975)`."""

DEFAULT_RESAMPLES = 10_000
_DRAWS_PER_CHUNK = 2_000_000
"""How many item draws the bootstrap holds at once (16 MB of 64-bit draws)."""


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """Wilson's score interval for `successes` out of `trials`; the whole [0, 1] for no trials."""
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    if trials == 0:
        return Interval(0.0, 1.0)
    share = successes / trials
    z2 = z * z
    centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials * trials))
    # At 0/n and n/n the bound is exactly 0 or 1; rounding must not leave it a hair inside.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """McNemar's exact two-sided p for paired results: of the n discordant items, `only_first`
    went one way and `only_second` the other; p = min(1, 2·P(X ≤ min)) for X ~ Binomial(n, 1/2).
    1 when there is no discordant item. Computed in exact integers, then rounded once."""
    if only_first < 0 or only_second < 0:
        raise ValueError("counts of items are not negative")
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(only_first, only_second) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**discordant)))


def paired_bootstrap(
    first: Sequence[bool],
    second: Sequence[bool],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """A percentile interval for accuracy(first) − accuracy(second) on the same items, the i-th
    of each being the same item.

    Each resample draws as many items as there are, with replacement (an index is 64 random bits
    modulo the count, a bias below 1e-13), and takes the mean of first − second over them. Only
    the discordant items move that mean, so the draws are read against them alone: the result
    depends on how many items there are and how many only one mode got right, and on the seed.
    Both modes always right (or always agreeing) give [0, 0].
    """
    if len(first) != len(second):
        raise ValueError(f"paired results of different lengths: {len(first)} and {len(second)}")
    if not first:
        raise ValueError("no items to resample")
    if resamples < 1:
        raise ValueError(f"at least one resample, not {resamples}")
    import numpy as np  # loaded only when a comparison is made

    count = len(first)
    only_first = sum(1 for a, b in zip(first, second, strict=True) if a and not b)
    only_second = sum(1 for a, b in zip(first, second, strict=True) if b and not a)
    if only_first == only_second == 0:
        return Interval(0.0, 0.0)
    # The items as if sorted: those only the first got right take indices [0, only_first), those
    # only the second got right the next only_second; the rest add nothing to the difference.
    bits = np.random.PCG64(seed)
    differences = np.empty(resamples)
    chunk = max(1, _DRAWS_PER_CHUNK // count)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        draws = bits.random_raw(rows * count).reshape(rows, count) % np.uint64(count)
        wins = np.count_nonzero(draws < only_first, axis=1)
        losses = np.count_nonzero(draws < only_first + only_second, axis=1) - wins
        differences[start : start + rows] = (wins - losses) / count
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail], method="linear")
    return Interval(float(low), float(high))


# --------------------------------------------------------------------------------------------
# What a panel's answers hold


@dataclass(frozen=True)
class Flips:
    right_to_wrong: int
    wrong_to_right: int


def oracle(first_correct: Sequence[Sequence[bool]]) -> int:
    """How many items had at least one right first answer (each item: its seats' results)."""
    return sum(1 for item in first_correct if any(item))


def flips(before: Sequence[bool], after: Sequence[bool]) -> Flips:
    """How many items went from right to wrong, and from wrong to right, between two results."""
    if len(before) != len(after):
        raise ValueError(f"results of different lengths: {len(before)} and {len(after)}")
    pairs = list(zip(before, after, strict=True))
    return Flips(
        right_to_wrong=sum(1 for was, now in pairs if was and not now),
        wrong_to_right=sum(1 for was, now in pairs if now and not was),
    )


def unanimous_and_wrong(keys: Sequence[Sequence[str | None]], correct: Sequence[Sequence[bool]]) -> int:
    """How many items had every seat (two or more) give the same answer, and that answer wrong."""
    return sum(
        1
        for item_keys, item_correct in zip(keys, correct, strict=True)
        if len(item_keys) > 1
        and item_keys[0] is not None
        and all(key == item_keys[0] for key in item_keys)
        and not any(item_correct)
    )


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (`share` from 0 to 1): the smallest value with at least that
    share of the values at or below it. None for no values."""
    if not 0 < share <= 1:
        raise ValueError(f"a percentile's share is in (0, 1], not {share}")
    if not values:
        return None
    ordered = sorted(values)
    # Rounded first: 0.07 * 100 is rank 7, though the float says 7.000000000000001.
    return ordered[max(1, math.ceil(round(share * len(ordered), 9))) - 1]
