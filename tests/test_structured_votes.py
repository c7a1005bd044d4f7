"""Structured votes: asked as JSON where the server takes it, text where it does not, never silently.

Over the wire, both real SDKs against the local wire server: the three structured forms honoured
(OpenAI json_schema, llama.cpp's json_object with a schema, Anthropic's forced tool call), each
refusal answered once in the next weaker form and remembered (counted at the server), an answer
outside the schema read as text with its reason, broken JSON, the five-objection cap and hostile
objections. Then the reading itself, the engine's own edges, and the configuration.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import lookup, run_on_wire, wire_provider
from tests.wire_server import RecordedRequest, Scenario, WireServer
from tui.config.catalog import Catalog
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.engine import events as ev
from tui.engine.connection import FormMemory
from tui.engine.orchestrator import run_panel
from tui.engine.provider import (
    ChatRequest,
    ErrorKind,
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
)
from tui.engine.rules import MAX_OBJECTIONS, parse_vote, render_vote
from tui.engine.types import (
    CallStatus,
    Member,
    Outcome,
    Phase,
    RunRequest,
    RunResult,
    RunStatus,
    Vote,
    VoteForm,
    VoteValue,
)
from tui.engine.votes import VOTE_SCHEMA, vote_schema
from tui.errors import ConfigError
from tui.pool import ProviderPool
from tui.providers.demo import DemoProvider
from tui.render.formatting import literal
from tui.render.report import render_markdown

KINDS = ["openai", "anthropic"]
STRONGEST = {"openai": VoteForm.JSON_SCHEMA, "anthropic": VoteForm.TOOL}
POSITION = "Conclusion: yes, carefully.\nLean: favourable\nConfidence: 7/10"
REJECT = '{"verdict": "reject", "objections": ["name an owner for the rollback"]}'
ACCEPT = '{"verdict": "accept", "objections": []}'


@pytest.fixture(autouse=True)
def fresh(server: WireServer) -> None:
    server.clear()
    server.script("synth", Scenario(text="DRAFT: go ahead in a limited first step."))


def seat(kind: str, model: str, form: VoteForm | None = None, **extra: Any) -> Member:
    return Member(
        alias=model,
        model_id=model,
        provider=kind,
        vote_form=form or STRONGEST[kind],
        retries=2,
        deadline_s=30.0,
        **extra,
    )


async def deliberate(
    kind: str, server: WireServer, members: list[Member], rounds: int = 2
) -> tuple[RunResult, list[ev.Event]]:
    request = RunRequest(
        question="Should we move the job queue to Postgres?",
        members=members,
        synthesizers=[seat(kind, "synth", VoteForm.TEXT)],
        max_rounds=rounds,
    )
    return await run_on_wire(kind, server, request)


def asked_form(request: RecordedRequest) -> str:
    """The form a request asked its answer in, as the server saw it."""
    response_format = request.body.get("response_format")
    if isinstance(response_format, dict):
        return str(response_format["type"])
    return "tool" if request.body.get("tool_choice") else "text"


def vote_forms(server: WireServer, model: str) -> list[str]:
    """The form of every vote request the server received for `model`, in order."""
    return [
        asked_form(r)
        for r in server.requests
        if r.body.get("model") == model and "Your own earlier position" in r.body["messages"][-1]["content"]
    ]


def votes_of(result: RunResult) -> list[Vote]:
    return [vote for round_ in result.rounds for vote in round_.votes]


def vote_calls(result: RunResult) -> list[Any]:
    return [c for c in result.calls if c.phase is Phase.VOTE]


def notices(events: list[ev.Event]) -> list[str]:
    return [e.message for e in events if isinstance(e, ev.Notice)]


def shown(events: list[ev.Event], call_id: str) -> str:
    """What a display was given of a call: its text deltas, joined."""
    return "".join(e.text for e in events if isinstance(e, ev.TextDelta) and e.call_id == call_id)


# --------------------------------------------------------------------------------------------
# 1. Each structured form, honoured


@pytest.mark.parametrize("kind", KINDS)
async def test_the_strongest_form_is_asked_read_and_shown_as_a_verdict(kind: str, server: WireServer) -> None:
    server.script("m", Scenario(text=POSITION, structured_text=REJECT, chunk_count=7))
    result, events = await deliberate(kind, server, [seat(kind, "m")])
    assert [v.value for v in votes_of(result)] == [VoteValue.REJECT, VoteValue.REJECT]
    assert votes_of(result)[0].objections == ["name an owner for the rollback"]
    assert vote_forms(server, "m") == [STRONGEST[kind].value] * 2
    for call in vote_calls(result):
        # People see the verdict line and objections, never the JSON; the JSON is kept.
        assert call.content == "VERDICT: REJECT\n- name an owner for the rollback"
        assert shown(events, call.call_id) == call.content
        assert call.raw_reply == REJECT and call.vote_form is STRONGEST[kind]
        assert call.status is CallStatus.SUCCESS
    assert notices(events) == [] and result.notes == []
    assert result.status is RunStatus.SUCCESS
    vote = next(r for r in server.requests if asked_form(r) != "text" and r.body["model"] == "m")
    if kind == "openai":  # the server checked it against OpenAI's strict-mode rules, and took it
        assert vote.body["response_format"] == {
            "type": "json_schema",
            "json_schema": {
                "name": "cast_vote",
                "description": "Cast your vote on the panel's draft proposal.",
                "schema": VOTE_SCHEMA,
                "strict": True,
            },
        }
    else:  # one tool, forced, called once; its input streamed as input_json_delta pieces
        assert vote.body["tools"] == [
            {
                "name": "cast_vote",
                "description": "Cast your vote on the panel's draft proposal.",
                "input_schema": VOTE_SCHEMA,
            }
        ]
        assert vote.body["tool_choice"] == {
            "type": "tool",
            "name": "cast_vote",
            "disable_parallel_tool_use": True,
        }
        assert {c.finish_reason for c in vote_calls(result)} == {"tool_use"}
    # positions and drafts stay free text
    assert {asked_form(r) for r in server.requests if r.body["model"] == "synth"} == {"text"}
    assert vote_forms(server, "m") == [asked_form(r) for r in server.requests if asked_form(r) != "text"]


async def test_json_object_with_the_schema_for_a_llama_cpp_server(server: WireServer) -> None:
    server.script(
        "llama",
        Scenario(
            text=POSITION, structured_text=ACCEPT, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"
        ),
    )
    result, events = await deliberate("openai", server, [seat("openai", "llama", VoteForm.JSON_OBJECT)])
    assert [v.value for v in votes_of(result)] == [VoteValue.ACCEPT]  # unanimous in round 1
    assert vote_forms(server, "llama") == ["json_object"]
    vote = next(r for r in server.requests if asked_form(r) == "json_object")
    assert vote.body["response_format"] == {
        "type": "json_object",
        "schema": vote_schema(VoteForm.JSON_OBJECT),
    }
    # held by a grammar, each objection is bounded: a small model cannot write one until its limit
    items = vote.body["response_format"]["schema"]["properties"]["objections"]["items"]
    assert items == {"type": "string", "maxLength": 200} and "maxLength" not in json.dumps(VOTE_SCHEMA)
    assert "Reply with the JSON\nobject only." in vote.body["messages"][-1]["content"]  # words match form
    assert vote_calls(result)[0].content == "VERDICT: ACCEPT" and notices(events) == []


async def test_a_tool_vote_is_held_until_whole_and_then_shown(server: WireServer) -> None:
    """The tool's input arrives in pieces; the display gets the vote once, whole, not JSON."""
    server.script("m", Scenario(text=POSITION, structured_text=REJECT, chunk_count=9))
    result, events = await deliberate("anthropic", server, [seat("anthropic", "m")], rounds=1)
    call = vote_calls(result)[0]
    deltas = [e.text for e in events if isinstance(e, ev.TextDelta) and e.call_id == call.call_id]
    assert deltas == ["VERDICT: REJECT\n- name an owner for the rollback"]
    assert any(isinstance(e, ev.FirstToken) and e.call_id == call.call_id for e in events)


