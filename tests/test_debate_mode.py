"""Debate mode: round 1 blind; in each later round every member still debating sees the others'
answers of the round before, anonymized and in an order shuffled for it (seeded, recorded), and
answers again; the debate stops early once every answer agrees; the last round's plurality is the
answer (with a shape), or the synthesizer reports its majority and dissent; every flip is read."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes import FakeProvider, Script, lookup, member, rate_limited
from tui.engine import events as ev
from tui.engine import prompts
from tui.engine.answers import AnswerReading
from tui.engine.debate import DEBATE_COUNT, Flip, debate_rounds
from tui.engine.orchestrator import run_panel
from tui.engine.quorum import standing
from tui.engine.types import (
    AnswerSpec,
    Mode,
    Outcome,
    Phase,
    RoundStatus,
    RunRequest,
    RunResult,
    RunStatus,
    Stance,
)
from tui.engine.vote_count import count_answers, final_answer

NUMERIC = AnswerSpec.parse("numeric")
# Aliases no prompt would hold by chance, so a scan for them finds only a leak.
ALIASES = ["alpha-7", "bravo-7", "charlie-7", "delta-7", "echo-7"]


def debate_request(scripts: dict[str, Script], *, rounds: int = 3, **extra: Any) -> RunRequest:
    aliases = [alias for alias in scripts if alias != "synth-9"]
    extra.setdefault("answer", NUMERIC)
    return RunRequest(
        question="What is the result of 3+4*5?",
        mode=Mode.DEBATE,
        members=[member(alias) for alias in aliases],
        synthesizers=[member("synth-9")],
        max_rounds=rounds,
        **extra,
    )


async def debate(scripts: dict[str, Script], **extra: Any) -> tuple[RunResult, FakeProvider, list[ev.Event]]:
    provider = FakeProvider({"synth-9": Script(draft="[synth] majority and dissent"), **scripts})
    events: list[ev.Event] = []
    result = await run_panel(debate_request(scripts, **extra), lookup(provider), events.append)
    return result, provider, events


def answers(*rounds: str) -> Script:
    """A member answering `ANSWER: x` in round 1, then each of the later rounds' values."""
    first, *later = rounds
    return Script(position=f"ANSWER: {first}", revisions=[f"ANSWER: {value}" for value in later])


def calls_in(result: RunResult, phase: Phase) -> list[tuple[int, int | None]]:
    return [(c.round, c.member_index) for c in result.calls if c.phase is phase]


# --- rounds, early stop and the final answer ---------------------------------------------------


async def test_every_member_answers_again_seeing_the_others_and_the_last_round_is_counted() -> None:
    result, _, events = await debate(
        {
            "alpha-7": answers("23", "23", "23"),
            "bravo-7": answers("35", "23", "35"),
            "charlie-7": answers("25", "35", "35"),
        }
    )
    assert result.status is RunStatus.SUCCESS
    assert result.rounds_used == 3 and result.max_rounds == 3
    assert calls_in(result, Phase.REVISION) == [(2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2)]
    # round 3 reads 23, 35, 35: a majority for 35, counted (no synthesizer asked)
    assert result.outcome is Outcome.MAJORITY and result.synthesizer == DEBATE_COUNT
    assert final_answer(result) == AnswerReading(answer="35", key="35", rule="plurality")
    assert [r.status for r in result.rounds] == [
        RoundStatus.CONTINUE,
        RoundStatus.CONTINUE,
        RoundStatus.DECIDED,
    ]
    assert result.rounds[-1].outcome is Outcome.MAJORITY
    assert result.synthesis is not None and result.synthesis.splitlines()[0] == "ANSWER: 35"
    assert "The count is of round 3, the debate's last." in result.synthesis
    read = [e.reading for e in events if isinstance(e, ev.DebateRoundRead)]
    assert [(r.number, r.agreeing, r.answered) for r in read] == [(1, 1, 3), (2, 2, 3), (3, 2, 3)]
    started = [e.number for e in events if isinstance(e, ev.RoundStarted)]
    assert started == [1, 2, 3]


