"""A council's ballots counted: the Borda count, its ties, and what the ballots say about
themselves (position bias, and how often a reviewer ranked as the panel did).

Derived from the ballots recorded with the run's round whenever it is needed, never kept.

The Borda count. A ballot that ranks n answers gives n - 1 points to its first, n - 2 to its
second, … 0 to its last. Every reviewer ranks the other answers, so an answer is ranked by every
readable ballot but its own author's; where its author abstained it would be ranked by one ballot
more than the rest, and summed points would favour it for that alone. So answers are ordered by
their points per ballot that ranked them (exact fractions, never floats), which is the plain sum's
order whenever every ballot was readable.

Ties. Answers with the same points per ballot are tied; a tie is broken first in panel order (the
tied answer of the earliest seat is placed first), and kept: the ranking says which answers were
tied, the chairman is told, and the report shows it.

A panel in which a reviewer would be shown a single answer (two answers in all) asks for no
ballots: a ranking of one answer ranks nothing, and pretending otherwise would show a count of
zeros as a decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from tui.engine.answers import TieRule
from tui.engine.types import Ballot, Mode, RunResult

TIE_RULE = TieRule.FIRST_IN_PANEL_ORDER
"""How a council breaks a tie in its ranking."""

FEWEST_TO_RANK = 2
"""A reviewer is asked for a ballot only when it would be shown at least this many answers."""


@dataclass(frozen=True)
class Ranked:
    """One answer's place in the aggregate ranking."""

    seat: int
    points: int
    """Its Borda points, summed over the ballots that ranked it."""
    ballots: int
    """How many readable ballots ranked it."""
    firsts: int
    """How many of them ranked it first."""

    @property
    def score(self) -> Fraction:
        """Its points per ballot that ranked it (0 when none did)."""
        return Fraction(self.points, self.ballots) if self.ballots else Fraction(0)


def score_text(score: Fraction) -> str:
    """A score as it is read: `1.5`, `0.33`, `2`."""
    return f"{float(score):.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Ranking:
    """The aggregate of a council's readable ballots."""

    order: tuple[Ranked, ...]
    """Every answer, best first; a tie broken by `TIE_RULE`."""
    ballots: int
    """How many ballots were readable."""
    abstained: int
    """How many were not (each an abstention, with its reason on the ballot)."""

    @property
    def ties(self) -> list[tuple[int, ...]]:
        """The seats of each group of answers with the same score (two or more), best first."""
        groups: list[list[Ranked]] = []
        for ranked in self.order:
            if groups and groups[-1][0].score == ranked.score:
                groups[-1].append(ranked)
            else:
                groups.append([ranked])
        return [tuple(r.seat for r in group) for group in groups if len(group) > 1]

    @property
    def top(self) -> Ranked | None:
        return self.order[0] if self.order and self.ballots else None


def borda(ballots: Sequence[Ballot], answers: Sequence[int]) -> Ranking:
    """The Borda count of `ballots` over the answers of the seats `answers` (panel order)."""
    points = dict.fromkeys(answers, 0)
    counted = dict.fromkeys(answers, 0)
    firsts = dict.fromkeys(answers, 0)
    readable = [ballot for ballot in ballots if ballot.ranking is not None]
    for ballot in readable:
        assert ballot.ranking is not None
        last = len(ballot.ranking) - 1
        for place, seat in enumerate(ballot.ranking):
            points[seat] = points.get(seat, 0) + last - place
            counted[seat] = counted.get(seat, 0) + 1
            firsts[seat] = firsts.get(seat, 0) + (place == 0)
    ranked = [Ranked(seat, points[seat], counted[seat], firsts[seat]) for seat in points]
    # sorted() is stable and `points` is in panel order: equal scores stay first in panel order.
    order = tuple(sorted(ranked, key=lambda r: -r.score))
    return Ranking(order, len(readable), len(ballots) - len(readable))


def council_ranking(result: RunResult) -> Ranking | None:
    """A council run's ranking, from the ballots of its round; None for any other run, and for a
    council that asked for no ballots (too few answers to rank)."""
    if result.mode is not Mode.COUNCIL or not result.rounds:
        return None
    return ballots_ranking(result.rounds[0].ballots)


def ballots_ranking(ballots: Sequence[Ballot]) -> Ranking | None:
    """The ranking a council's ballots make of its answers; None when it asked for none."""
    if not ballots:
        return None
    # Every answer is shown to some reviewer, and every reviewer answered.
    answers = sorted({seat for ballot in ballots for seat in [*ballot.shown, ballot.member_index]})
    return borda(ballots, answers)


@dataclass(frozen=True)
class PositionBias:
    """How answers fared by the place they were shown in on a ballot (A, B, C…)."""

    position: int
    """0 for the answer shown first (A)."""
    mean_rank: Fraction
    """The mean rank (1 = best) readable ballots gave the answer they showed in that place."""
    ballots: int


def position_bias(ballots: Sequence[Ballot]) -> list[PositionBias]:
    """Each label position's mean rank over the readable ballots: with no bias every position's
    mean is the same, (n + 1) / 2 for n answers on a ballot."""
    ranks: dict[int, list[int]] = {}
    for ballot in ballots:
        if ballot.ranking is None:
            continue
        for position, seat in enumerate(ballot.shown):
            ranks.setdefault(position, []).append(ballot.ranking.index(seat) + 1)
    return [
        PositionBias(position, Fraction(sum(given), len(given)), len(given))
        for position, given in sorted(ranks.items())
    ]


def agrees_with(ballot: Ballot, ranking: Ranking) -> bool:
    """Whether a readable ballot ranks its answers in the order the aggregate ranks them."""
    if ballot.ranking is None:
        return False
    ranked = set(ballot.ranking)
    return ballot.ranking == [r.seat for r in ranking.order if r.seat in ranked]
