"""What an evaluation found: per-item outcomes made into per-mode summaries and paired comparisons.

A mode's result on one scored item is an `ItemOutcome`: whether its final answer was right, and
what its seats answered first. `summarize` turns every mode's outcomes on the same items into an
`EvalSummary`:

- one `ModeSummary` per mode and per member asked alone (`single`): accuracy with its Wilson 95%
  interval, parse failures, tokens, cost, calls, wall time per item (p50, p95), and for a panel
  its oracle (items where any first answer was right), its flips and its unanimous-and-wrong items;
- the best single member, chosen on the development slice alone (never on the items it is scored
  on): the most right there, the earliest in the panel on a tie;
- `Comparison`s, each mode against the best single member and every mode but `vote` against
  `vote`: the difference in accuracy, its paired bootstrap interval, McNemar's exact p, and the
  ratio of tokens spent.

A difference is *significant* when its bootstrap interval excludes 0 and McNemar's p < .05: both,
so that neither test's quirks at small counts decides alone.

Flips compare a panel's final answer with what its own first answers would have decided by
plurality (under the run's tie rule): right→wrong is an item the first answers had right and the
final answer lost, wrong→right the reverse. So their difference is the mode's gain over a vote of
the very answers it started from.

A council's ballots are pooled over the scored items (`council_ballots`): the position bias of them
all (the mean rank readable ballots gave the answer they showed first, second…), how many readable
ballots ranked their answers as their own run's aggregate ranking did, and the abstentions, each
by the engine's own definitions (`tui.engine.council`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from tui.engine.answers import TieRule, plurality
from tui.engine.council import PositionBias, agrees_with, ballots_ranking, position_bias
from tui.engine.types import Ballot
from tui.eval.modes import SINGLE
from tui.eval.stats import (
    DEFAULT_RESAMPLES,
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

VOTE = "vote"
SIGNIFICANCE = 0.05
BEST_SINGLE = "best single"


@dataclass(frozen=True)
class ItemOutcome:
    """One mode's result on one scored item."""

    sample_id: str
    correct: bool
    """Whether the final answer was right (a parse failure is not)."""
    parse_failed: bool = False
    """Whether the final answer could not be read."""
    first_keys: tuple[str | None, ...] = ()
    """Each seat's first answer as its scorer's key (None: unread), in panel order."""
    first_correct: tuple[bool, ...] = ()
    """Whether each of those first answers was right."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    wall_ms: int = 0

    def __post_init__(self) -> None:
        if len(self.first_keys) != len(self.first_correct):
            raise ValueError(f"item {self.sample_id}: first answers and their results differ in number")


@dataclass(frozen=True)
class ModeSummary:
    """One mode (or one member asked alone) over the scored items."""

    mode: str
    member: str | None
    """The member asked alone, for `single`."""
    items: int
    correct: int
    interval: Interval
    """Wilson's 95% interval for the accuracy."""
    parse_failures: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    calls: int
    wall_p50_ms: float | None
    wall_p95_ms: float | None
    oracle: int | None = None
    """Items where any seat's first answer was right; None with one seat."""
    flips: Flips | None = None
    """From the plurality of the first answers to the final answer; None with one seat."""
    unanimous_wrong: int | None = None
    """Items where every seat first gave the same wrong answer; None with one seat."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.items if self.items else 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def label(self) -> str:
        return f"{self.mode} {self.member}" if self.member else self.mode


@dataclass(frozen=True)
class Comparison:
    """A mode against a baseline on the same items, paired item by item."""

    mode: str
    """The compared mode's label (`vote`, `deliberate`)."""
    baseline: str
    """The baseline's label (`single alpha`, `vote`)."""
    against: str
    """What the baseline is: `best single` or `vote`."""
    difference: float
    """accuracy(mode) − accuracy(baseline), as a share (0.06 is six points)."""
    interval: Interval
    """The paired bootstrap's 95% interval for the difference."""
    p_value: float
    """McNemar's exact two-sided p."""
    only_mode: int
    """Items the mode got right and the baseline wrong."""
    only_baseline: int
    token_ratio: float | None
    """The mode's tokens over the baseline's; None when the baseline reported none."""

    @property
    def significant(self) -> bool:
        return self.interval.excludes_zero() and self.p_value < SIGNIFICANCE