async def test_the_debate_stops_early_once_every_answer_agrees() -> None:
    result, provider, _ = await debate(
        {"alpha-7": answers("23", "23"), "bravo-7": answers("35", "23"), "charlie-7": answers("25", "23")},
        rounds=4,
    )
    assert result.rounds_used == 2  # round 2 agreed: no round 3 or 4 is asked
    assert {c.round for c in result.calls} == {1, 2}
    assert len(provider.requests) == 6
    assert result.outcome is Outcome.UNANIMOUS
    assert result.rounds[-1].note == "every answer agrees (3 of 3): the debate stops after round 2 of 4"


async def test_answers_that_agree_in_round_one_are_not_debated() -> None:
    result, provider, _ = await debate({alias: answers("23") for alias in ALIASES[:3]})
    assert [r.phase for r in provider.requests] == [Phase.POSITION] * 3
    assert result.outcome is Outcome.UNANIMOUS and result.rounds_used == 1
    assert result.rounds[0].note == "every answer agrees (3 of 3): the debate stops after round 1 of 3"


async def test_a_tie_in_the_last_round_goes_first_in_panel_order_and_says_so() -> None:
    result, _, _ = await debate({"alpha-7": answers("20", "22"), "bravo-7": answers("22", "20")}, rounds=2)
    assert result.outcome is Outcome.PLURALITY
    count = count_answers(result)
    assert count is not None and count.plurality.tied and count.answer == "22"
    assert final_answer(result) == AnswerReading(answer="22", key="22", rule="plurality")


async def test_flips_say_who_changed_from_what_to_what_and_whether_toward_what_it_was_shown() -> None:
    result, _, events = await debate(
        {"alpha-7": answers("23", "23"), "bravo-7": answers("23", "23"), "charlie-7": answers("25", "23")},
        rounds=2,
    )
    rounds = debate_rounds(result)
    assert [r.flips for r in rounds] == [(), (Flip(2, "25", "23", to_shown=True),)]
    [read] = [e.reading for e in events if isinstance(e, ev.DebateRoundRead) and e.reading.number == 2]
    assert read.flips == rounds[1].flips and read.agreed
    assert result.synthesis is not None and "Round 2: 3 of 3 agreed; charlie-7 25 → 23." in result.synthesis


# --- who sees what ---------------------------------------------------------------------------


async def test_each_member_sees_the_others_answers_never_its_own_shuffled_for_it_and_recorded() -> None:
    scripts = {alias: answers(str(10 + i), str(10 + i)) for i, alias in enumerate(ALIASES)}
    result, provider, events = await debate(scripts, rounds=2, seed=7)
    [round_2] = [r for r in result.rounds if r.number == 2]
    assert [s.member_index for s in round_2.shown] == [0, 1, 2, 3, 4]
    for shown in round_2.shown:
        assert sorted(shown.seats) == [seat for seat in range(5) if seat != shown.member_index]
    orders = [tuple(s.seats) for s in round_2.shown]
    # shuffled for each member: not everyone sees the others in panel order, nor the same first
    assert len({order[0] for order in orders}) > 1
    assert any(list(order) != sorted(order) for order in orders)
    [announced] = [e for e in events if isinstance(e, ev.AnswersShown)]
    assert announced.round == 2 and list(announced.shown) == round_2.shown
    # the prompt shows them in the recorded order, as agent 1, 2…, its own as its own
    for request in provider.requests:
        if request.phase is not Phase.REVISION:
            continue
        seat = int(request.extra["member"])
        prompt = request.messages[-1].content
        own, _, others = prompt.partition("Other members of the panel")
        assert f"ANSWER: {10 + seat}" in own
        listed = re.findall(r"--- Agent (\d) ---\nANSWER: (\d+)", others)
        recorded = round_2.shown[seat].seats
        assert listed == [(str(i), str(10 + s)) for i, s in enumerate(recorded, start=1)]
    # the same seed shows everyone the same again; another seed, another order
    again, _, _ = await debate(scripts, rounds=2, seed=7)
    assert [s.seats for s in again.rounds[1].shown] == [s.seats for s in round_2.shown]
    other, _, _ = await debate(scripts, rounds=2, seed=8)
    assert [s.seats for s in other.rounds[1].shown] != [s.seats for s in round_2.shown]


