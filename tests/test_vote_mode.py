"""Vote mode: every member answers once, blind; with a declared answer shape the plurality of the
answers read is the run's answer (no synthesizer is asked), its outcome says how many seats gave it,
and the synthesis names who gave it, who dissented and what could not be read; without one, the
synthesizer reports the majority view and the dissent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import FakeProvider, Script, lookup, rate_limited, request
from tui.engine import events as ev
from tui.engine import prompts
from tui.engine.answers import AnswerReading, TieRule, read_position
from tui.engine.mode_options import unused_in_mode
from tui.engine.orchestrator import run_panel
from tui.engine.quorum import standing
from tui.engine.types import (
    AnswerSpec,
    CallStatus,
    Missing,
    Mode,
    Outcome,
    Phase,
    RoundStatus,
    RunResult,
    RunStatus,
    VoteValue,
)
from tui.engine.vote_count import VOTE_COUNT, count_answers, final_answer
from tui.render.words import missing_word, outcome_word, phase_word

NUMERIC = AnswerSpec.parse("numeric")


def panel(*answers: str, synth: Script | None = None) -> tuple[FakeProvider, list[str]]:
    """A provider whose members a, b, c… reply with these texts."""
    aliases = [chr(ord("a") + i) for i in range(len(answers))]
    scripts = {alias: Script(position=text) for alias, text in zip(aliases, answers, strict=True)}
    return FakeProvider({"synth": synth or Script(), **scripts}), aliases


async def vote(*answers: str, **extra: Any) -> tuple[RunResult, FakeProvider, list[ev.Event]]:
    provider, aliases = panel(*answers)
    events: list[ev.Event] = []
    extra.setdefault("answer", NUMERIC)
    result = await run_panel(request(aliases, mode=Mode.VOTE, **extra), lookup(provider), events.append)
    return result, provider, events


# --- with an answer shape: the count decides, no synthesizer ---------------------------------


async def test_the_plurality_of_the_answers_read_is_the_answer_and_no_synthesizer_is_asked() -> None:
    result, provider, events = await vote("x = 18\nANSWER: 18", "ANSWER: $18.00", "ANSWER: 20")
    assert result.status is RunStatus.SUCCESS
    assert result.outcome is Outcome.MAJORITY  # 2 of 3 seats: more than half
    assert [call.phase for call in provider.requests] == [Phase.POSITION] * 3
    assert result.synthesizer == VOTE_COUNT
    assert result.synthesis is not None
    lines = result.synthesis.splitlines()
    assert lines[0] == "ANSWER: 18"  # as the first seat that gave it wrote it
    assert "2 of 3 seats answered 18: a, b." in lines
    assert "Dissent: c answered 20." in lines
    assert result.rounds_used == 1 and result.max_rounds == 1
    [round_] = result.rounds
    assert (round_.outcome, round_.status, round_.votes) == (Outcome.MAJORITY, RoundStatus.DECIDED, [])
    decided = [e for e in events if isinstance(e, ev.RoundDecided)]
    assert len(decided) == 1 and decided[0].standing.voters == 3
    finished = [e for e in events if isinstance(e, ev.SynthesisFinished)]
    assert finished[0].outcome is Outcome.MAJORITY and finished[0].by == VOTE_COUNT


async def test_every_seat_giving_the_same_answer_is_unanimous() -> None:
    result, _, _ = await vote("ANSWER: 18", "ANSWER: 18.0", "ANSWER: 1.8e1")
    assert result.outcome is Outcome.UNANIMOUS
    assert result.synthesis is not None and "Every seat answered 18: a, b, c." in result.synthesis


async def test_the_largest_group_at_no_more_than_half_the_seats_is_a_plurality() -> None:
    result, _, _ = await vote("ANSWER: 18", "ANSWER: 18", "ANSWER: 20", "ANSWER: 22")
    assert result.outcome is Outcome.PLURALITY
    assert result.synthesis is not None
    assert "2 of 4 seats answered 18: a, b." in result.synthesis
    assert "Dissent: c answered 20; d answered 22." in result.synthesis


async def test_a_tie_is_broken_first_in_panel_order_and_says_so() -> None:
    result, _, _ = await vote("ANSWER: 20", "ANSWER: 18", "ANSWER: 22")
    assert result.outcome is Outcome.PLURALITY
    assert result.synthesis is not None
    assert result.synthesis.splitlines()[0] == "ANSWER: 20"
    assert (
        "Tie: 20, 18 and 22 had 1 seat each; broken by the rule first in panel order: "
        "20, the answer of a, the first seat to give one of them."
    ) in result.synthesis
    count = count_answers(result)
    assert count is not None and count.plurality.tied and count.plurality.rule is TieRule.FIRST_IN_PANEL_ORDER


async def test_an_unreadable_answer_says_why_and_keeps_the_vote_from_being_unanimous() -> None:
    result, _, _ = await vote("ANSWER: 18", "ANSWER: 18", "I would rather not say.")
    assert result.outcome is Outcome.MAJORITY
    assert result.synthesis is not None
    assert "Unreadable: c (no answer line, and no number in the reply)." in result.synthesis
    rests_on = standing(result)
    assert (rests_on.seats, rests_on.voters, rests_on.answered) == (3, 2, 3)
    [missing] = rests_on.missing
    assert (missing.alias, missing.phase, missing.vote) == ("c", Phase.POSITION, VoteValue.INVALID)
    assert missing.reason == "unreadable: no answer line, and no number in the reply"


async def test_a_failed_seat_is_missing_but_does_not_spoil_unanimity() -> None:
    provider = FakeProvider(
        {
            "synth": Script(),
            "a": Script(position="ANSWER: 18"),
            "b": Script(position="ANSWER: 18"),
            "c": Script(fail=rate_limited()),
        }
    )
    result = await run_panel(request(["a", "b", "c"], mode=Mode.VOTE, answer=NUMERIC), lookup(provider))
    assert result.outcome is Outcome.UNANIMOUS  # like a deliberation: who did not answer did not vote
    assert result.synthesis is not None and "No answer: c (rate limited by fake" in result.synthesis
    assert any(error.startswith("c: position failed") for error in result.errors)
    rests_on = standing(result)
    assert rests_on.voters == 2 and [m.phase for m in rests_on.missing] == [Phase.POSITION]


async def test_fewer_answers_read_than_a_quorum_is_no_decision() -> None:
    result, _, events = await vote("ANSWER: 18", "no idea", "none either")
    assert result.status is RunStatus.SUCCESS and result.outcome is Outcome.NO_QUORUM
    assert result.synthesis is not None
    assert result.synthesis.splitlines()[0] == "ANSWER: 18"
    assert "No quorum: 1 of 3 seats' answers could be read, 2 needed; this is not a decision." in (
        result.synthesis
    )
    assert [e.round.outcome for e in events if isinstance(e, ev.RoundDecided)] == [Outcome.NO_QUORUM]


async def test_no_answer_read_at_all_has_no_answer_line() -> None:
    result, _, _ = await vote("no idea", "none either")
    assert result.outcome is Outcome.NO_QUORUM
    assert result.synthesis is not None and "ANSWER:" not in result.synthesis
    assert final_answer(result) == AnswerReading(
        answer=None, key=None, failure="no seat's answer could be read"
    )


async def test_a_majority_is_more_than_the_threshold_of_every_seat() -> None:
    result, _, _ = await vote("ANSWER: 18", "ANSWER: 18", "ANSWER: 20", majority_threshold=0.7)
    assert result.outcome is Outcome.PLURALITY  # 2 of 3 is not more than 70%


async def test_an_incomplete_answer_is_unreadable() -> None:
    provider = FakeProvider(
        {
            "synth": Script(),
            "a": Script(position="ANSWER: 18"),
            "b": Script(position="So far 3 and 18", finish_reason="length"),
        }
    )
    result = await run_panel(request(["a", "b"], mode=Mode.VOTE, answer=NUMERIC), lookup(provider))
    b = result.positions[1]
    assert b is not None and b.status is CallStatus.INCOMPLETE
    reading = read_position(b, NUMERIC)
    assert reading is not None and reading.key is None
    assert reading.failure is not None and reading.failure.startswith("the answer is incomplete: cut off")
    assert result.outcome is Outcome.NO_QUORUM  # 1 of 2 seats read: a quorum needs both


async def test_the_count_is_derived_from_the_record_as_the_run_made_it() -> None:
    result, _, _ = await vote("ANSWER: 18", "ANSWER: 18", "ANSWER: 20")
    again = RunResult.model_validate_json(result.model_dump_json())
    assert count_answers(again) == count_answers(result)
    final = final_answer(again)
    assert final is not None and (final.answer, final.key, final.rule) == ("18", "18", "plurality")


async def test_the_final_answer_of_another_mode_is_read_from_its_synthesis() -> None:
    provider = FakeProvider(
        {"synth": Script(draft="Working.\nANSWER: 21"), "a": Script(position="ANSWER: 20")}
    )
    result = await run_panel(request(["a"], answer=NUMERIC), lookup(provider))
    assert result.outcome is Outcome.UNANIMOUS
    assert count_answers(result) is None  # only a vote is decided by its count
    final = final_answer(result)
    assert final is not None and final.key == "21"
    assert final_answer(await run_panel(request(["a"]), lookup(provider))) is None  # no shape


# --- without an answer shape: the synthesizer reports the majority view ----------------------


async def test_without_a_shape_one_synthesizer_call_reports_the_majority_view_and_dissent() -> None:
    result, provider, events = await vote("Use Postgres.", "Use Postgres.", "Use Redis.", answer=None)
    assert result.status is RunStatus.SUCCESS and result.outcome is None
    assert [call.phase for call in provider.requests] == [Phase.POSITION] * 3 + [Phase.DRAFT]
    prompt = provider.requests[-1].messages[0].content
    assert "Use Redis." in prompt and prompt.endswith(prompts.VOTE_SYNTHESIS_TASK)
    assert result.synthesis == "DRAFT proposal" and result.synthesizer == "synth"
    assert not any(isinstance(e, ev.AgreementRead) for e in events)
    rests_on = standing(result)
    assert (rests_on.voters, rests_on.answered) == (None, 3)


@pytest.mark.parametrize("answer", [NUMERIC, None])
async def test_every_member_failing_fails_the_vote(answer: AnswerSpec | None) -> None:
    provider = FakeProvider({"synth": Script(), "a": Script(fail=rate_limited())})
    result = await run_panel(request(["a"], mode=Mode.VOTE, answer=answer), lookup(provider))
    assert result.status is RunStatus.ERROR and result.synthesis is None
    assert [call.phase for call in provider.requests] == [Phase.POSITION]


# --- its words -------------------------------------------------------------------------------


def test_a_votes_outcomes_and_an_unreadable_answer_have_their_words() -> None:
    assert [outcome_word(o, Mode.VOTE) for o in (Outcome.UNANIMOUS, Outcome.MAJORITY, Outcome.PLURALITY)] == [
        "unanimous",
        "majority",
        "plurality",
    ]
    assert (
        outcome_word(None, Mode.VOTE) == "vote"
        and outcome_word(None, Mode.CONSULT) == "no vote: the synthesis is the answer"
    )
    assert phase_word(Phase.DRAFT, Mode.VOTE) == "synthesis"
    unreadable = Missing(member_index=0, alias="a", phase=Phase.POSITION, vote=VoteValue.INVALID, reason="x")
    invalid = Missing(member_index=0, alias="a", phase=Phase.VOTE, vote=VoteValue.INVALID, reason="x")
    assert (missing_word(unreadable), missing_word(invalid)) == ("unreadable", "invalid")


def test_rounds_have_no_effect_in_vote_mode_and_it_is_said() -> None:
    assert unused_in_mode(Mode.VOTE, max_rounds=2) == [
        "--rounds 2 has no effect in vote mode (one answer per member, then a count or a synthesis: "
        "no rounds); set --mode deliberate or debate for rounds"
    ]
