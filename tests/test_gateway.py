"""Behind a gateway: a LiteLLM proxy's answers, as captured from a real one, replayed by the wire
server to the real openai SDK through Quorum's adapter. Every message keeps the provider's own
words next to Quorum's advice, and the advice names the right layer: the gateway's key or model,
or the upstream's behind it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.test_providers_wire import make as direct_provider
from tests.wire_server import LITELLM_CAPTURES, Scenario, WireServer
from tui.cli.progress import ProgressPrinter
from tui.config.catalog import Catalog
from tui.config.loading import load_settings
from tui.config.schema import ProviderConfig, parse_member
from tui.engine import events as ev
from tui.engine.orchestrator import run_panel
from tui.engine.provider import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    GatewayRetried,
    Provider,
    ProviderError,
    Usage,
)
from tui.engine.types import CallStatus, Mode, RunRequest, RunResult
from tui.history.recorder import RunRecorder
from tui.history.store import RunStore
from tui.mcp.results import run_markdown, run_report
from tui.pool import ProviderPool
from tui.providers.anthropic_messages import AnthropicProvider
from tui.providers.errors import SAID_LIMIT, said
from tui.providers.gateway import retry_after_seconds
from tui.providers.openai_compat import OpenAICompatProvider
from tui.render.report import render_markdown

GATEWAY_KEY = "sk-gw-master-1234567890abcdef"


@pytest.fixture(autouse=True)
def fresh(server: WireServer) -> None:
    server.clear()


def gateway(server: WireServer, kind: str = "litellm") -> Provider:
    return OpenAICompatProvider(
        "gw",
        base_url=server.openai_base_url,
        api_key=GATEWAY_KEY,
        api_key_env="LITELLM_KEY",
        max_retries=0,
        gateway=kind,
    )


def chat(model: str = "fault") -> ChatRequest:
    return ChatRequest(
        model_id=model,
        system="You are terse.",
        messages=(ChatMessage("user", "Say hello."),),
        max_output_tokens=64,
        alias="gw-smol",
    )


async def failure(provider: Provider) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        async for _ in provider.stream(chat()):
            pass
    await provider.aclose()
    return caught.value


async def replay(server: WireServer, capture: str, kind: str = "litellm") -> ProviderError:
    server.script("fault", LITELLM_CAPTURES[capture])
    return await failure(gateway(server, kind))


async def test_an_upstream_key_refused_behind_the_gateway_is_not_the_gateway_key(server: WireServer) -> None:
    err = await replay(server, "upstream-401")
    text = str(err)
    assert err.kind is ErrorKind.AUTH
    assert "Incorrect API key provided" in text  # the provider's own words
    assert "the gateway's config" in text and "LITELLM_KEY" in text
    assert "rejected the API key (HTTP 401); check LITELLM_KEY" not in text  # the old, wrong advice
    assert "litellm.AuthenticationError" not in text  # the gateway's class-name lead, not the words


async def test_an_upstream_model_unknown_behind_the_gateway_says_where_to_fix_it(server: WireServer) -> None:
    err = await replay(server, "upstream-404")
    assert err.kind is ErrorKind.UNKNOWN_MODEL
    assert "does not exist or you do not have access to it" in str(err)
    assert "gateway's config" in str(err)


async def test_the_gateways_renamed_retry_after_is_honoured(server: WireServer) -> None:
    err = await replay(server, "upstream-429")
    assert err.kind is ErrorKind.RATE_LIMIT and err.retryable
    assert err.retry_after_s == 7.0
    assert "Please try again in 7s" in str(err)
    # What the provider asked, not a promise: whether anyone tries again is not the error's to say.
    assert "the provider asks to wait 7 s before trying again" in str(err) and "retry after" not in str(err)


async def test_a_litellm_proxy_not_configured_as_a_gateway_is_still_read_as_one(server: WireServer) -> None:
    """Its headers give it away: the renamed Retry-After is read, the upstream's words told as its."""
    err = await replay(server, "upstream-429", kind="")
    assert err.retry_after_s == 7.0 and "OpenAI (behind gw) said" in str(err)