async def test_no_prompt_of_a_debate_names_a_member() -> None:
    """Every prompt sent — the members' system prompts and messages in every round, and the
    synthesizer's report of an open debate — is scanned for every alias on the panel."""
    scripts = {
        alias: Script(
            position=f"Conclusion: it depends.\nLean: {lean}\nConfidence: 6/10",
            revisions=["Conclusion: yes.\nLean: favourable\nConfidence: 7/10"],
        )
        for alias, lean in zip(ALIASES[:3], ["favourable", "mixed", "unfavourable"], strict=True)
    }
    result, provider, _ = await debate(scripts, rounds=2, answer=None)
    phases = {r.phase for r in provider.requests}
    assert phases == {Phase.POSITION, Phase.REVISION, Phase.DRAFT}
    for request in provider.requests:
        sent = "\n".join([request.system, *(m.content for m in request.messages)])
        assert not [alias for alias in [*ALIASES, "synth-9"] if alias in sent], request.phase
    assert result.status is RunStatus.SUCCESS


# --- open questions ----------------------------------------------------------------------------


async def test_an_open_debate_agrees_on_leanings_and_the_synthesizer_reports_the_last_round() -> None:
    lean = "Conclusion: c.\nLean: {}\nConfidence: 6/10"
    scripts = {
        "alpha-7": Script(position=lean.format("favourable"), revisions=[lean.format("favourable")]),
        "bravo-7": Script(position=lean.format("mixed"), revisions=[lean.format("favourable")]),
        "charlie-7": Script(position=lean.format("unfavourable"), revisions=[lean.format("favourable")]),
    }
    result, provider, _ = await debate(scripts, rounds=3, answer=None)
    assert result.rounds_used == 2  # every leaning favourable in round 2
    assert result.outcome is None and result.synthesis == "[synth] majority and dissent"
    [report] = [r for r in provider.requests if r.phase is Phase.DRAFT]
    assert prompts.DEBATE_SYNTHESIS_TASK in report.messages[-1].content
    assert "--- Seat 3 ---\nConclusion: c.\nLean: favourable" in report.messages[-1].content
    flips = debate_rounds(result)[1].flips
    assert [(f.member_index, f.before, f.after) for f in flips] == [
        (1, "mixed", "favourable"),
        (2, "unfavourable", "favourable"),
    ]
    assert standing(result).answered == 3 and standing(result).voters is None
    assert count_answers(result) is None and final_answer(result) is None


async def test_an_answer_without_a_lean_line_agrees_with_nothing() -> None:
    scripts = {alias: Script(position="I think so.", revisions=["Still so."]) for alias in ALIASES[:2]}
    result, _, _ = await debate(scripts, rounds=2, answer=None)
    assert result.rounds_used == 2  # nothing could be read: no agreement to stop on
    first, _ = debate_rounds(result)
    assert not first.agreed and first.readings[0] == AnswerReading(None, None, failure="no Lean: line")


# --- who debates, and the quorum ---------------------------------------------------------------


