"""Both real SDKs, through our adapters, against the local wire server: success and every failure class."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import lookup, wire_provider
from tests.wire_server import Scenario, WireServer
from tui.config.catalog import Catalog, choose_panel
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.engine import events as ev
from tui.engine.orchestrator import run_panel
from tui.engine.provider import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    Finished,
    Provider,
    ProviderError,
    StructuredDelta,
    StructuredOutput,
    TextDelta,
    Usage,
)
from tui.engine.types import CallStatus, Member, Mode, Outcome, Phase, RunRequest, RunStatus, VoteForm
from tui.engine.votes import vote_output
from tui.pool import ProviderPool
from tui.providers.anthropic_messages import AnthropicProvider
from tui.providers.openai_compat import OpenAICompatProvider

KINDS = ["openai", "anthropic"]
# The OpenAI provider set as for the newer models, which take `max_completion_tokens` only.
make = partial(wire_provider, max_tokens_param="max_completion_tokens")


@pytest.fixture(autouse=True)
def fresh(server: WireServer) -> None:
    server.clear()


def chat(model: str = "m1") -> ChatRequest:
    return ChatRequest(
        model_id=model,
        system="You are terse.",
        messages=(ChatMessage("user", "Say hello."),),
        max_output_tokens=256,
        temperature=0.2,
        alias="alias-" + model,
    )


async def collect(provider: Provider, request: ChatRequest) -> list[Any]:
    try:
        return [item async for item in provider.stream(request)]
    finally:
        await provider.aclose()


async def failure(provider: Provider, request: ChatRequest) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await collect(provider, request)
    return info.value


@pytest.mark.parametrize("kind", KINDS)
async def test_success_streams_text_usage_and_finish(kind: str, server: WireServer) -> None:
    server.script("m1", Scenario(text="Hello — wörld ✓", chunk_count=4, input_tokens=21, output_tokens=9))
    items = await collect(make(kind, server), chat())
    text = "".join(i.text for i in items if isinstance(i, TextDelta))
    assert text == "Hello — wörld ✓"
    assert [i for i in items if isinstance(i, Usage)][-1] == Usage(21, 9)
    assert isinstance(items[-1], Finished)
    assert items[-1].reason == ("stop" if kind == "openai" else "end_turn")


@pytest.mark.parametrize("kind", KINDS)
async def test_request_shape(kind: str, server: WireServer) -> None:
    await collect(make(kind, server), chat())
    sent = server.requests[-1]
    assert sent.body["stream"] is True and sent.body["model"] == "m1"
    if kind == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.body["stream_options"] == {"include_usage": True}
        assert sent.body["max_completion_tokens"] == 256
        assert sent.body["messages"][0] == {"role": "system", "content": "You are terse."}
    else:
        assert sent.path == "/v1/messages"
        assert sent.body["system"] == "You are terse." and sent.body["max_tokens"] == 256
        assert sent.body["messages"] == [{"role": "user", "content": "Say hello."}]
    # anthropic 2.x has no temperature parameter: the adapter sends none
    assert sent.body.get("temperature") == (0.2 if kind == "openai" else None)


@pytest.mark.parametrize("kind", KINDS)
async def test_rate_limit_with_retry_after(kind: str, server: WireServer) -> None:
    server.script("m1", Scenario(failure="status", status=429, retry_after="7"))
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.RATE_LIMIT and err.retry_after_s == 7.0
    # Quorum's advice, then the provider's own words (a 429's were once dropped)
    assert (
        str(err) == f"rate limited by {kind} (HTTP 429); the provider asks to wait 7 s before trying again; "
        f"{kind} said: Too Many Requests (wire server)"
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_rate_limit_is_retried_when_allowed(kind: str, server: WireServer) -> None:
    server.script(
        "m1", Scenario(failure="status", status=429, retry_after="0.05", fail_times=1, text="second try")
    )
    items = await collect(make(kind, server, retries=1), chat())
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "second try"
    assert len(server.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_bad_key_names_the_variable(kind: str, server: WireServer) -> None:
    server.script("m1", Scenario(failure="status", status=401))
    err = await failure(make(kind, server), chat())
    variable = "OPENAI_API_KEY" if kind == "openai" else "ANTHROPIC_API_KEY"
    assert err.kind is ErrorKind.AUTH and variable in str(err) and "401" in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_model_names_alias_and_id(kind: str, server: WireServer) -> None:
    server.script("m1", Scenario(failure="status", status=404))
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.UNKNOWN_MODEL
    assert "'m1'" in str(err) and "alias-m1" in str(err) and "404" in str(err)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_errors(kind: str, status: int, server: WireServer) -> None:
    server.script("m1", Scenario(failure="status", status=status, error_message="upstream exploded"))
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.SERVER and str(status) in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_context_too_long_from_the_provider(kind: str, server: WireServer) -> None:
    server.script(
        "m1",
        Scenario(
            failure="status",
            status=400,
            error_type="invalid_request_error",
            error_message="This model's maximum context length is 8192 tokens; you sent 9000.",
        ),
    )
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG and "maximum context length" in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_mid_stream_disconnect(kind: str, server: WireServer) -> None:
    server.script("m1", Scenario(failure="disconnect", chunk_count=6))
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.CONNECTION and "mid-answer" in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_malformed_chunk(kind: str, server: WireServer) -> None:
    server.script("m1", Scenario(failure="malformed"))
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.MALFORMED and "malformed" in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_in_stream_error_event(kind: str, server: WireServer) -> None:
    server.script(
        "m1", Scenario(failure="error_event", error_type="overloaded_error", error_message="Overloaded")
    )
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.SERVER
    assert "overloaded" in str(err).lower()


@pytest.mark.parametrize("kind", KINDS)
async def test_read_timeout_between_bytes(kind: str, server: WireServer) -> None:
    server.script("m1", Scenario(failure="stall", stall_s=10))
    # The error itself proves the 0.3 s read timeout fired: had the client waited out the 10 s
    # stall, the stream would have ended normally. (No stopwatch: the suite runs on busy machines.)
    err = await failure(make(kind, server, read_timeout=0.3), chat())
    assert err.kind is ErrorKind.TIMEOUT and "read timeout" in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_connection_refused(kind: str) -> None:
    provider: Provider
    if kind == "openai":
        provider = OpenAICompatProvider(
            "openai", base_url="http://127.0.0.1:9/v1", api_key="x", api_key_env="K", max_retries=0
        )
    else:
        provider = AnthropicProvider(
            "anthropic", base_url="http://127.0.0.1:9", api_key="x", api_key_env="K", max_retries=0
        )
    err = await failure(provider, chat())
    assert err.kind is ErrorKind.CONNECTION and "could not connect" in str(err)


# --- through the orchestrator: the deadline, truncation, and the whole stack -----------------


def wire_member(kind: str, model: str, deadline_s: float = 30.0) -> Member:
    return Member(
        alias=f"{kind}-{model}",
        model_id=model,
        provider=kind,
        deadline_s=deadline_s,
        input_price=2.0,
        output_price=10.0,
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_stall_past_the_deadline_and_truncated_stream(kind: str, server: WireServer) -> None:
    server.script("ok", Scenario(text="Fine answer.", input_tokens=1000, output_tokens=100))
    server.script("stall", Scenario(failure="stall", stall_s=30, text="partial then silence", chunk_count=4))
    server.script("cut", Scenario(failure="no_finish", text="cut short"))
    provider = make(kind, server)
    request = RunRequest(
        question="q",
        mode=Mode.CONSULT,
        members=[
            wire_member(kind, "ok"),
            wire_member(kind, "stall", deadline_s=0.5),
            wire_member(kind, "cut"),
        ],
        synthesizers=[wire_member(kind, "ok")],
    )
    result = await run_panel(request, lookup(provider))
    await provider.aclose()
    ok, stalled, cut = result.positions
    assert ok is not None and ok.status is CallStatus.SUCCESS
    assert ok.cost_usd == pytest.approx((1000 * 2 + 100 * 10) / 1e6)
    assert (
        stalled is not None and stalled.error_kind == "timeout" and "0.5 s deadline" in (stalled.error or "")
    )
    assert stalled.content and "partial then silence".startswith(stalled.content)  # what arrived is kept
    assert cut is not None and cut.error_kind == "truncated" and cut.content == "cut short"
    assert result.status is RunStatus.SUCCESS


async def test_full_stack_with_keys_from_the_environment(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Config -> catalog -> pool -> both SDKs -> orchestrator, deliberating to a unanimous decision."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-FAKE-0001")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-FAKE-0002")
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
    server.default_scenario = Scenario(text="VERDICT: ACCEPT\n- ship it", input_tokens=500, output_tokens=50)
    settings = load_settings()
    catalog = Catalog(settings)
    panel = choose_panel(catalog)
    assert [m.alias for m in panel.members] == ["gpt-sol", "claude-sonnet", "gpt-luna"]
    request = RunRequest(question="Ship it?", members=panel.members, synthesizers=panel.synthesizers)
    pool = ProviderPool(settings)
    try:
        result = await run_panel(request, pool)
    finally:
        await pool.aclose()
    assert result.status is RunStatus.SUCCESS and result.outcome is Outcome.UNANIMOUS
    assert result.totals.input_tokens == 500 * len(result.calls)
    assert result.totals.cost_usd > 0
    auth = {r.headers.get("authorization", "") + r.headers.get("x-api-key", "") for r in server.requests}
    assert any("sk-openai-FAKE-0001" in a for a in auth) and any("sk-ant-FAKE-0002" in a for a in auth)
    # the secrets went on the wire, and nowhere into the result
    assert "FAKE-000" not in json.dumps(result.model_dump(mode="json"))


async def test_chat_calls_and_the_embedder_are_keyed_and_addressed_from_the_pools_environment(
    server: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One resolution of a provider's key and address, for chat calls and the cache's embedder
    alike, from the environment the pool was given (not the process's)."""
    from tests.conftest import write
    from tests.wire_server import embeddings_answer
    from tui.providers.openai_embeddings import EmbeddingError

    monkeypatch.setenv("LOCAL_KEY", "sk-process-0000")  # the process's: never used
    monkeypatch.setenv("LOCAL_URL", "http://127.0.0.1:9/v1")
    config = write(
        tmp_path / "local.toml",
        '[providers.local]\nkind = "openai"\nbase_url_env = "LOCAL_URL"\napi_key_env = "LOCAL_KEY"\n'
        '[models.m]\nprovider = "local"\nid = "m"\ncontext_window = 8192\nmax_output = 256\n'
        '[embedders.small]\nprovider = "local"\nid = "embed-small"\n',
    )
    settings = load_settings(config)
    server.default_scenario = Scenario(text="hello")
    server.embeddings = lambda model, inputs: embeddings_answer(model, [[1.0, 0.0] for _ in inputs])
    pool = ProviderPool(settings, environ={"LOCAL_KEY": "sk-pool-0001", "LOCAL_URL": server.openai_base_url})
    try:
        answer = await collect(pool.named("local"), chat("m"))
        vectors = await asyncio.to_thread(pool.embedder("small").embed, ["q"])
    finally:
        await pool.aclose()
    assert "".join(e.text for e in answer if isinstance(e, TextDelta)) == "hello" and vectors == [[1.0, 0.0]]
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/embeddings"]
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-pool-0001"}
    keyless = ProviderPool(settings, environ={})
    with pytest.raises(ProviderError, match="LOCAL_KEY is not set: export it with your local key"):
        keyless.named("local")
    with pytest.raises(EmbeddingError, match=r"^LOCAL_KEY is not set: the small embedder cannot be used$"):
        keyless.embedder("small")


