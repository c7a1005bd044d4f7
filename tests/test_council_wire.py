"""A council's ballots over the wire, both real SDKs against the local wire server: asked in the
strongest form the model takes, with the letters shown as the schema's only values; each refusal
answered at once in the next weaker form (json_schema -> json_object -> text; tool -> text) and
said once; a reply outside the schema read as text; words beside a tool call that rank otherwise."""

from __future__ import annotations

import json
import re

import pytest

from tests.fakes import run_on_wire
from tests.wire_server import RecordedRequest, Scenario, WireServer
from tui.engine import events as ev
from tui.engine.ballots import BALLOT_TOOL, ballot_schema
from tui.engine.council import council_ranking
from tui.engine.types import CallResult, Member, Mode, Outcome, Phase, RunRequest, RunResult, VoteForm

STRONGEST = {"openai": VoteForm.JSON_SCHEMA, "anthropic": VoteForm.TOOL}
ANSWER = "The result is 23, multiplication first.\nFINAL RANKING: B, A"
RANKED = '{"ranking": ["B", "A"]}'


@pytest.fixture(autouse=True)
def fresh(server: WireServer) -> None:
    server.clear()
    server.script("chair", Scenario(text="The council's answer: 23."))


def seats(kind: str, model: str, form: VoteForm | None = None) -> list[Member]:
    """Three members on one model: each ranks the other two, under A and B."""
    return [
        Member(alias=f"{model}-{i}", model_id=model, provider=kind, vote_form=form or STRONGEST[kind])
        for i in range(1, 4)
    ]


async def council(kind: str, server: WireServer, members: list[Member]) -> tuple[RunResult, list[ev.Event]]:
    request = RunRequest(
        question="What is the result of 3+4*5?",
        mode=Mode.COUNCIL,
        members=members,
        synthesizers=[Member(alias="chair", model_id="chair", provider=kind)],
    )
    return await run_on_wire(kind, server, request)


def asked_form(request: RecordedRequest) -> str:
    response_format = request.body.get("response_format")
    if isinstance(response_format, dict):
        return str(response_format["type"])
    return "tool" if request.body.get("tool_choice") else "text"


def ballot_requests(server: WireServer) -> list[RecordedRequest]:
    return [r for r in server.requests if "--- Answer A ---" in json.dumps(r.body.get("messages"))]


def notices(events: list[ev.Event]) -> list[str]:
    """The notices, each without the seat that happened to find out first (`m-2: …` is `m: …`)."""
    return [re.sub(r"^(\w+)-\d: ", r"\1: ", e.message) for e in events if isinstance(e, ev.Notice)]


def ballot_calls(result: RunResult) -> list[CallResult]:
    return [c for c in result.calls if c.phase is Phase.BALLOT]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_the_strongest_form_is_asked_over_the_letters_shown_and_shown_as_a_ranking_line(
    kind: str, server: WireServer
) -> None:
    server.script("m", Scenario(text=ANSWER, structured_text=RANKED, chunk_count=6))
    result, events = await council(kind, server, seats(kind, "m"))
    assert [b.ranking is not None for b in result.rounds[0].ballots] == [True, True, True]
    assert {asked_form(r) for r in ballot_requests(server)} == {STRONGEST[kind].value}
    sent = ballot_requests(server)[0].body
    if kind == "openai":  # the server checked it against OpenAI's strict-mode rules, and took it
        assert sent["response_format"]["json_schema"]["name"] == BALLOT_TOOL
        assert sent["response_format"]["json_schema"]["schema"] == ballot_schema("AB")
    else:
        assert sent["tools"][0]["input_schema"] == ballot_schema("AB")
        assert sent["tool_choice"]["name"] == BALLOT_TOOL
    for call in ballot_calls(result):
        assert call.content.endswith("FINAL RANKING: B, A") and call.raw_reply is not None
        assert call.vote_form is STRONGEST[kind]
    assert notices(events) == [] and result.outcome is Outcome.RANKED