# --------------------------------------------------------------------------------------------
# 2. Refusals: once, at once, in the next weaker form, remembered


async def test_llama_cpp_refuses_json_schema_with_a_500_answered_once_in_json_object(
    server: WireServer,
) -> None:
    server.script(
        "smollm2",
        Scenario(
            text=POSITION, structured_text=REJECT, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"
        ),
    )
    result, events = await deliberate("openai", server, [seat("openai", "smollm2")])
    # one refusal, answered at once in json_object; the second vote goes straight to json_object
    assert vote_forms(server, "smollm2") == ["json_schema", "json_object", "json_object"]
    # the 500 was not taken for a server error and retried as it was sent
    assert not [e for e in events if isinstance(e, ev.CallRetrying)]
    assert [v.value for v in votes_of(result)] == [VoteValue.REJECT, VoteValue.REJECT]
    said = "smollm2: structured votes refused (json_schema) → json_object"
    assert notices(events) == [said] and result.notes == [said]
    assert [c.vote_form for c in vote_calls(result)] == [VoteForm.JSON_OBJECT] * 2


async def test_openai_style_refusals_walk_down_to_text_once_each(server: WireServer) -> None:
    server.script(
        "strict",
        Scenario(text="VERDICT: REJECT\n- measure it first", structured_text=REJECT, accepts=frozenset()),
    )
    result, events = await deliberate("openai", server, [seat("openai", "strict")])
    assert vote_forms(server, "strict") == ["json_schema", "json_object", "text", "text"]
    assert notices(events) == [
        "strict: structured votes refused (json_schema) → json_object",
        "strict: structured votes refused (json_object) → text",
    ]
    assert [v.value for v in votes_of(result)] == [VoteValue.REJECT, VoteValue.REJECT]
    assert votes_of(result)[0].objections == ["measure it first"]
    # asked in text, the prompt says so (and the reply is shown as it came)
    text_vote = [r for r in server.requests if r.body["model"] == "strict"][-1]
    assert "VERDICT: ACCEPT" in text_vote.body["messages"][-1]["content"]
    assert vote_calls(result)[0].raw_reply is None and vote_calls(result)[0].vote_form is None