async def test_a_member_whose_position_failed_does_not_debate_and_is_missing() -> None:
    scripts = {
        "alpha-7": answers("23", "23"),
        "bravo-7": answers("35", "23"),
        "charlie-7": Script(fail=rate_limited()),
    }
    result, _, _ = await debate(scripts, rounds=2)
    assert calls_in(result, Phase.REVISION) == [(2, 0), (2, 1)]
    assert [s.seats for s in result.rounds[1].shown] == [[1], [0]]
    assert result.outcome is Outcome.UNANIMOUS  # every seat that answered gave 23
    rests_on = standing(result)
    assert (rests_on.voters, rests_on.seats) == (2, 3)
    assert [(m.alias, m.phase) for m in rests_on.missing] == [("charlie-7", Phase.POSITION)]


async def test_a_member_whose_answer_fails_in_a_round_leaves_the_debate() -> None:
    scripts = {
        "alpha-7": answers("23", "23", "23"),
        "bravo-7": answers("35", "35", "35"),
        "charlie-7": Script(position="ANSWER: 25", fail=rate_limited(), fail_phases=("revision",)),
    }
    result, _, _ = await debate(scripts, rounds=3)
    assert calls_in(result, Phase.REVISION) == [(2, 0), (2, 1), (2, 2), (3, 0), (3, 1)]
    assert any(e.startswith("charlie-7: round 2 answer failed: rate limited") for e in result.errors)
    [missing] = standing(result).missing
    assert missing.phase is Phase.REVISION and missing.reason.startswith("left the debate in round 2:")
    assert (
        result.synthesis is not None
        and "No answer: charlie-7 (round 2 answer failed: rate" in result.synthesis
    )


async def test_too_few_answers_for_a_quorum_are_not_debated() -> None:
    scripts = {
        "alpha-7": answers("23"),
        "bravo-7": answers("35"),
        "charlie-7": Script(fail=rate_limited()),
        "delta-7": Script(fail=rate_limited()),
    }
    result, provider, _ = await debate(scripts)
    assert Phase.REVISION not in {r.phase for r in provider.requests}
    assert result.outcome is Outcome.NO_QUORUM
    assert (
        result.rounds[0].note
        == "no quorum: 2 of 4 members are still debating, 3 needed: the debate stops after round 1 of 3"
    )


async def test_one_answer_is_not_debated() -> None:
    scripts = {"alpha-7": answers("23"), "bravo-7": Script(fail=rate_limited())}
    result, provider, _ = await debate(scripts, answer=None)
    assert Phase.REVISION not in {r.phase for r in provider.requests}
    assert result.rounds[0].note is not None and "no one to debate with" in result.rounds[0].note


async def test_a_token_budget_stops_the_debate_before_a_round_it_cannot_pay_for() -> None:
    result, provider, _ = await debate(
        {"alpha-7": answers("23", "23"), "bravo-7": answers("35", "23")}, token_budget=400
    )
    assert Phase.REVISION not in {r.phase for r in provider.requests}
    note = result.rounds[0].note
    assert note is not None and note.startswith(
        "token budget: 300 of 400 tokens used and round 2 would need about"
    )
    assert result.outcome is Outcome.PLURALITY


async def test_rounds_are_bounded_by_the_round_limit() -> None:
    result, provider, _ = await debate(
        {"alpha-7": answers("1", "2", "3"), "bravo-7": answers("4", "5", "6")}, rounds=2
    )
    assert result.rounds_used == 2 and max(r.extra["round"] for r in provider.requests) == "2"


async def test_stances_are_kept_and_a_neutral_seat_is_asked_with_none() -> None:
    scripts = {"alpha-7": answers("23", "23"), "bravo-7": answers("35", "23")}
    provider = FakeProvider({"synth-9": Script(), **scripts})
    request = debate_request(scripts).model_copy(
        update={"members": [member("alpha-7", Stance.FOR), member("bravo-7")]}
    )
    await run_panel(request, lookup(provider))
    systems = {(r.model_id, r.phase): r.system for r in provider.requests}
    assert prompts.STANCE_TEMPLATES[Stance.FOR].splitlines()[0] in systems[("alpha-7", Phase.REVISION)]
    assert prompts.NO_STANCE.splitlines()[0] in systems[("bravo-7", Phase.REVISION)]