async def test_engine_retries_a_429_itself_and_says_so(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the pool the SDK makes no retries of its own; the engine does, visibly."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-FAKE-0003")
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    server.script("gpt-6-sol", Scenario(failure="status", status=429, retry_after="0.05", fail_times=1))
    settings = load_settings()
    catalog = Catalog(settings)
    member = catalog.member(parse_member("gpt-sol"))
    assert member.retries == 2  # [providers.openai] max_retries
    request = RunRequest(question="q", mode=Mode.CONSULT, members=[member], synthesizers=[member])
    events: list[ev.Event] = []
    pool = ProviderPool(settings)
    try:
        result = await run_panel(request, pool, events.append)
    finally:
        await pool.aclose()
    retries = [e for e in events if isinstance(e, ev.CallRetrying)]
    assert len(retries) == 1 and retries[0].wait_s == 0.05 and "429" in retries[0].reason
    assert result.positions[0] is not None and result.positions[0].status is CallStatus.SUCCESS
    sol_requests = [r for r in server.requests if r.body["model"] == "gpt-6-sol"]
    assert len(sol_requests) == 3  # refused, retried (position), then the synthesis
    assert all(r.headers.get("x-stainless-retry-count", "0") == "0" for r in sol_requests)


# --- secrets: what a server echoes of the credentials is never part of an error -----------------