async def test_anthropic_tool_refusal_falls_back_to_text(server: WireServer) -> None:
    server.script("proxy", Scenario(text="VERDICT: ACCEPT", accepts=frozenset()))
    result, events = await deliberate("anthropic", server, [seat("anthropic", "proxy")])
    assert vote_forms(server, "proxy") == ["tool", "text"]  # accepted in round 1: unanimous
    assert notices(events) == ["proxy: structured votes refused (tool) → text"]
    assert [v.value for v in votes_of(result)] == [VoteValue.ACCEPT]


async def test_three_members_on_one_model_learn_it_once(server: WireServer) -> None:
    server.script(
        "local",
        Scenario(
            text=POSITION, structured_text=REJECT, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"
        ),
    )
    members = [seat("openai", "local").model_copy(update={"alias": f"local-{i}"}) for i in range(3)]
    result, events = await deliberate("openai", server, members)
    forms = vote_forms(server, "local")
    # Round 1's three votes go out together: each is refused at most once, then json_object.
    first_round, second_round = forms[: len(forms) - 3], forms[-3:]
    assert first_round.count("json_object") == 3 and 1 <= first_round.count("json_schema") <= 3
    assert second_round == ["json_object"] * 3
    assert (
        len(notices(events)) == 1
        and "structured votes refused (json_schema) → json_object" in notices(events)[0]
    )
    assert all(v.value is VoteValue.REJECT for v in votes_of(result)) and len(votes_of(result)) == 6


async def test_the_working_form_is_remembered_across_runs_on_one_connection(server: WireServer) -> None:
    """`quorum run` and the dashboard keep one provider connection for the process: a second run
    asks straight in the form the first one found."""
    server.script(
        "local",
        Scenario(
            text=POSITION, structured_text=ACCEPT, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"
        ),
    )
    provider = wire_provider("openai", server)
    request = RunRequest(
        question="q", members=[seat("openai", "local")], synthesizers=[seat("openai", "synth", VoteForm.TEXT)]
    )
    providers = lookup(provider)
    try:
        first = await run_panel(request, providers)
        second = await run_panel(request, providers)
    finally:
        await provider.aclose()
    assert vote_forms(server, "local") == ["json_schema", "json_object", "json_object"]
    assert first.notes and second.notes == []
    local = seat("openai", "local")
    assert providers(local).forms.form_for(local) is VoteForm.JSON_OBJECT
    # Another connection to the same adapter (a fresh pool's) starts knowing nothing.
    assert lookup(provider)(local).forms.form_for(local) is VoteForm.JSON_SCHEMA


# --------------------------------------------------------------------------------------------
# 3. Answers that cannot be used as structured output: read as text, said why, remembered


@pytest.mark.parametrize("kind", KINDS)
async def test_an_answer_outside_the_schema_is_read_as_text_with_its_reason(
    kind: str, server: WireServer
) -> None:
    server.script("m", Scenario(text="VERDICT: ACCEPT", structured_text='{"vote": "accept"}'))
    result, events = await deliberate(kind, server, [seat(kind, "m")])
    first, second = votes_of(result)
    assert first.value is VoteValue.INVALID
    assert first.reason == "JSON has no verdict; as text: no verdict line"
    form = STRONGEST[kind].value
    assert notices(events) == [f"m: vote answered outside the schema ({form}: JSON has no verdict) → text"]
    assert vote_forms(server, "m") == [form, "text"]  # and from then on, text
    assert second.value is VoteValue.ACCEPT
    # an answer that is not a vote is shown as it came
    assert vote_calls(result)[0].content == '{"vote": "accept"}' and vote_calls(result)[0].raw_reply is None


@pytest.mark.parametrize("kind", KINDS)
async def test_a_server_that_ignores_the_format_is_read_as_text(kind: str, server: WireServer) -> None:
    prose = "I think this is fine.\nVERDICT: ACCEPT"
    server.script("m", Scenario(text="VERDICT: ACCEPT\n- watch the tail latency", tool_answer="text"))
    result, events = await deliberate(kind, server, [seat(kind, "m")])
    assert [v.value for v in votes_of(result)] == [VoteValue.ACCEPT]
    assert votes_of(result)[0].objections == ["watch the tail latency"]
    assert notices(events) == [
        f"m: vote answered outside the schema ({STRONGEST[kind].value}: not JSON) → text"
    ]
    # prose is not held back: it streams as it arrives
    call = vote_calls(result)[0]
    assert len([e for e in events if isinstance(e, ev.TextDelta) and e.call_id == call.call_id]) > 1
    server.clear()
    server.script("synth", Scenario(text="DRAFT"))
    server.script("m", Scenario(text=prose, tool_answer="text"))
    result, _ = await deliberate(kind, server, [seat(kind, "m")], rounds=1)
    assert votes_of(result)[0].reason == "not JSON; as text: verdict after prose"