@dataclass(frozen=True)
class BestSingle:
    """The member chosen as the best single one, and how it did on the development slice."""

    member: str
    dev_correct: int
    dev_items: int


@dataclass(frozen=True)
class CouncilBallots:
    """What a council's ballots say about themselves, pooled over every scored item's run."""

    runs: int
    """How many runs asked for ballots (none does when a reviewer would see a single answer)."""
    ballots: int
    readable: int
    abstained: int
    agreeing: int
    """How many of the `compared` ballots ranked their answers in the order their run's ranking did."""
    position_bias: tuple[PositionBias, ...]
    """The mean rank by the place an answer was shown in, over every readable ballot."""
    unrecorded: int = 0
    """Council runs whose log line holds no ballots (logged before ballots were)."""
    alone: int = 0
    """Readable ballots that were their run's only one: its ranking is theirs, so they agree with
    it by construction, and are not compared."""

    @property
    def compared(self) -> int:
        """The readable ballots held to a ranking that other ballots made too."""
        return self.readable - self.alone


def council_ballots(runs: Sequence[Sequence[Ballot]]) -> CouncilBallots:
    """Each council run's ballots, pooled: each ballot is held to its own run's ranking, where
    other ballots of the run made that ranking too (a run's only readable ballot is its ranking)."""
    ranked = [(ballots, ranking) for ballots in runs if (ranking := ballots_ranking(ballots)) is not None]
    shared = [(ballots, ranking) for ballots, ranking in ranked if ranking.ballots > 1]
    return CouncilBallots(
        runs=len(ranked),
        ballots=sum(len(ballots) for ballots, _ in ranked),
        readable=sum(ranking.ballots for _, ranking in ranked),
        abstained=sum(ranking.abstained for _, ranking in ranked),
        agreeing=sum(agrees_with(ballot, ranking) for ballots, ranking in shared for ballot in ballots),
        position_bias=tuple(position_bias([ballot for ballots, _ in ranked for ballot in ballots])),
        alone=sum(ranking.ballots == 1 for _, ranking in ranked),
    )


@dataclass(frozen=True)
class EvalSummary:
    dataset: str
    scorer: str
    seed: int
    items: int
    """How many items were scored (the development slice not counted)."""
    dev_items: int
    tie_rule: TieRule
    resamples: int
    best_single: BestSingle | None
    singles: tuple[ModeSummary, ...]
    """Each member asked alone, in panel order."""
    modes: tuple[ModeSummary, ...]
    comparisons: tuple[Comparison, ...]
    council: CouncilBallots | None = None
    """The council's ballots pooled, when council was measured."""

    def mode(self, label: str) -> ModeSummary | None:
        return next((summary for summary in (*self.singles, *self.modes) if summary.label == label), None)

    def best(self) -> ModeSummary | None:
        """The best single member's summary on the scored items."""
        return self.mode(f"{SINGLE} {self.best_single.member}") if self.best_single else None


def summarize(
    *,
    dataset: str,
    scorer: str,
    seed: int,
    dev: Mapping[str, Sequence[bool]],
    singles: Mapping[str, Sequence[ItemOutcome]],
    modes: Mapping[str, Sequence[ItemOutcome]],
    tie_rule: TieRule = TieRule.FIRST_IN_PANEL_ORDER,
    resamples: int = DEFAULT_RESAMPLES,
) -> EvalSummary:
    """Everything `quorum eval` reports from its outcomes: `dev` holds each member's results on
    the development slice and `singles` its outcomes asked alone, both in panel order; `modes`
    the panel modes' outcomes (`vote`, `deliberate`, `consult`). Every outcome list covers the
    same scored items in the same order; the bootstrap is seeded with `seed`."""
    outcomes = {**{f"{SINGLE} {member}": list(items) for member, items in singles.items()}, **modes}
    reference = next(iter(outcomes.values()), [])
    order = [outcome.sample_id for outcome in reference]
    for label, items in outcomes.items():
        if [outcome.sample_id for outcome in items] != order:
            raise ValueError(f"{label} was not scored on the same items, in the same order, as the rest")
    single_summaries = tuple(
        summarize_mode(SINGLE, items, member=member, tie_rule=tie_rule) for member, items in singles.items()
    )
    mode_summaries = tuple(summarize_mode(mode, items, tie_rule=tie_rule) for mode, items in modes.items())
    best = choose_best_single(dev)
    summary = EvalSummary(
        dataset=dataset,
        scorer=scorer,
        seed=seed,
        items=len(order),
        dev_items=max((len(results) for results in dev.values()), default=0),
        tie_rule=tie_rule,
        resamples=resamples,
        best_single=best,
        singles=single_summaries,
        modes=mode_summaries,
        comparisons=(),
    )
    baselines = [(BEST_SINGLE, summary.best()), (VOTE, summary.mode(VOTE))]
    comparisons = [
        compare(mode, outcomes[mode.label], baseline, outcomes[baseline.label], against, resamples, seed)
        for mode in mode_summaries
        for against, baseline in baselines
        if baseline is not None and baseline.label != mode.label and order
    ]
    return replace(summary, comparisons=tuple(comparisons))