async def test_a_wrong_gateway_key_is_called_a_key_problem_not_a_bad_request(server: WireServer) -> None:
    err = await replay(server, "wrong-gateway-key")
    assert err.kind is ErrorKind.AUTH
    assert "No connected db." in str(err) and "LITELLM_KEY" in str(err)
    assert "refused the request" not in str(err)


async def test_a_model_the_gateway_does_not_serve(server: WireServer) -> None:
    err = await replay(server, "unknown-to-gateway")
    assert err.kind is ErrorKind.UNKNOWN_MODEL and "model list" in str(err)
    assert "Invalid model name passed" in str(err)


async def test_context_too_long_keeps_the_meaningful_end(server: WireServer) -> None:
    err = await replay(server, "upstream-context")
    assert err.kind is ErrorKind.CONTEXT_TOO_LONG
    assert "maximum context length is 2048 tokens" in str(err)
    assert "Please reduce the length of the messages" in str(err)


async def test_a_gateway_that_cannot_reach_the_model_behind_it_says_so_not_server_error(
    server: WireServer,
) -> None:
    err = await replay(server, "upstream-unreachable")
    assert err.kind is ErrorKind.CONNECTION and err.retryable
    assert "could not reach the provider behind it" in str(err)
    assert "server error" not in str(err) and "Connection error." in str(err)


@pytest.mark.parametrize("capture", ["upstream-dropped", "upstream-malformed"])
async def test_an_upstream_fault_mid_stream_is_a_lost_connection_not_a_bare_500(
    capture: str, server: WireServer
) -> None:
    err = await replay(server, capture)
    assert err.kind is ErrorKind.CONNECTION and err.retryable
    assert "(500)" not in str(err) and "lost the provider behind it mid-answer" in str(err)


async def test_a_direct_providers_words_are_kept_for_401_404_and_429(server: WireServer) -> None:
    direct = OpenAICompatProvider(
        "openai",
        base_url=server.openai_base_url,
        api_key="sk-direct-1234567890",
        api_key_env="OPENAI_API_KEY",
        max_retries=0,  # the 429's words at once, not after the SDK's backoff and retries
    )
    for status, words in [(401, "Incorrect key xyz"), (404, "no model named m"), (429, "slow down, friend")]:
        server.script("fault", Scenario(failure="status", status=status, error_message=words))
        with pytest.raises(ProviderError) as caught:
            async for _ in direct.stream(chat()):
                pass
        assert words in str(caught.value), status
    await direct.aclose()


async def test_a_gateway_that_echoes_the_key_has_it_redacted_and_a_long_message_is_cut_at_the_middle(
    server: WireServer,
) -> None:
    filler = "word " * 200
    message = f"litellm.BadRequestError: start of it {GATEWAY_KEY} {filler} the meaningful end"
    server.script(
        "fault",
        Scenario(
            failure="status",
            status=400,
            error_body={"error": {"message": message, "type": None, "param": None, "code": "400"}},
        ),
    )
    err = await failure(gateway(server))
    assert GATEWAY_KEY not in str(err) and "[redacted]" in str(err)
    assert "start of it" in str(err) and "the meaningful end" in str(err) and " … " in str(err)
    assert len(said(message)) <= SAID_LIMIT


def test_a_gateway_retries_nothing_itself_unless_told() -> None:
    assert ProviderConfig(kind="openai", gateway="litellm").retries == 0
    assert ProviderConfig(kind="openai", gateway=True).retries == 0
    assert ProviderConfig(kind="openai", gateway="litellm", max_retries=1).retries == 1
    assert ProviderConfig(kind="openai").retries == 2


def test_a_gateway_of_an_unknown_make_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        ProviderConfig.model_validate({"kind": "openai", "gateway": "kong"})


def gateway_settings(tmp_path: Path, server: WireServer, extra: str = "") -> Catalog:
    config = tmp_path / "gw.toml"
    config.write_text(
        f"""
[providers.gw]
kind = "openai"
base_url = "{server.openai_base_url}"
api_key_env = "LITELLM_KEY"
gateway = "litellm"
{extra}

[models.gw-smol]
provider = "gw"
id = "fault"
context_window = 8192
max_output = 256
structured_output = "text"
"""
    )
    return Catalog(load_settings(config), environ={"LITELLM_KEY": GATEWAY_KEY})