async def test_json_schema_refused_then_json_object_refused_then_text(server: WireServer) -> None:
    server.script("strict", Scenario(text=ANSWER, structured_text=RANKED, accepts=frozenset()))
    result, events = await council("openai", server, seats("openai", "strict"))
    forms = [asked_form(r) for r in ballot_requests(server)]
    # the three ballots go out together: each is refused at most once a form, then text
    assert forms.count("text") == 3 and 1 <= forms.count("json_schema") <= 3
    assert notices(events) == [
        "strict: structured ballots refused (json_schema) → json_object",
        "strict: structured ballots refused (json_object) → text",
    ]
    assert [b.ranking is not None for b in result.rounds[0].ballots] == [True, True, True]
    assert [c.vote_form for c in ballot_calls(result)] == [None, None, None]
    ranking = council_ranking(result)
    assert ranking is not None and ranking.ballots == 3 and result.outcome is Outcome.RANKED


async def test_llama_cpp_refuses_json_schema_and_takes_json_object(server: WireServer) -> None:
    server.script(
        "llama",
        Scenario(
            text=ANSWER, structured_text=RANKED, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"
        ),
    )
    result, events = await council("openai", server, seats("openai", "llama"))
    assert notices(events) == ["llama: structured ballots refused (json_schema) → json_object"]
    assert [asked_form(r) for r in ballot_requests(server)][-1] == "json_object"
    assert [c.vote_form for c in ballot_calls(result)] == [VoteForm.JSON_OBJECT] * 3
    assert result.outcome is Outcome.RANKED


async def test_anthropic_tool_refused_then_text(server: WireServer) -> None:
    server.script("proxy", Scenario(text=ANSWER, accepts=frozenset()))
    result, events = await council("anthropic", server, seats("anthropic", "proxy"))
    assert notices(events) == ["proxy: structured ballots refused (tool) → text"]
    assert [b.ranking for b in result.rounds[0].ballots] == [
        b.shown[::-1] for b in result.rounds[0].ballots
    ]  # B, A: the second shown first


async def test_a_ballot_outside_the_schema_is_read_as_text_and_says_both(server: WireServer) -> None:
    server.script("m", Scenario(text="No ranking here.", structured_text='{"order": ["B", "A"]}'))
    result, events = await council("openai", server, seats("openai", "m"))
    reasons = {b.reason for b in result.rounds[0].ballots}
    assert reasons == {"JSON has no ranking; as text: no FINAL RANKING line"}
    assert notices(events) == [
        "m: ballot answered outside the schema (json_schema: JSON has no ranking) → text"
    ]
    assert result.outcome is Outcome.NO_QUORUM


async def test_an_empty_structured_ranking_abstains_and_the_model_keeps_its_form(server: WireServer) -> None:
    """`{"ranking": []}` is in the schema: the model ranked nothing, and abstains; the server did
    take the format, so later ballots (and votes) are still asked in it, not moved to text."""
    server.script("m", Scenario(text=ANSWER, structured_text='{"ranking": []}'))
    result, events = await council("openai", server, seats("openai", "m"))
    assert {b.reason for b in result.rounds[0].ballots} == {"empty ranking"}
    assert notices(events) == []
    assert [c.vote_form for c in ballot_calls(result)] == [VoteForm.JSON_SCHEMA] * 3
    assert {asked_form(r) for r in ballot_requests(server)} == {"json_schema"}
    assert all(c.content.endswith("FINAL RANKING:") for c in ballot_calls(result))


async def test_words_beside_a_tool_call_that_rank_otherwise_spoil_the_ballot(server: WireServer) -> None:
    server.script(
        "m", Scenario(text=ANSWER, structured_text='{"ranking": ["A", "B"]}', tool_text="FINAL RANKING: B, A")
    )
    result, _ = await council("anthropic", server, seats("anthropic", "m"))
    assert {b.reason for b in result.rounds[0].ballots} == {"two rankings: text B, A; tool A, B"}