CANARY = "sk-canary-0123456789abcdef"
PLAIN_SECRET = "plainsecretvalue-42"  # shaped like no key: only knowing the value redacts it


def keyed(kind: str, server: WireServer, api_key: str, base_url: str | None = None) -> Provider:
    if kind == "openai":
        return OpenAICompatProvider(
            "openai",
            base_url=base_url or server.openai_base_url,
            api_key=api_key,
            api_key_env="OPENAI_API_KEY",
            max_retries=0,
        )
    return AnthropicProvider(
        "anthropic",
        base_url=base_url or server.anthropic_base_url,
        api_key=api_key,
        api_key_env="ANTHROPIC_API_KEY",
        max_retries=0,
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("secret", [CANARY, PLAIN_SECRET])
@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(failure="status", status=400, error_message="bad header", echo_credentials=True),
        Scenario(failure="status", status=403, error_message="no access", echo_credentials=True),
        Scenario(failure="status", status=429, error_message="quota exceeded", echo_credentials=True),
        Scenario(failure="status", status=500, echo_credentials=True),
        Scenario(failure="error_event", error_type="api_error", error_message="bad", echo_credentials=True),
    ],
    ids=["400", "403", "429-quota", "500", "error-event"],
)
async def test_echoed_credentials_never_reach_the_error(
    kind: str, secret: str, scenario: Scenario, server: WireServer
) -> None:
    server.script("m1", scenario)
    err = await failure(keyed(kind, server, secret), chat())
    # the server did echo the key (so its absence below means something) ...
    assert secret in (
        server.requests[-1].headers.get("authorization", "")
        + server.requests[-1].headers.get("x-api-key", "")
    )
    # ... and the message says what went wrong, without it
    assert secret not in str(err) and "canary" not in str(err) and "plainsecret" not in str(err)
    assert "request headers" in str(err) and "[redacted]" in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_credentials_in_the_base_url_are_never_shown(kind: str, server: WireServer) -> None:
    path = "/v1" if kind == "openai" else ""
    refused = keyed(kind, server, "k" * 20, base_url=f"http://user:{CANARY}@127.0.0.1:9{path}")
    err = await failure(refused, chat())
    assert err.kind is ErrorKind.CONNECTION and "127.0.0.1:9" in str(err)
    assert "canary" not in str(err) and "user:" not in str(err)