async def test_one_429_through_a_gateway_is_one_call_from_quorum(tmp_path: Path, server: WireServer) -> None:
    """The gateway has made its retries before it answers: Quorum adds none of its own by default,
    and the member's error says the retries were the gateway's."""
    catalog = gateway_settings(tmp_path, server)
    server.script("fault", LITELLM_CAPTURES["upstream-429"])
    member = catalog.member(parse_member("gw-smol:for"))
    assert member.retries == 0
    seen: list[ev.Event] = []
    pool = ProviderPool(catalog.settings, environ={"LITELLM_KEY": GATEWAY_KEY})
    request = RunRequest(question="q?", members=[member], synthesizers=[member], mode=Mode.CONSULT)
    try:
        result = await run_panel(request, pool, seen.append)
    finally:
        await pool.aclose()
    position = result.positions[0]
    assert position is not None
    assert position.status is CallStatus.ERROR and "after its own retries" in (position.error or "")
    assert len(server.requests) == 1  # every member failed: no synthesis is asked
    assert not any(isinstance(e, ev.CallRetrying) for e in seen)
    # No retry of Quorum's follows, so nothing reads like one will.
    assert "retry after" not in (position.error or "")
    assert "the provider asks to wait 7 s before trying again" in (position.error or "")
    assert position.retries == 0 and position.gateway_retries is None


async def run_through(
    tmp_path: Path, server: WireServer, scenario: Scenario, extra: str = ""
) -> tuple[RunResult, list[ev.Event]]:
    """One member, gw-smol behind the gateway, asked once in consult mode (it synthesizes too)."""
    catalog = gateway_settings(tmp_path, server, extra)
    server.script("fault", scenario)
    member = catalog.member(parse_member("gw-smol:for"))
    seen: list[ev.Event] = []
    pool = ProviderPool(catalog.settings, environ={"LITELLM_KEY": GATEWAY_KEY})
    request = RunRequest(question="q?", members=[member], synthesizers=[member], mode=Mode.CONSULT)
    try:
        return await run_panel(request, pool, seen.append), seen
    finally:
        await pool.aclose()


async def test_the_gateways_own_retries_are_read_from_its_answer(tmp_path: Path, server: WireServer) -> None:
    """LiteLLM says on an answer how often it retried before it (x-litellm-attempted-retries): the
    call keeps it apart from Quorum's own retries (none here)."""
    answered = Scenario(text="Fine after all.", headers={"x-litellm-attempted-retries": "2"})
    result, _ = await run_through(tmp_path, server, answered)
    position = result.positions[0]
    assert position is not None and position.status is CallStatus.SUCCESS
    assert position.gateway_retries == 2 and position.retries == 0
    data = json.loads(result.model_dump_json())
    assert data["positions"][0]["gateway_retries"] == 2 and data["positions"][0]["retries"] == 0


async def test_a_gateway_that_says_nothing_of_retries_is_not_said_to_have_made_none(
    tmp_path: Path, server: WireServer
) -> None:
    result, _ = await run_through(tmp_path, server, Scenario(text="Plain answer."))
    position = result.positions[0]
    assert position is not None and position.gateway_retries is None


async def test_a_hostile_retries_header_is_not_a_count(tmp_path: Path, server: WireServer) -> None:
    for raw in ("-3", "lots", "99999999999999999999999"):
        result, _ = await run_through(
            tmp_path, server, Scenario(text="Answer.", headers={"x-litellm-attempted-retries": raw})
        )
        position = result.positions[0]
        assert position is not None and position.status is CallStatus.SUCCESS, raw
        assert position.gateway_retries is None, raw