def summarize_mode(
    mode: str,
    outcomes: Sequence[ItemOutcome],
    *,
    member: str | None = None,
    tie_rule: TieRule = TieRule.FIRST_IN_PANEL_ORDER,
) -> ModeSummary:
    """One mode's summary over its outcomes; the panel's figures when its items had two or more
    seats."""
    correct = [outcome.correct for outcome in outcomes]
    walls = [float(outcome.wall_ms) for outcome in outcomes]
    panel = any(len(outcome.first_keys) > 1 for outcome in outcomes)
    before = [_first_plurality_right(outcome, tie_rule) for outcome in outcomes]
    return ModeSummary(
        mode=mode,
        member=member,
        items=len(outcomes),
        correct=sum(correct),
        interval=wilson(sum(correct), len(outcomes)),
        parse_failures=sum(1 for outcome in outcomes if outcome.parse_failed),
        input_tokens=sum(outcome.input_tokens for outcome in outcomes),
        output_tokens=sum(outcome.output_tokens for outcome in outcomes),
        cost_usd=sum(outcome.cost_usd for outcome in outcomes),
        calls=sum(outcome.calls for outcome in outcomes),
        wall_p50_ms=percentile(walls, 0.50),
        wall_p95_ms=percentile(walls, 0.95),
        oracle=oracle([outcome.first_correct for outcome in outcomes]) if panel else None,
        flips=flips(before, correct) if panel else None,
        unanimous_wrong=unanimous_and_wrong(
            [outcome.first_keys for outcome in outcomes], [outcome.first_correct for outcome in outcomes]
        )
        if panel
        else None,
    )


def compare(
    mode: ModeSummary,
    mode_outcomes: Sequence[ItemOutcome],
    baseline: ModeSummary,
    baseline_outcomes: Sequence[ItemOutcome],
    against: str,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """`mode` against `baseline` on the same items, paired item by item."""
    ours = [outcome.correct for outcome in mode_outcomes]
    theirs = [outcome.correct for outcome in baseline_outcomes]
    only_mode = sum(1 for a, b in zip(ours, theirs, strict=True) if a and not b)
    only_baseline = sum(1 for a, b in zip(ours, theirs, strict=True) if b and not a)
    return Comparison(
        mode=mode.label,
        baseline=baseline.label,
        against=against,
        difference=(only_mode - only_baseline) / len(ours),
        interval=paired_bootstrap(ours, theirs, resamples=resamples, seed=seed),
        p_value=mcnemar_exact(only_mode, only_baseline),
        only_mode=only_mode,
        only_baseline=only_baseline,
        token_ratio=mode.tokens / baseline.tokens if baseline.tokens else None,
    )


def choose_best_single(dev: Mapping[str, Sequence[bool]]) -> BestSingle | None:
    """The member with the most right answers on the development slice, the earliest in the panel
    among equals; None without a slice."""
    if not dev or not any(dev.values()):
        return None
    member, results = max(dev.items(), key=lambda entry: sum(entry[1]))  # max keeps the first of equals
    return BestSingle(member=member, dev_correct=sum(results), dev_items=len(results))


def _first_plurality_right(outcome: ItemOutcome, tie_rule: TieRule) -> bool:
    """Whether the plurality of an item's first answers was right."""
    winner = plurality(outcome.first_keys, tie_rule).key
    return winner is not None and outcome.first_correct[outcome.first_keys.index(winner)]
