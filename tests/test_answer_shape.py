"""A request that declares its answer shape: every prompt that produces an answer (positions, the
synthesizer's drafts, revisions and curator decision, consult's synthesis) ends with the one
instruction, the question is sent as given, a neutral seat is asked without a stance, and the
shape is recorded with what was asked."""

from __future__ import annotations

from tests.fakes import FakeProvider, Script, lookup, request
from tui.engine import prompts
from tui.engine.answers import answer_instruction
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ChatRequest
from tui.engine.types import AnswerSpec, Asked, Mode, Outcome, Phase, RunResult, Stance
from tui.history.replay import replay_request
from tui.question.keys import scope_key

NUMERIC = AnswerSpec.parse("numeric")
INSTRUCTION = answer_instruction(NUMERIC)


def sent(call: ChatRequest) -> str:
    return "".join(message.content for message in call.messages)


def of_phase(provider: FakeProvider, phase: Phase) -> list[ChatRequest]:
    return [call for call in provider.requests if call.phase is phase]


async def test_every_answering_prompt_of_a_deliberation_ends_with_the_one_instruction() -> None:
    # Rejected twice, then the curator: a draft, a revision and a curator decision are all asked.
    provider = FakeProvider({"synth": Script(), "a": Script(votes=["VERDICT: REJECT\n- no"]), "b": Script()})
    result = await run_panel(request(["a", "b"], answer=NUMERIC, max_rounds=2), lookup(provider))
    assert result.outcome is Outcome.CURATOR_OVERRIDE
    answering = [Phase.POSITION, Phase.DRAFT, Phase.CURATOR]
    assert [len(of_phase(provider, phase)) for phase in answering] == [2, 2, 1]
    for phase in answering:
        for call in of_phase(provider, phase):
            text = sent(call)
            assert text.endswith(INSTRUCTION), phase
            assert text.count("ANSWER: <") == 1
            assert text.count("Should we adopt X?") == 1  # the question as given, once
    for position in of_phase(provider, Phase.POSITION):
        assert prompts.ANSWER_SHAPE not in sent(position)  # not the open question's shape
    for review in of_phase(provider, Phase.VOTE):
        assert "ANSWER: <" not in sent(review)  # a review votes; it gives no answer


async def test_consults_synthesis_asks_for_the_answer_in_the_shape_and_reads_no_leanings() -> None:
    provider = FakeProvider({"synth": Script(), "a": Script(), "b": Script()})
    result = await run_panel(request(["a", "b"], answer=NUMERIC, mode=Mode.CONSULT), lookup(provider))
    [synthesis] = of_phase(provider, Phase.DRAFT)
    assert sent(synthesis).endswith(INSTRUCTION)
    # The shape asks for no `Lean:` line: there are no leanings to read.
    assert result.agreement is None


async def test_without_a_shape_the_prompts_ask_for_the_open_questions_shape() -> None:
    provider = FakeProvider({"synth": Script(), "a": Script(), "b": Script()})
    await run_panel(request(["a", "b"]), lookup(provider))
    for call in provider.requests:
        assert "ANSWER: <" not in sent(call)
    assert all(sent(call).endswith(prompts.ANSWER_SHAPE) for call in of_phase(provider, Phase.POSITION))


async def test_with_a_shape_a_neutral_seat_is_asked_without_a_stance_and_a_chosen_one_keeps_it() -> None:
    provider = FakeProvider({"synth": Script(), "a": Script(), "b": Script(), "c": Script()})
    req = request(["a", "b", "c"], stances=[Stance.NEUTRAL, Stance.FOR, Stance.NEUTRAL], answer=NUMERIC)
    req.members[2] = req.members[2].model_copy(update={"stance_prompt": "Check every digit twice."})
    await run_panel(req, lookup(provider))
    systems = {call.model_id: call.system for call in of_phase(provider, Phase.POSITION)}
    assert prompts.NO_STANCE in systems["a"] and "impartial" not in systems["a"]
    assert "advocate" in systems["b"]
    assert "Check every digit twice." in systems["c"] and prompts.NO_STANCE not in systems["c"]
    # A member is the same member in its review.
    for review in of_phase(provider, Phase.VOTE):
        assert review.system == systems[review.model_id]


async def test_without_a_shape_a_neutral_seat_weighs_the_arguments_as_before() -> None:
    provider = FakeProvider({"synth": Script(), "a": Script()})
    await run_panel(request(["a"]), lookup(provider))
    [position] = of_phase(provider, Phase.POSITION)
    assert "impartial" in position.system and prompts.NO_STANCE not in position.system


def test_the_shape_is_recorded_with_what_was_asked_and_asked_again_by_a_rerun() -> None:
    spec = AnswerSpec.parse("choice", choices=["4", "5"])
    req = request(["a"], answer=spec)
    result = RunResult.begin(req, "r1")
    assert result.asked is not None and result.asked.answer == spec
    again = RunResult.model_validate_json(result.model_dump_json())
    assert again.asked == result.asked
    assert replay_request(again).answer == spec
    # A run recorded before Quorum kept it was asked with none.
    assert Asked.model_validate({"mode": "deliberate", "max_rounds": 3}).answer is None


def test_an_answer_shape_is_part_of_what_the_cache_matches_and_old_keys_stay_as_they_were() -> None:
    plain = request(["a"])
    shaped = request(["a"], answer=NUMERIC)
    assert scope_key(shaped) != scope_key(plain)
    assert scope_key(shaped) != scope_key(request(["a"], answer=AnswerSpec.parse("exact")))
    # A run asked without a shape keeps the key the history already holds for it.
    assert scope_key(plain) == "16966c560e014e74691407c5cbd36c115212d9a1d9c17eff02ebb167d1e441bf"