async def test_both_layers_retries_are_counted_apart_and_named(tmp_path: Path, server: WireServer) -> None:
    """With max_retries = 1 Quorum retries a 429 once itself; the gateway says it retried twice
    before its answer. The call keeps both, the progress names whose retry it is, and the history
    keeps them."""
    refused_once = Scenario(
        text="Second time lucky.",
        failure="status",
        status=429,
        fail_times=1,
        headers={"llm_provider-retry-after": "0.01", "x-litellm-attempted-retries": "2"},
    )
    result, seen = await run_through(tmp_path, server, refused_once, extra="max_retries = 1")
    position = result.positions[0]
    assert position is not None and position.status is CallStatus.SUCCESS
    assert position.retries == 1 and position.gateway_retries == 2
    retrying = [e for e in seen if isinstance(e, ev.CallRetrying)]
    assert len(retrying) == 1

    printer = ProgressPrinter(io.StringIO())
    lines = [printer._line(e) for e in seen]
    said_lines = "\n".join(line for line in lines if line)
    assert "Quorum's retry 1/1 in 0.01 s" in said_lines, said_lines
    assert "Quorum retried it 1×" in said_lines and "the gateway retried it 2×" in said_lines, said_lines

    store = RunStore(tmp_path / "history.sqlite3")
    try:
        recorder = RunRecorder(store, config={})
        for event in seen:
            recorder(event)
        store.flush()
        kept = store.load(result.run_id).positions[0]
    finally:
        store.close()
    assert kept is not None and kept.retries == 1 and kept.gateway_retries == 2


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_both_wire_formats_pass_on_the_gateways_retry_count(kind: str, server: WireServer) -> None:
    """A LiteLLM proxy serves Anthropic's messages API too, with the same headers."""
    server.script("fault", Scenario(text="Answer.", headers={"x-litellm-attempted-retries": "3"}))
    provider = direct_provider(kind, server)
    try:
        items = [item async for item in provider.stream(chat())]
    finally:
        await provider.aclose()
    assert GatewayRetried(3) in items


# -- whose token counts they are ------------------------------------------------------------------


def test_the_proxy_sends_its_own_count_as_it_sends_the_providers() -> None:
    """What the captures show, kept as a fact: a LiteLLM proxy's answer whose counts it made itself
    (the upstream sent none) has the same headers and a usage of the same shape as one whose
    counts are the upstream's. Only the numbers differ: nothing tells one from the other."""
    counted, passed_on = LITELLM_CAPTURES["counted-by-gateway"], LITELLM_CAPTURES["counted-by-upstream"]
    assert counted.headers == passed_on.headers
    assert counted.usage_event is not None and passed_on.usage_event is not None

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {key: shape(inner) for key, inner in value.items()}
        return type(value).__name__

    assert shape(counted.usage_event) == shape(passed_on.usage_event)


@pytest.mark.parametrize("capture", ["counted-by-gateway", "counted-by-upstream"])
async def test_counts_through_a_gateway_are_said_to_be_the_gateways(
    tmp_path: Path, server: WireServer, capture: str
) -> None:
    """Whether the provider behind it counted them or the gateway did, the counts come from the
    gateway: the call, the totals and the JSON say so, and they are not called Quorum's estimate."""
    result, seen = await run_through(tmp_path, server, LITELLM_CAPTURES[capture])
    position = result.positions[0]
    assert position is not None and position.status is CallStatus.SUCCESS
    usage = LITELLM_CAPTURES[capture].usage_event
    assert usage is not None
    assert (position.input_tokens, position.output_tokens) == (
        usage["usage"]["prompt_tokens"],
        usage["usage"]["completion_tokens"],
    )
    data = json.loads(result.model_dump_json())
    assert data["positions"][0]["tokens_source"] == "gateway"
    assert data["positions"][0]["tokens_estimated"] is False
    assert data["totals"]["tokens_source"] == "gateway" and data["totals"]["tokens_estimated"] is False

    printer = ProgressPrinter(io.StringIO())
    said_lines = "\n".join(line for line in (printer._line(e) for e in seen) if line)
    total = usage["usage"]["total_tokens"]
    assert f"· {total} tokens (gateway's count) ·" in said_lines, said_lines
    assert "tokens (gateway's count)" in said_lines.splitlines()[-1], said_lines  # the completion line
    report = render_markdown(result)
    row = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    prompt, completion = usage["usage"]["prompt_tokens"], usage["usage"]["completion_tokens"]
    assert f"| {prompt}/{completion} (gateway's count) |" in row, row
    assert "~" not in row