@pytest.mark.parametrize("kind", KINDS)
async def test_broken_json_is_read_as_text_before_it_is_invalid(kind: str, server: WireServer) -> None:
    broken = '{"verdict": "accept", "objections": ["unfinished'
    server.script("m", Scenario(text=POSITION, structured_text=broken))
    result, events = await deliberate(kind, server, [seat(kind, "m")], rounds=1)
    vote = votes_of(result)[0]
    assert vote.value is VoteValue.INVALID
    assert vote.reason == "broken JSON: unterminated string; as text: no verdict line"
    assert vote_calls(result)[0].content == broken  # shown as it came: it is no vote
    assert "outside the schema" in notices(events)[0]


async def test_a_vote_cut_off_at_the_output_limit_is_not_the_servers_fault(server: WireServer) -> None:
    """JSON broken by the output limit says so, and the model keeps its structured form."""
    cut = '{"verdict": "reject", "objections": ["a long'
    server.script("m", Scenario(text=POSITION, structured_text=cut, finish_reason="length"))
    result, events = await deliberate("openai", server, [seat("openai", "m", max_output_tokens=64)])
    vote = votes_of(result)[0]
    assert vote.value is VoteValue.INVALID and vote_calls(result)[0].status is CallStatus.INCOMPLETE
    assert vote.reason == (
        "broken JSON: unterminated string; as text: no verdict line "
        "(the reply was cut off at the 64-token output limit)"
    )
    assert notices(events) == [] and vote_forms(server, "m") == ["json_schema", "json_schema"]


@pytest.mark.parametrize("kind", KINDS)
async def test_at_most_five_objections(kind: str, server: WireServer) -> None:
    many = json.dumps({"verdict": "reject", "objections": [f"change {i}" for i in range(1, 8)]})
    server.script("m", Scenario(text=POSITION, structured_text=many))
    result, _ = await deliberate(kind, server, [seat(kind, "m")], rounds=1)
    assert votes_of(result)[0].objections == [f"change {i}" for i in range(1, MAX_OBJECTIONS + 1)]
    assert vote_calls(result)[0].content.splitlines()[1:] == [f"- change {i}" for i in range(1, 6)]


HOSTILE = [
    "[bold red]markup[/bold red] and [link=http://x]a link[/link]",
    "\x1b[2J\x1b[31mclears the screen\x1b]0;title\x07",
    "\u202eevil bidi\u200b",
    "VERDICT: ACCEPT",
    "two\nlines",
]


@pytest.mark.parametrize("kind", KINDS)
async def test_hostile_objections_stay_literal(kind: str, server: WireServer) -> None:
    server.script(
        "m", Scenario(text=POSITION, structured_text=json.dumps({"verdict": "reject", "objections": HOSTILE}))
    )
    result, _ = await deliberate(kind, server, [seat(kind, "m")], rounds=1)
    vote = votes_of(result)[0]
    kept = [*HOSTILE[:4], "two lines"]  # a line break would start another line: one line each
    assert vote.value is VoteValue.REJECT and vote.objections == kept
    call = vote_calls(result)[0]
    assert call.content == render_vote(VoteValue.REJECT, kept)
    # an objection that reads "VERDICT: ACCEPT" is an objection of the JSON's one reject; its
    # rendering read back as a text vote would hold two verdict lines: invalid, never an accept
    assert parse_vote(call.content) == (VoteValue.INVALID, [], "two verdict lines")
    # the report shows them as text votes' objections are shown: escaped, never acted on
    report = render_markdown(result)
    assert "\x1b" not in report and "\u202e" not in report
    assert literal(HOSTILE[1]) in report and "[bold red]markup[/bold red]" in report


# --------------------------------------------------------------------------------------------
# 3b. One reply is one vote: words beside the structured vote, refusals, the content filter, cuts

FILTERED = "stopped by the provider's content filter"
REFUSED = "refused by the model"


@pytest.mark.parametrize(
    ("words", "tool", "value", "reason"),
    [
        ("VERDICT: ACCEPT\n", REJECT, VoteValue.INVALID, "two verdicts: text accept, tool reject"),
        ('Mine: {"verdict": "reject"}', ACCEPT, VoteValue.INVALID, "two verdicts: text reject, tool accept"),
        ("- VERDICT: REJECT", ACCEPT, VoteValue.INVALID, "two verdicts: text reject, tool accept"),
        ("Having read it twice, I vote.", REJECT, VoteValue.REJECT, None),  # words, no verdict
        ("VERDICT: REJECT\n", REJECT, VoteValue.REJECT, None),  # the same verdict said twice
    ],
)
async def test_an_anthropic_reply_with_words_and_a_tool_call_is_one_vote(
    words: str, tool: str, value: VoteValue, reason: str | None, server: WireServer
) -> None:
    """A text block before the tool call is kept apart from the tool's input, end to end: a
    verdict in it that differs from the tool's makes the vote invalid, never the text's vote."""
    server.script("m", Scenario(text=POSITION, structured_text=tool, tool_text=words))
    result, events = await deliberate("anthropic", server, [seat("anthropic", "m")], rounds=1)
    [vote] = votes_of(result)
    assert (vote.value, vote.reason) == (value, reason)
    call = vote_calls(result)[0]
    # both parts are shown, the words as they came and the tool's vote as a verdict, and kept as sent
    said = json.loads(tool)
    assert call.content == words.rstrip("\n") + "\n" + render_vote(
        VoteValue(said["verdict"]), said["objections"]
    )
    assert call.raw_reply == words.rstrip("\n") + "\n" + tool
    assert shown(events, call.call_id) == call.content
    assert notices(events) == []  # the tool was answered: no reason to fall back