# --- structured output on the wire: the forms each SDK sends, and how a refusal is told apart ----


def structured(form: VoteForm) -> ChatRequest:
    return dataclasses.replace(chat(), structured=vote_output(form), phase=Phase.VOTE)


@pytest.mark.parametrize(
    ("kind", "form"),
    [("openai", VoteForm.JSON_SCHEMA), ("openai", VoteForm.JSON_OBJECT), ("anthropic", VoteForm.TOOL)],
)
async def test_structured_answer_streams_piece_by_piece(
    kind: str, form: VoteForm, server: WireServer
) -> None:
    """OpenAI's JSON forms answer in the text; Anthropic's tool input comes apart from any text."""
    answer = '{"verdict": "reject", "objections": ["näher am Ziel ✓"]}'
    server.script("m1", Scenario(text="prose", structured_text=answer, chunk_count=6))
    items = await collect(make(kind, server), structured(form))
    apart = kind == "anthropic"
    pieces = [i.text for i in items if isinstance(i, StructuredDelta if apart else TextDelta)]
    assert "".join(pieces) == answer and len(pieces) > 1  # the tool's input too, piece by piece
    assert not [i for i in items if isinstance(i, TextDelta if apart else StructuredDelta)]
    assert items[-1] == Finished("tool_use" if kind == "anthropic" else "stop")
    sent = server.requests[-1].body
    if form is VoteForm.TOOL:
        assert sent["tool_choice"]["name"] == sent["tools"][0]["name"] == "cast_vote"
        assert "response_format" not in sent
    else:
        assert sent["response_format"]["type"] == form.value and "tools" not in sent


