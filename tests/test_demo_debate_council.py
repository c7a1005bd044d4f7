"""The offline demo in a debate and a council: a member shown answers most of which give another
answer than its own goes over to it at its documented herding rate (a seeded, pure draw, so the
rate is counted, not sampled), otherwise keeps its own; a council member ranks the answers equal to
its own first; the chairman takes the top-ranked answer; every word of it says demo."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes import lookup, member
from tests.test_demo_arithmetic import ITEMS, expressions, holds
from tui.engine.debate import debate_rounds
from tui.engine.orchestrator import run_panel
from tui.engine.types import AnswerSpec, Mode, Phase, RunRequest, RunResult
from tui.providers import demo_arithmetic as arithmetic
from tui.providers.demo import DEFAULT_HERDING_RATE, HERDING_RATES, DemoProvider, herds

NUMERIC = AnswerSpec.parse("numeric")
PANEL = ("atlas", "bolt", "cirrus")


def request(mode: Mode, question: str, *, answer: AnswerSpec | None = NUMERIC, **extra: Any) -> RunRequest:
    return RunRequest(
        question=question,
        mode=mode,
        members=[member(name) for name in PANEL],
        synthesizers=[member("delta")],
        answer=answer,
        **extra,
    )


async def run(req: RunRequest) -> RunResult:
    return await run_panel(req, lookup(DemoProvider(speed=0)))


def items_where(wanted: Callable[[list[int], int], bool], count: int) -> list[str]:
    found = []
    for e in expressions():
        if wanted([arithmetic.answer(name, e) for name in PANEL], arithmetic.evaluate(e)):
            found.append(e)
            if len(found) == count:
                return found
    raise AssertionError("not enough such items")


@pytest.mark.parametrize("name", [*HERDING_RATES, "zephyr"])
def test_each_persona_herds_at_its_documented_rate(name: str) -> None:
    rate = HERDING_RATES.get(name, DEFAULT_HERDING_RATE)
    moved = sum(herds(name, 0, 2, e) for e in expressions())
    assert holds(rate, moved, ITEMS), (name, moved)
    # a draw per seed, round and question: another round is another draw
    assert [herds(name, 0, 2, e) for e in expressions()[:50]] != [
        herds(name, 0, 3, e) for e in expressions()[:50]
    ]


async def test_a_member_shown_a_majority_against_it_goes_over_at_its_rate_and_otherwise_keeps_its_own() -> (
    None
):
    # atlas wrong, bolt and cirrus right: atlas is shown two answers that agree against it.
    for e in items_where(lambda a, right: a[0] != right and a[1] == a[2] == right, 6):
        result = await run(request(Mode.DEBATE, f"What is the result of {e}?", max_rounds=2))
        second = debate_rounds(result)[1]
        right = str(arithmetic.evaluate(e))
        moved = herds("atlas", 0, 2, e)
        assert second.readings[0] is not None
        assert (second.readings[0].key == right) is moved
        assert [f.member_index for f in second.flips] == ([0] if moved else [])
        assert all(f.to_shown for f in second.flips)
        # bolt and cirrus were shown one answer each way: no majority, they keep theirs
        assert [r.key if r else None for r in second.readings[1:]] == [right, right]
        revisions = [c for c in result.calls if c.phase is Phase.REVISION]
        assert all(c.content.startswith("[demo]") for c in revisions)


async def test_a_demo_council_ranks_answers_equal_to_its_own_first_and_the_chairman_takes_the_top() -> None:
    # atlas and bolt right, cirrus wrong: atlas ranks bolt's answer over cirrus's, bolt atlas's.
    for e in items_where(lambda a, right: a[0] == a[1] == right != a[2], 4):
        result = await run(request(Mode.COUNCIL, f"What is the result of {e}?"))
        atlas, bolt, cirrus = result.rounds[0].ballots
        assert atlas.ranking == [1, 2] and bolt.ranking == [0, 2]
        assert cirrus.ranking is not None and sorted(cirrus.ranking) == [0, 1]  # neither is its own
        ballots = [c for c in result.calls if c.phase is Phase.BALLOT]
        assert all(c.content.startswith("[demo ballot]") for c in ballots)
        [chair] = [c for c in result.calls if c.phase is Phase.CHAIR]
        assert chair.content.startswith("[demo chairman]")
        assert result.synthesis is not None
        assert result.synthesis.rstrip().splitlines()[-1] == f"ANSWER: {arithmetic.evaluate(e)}"


async def test_a_demo_ballot_asked_as_structured_output_is_json() -> None:
    from tui.engine.types import VoteForm

    req = request(Mode.COUNCIL, "What is the result of 3+4*5?")
    req = req.model_copy(
        update={"members": [m.model_copy(update={"vote_form": VoteForm.JSON_SCHEMA}) for m in req.members]}
    )
    result = await run(req)
    calls = [c for c in result.calls if c.phase is Phase.BALLOT]
    assert {c.vote_form for c in calls} == {VoteForm.JSON_SCHEMA}
    assert all(c.raw_reply is not None and c.raw_reply.startswith('{"ranking": ') for c in calls)
    assert all(b.ranking is not None for b in result.rounds[0].ballots)


async def test_an_open_demo_debate_moves_leanings_and_its_report_names_seats() -> None:
    result = await run(request(Mode.DEBATE, "Should we adopt X?", answer=None, max_rounds=3))
    rounds = debate_rounds(result)
    assert all(reading is not None and reading.key for r in rounds for reading in r.readings)
    assert result.synthesis is not None and "Seat " in result.synthesis and "atlas" not in result.synthesis