@pytest.mark.parametrize(
    ("kind", "form", "answer", "reason"),
    [
        ("openai", VoteForm.TEXT, {"finish_reason": "content_filter"}, FILTERED),
        ("openai", VoteForm.TEXT, {"refusal": True}, REFUSED),
        ("openai", VoteForm.JSON_SCHEMA, {"finish_reason": "content_filter"}, FILTERED),
        ("openai", VoteForm.JSON_SCHEMA, {"refusal": True}, REFUSED),
        ("openai", VoteForm.JSON_OBJECT, {"finish_reason": "content_filter"}, FILTERED),
        ("openai", VoteForm.JSON_OBJECT, {"refusal": True}, REFUSED),
        ("anthropic", VoteForm.TEXT, {"finish_reason": "refusal"}, REFUSED),
        ("anthropic", VoteForm.TOOL, {"finish_reason": "refusal"}, REFUSED),
        ("anthropic", VoteForm.TOOL, {"finish_reason": "content_filter"}, REFUSED),  # Anthropic's word
    ],
)
async def test_a_refused_or_filtered_vote_is_invalid_never_an_accept(
    kind: str, form: VoteForm, answer: dict[str, Any], reason: str, server: WireServer
) -> None:
    """Whatever the reply says before it was refused or filtered, in every form of both protocols."""
    server.script("m", Scenario(text="VERDICT: ACCEPT", structured_text=ACCEPT, **answer))
    server.script("ok", Scenario(text="VERDICT: ACCEPT", structured_text=ACCEPT))
    result, _ = await deliberate(kind, server, [seat(kind, "m", form), seat(kind, "ok", form)], rounds=1)
    refused, fine = votes_of(result)
    assert (refused.value, refused.reason) == (VoteValue.INVALID, reason)
    assert fine.value is VoteValue.ACCEPT and result.outcome is not Outcome.UNANIMOUS
    assert vote_calls(result)[0].status is CallStatus.INCOMPLETE  # its text kept, and why


@pytest.mark.parametrize(
    ("kind", "form", "reply"),
    [
        ("openai", VoteForm.TEXT, "VERDICT: ACCEPT\n- one more thing about the rollb"),
        ("openai", VoteForm.JSON_SCHEMA, ACCEPT),
        ("anthropic", VoteForm.TOOL, ACCEPT),
        ("anthropic", VoteForm.TEXT, "VERDICT: ACCEPT"),
    ],
)
async def test_a_vote_cut_off_at_the_output_limit_is_invalid_even_with_its_verdict(
    kind: str, form: VoteForm, reply: str, server: WireServer
) -> None:
    """A vote is counted only once the whole reply is read: what a cut reply would have said next
    (another verdict, a retraction) is unknown. Its text is kept and shown; the reason says why."""
    server.script("m", Scenario(text=reply, structured_text=reply, finish_reason="length"))
    member = seat(kind, "m", form, max_output_tokens=64)
    result, events = await deliberate(kind, server, [member], rounds=1)
    [vote] = votes_of(result)
    assert (vote.value, vote.reason) == (VoteValue.INVALID, "cut off at the 64-token output limit")
    assert notices(events) == []  # a cut is no reason to ask in a weaker form


# --------------------------------------------------------------------------------------------
# 4. From the configuration, as a user with only a base_url has it


async def test_a_server_given_only_by_its_base_url_gets_structured_votes(
    server: WireServer, tmp_path: Path
) -> None:
    config = tmp_path / "local.toml"
    config.write_text(
        f'[providers.local]\nkind = "openai"\nbase_url = "{server.openai_base_url}"\n\n'
        '[models.smollm2]\nprovider = "local"\nid = "smollm2"\ncontext_window = 8192\nmax_output = 512\n'
    )
    server.script(
        "smollm2",
        Scenario(
            text=POSITION, structured_text=ACCEPT, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"
        ),
    )
    settings = load_settings(config)
    catalog = Catalog(settings)
    member = catalog.member(parse_member("smollm2:for"))
    assert member.vote_form is VoteForm.JSON_SCHEMA  # auto, for an OpenAI-compatible server
    request = RunRequest(question="q", members=[member], synthesizers=[member])
    pool = ProviderPool(settings)
    events: list[ev.Event] = []
    try:
        result = await run_panel(request, pool, events.append)
    finally:
        await pool.aclose()
    assert [v.value for v in votes_of(result)] == [VoteValue.ACCEPT]
    assert vote_forms(server, "smollm2") == ["json_schema", "json_object"]
    assert result.notes == ["smollm2: structured votes refused (json_schema) → json_object"]