async def test_a_litellm_proxy_not_configured_as_a_gateway_has_its_counts_called_its(
    server: WireServer,
) -> None:
    server.script("fault", LITELLM_CAPTURES["counted-by-gateway"])
    provider = direct_provider("openai", server)
    try:
        items = [item async for item in provider.stream(chat())]
    finally:
        await provider.aclose()
    assert Usage(29, 7, counted_by_gateway=True) in items


async def test_a_provider_reached_directly_counts_its_own(server: WireServer) -> None:
    server.script("fault", Scenario(text="Answer.", input_tokens=31, output_tokens=8))
    for kind in ("openai", "anthropic"):
        provider = direct_provider(kind, server)
        try:
            items = [item async for item in provider.stream(chat())]
        finally:
            await provider.aclose()
        assert Usage(31, 8) in items and Usage(31, 8, counted_by_gateway=True) not in items, kind


async def test_a_gateway_that_sends_no_count_is_estimated_by_quorum(
    tmp_path: Path, server: WireServer
) -> None:
    result, _ = await run_through(tmp_path, server, Scenario(text="No usage at all.", reports_usage=False))
    position = result.positions[0]
    assert position is not None and position.output_tokens > 0
    data = json.loads(result.model_dump_json())
    assert data["positions"][0]["tokens_source"] == "estimated"
    assert data["positions"][0]["tokens_estimated"] is True


async def test_the_messages_api_through_the_proxy_keeps_its_input_count_and_says_whose(
    server: WireServer,
) -> None:
    """Served from a model in OpenAI's format, the proxy's Anthropic stream carries no header of
    its own and says 0 input tokens at its start, the count only at its end: the count is read
    there, and a provider configured as a gateway has it called the gateway's."""
    server.script("fault", LITELLM_CAPTURES["messages-from-openai-format"])
    provider = AnthropicProvider(
        "gw",
        base_url=server.anthropic_base_url,
        api_key=GATEWAY_KEY,
        api_key_env="LITELLM_KEY",
        max_retries=0,
        gateway="litellm",
    )
    try:
        items = [item async for item in provider.stream(chat())]
    finally:
        await provider.aclose()
    assert Usage(31, 8, counted_by_gateway=True) in items


async def test_the_history_keeps_whose_counts_they_are(tmp_path: Path, server: WireServer) -> None:
    result, seen = await run_through(tmp_path, server, LITELLM_CAPTURES["counted-by-gateway"])
    store = RunStore(tmp_path / "history.sqlite3")
    try:
        recorder = RunRecorder(store, config={})
        for event in seen:
            recorder(event)
        assert await store.recorded(result.run_id) is None
        kept = store.load(result.run_id)
    finally:
        store.close()
    position = kept.positions[0]
    assert position is not None
    data = json.loads(kept.model_dump_json())
    assert data["positions"][0]["tokens_source"] == "gateway"
    assert data["totals"]["tokens_source"] == "gateway"


async def test_the_mcp_report_says_whose_counts_they_are(tmp_path: Path, server: WireServer) -> None:
    result, _ = await run_through(tmp_path, server, LITELLM_CAPTURES["counted-by-gateway"])
    report = run_report(result)
    assert [m.tokens_source for m in report.members] == ["gateway"]
    assert report.totals.tokens_source == "gateway"
    assert "gateway's count" in run_markdown(report)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after-ms": "nan", "retry-after": "4"}, 4.0),
        ({"llm_provider-retry-after": "Infinity"}, None),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
    ],
)
def test_a_retry_after_that_is_no_number_of_seconds_asks_for_no_wait(
    headers: dict[str, str], expected: float | None
) -> None:
    """`inf` would be a wait that never ends, `nan` one asyncio cannot sleep: both are ignored,
    as a date is, and the next header (or Quorum's own back-off) decides."""
    assert retry_after_seconds(headers) == expected