async def test_anthropic_words_beside_a_tool_call_stay_apart_from_its_input(server: WireServer) -> None:
    """A text block and a tool_use block in one message, through the real SDK: the words are
    text, the tool's input is the structured part, never joined into one reply."""
    answer = '{"verdict": "reject", "objections": []}'
    server.script("m1", Scenario(structured_text=answer, tool_text="VERDICT: ACCEPT\n", chunk_count=4))
    items = await collect(make("anthropic", server), structured(VoteForm.TOOL))
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "VERDICT: ACCEPT\n"
    assert "".join(i.text for i in items if isinstance(i, StructuredDelta)) == answer
    assert items[-1] == Finished("tool_use")


@pytest.mark.parametrize(
    ("kind", "form", "refuse_as", "status", "words"),
    [
        ("openai", VoteForm.JSON_SCHEMA, "llama_cpp", 500, "Input should be 'text' or 'json_object'"),
        (
            "openai",
            VoteForm.JSON_SCHEMA,
            "openai",
            400,
            "'response_format' of type 'json_schema' is not supported",
        ),
        (
            "openai",
            VoteForm.JSON_OBJECT,
            "openai",
            400,
            "'response_format' of type 'json_object' is not supported",
        ),
        ("anthropic", VoteForm.TOOL, "openai", 400, "forced tool use is not supported"),
    ],
)
async def test_a_refused_form_is_told_apart_from_a_failed_request(
    kind: str, form: VoteForm, refuse_as: str, status: int, words: str, server: WireServer
) -> None:
    server.script("m1", Scenario(accepts=frozenset(), refuse_as=refuse_as))  # type: ignore[arg-type]
    err = await failure(make(kind, server, retries=0), structured(form))
    assert err.kind is ErrorKind.FORMAT_REFUSED and not err.retryable
    assert str(err).startswith(f"{kind} refused structured output ({form.value}, HTTP {status}): ")
    assert words in str(err) and "Traceback" not in str(err) and "app.py" not in str(err)


@pytest.mark.parametrize("kind", KINDS)
async def test_other_errors_of_a_structured_request_stay_what_they_are(kind: str, server: WireServer) -> None:
    form = VoteForm.JSON_SCHEMA if kind == "openai" else VoteForm.TOOL
    server.script("m1", Scenario(failure="status", status=500, error_message="upstream exploded"))
    err = await failure(make(kind, server), structured(form))
    assert err.kind is ErrorKind.SERVER and err.retryable  # a server error, retried as it is
    server.script(
        "m1", Scenario(failure="status", status=400, error_message="maximum context length exceeded")
    )
    err = await failure(make(kind, server), structured(form))
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG
    # and words about formats in the error of a request that asked for none are no refusal
    server.script(
        "m1", Scenario(accepts=frozenset(), failure="status", status=400, error_message="bad json_schema")
    )
    err = await failure(make(kind, server), chat())
    assert err.kind is ErrorKind.BAD_REQUEST


@pytest.mark.parametrize(("kind", "form"), [("openai", VoteForm.TOOL), ("anthropic", VoteForm.JSON_SCHEMA)])
async def test_a_form_the_protocol_has_not_is_refused_before_sending(
    kind: str, form: VoteForm, server: WireServer
) -> None:
    err = await failure(make(kind, server), structured(form))
    assert err.kind is ErrorKind.FORMAT_REFUSED and server.requests == []


async def test_the_wire_server_holds_json_schema_to_openai_strict_mode(server: WireServer) -> None:
    """The check the votes pass is a real one: a schema strict mode would refuse is refused."""
    loose = dataclasses.replace(
        structured(VoteForm.JSON_SCHEMA),
        structured=StructuredOutput(
            VoteForm.JSON_SCHEMA, "v", "d", {"type": "object", "properties": {"a": {}}}
        ),
    )
    err = await failure(make("openai", server), loose)
    assert err.kind is ErrorKind.FORMAT_REFUSED and "additionalProperties" in str(err)