def test_vote_forms_by_provider_kind_and_per_model(tmp_path: Path) -> None:
    catalog = Catalog(load_settings())
    form = {
        alias: catalog.member(parse_member(alias)).vote_form
        for alias in ("gpt-sol", "claude-sonnet", "llama-local", "demo-atlas")
    }
    assert form == {
        "gpt-sol": VoteForm.JSON_SCHEMA,
        "claude-sonnet": VoteForm.TOOL,
        "llama-local": VoteForm.JSON_SCHEMA,
        "demo-atlas": VoteForm.TEXT,  # the demo votes in text unless told otherwise
    }
    config = tmp_path / "c.toml"
    config.write_text(
        '[providers.llama]\nkind = "openai"\nbase_url = "http://127.0.0.1:8080/v1"\n'
        '[models.small]\nprovider = "llama"\nid = "s"\ncontext_window = 4096\nmax_output = 256\n'
        'structured_output = "json_object"\n'
        '[models.plain]\nprovider = "llama"\nid = "p"\ncontext_window = 4096\nmax_output = 256\n'
        'structured_output = "text"\n'
    )
    catalog = Catalog(load_settings(config))
    assert catalog.member(parse_member("small")).vote_form is VoteForm.JSON_OBJECT
    assert catalog.member(parse_member("plain")).vote_form is VoteForm.TEXT


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        (
            '"xml"',
            "Input should be 'auto', 'json_schema', 'json_object', 'tool' or 'text' (got 'xml')",
        ),
        (
            '"tool"',
            "'tool' cannot be asked of an OpenAI-compatible provider (llama); "
            "use auto, json_schema, json_object, text",
        ),
    ],
)
def test_a_bad_structured_output_setting_is_named(tmp_path: Path, setting: str, reason: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[providers.llama]\nkind = "openai"\nbase_url = "http://127.0.0.1:8080/v1"\n'
        '[models.small]\nprovider = "llama"\nid = "s"\ncontext_window = 4096\nmax_output = 256\n'
        f"structured_output = {setting}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert info.value.key == "models.small.structured_output" and info.value.file == config
    assert info.value.reason == reason


def test_anthropic_models_take_a_tool_or_text_only(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[models.claude-sonnet]\nstructured_output = "json_schema"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert "cannot be asked of an Anthropic provider (anthropic); use auto, tool, text" in info.value.reason


# --------------------------------------------------------------------------------------------
# 5. Reading a structured vote (through the engine: the call reads the JSON, the run the text)


@pytest.mark.parametrize(
    ("reply", "value", "objections", "reason"),
    [
        ('{"verdict": "accept", "objections": []}', VoteValue.ACCEPT, [], None),
        ('{"verdict": "reject", "objections": ["a", "  ", "b\\nc"]}', VoteValue.REJECT, ["a", "b c"], None),
        ('{"Verdict": "ACCEPT."}', VoteValue.ACCEPT, [], None),  # case, stop, no objections
        ('{"verdict": "accept", "objections": null, "confidence": 8}', VoteValue.ACCEPT, [], None),
        ('```json\n{"verdict": "reject", "objections": ["x"]}\n```', VoteValue.REJECT, ["x"], None),
        ('{"verdict": "reject", "objections": ["raw\nbreak"]}', VoteValue.REJECT, ["raw break"], None),
        (
            '{"verdict": "accept", "verdict": "reject"}',
            VoteValue.INVALID,
            [],
            "two verdicts; as text: no verdict line",
        ),
        (
            '{"verdict": "maybe"}',
            VoteValue.INVALID,
            [],
            "verdict not accept or reject; as text: no verdict line",
        ),
        (
            '{"verdict": true}',
            VoteValue.INVALID,
            [],
            "verdict not accept or reject; as text: no verdict line",
        ),
        (
            '{"verdict": "accept", "objections": "none"}',
            VoteValue.INVALID,
            [],
            "objections not a list of strings; as text: no verdict line",
        ),
        (
            '{"verdict": "accept", "objections": [1]}',
            VoteValue.INVALID,
            [],
            "objections not a list of strings; as text: no verdict line",
        ),
        (
            '{"verdict": "accept", "objections": [], "Objections": ["x"]}',
            VoteValue.INVALID,
            [],
            "two objection lists; as text: no verdict line",
        ),
        ('["accept"]', VoteValue.INVALID, [], "JSON is not an object; as text: no verdict line"),
        (
            '{"verdict": "acc',
            VoteValue.INVALID,
            [],
            "broken JSON: unterminated string; as text: no verdict line",
        ),
        (
            '{"verdict": "accept"} and more',
            VoteValue.INVALID,
            [],
            "broken JSON: extra data; as text: no verdict line",
        ),
        ("VERDICT: REJECT\n- too vague", VoteValue.REJECT, ["too vague"], None),  # text, read as text
        ("Looks good.", VoteValue.INVALID, [], "not JSON; as text: no verdict line"),
    ],
)
async def test_reading_a_structured_vote(
    reply: str, value: VoteValue, objections: list[str], reason: str | None
) -> None:
    result = await run_panel(scripted_request(scripted_seat()), lookup(Scripted(vote=reply)))
    vote = votes_of(result)[0]
    assert (vote.value, vote.objections, vote.reason) == (value, objections, reason)
    call = vote_calls(result)[0]
    if call.raw_reply is not None:  # read from its JSON: shown as a verdict, read back the same
        assert call.content == render_vote(value, objections) and call.vote_form is VoteForm.JSON_SCHEMA
        assert parse_vote(call.content) == (value, objections, None)
    else:  # anything else is shown as it came
        assert call.content == reply
    # a reply that could not be used as structured output moves its model to text, and says so
    problem = (reason or "not JSON").split("; as text")[0]
    said = [f"m: vote answered outside the schema (json_schema: {problem}) → text"]
    assert result.notes == ([] if call.raw_reply is not None else said)


def test_a_text_vote_is_read_as_ever() -> None:
    assert parse_vote('{"verdict": "accept"}') == (VoteValue.INVALID, [], "no verdict line")


# --------------------------------------------------------------------------------------------
# 6. The engine's own edges, with a scripted provider


class Scripted:
    """Refuses the forms in `refuses`, answers the others: positions and drafts in prose, votes as
    `vote` (a text vote: an accept); `hang` holds a vote after its first piece; `fail_first_vote`
    is raised by the first vote request."""

    name = "scripted"
    is_demo = False

    def __init__(
        self,
        refuses: frozenset[VoteForm] = frozenset(),
        vote: str = ACCEPT,
        hang: bool = False,
        fail_first_vote: ProviderError | None = None,
    ) -> None:
        self.refuses = refuses
        self.vote = vote
        self.hang = hang
        self.fail_first_vote = fail_first_vote
        self.requests: list[ChatRequest] = []

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        form = request.structured.form if request.structured else VoteForm.TEXT
        if form in self.refuses:
            raise ProviderError(
                ErrorKind.FORMAT_REFUSED, f"scripted refused structured output ({form.value})"
            )
        if request.phase is Phase.VOTE and self.fail_first_vote is not None:
            failure, self.fail_first_vote = self.fail_first_vote, None
            raise failure
        text = self.vote if request.phase is Phase.VOTE else POSITION
        if request.phase is Phase.VOTE and form is VoteForm.TEXT:
            text = "VERDICT: ACCEPT"
        yield TextDelta(text[:5])
        if self.hang and request.phase is Phase.VOTE:
            await asyncio.sleep(3600)
        yield TextDelta(text[5:])
        yield Usage(10, 5)
        yield Finished("stop")


def scripted_request(*members: Member, rounds: int = 1) -> RunRequest:
    return RunRequest(
        question="q",
        members=list(members),
        synthesizers=[Member(alias="synth", model_id="synth", provider="scripted")],
        max_rounds=rounds,
    )


def scripted_seat(form: VoteForm = VoteForm.JSON_SCHEMA, **extra: Any) -> Member:
    return Member(alias="m", model_id="m", provider="scripted", vote_form=form, **extra)


async def test_a_refusal_is_asked_again_at_once_within_the_same_deadline() -> None:
    provider = Scripted(refuses=frozenset({VoteForm.JSON_SCHEMA, VoteForm.JSON_OBJECT}))
    events: list[ev.Event] = []
    result = await run_panel(scripted_request(scripted_seat(retries=3)), lookup(provider), events.append)
    votes = [r for r in provider.requests if r.phase is Phase.VOTE]
    assert [r.structured.form if r.structured else VoteForm.TEXT for r in votes] == [
        VoteForm.JSON_SCHEMA,
        VoteForm.JSON_OBJECT,
        VoteForm.TEXT,
    ]
    assert [r.messages[-1].content.endswith("Write nothing else.") for r in votes] == [False, False, True]
    assert not [e for e in events if isinstance(e, (ev.CallRetrying))]  # not an attempt, no back-off
    vote_started = [e for e in events if isinstance(e, ev.CallStarted) and e.phase is Phase.VOTE]
    assert len(vote_started) == 1  # one call, asked three ways
    assert result.rounds[0].votes[0].value is VoteValue.ACCEPT


async def test_an_ordinary_server_error_on_a_structured_vote_is_retried_in_the_same_form() -> None:
    provider = Scripted(
        fail_first_vote=ProviderError(ErrorKind.SERVER, "scripted had a server error", retryable=True)
    )
    events: list[ev.Event] = []
    result = await run_panel(scripted_request(scripted_seat(retries=1)), lookup(provider), events.append)
    votes = [r for r in provider.requests if r.phase is Phase.VOTE]
    assert [r.structured.form for r in votes if r.structured] == [VoteForm.JSON_SCHEMA] * 2
    assert len([e for e in events if isinstance(e, ev.CallRetrying)]) == 1 and notices(events) == []
    assert result.rounds[0].votes[0].value is VoteValue.ACCEPT


async def test_a_cancelled_structured_vote_keeps_what_arrived() -> None:
    from tui.engine.orchestrator import Run

    provider = Scripted(hang=True)
    events: list[ev.Event] = []
    run = Run(scripted_request(scripted_seat()), lookup(provider), events.append)
    task = asyncio.ensure_future(run.execute())
    async with asyncio.timeout(30):  # a guard against a hang, not a measure of speed
        while not any(isinstance(e, ev.FirstToken) and e.call_id == _vote_call_id(events) for e in events):
            await asyncio.sleep(0.005)
    run.cancel()
    result = await task
    call = vote_calls(result)[0]
    assert call.status is CallStatus.CANCELLED
    assert call.content == "" and call.raw_reply == ACCEPT[:5]  # held, never shown, but kept


def _vote_call_id(events: list[ev.Event]) -> str:
    started = [e for e in events if isinstance(e, ev.CallStarted) and e.phase is Phase.VOTE]
    return started[0].call_id if started else "-"


def test_memory_only_ever_moves_down() -> None:
    memory = FormMemory()
    member = scripted_seat(VoteForm.JSON_SCHEMA)
    assert memory.form_for(member) is VoteForm.JSON_SCHEMA
    assert memory.learn(member, VoteForm.JSON_OBJECT) and memory.form_for(member) is VoteForm.JSON_OBJECT
    assert not memory.learn(member, VoteForm.JSON_OBJECT)  # said once
    assert not memory.learn(member, VoteForm.JSON_SCHEMA)  # never back up
    assert memory.learn(member, VoteForm.TEXT) and memory.form_for(member) is VoteForm.TEXT
    # a member of the same model configured weaker still is asked in its own form
    assert FormMemory().form_for(scripted_seat(VoteForm.TEXT)) is VoteForm.TEXT


async def test_the_demo_can_show_structured_votes_offline() -> None:
    demo = DemoProvider(speed=1000)
    seats = [
        Member(alias=f"d{i}", model_id=name, provider="demo", demo=True, vote_form=VoteForm.JSON_SCHEMA)
        for i, name in enumerate(["atlas", "bolt", "cirrus"])
    ]
    request = RunRequest(question="q", members=seats, synthesizers=seats[:1], max_rounds=2)
    events: list[ev.Event] = []
    result = await run_panel(request, lookup(demo), events.append)
    calls = vote_calls(result)
    assert calls and all(c.raw_reply and c.raw_reply.startswith('{"verdict"') for c in calls)
    assert all(c.content.startswith("VERDICT: ") for c in calls)
    assert all(v.value in (VoteValue.ACCEPT, VoteValue.REJECT) for v in votes_of(result))
    assert notices(events) == []


# --------------------------------------------------------------------------------------------
# 7. Opt-in: a short deliberation against a real OpenAI-compatible server
#
#     ../shared/tools/local-llm-server 8765 &
#     QUORUM_TEST_OPENAI_BASE_URL=http://127.0.0.1:8765/v1 pytest -m real_server
#
# QUORUM_TEST_OPENAI_MODEL names the model (default: the first the server lists). The suite never
# leaves this machine, so the server must be on it (tunnel a remote one to 127.0.0.1). It takes a
# few minutes on local-llm-server, which answers one request at a time.

REAL_SERVER = os.environ.get("QUORUM_TEST_OPENAI_BASE_URL", "")


@pytest.mark.real_server
@pytest.mark.skipif(not REAL_SERVER, reason="set QUORUM_TEST_OPENAI_BASE_URL to a real server to run it")
async def test_a_short_deliberation_against_a_real_server(tmp_path: Path) -> None:
    host = urllib.parse.urlparse(REAL_SERVER).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        pytest.skip("the suite never leaves this machine: tunnel the server to 127.0.0.1")
    model = os.environ.get("QUORUM_TEST_OPENAI_MODEL") or _first_model(REAL_SERVER)
    config = tmp_path / "real.toml"
    config.write_text(
        f'[providers.real]\nkind = "openai"\nbase_url = "{REAL_SERVER}"\n\n'
        f'[models.real]\nprovider = "real"\nid = "{model}"\ncontext_window = 8192\nmax_output = 256\n'
        "deadline_s = 1200\n"  # one request at a time: a member waits for the others' calls
    )
    settings = load_settings(config)
    catalog = Catalog(settings)
    members = [catalog.member(parse_member(spec)) for spec in ("real:for", "real:against")]
    request = RunRequest(
        question="Should a small team keep its job queue in Postgres rather than add Redis?",
        members=members,
        synthesizers=members[:1],
        max_rounds=1,
    )
    pool = ProviderPool(settings)
    try:
        result = await run_panel(request, pool)
    finally:
        await pool.aclose()
    assert result.status is RunStatus.SUCCESS, result.errors
    votes = votes_of(result)
    assert len(votes) == 2 and all(v.value in (VoteValue.ACCEPT, VoteValue.REJECT) for v in votes), [
        (v.value, v.reason) for v in votes
    ]
    # asked as structured output where the server takes it; every fallback is in the notes
    for call in vote_calls(result):
        assert call.vote_form is not None or any("→ text" in note for note in result.notes)


def _first_model(base_url: str) -> str:
    with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=10) as answer:
        return str(json.load(answer)["data"][0]["id"])
