"""Council mode: blind answers; each member ranks the others' answers (never its own, under letters
shuffled for it, seeded and recorded), asked as structured output with the votes' fallback chain; a
ballot read whole or an abstention with its reason; a Borda count with its ties shown; the chairman
writes the answer from the answers, still anonymized, and the ranking."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import pytest

from tests.fakes import FakeProvider, Script, lookup, member, rate_limited
from tui.engine import events as ev
from tui.engine.answers import AnswerReading
from tui.engine.ballots import ranking_line, structured_ranking, whole_ranking
from tui.engine.council import PositionBias, Ranked, agrees_with, borda, council_ranking, position_bias
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ChatRequest
from tui.engine.quorum import standing
from tui.engine.types import (
    AnswerSpec,
    Ballot,
    Mode,
    Outcome,
    Phase,
    RoundStatus,
    RunRequest,
    RunResult,
    RunStatus,
    VoteValue,
)
from tui.engine.vote_count import count_answers, final_answer

ALIASES = ["alpha-7", "bravo-7", "charlie-7", "delta-7", "echo-7"]


def letters_shown(request: ChatRequest) -> list[str]:
    return re.findall(r"^--- Answer ([A-Z]) ---$", request.messages[-1].content, re.MULTILINE)


def in_order_shown(request: ChatRequest) -> str:
    """A ballot ranking the answers in the order shown: A, B, C…"""
    return "Fine answers.\nFINAL RANKING: " + ", ".join(letters_shown(request))


def council_request(scripts: dict[str, Script], **extra: Any) -> RunRequest:
    return RunRequest(
        question="What is the result of 3+4*5?",
        mode=Mode.COUNCIL,
        members=[member(alias) for alias in scripts if alias not in ("chair-9", "chair-10")],
        synthesizers=[member("chair-9"), member("chair-10")],
        **extra,
    )


async def council(
    scripts: dict[str, Script], chair: Script | None = None, **extra: Any
) -> tuple[RunResult, FakeProvider, list[ev.Event]]:
    chairs = {"chair-9": chair or Script(chair="ANSWER: 23"), "chair-10": Script(chair="ANSWER: 24")}
    provider = FakeProvider({**chairs, **scripts})
    events: list[ev.Event] = []
    result = await run_panel(council_request(scripts, **extra), lookup(provider), events.append)
    return result, provider, events


def seats(count: int, ballot: Any = in_order_shown) -> dict[str, Script]:
    return {
        alias: Script(position=f"answer of seat {i + 1}", ballot=ballot)
        for i, alias in enumerate(ALIASES[:count])
    }


# --- who is shown what ------------------------------------------------------------------------


async def test_no_reviewer_is_shown_its_own_answer_and_each_is_shown_its_own_order() -> None:
    result, provider, events = await council(seats(5), seed=3)
    ballots = result.rounds[0].ballots
    assert [b.member_index for b in ballots] == [0, 1, 2, 3, 4]
    for ballot in ballots:
        assert sorted(ballot.shown) == [seat for seat in range(5) if seat != ballot.member_index]
    for request in provider.requests:
        if request.phase is Phase.BALLOT:
            seat = int(request.extra["member"])
            prompt = request.messages[-1].content
            assert f"answer of seat {seat + 1}\n" not in prompt  # its own is not on its ballot
            shown = re.findall(r"--- Answer ([A-Z]) ---\nanswer of seat (\d)", prompt)
            assert shown == [
                (letter, str(s + 1)) for letter, s in zip("ABCD", ballots[seat].shown, strict=True)
            ]
    orders = [tuple(b.shown) for b in ballots]
    assert len({order[0] for order in orders}) > 1  # not the same answer first on every ballot
    assert any(list(order) != sorted(order) for order in orders)
    assert [e.ballot for e in events if isinstance(e, ev.BallotCast)] == ballots
    # reproducible from the seed; another seed shows other orders
    again, _, _ = await council(seats(5), seed=3)
    assert [b.shown for b in again.rounds[0].ballots] == [b.shown for b in ballots]
    other, _, _ = await council(seats(5), seed=4)
    assert [b.shown for b in other.rounds[0].ballots] != [b.shown for b in ballots]


async def test_every_answer_is_first_for_some_reviewer_over_seeds() -> None:
    """Position bias cannot pile onto one answer: over seeds, each answer is shown first somewhere."""
    firsts = set()
    for seed in range(12):
        result, _, _ = await council(seats(4), seed=seed)
        firsts |= {b.shown[0] for b in result.rounds[0].ballots}
    assert firsts == {0, 1, 2, 3}


async def test_no_prompt_of_a_council_names_a_member() -> None:
    result, provider, _ = await council(seats(4))
    assert {r.phase for r in provider.requests} == {Phase.POSITION, Phase.BALLOT, Phase.CHAIR}
    for request in provider.requests:
        sent = "\n".join([request.system, *(m.content for m in request.messages)])
        assert not [alias for alias in [*ALIASES, "chair-9", "chair-10"] if alias in sent], request.phase
    assert result.status is RunStatus.SUCCESS


# --- the count and the chairman ---------------------------------------------------------------


async def test_ballots_are_counted_by_borda_and_the_chairman_answers_from_the_ranking() -> None:
    def seat_3_first(request: ChatRequest) -> str:
        """Rank the answer of seat 3 first, the rest in the order shown."""
        prompt = request.messages[-1].content
        shown = re.findall(r"--- Answer ([A-Z]) ---\nanswer of seat (\d)", prompt)
        best = [letter for letter, seat in shown if seat == "3"]
        return "FINAL RANKING: " + ", ".join(best + [letter for letter, seat in shown if seat != "3"])

    result, provider, events = await council(seats(3, seat_3_first), answer=AnswerSpec.parse("numeric"))
    ranking = council_ranking(result)
    assert ranking is not None and ranking.ballots == 3 and ranking.abstained == 0
    assert ranking.order[0] == Ranked(seat=2, points=2, ballots=2, firsts=2)
    assert [e.ranking for e in events if isinstance(e, ev.RankingMade)] == [ranking]
    assert result.outcome is Outcome.RANKED and result.synthesizer == "chair-9"
    assert result.rounds[0].status is RoundStatus.DECIDED and result.rounds[0].outcome is Outcome.RANKED
    [chair] = [r for r in provider.requests if r.phase is Phase.CHAIR]
    prompt = chair.messages[-1].content
    assert prompt.index("--- Seat 3 (ranked 1st: 1 point a ballot from 2 ballots) ---") < prompt.index(
        "--- Seat 1"
    )
    assert "ANSWER: <the number alone, without units>" in prompt  # the chairman answers in the shape
    assert final_answer(result) == AnswerReading(answer="23", key="23", rule="answer line")
    assert count_answers(result) is None
    rests_on = standing(result)
    assert (rests_on.voters, rests_on.answered, rests_on.missing) == (3, 3, [])


async def test_a_tie_in_the_ranking_is_broken_first_in_panel_order_and_told_to_the_chairman() -> None:
    def next_seat_first(request: ChatRequest) -> str:
        """Each reviewer ranks the answer of the seat after its own first: a perfect three-way tie."""
        seat = int(request.extra["member"])
        shown = re.findall(r"--- Answer ([A-Z]) ---\nanswer of seat (\d)", request.messages[-1].content)
        best = [letter for letter, s in shown if int(s) - 1 == (seat + 1) % 3]
        return "FINAL RANKING: " + ", ".join(best + [letter for letter, _ in shown if letter not in best])

    result, provider, _ = await council(seats(3, next_seat_first))
    ranking = council_ranking(result)
    assert ranking is not None and ranking.ties == [(0, 1, 2)]
    assert [r.seat for r in ranking.order] == [0, 1, 2]  # first in panel order
    assert result.outcome is Outcome.RANKED
    [chair] = [r for r in provider.requests if r.phase is Phase.CHAIR]
    assert "--- Seat 1 (ranked 1st: 0.5 points a ballot from 2 ballots, tied with seat 2 and seat 3) ---" in (
        chair.messages[-1].content
    )


# --- abstentions ------------------------------------------------------------------------------


async def test_an_unreadable_or_partial_ballot_is_an_abstention_with_its_reason() -> None:
    scripts = {
        "alpha-7": Script(position="one", ballot="I liked them both."),
        "bravo-7": Script(position="two", ballot="FINAL RANKING: A"),
        "charlie-7": Script(position="three", ballot="FINAL RANKING: B, B"),
        "delta-7": Script(position="four", ballot="FINAL RANKING: A, mine, B"),
        "echo-7": Script(position="five", ballot="FINAL RANKING: D, C, B, A"),
    }
    result, _, _ = await council(scripts)
    ballots = result.rounds[0].ballots
    assert [(b.ranking, b.reason) for b in ballots[:4]] == [
        (None, "no FINAL RANKING line"),
        (None, "missing B, C, D"),
        (None, "B twice"),
        (None, "ranks its own answer"),
    ]
    assert ballots[4].ranking is not None and ballots[4].reason is None
    ranking = council_ranking(result)
    assert ranking is not None and (ranking.ballots, ranking.abstained) == (1, 4)
    assert result.outcome is Outcome.NO_QUORUM  # 1 readable ballot of 5 seats, 3 needed
    assert result.rounds[0].note == "no quorum: 1 of 5 members cast a readable ballot, 3 needed"
    assert result.synthesis == "ANSWER: 23"  # the chairman still answers, marked no quorum
    first = standing(result).missing[0]
    assert (first.alias, first.phase, first.vote, first.reason) == (
        "alpha-7",
        Phase.BALLOT,
        VoteValue.INVALID,
        "no FINAL RANKING line",
    )


async def test_a_failed_ballot_is_an_abstention_and_an_error() -> None:
    scripts = seats(3)
    scripts["charlie-7"] = Script(position="three", fail=rate_limited(), fail_phases=("ballot",))
    result, _, _ = await council(scripts)
    ballots = result.rounds[0].ballots
    assert (
        ballots[2].ranking is None and ballots[2].reason is not None and "rate limited" in ballots[2].reason
    )
    assert any(e.startswith("charlie-7: ballot failed: rate limited") for e in result.errors)
    assert result.outcome is Outcome.RANKED  # 2 readable ballots of 3 seats
    [missing] = standing(result).missing
    assert (missing.phase, missing.vote) == (Phase.BALLOT, VoteValue.NONE)


async def test_a_member_whose_answer_failed_is_asked_no_ballot_and_its_answer_is_on_none() -> None:
    scripts = seats(4)
    scripts["delta-7"] = Script(fail=rate_limited())
    result, _, _ = await council(scripts)
    assert [b.member_index for b in result.rounds[0].ballots] == [0, 1, 2]
    assert all(3 not in b.shown for b in result.rounds[0].ballots)
    assert result.outcome is Outcome.RANKED


# --- panels too small to rank, no quorum, a failing chairman ----------------------------------


async def test_a_panel_of_two_asks_no_ballots_and_says_why() -> None:
    result, provider, _ = await council(seats(2))
    assert Phase.BALLOT not in {r.phase for r in provider.requests}
    assert result.rounds[0].ballots == [] and council_ranking(result) is None
    assert result.outcome is None and result.status is RunStatus.SUCCESS
    note = result.rounds[0].note
    assert note is not None and "a ranking of one ranks nothing, so no ballots are asked" in note
    [chair] = [r for r in provider.requests if r.phase is Phase.CHAIR]
    assert "There is no ranking to go by (2 answers" in chair.messages[-1].content
    assert "--- Seat 1 (not ranked) ---" in chair.messages[-1].content


async def test_too_few_answers_for_a_quorum_ask_no_ballots_and_decide_nothing() -> None:
    scripts = seats(3)
    scripts["bravo-7"] = Script(fail=rate_limited())
    scripts["charlie-7"] = Script(fail=rate_limited())
    result, provider, _ = await council(scripts)
    assert Phase.BALLOT not in {r.phase for r in provider.requests}
    assert result.outcome is Outcome.NO_QUORUM
    assert result.rounds[0].note == "no quorum: 1 of 3 members answered, 2 needed; no ballots are asked"


async def test_a_failing_chairman_falls_back_and_then_fails_the_run_keeping_the_ranking() -> None:
    failing = Script(fail=rate_limited(), fail_phases=("chair",))
    result, provider, events = await council(seats(3), chair=failing)
    assert result.status is RunStatus.SUCCESS and result.synthesizer == "chair-10"
    notices = [e.message for e in events if isinstance(e, ev.Notice)]
    assert notices[0].startswith("Chairman chair-9 failed (rate limited")

    provider = FakeProvider({"chair-9": failing, "chair-10": failing, **seats(3)})
    failed = await run_panel(council_request(seats(3)), lookup(provider))
    assert failed.status is RunStatus.ERROR and failed.synthesis is None
    assert failed.errors[0] == "the chairman and its fallbacks all failed (chair-9, chair-10)"
    assert [e.split(":")[0] for e in failed.errors[1:]] == ["chair-9", "chair-10"]
    assert failed.rounds[0].status is RoundStatus.FAILED and len(failed.rounds[0].ballots) == 3
    assert council_ranking(failed) is not None


# --- reading a ballot -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "read"),
    [
        ("FINAL RANKING: B, A, C", ["B", "A", "C"]),
        ("**FINAL RANKING:** Answer B > Answer A > Answer C", ["B", "A", "C"]),
        ("Why…\n\nFinal ranking: 1. (B) 2. (A) 3. (C).", ["B", "A", "C"]),
        ("FINAL RANKING: B A C\nFINAL RANKING: B, A, C", ["B", "A", "C"]),  # the same one twice
        ("B is best.", None),
        ("FINAL RANKING: B, A, C\nFINAL RANKING: A, B, C", None),
        ("FINAL RANKING:", None),
    ],
)
def test_the_text_ballot_is_its_one_final_ranking_line(reply: str, read: list[str] | None) -> None:
    assert ranking_line(reply)[0] == read


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        (["B", "A", "C"], None),
        (["b", "a", "c"], None),
        (["B", "A"], "missing C"),
        (["B", "B", "A", "C"], "B twice"),
        (["B", "D", "A", "C"], "unknown label D"),
        (["B", "mine", "A", "C"], "ranks its own answer"),
        (["B", "A", "C", "first"], "unknown label first"),
    ],
)
def test_a_ballot_counts_only_whole(tokens: list[str], problem: str | None) -> None:
    ranked, why = whole_ranking(tokens, "ABC")
    assert why == problem
    assert (ranked is None) == (problem is not None)


@pytest.mark.parametrize(
    ("reply", "read", "problem"),
    [
        ('{"ranking": ["B", "A"]}', ["B", "A"], None),
        ('```json\n{"Ranking": ["answer B", "A"], "why": "x"}\n```', ["B", "A"], None),
        ("B, then A", None, "not JSON"),
        ('{"ranking": ["B"', None, "broken JSON: expecting ',' delimiter"),
        ('["B", "A"]', None, "JSON is not an object"),
        ('{"order": ["B", "A"]}', None, "JSON has no ranking"),
        ('{"ranking": ["B"], "ranking": ["A"]}', None, "two rankings"),
        ('{"ranking": "B, A"}', None, "ranking not a list of strings"),
    ],
)
def test_a_structured_ballot_is_read_as_strictly_as_a_vote(
    reply: str, read: list[str] | None, problem: str | None
) -> None:
    assert structured_ranking(reply) == (read, problem)


# --- the Borda count --------------------------------------------------------------------------


def ballot(author: int, shown: list[int], ranking: list[int] | None, reason: str | None = None) -> Ballot:
    return Ballot(member_index=author, alias=f"m{author}", shown=shown, ranking=ranking, reason=reason)


def test_borda_gives_n_minus_one_points_to_the_first_down_to_none_for_the_last() -> None:
    ballots = [
        ballot(0, [1, 2, 3], [1, 2, 3]),
        ballot(1, [0, 2, 3], [2, 0, 3]),
        ballot(2, [0, 1, 3], [1, 0, 3]),
        ballot(3, [0, 1, 2], [1, 2, 0]),
    ]
    ranking = borda(ballots, [0, 1, 2, 3])
    assert [(r.seat, r.points, r.ballots, r.firsts) for r in ranking.order] == [
        (1, 6, 3, 3),
        (2, 4, 3, 1),
        (0, 2, 3, 0),
        (3, 0, 3, 0),
    ]
    assert ranking.ties == [] and ranking.top == ranking.order[0]


def test_an_answer_whose_author_abstained_is_scored_per_ballot_not_helped_by_one_more() -> None:
    ballots = [
        ballot(0, [1, 2, 3], [1, 3, 2]),
        ballot(1, [0, 2, 3], [0, 3, 2]),
        ballot(2, [0, 1, 3], [1, 3, 0]),
        ballot(3, [0, 1, 2], None, "no FINAL RANKING line"),
    ]
    ranking = borda(ballots, [0, 1, 2, 3])
    # seat 3's author abstained: three ballots ranked it, two each the others
    assert {r.seat: (r.points, r.ballots) for r in ranking.order} == {
        0: (2, 2),
        1: (4, 2),
        2: (0, 2),
        3: (3, 3),
    }
    # by points a ballot seats 0 and 3 tie at 1 (summed, seat 3's extra ballot would put it ahead)
    assert [r.seat for r in ranking.order] == [1, 0, 3, 2] and ranking.ties == [(0, 3)]
    assert (ranking.ballots, ranking.abstained) == (3, 1)


def test_equal_scores_are_tied_broken_first_in_panel_order_and_listed() -> None:
    ballots = [ballot(0, [1, 2], [2, 1]), ballot(1, [0, 2], [0, 2]), ballot(2, [0, 1], [1, 0])]
    ranking = borda(ballots, [0, 1, 2])
    assert [r.score for r in ranking.order] == [Fraction(1, 2)] * 3
    assert [r.seat for r in ranking.order] == [0, 1, 2] and ranking.ties == [(0, 1, 2)]


def test_no_readable_ballot_ranks_nothing() -> None:
    ranking = borda([ballot(0, [1, 2], None, "x"), ballot(1, [0, 2], None, "y")], [0, 1, 2])
    assert ranking.top is None and ranking.ballots == 0 and ranking.ties == [(0, 1, 2)]


def test_position_bias_and_agreement_with_the_aggregate_are_read_from_the_ballots() -> None:
    ballots = [
        ballot(0, [1, 2], [1, 2]),  # ranks what it was shown first, first
        ballot(1, [2, 0], [2, 0]),
        ballot(2, [1, 0], [0, 1]),
    ]
    assert position_bias(ballots) == [
        PositionBias(position=0, mean_rank=Fraction(4, 3), ballots=3),
        PositionBias(position=1, mean_rank=Fraction(5, 3), ballots=3),
    ]
    ranking = borda(ballots, [0, 1, 2])
    assert ranking.ties == [(0, 1, 2)]  # one point a ballot each: the aggregate is panel order
    assert [agrees_with(b, ranking) for b in ballots] == [True, False, True]
