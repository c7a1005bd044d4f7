# Proves tests/wire_server.py against the real openai 3.54 / anthropic 2.12 SDKs (no project code).
# anthropic 2.17 wraps the raw transport errors below as openai does (see raw_or_wrapped).
#
# Observed behaviour, async clients, stream=True, max_retries=0 (every row is asserted below):
#
# failure      | openai.AsyncOpenAI chat.completions         | anthropic.AsyncAnthropic messages
# ------------ | ------------------------------------------- | --------------------------------------------
# status 400   | openai.BadRequestError (raised by create()) | anthropic.BadRequestError (raised by create())
# status 401   | openai.AuthenticationError                  | anthropic.AuthenticationError
# status 404   | openai.NotFoundError                        | anthropic.NotFoundError
# status 429   | openai.RateLimitError; Retry-After is on    | anthropic.RateLimitError; same
#              |   err.response.headers["retry-after"]       |
# status 500   | openai.InternalServerError                  | anthropic.InternalServerError
# status 503   | openai.InternalServerError                  | anthropic.ServiceUnavailableError (an ISE)
# status 529   | openai.InternalServerError                  | anthropic.OverloadedError (an ISE)
#   (details)  | .body = inner "error" object; .type, .code; | .body = whole body; .type, .api_message,
#              |   str(err) = "Error code: N - <message>"    |   .request_id; str(err) = "Error code: N - "
#              |                                             |   followed by the whole body
# disconnect   | openai.APIConnectionError while iterating,  | raw httpx2.RemoteProtocolError while iterating
#              |   __cause__ httpx2.RemoteProtocolError      |   ("incomplete chunked read"), not wrapped
# stall + read | openai.APITimeoutError while iterating,     | raw httpx2.ReadTimeout while iterating,
#   timeout    |   __cause__ httpx2.ReadTimeout              |   not wrapped
# server stops | openai.APIConnectionError                   | raw httpx2.RemoteProtocolError
#   mid-stream |   (__cause__ httpx2.RemoteProtocolError)    |
# malformed    | json.JSONDecodeError (raw)                  | json.JSONDecodeError (raw)
# error_event  | openai.APIError - the base class, NOT an    | anthropic.APIStatusError, status_code 200,
#              |   APIStatusError, no status_code; .message, |   .type / .api_message from the event,
#              |   .type, .body = the event's "error" object |   .body = the whole event payload
# no_finish    | nothing raised; iteration just ends with no | nothing raised; iteration just ends with no
#              |   finish_reason and no usage chunk          |   message_delta / message_stop
#
# Retries (max_retries >= 1): both SDKs retry 408, 409, 429 and >= 500 (an x-should-retry: true/false
# header overrides) and connection errors before the response; errors while iterating a stream are never
# retried. "Retry-After: 0" does not mean "now": both honour only a delay > 0 and otherwise back off
# 0.375-0.5 s before the first retry; retry-after-ms wins over retry-after. openai does not retry at all
# when the delay is over 120 s; anthropic waits whatever it is told.
# anthropic 2.12 sends the API key as "Authorization: Bearer", not x-api-key.
"""Wire-level tests of `wire_server.WireServer` with the real provider SDKs."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.wire_server import RecordedRequest, Scenario, WireServer, split_text

MESSAGES: list[Any] = [{"role": "user", "content": "Say hello."}]


# ------------------------------------------------------------------------------------------- helpers


@dataclass
class Collected:
    """What a stream delivered before it ended or failed."""

    text: str = ""
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    events: list[str] = field(default_factory=list)
    first_event_at: float | None = None


@pytest.fixture
def srv() -> Iterator[WireServer]:
    with WireServer() as server:
        yield server


def openai_client(srv: WireServer, **kwargs: Any) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5.0)
    return openai.AsyncOpenAI(api_key="test", base_url=srv.openai_base_url, **kwargs)


def anthropic_client(srv: WireServer, **kwargs: Any) -> anthropic.AsyncAnthropic:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5.0)
    return anthropic.AsyncAnthropic(api_key="test", base_url=srv.anthropic_base_url, **kwargs)


async def consume_openai(client: openai.AsyncOpenAI, model: str, got: Collected) -> None:
    stream = await client.chat.completions.create(
        model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in stream:
        if got.first_event_at is None:
            got.first_event_at = time.perf_counter()
        got.events.append("chunk")
        for choice in chunk.choices:
            got.text += choice.delta.content or ""
            if choice.finish_reason is not None:
                got.finish_reason = choice.finish_reason
        if chunk.usage is not None:
            got.input_tokens = chunk.usage.prompt_tokens
            got.output_tokens = chunk.usage.completion_tokens


async def consume_anthropic(client: anthropic.AsyncAnthropic, model: str, got: Collected) -> None:
    stream = await client.messages.create(model=model, max_tokens=64, messages=MESSAGES, stream=True)
    async for event in stream:
        if got.first_event_at is None:
            got.first_event_at = time.perf_counter()
        got.events.append(event.type)
        if event.type == "message_start":
            got.input_tokens = event.message.usage.input_tokens
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            got.text += event.delta.text
        elif event.type == "message_delta":
            got.finish_reason = event.delta.stop_reason
            got.output_tokens = event.usage.output_tokens


async def run_openai(srv: WireServer, model: str, **client_kwargs: Any) -> Collected:
    got = Collected()
    async with openai_client(srv, **client_kwargs) as client:
        await consume_openai(client, model, got)
    return got


async def run_anthropic(srv: WireServer, model: str, **client_kwargs: Any) -> Collected:
    got = Collected()
    async with anthropic_client(srv, **client_kwargs) as client:
        await consume_anthropic(client, model, got)
    return got


async def wait_until(predicate: Any, timeout: float = 1.0) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())


async def raw_exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    path: str,
    body: bytes,
    extra_headers: str = "",
    chunked_body: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on an open connection and read the whole response."""
    if chunked_body:
        half = len(body) // 2
        framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:])) + b"0\r\n\r\n"
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n{extra_headers}\r\n"
        writer.write(head.encode() + framed)
    else:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra_headers}\r\n"
        writer.write(head.encode() + body)
    await writer.drain()
    status_and_headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(status_and_headers[0].split(" ")[1])
    headers = {}
    for line in status_and_headers[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        payload = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            payload += data[:-2]
    else:
        payload = await reader.readexactly(int(headers["content-length"]))
    return status, headers, payload


def stream_body(model: str = "m", **extra: Any) -> bytes:
    return json.dumps({"model": model, "stream": True, "messages": MESSAGES, **extra}).encode()


# ------------------------------------------------------------------------------------------- pure parts


def test_split_text_keeps_every_character_in_order() -> None:
    text = "Grüße, 世界! 🎉👍🏽 é"
    for count in (1, 2, 3, 5, 7, len(text), len(text) + 4):
        pieces = split_text(text, count)
        assert len(pieces) == count
        assert "".join(pieces) == text
    assert split_text("abcdefg", 3) == ["abc", "de", "fg"]
    assert split_text("ab", 4) == ["a", "b", "", ""]
    assert split_text("", 2) == ["", ""]
    assert split_text("abc", 0) == ["abc"]


# ------------------------------------------------------------------------------------------- success


@pytest.mark.asyncio
async def test_openai_success_text_usage_finish(srv: WireServer) -> None:
    text = "Grüße aus dem Draht — 世界 🎉!"
    srv.script("gpt-ok", Scenario(text=text, chunk_count=4, input_tokens=21, output_tokens=9))
    got = await run_openai(srv, "gpt-ok")
    assert got.text == text
    assert got.finish_reason == "stop"
    assert (got.input_tokens, got.output_tokens) == (21, 9)
    assert len(got.events) == 4 + 2  # four pieces, the finish chunk, the usage chunk

    [request] = srv.requests
    assert isinstance(request, RecordedRequest)
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gpt-ok"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.headers["authorization"] == "Bearer test"
    assert request.received_at <= time.perf_counter()


@pytest.mark.asyncio
async def test_anthropic_success_text_usage_stop_reason(srv: WireServer) -> None:
    text = "Grüße aus dem Draht — 世界 🎉!"
    srv.script("claude-ok", Scenario(text=text, chunk_count=3, input_tokens=33, output_tokens=11))
    got = await run_anthropic(srv, "claude-ok")
    assert got.text == text
    assert got.finish_reason == "end_turn"
    assert (got.input_tokens, got.output_tokens) == (33, 11)
    assert got.events == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the ping event is swallowed by the SDK

    [request] = srv.requests
    assert request.path == "/v1/messages"
    assert request.body["model"] == "claude-ok"
    assert request.body["max_tokens"] == 64
    # anthropic 2.12 sends the key as a bearer token (no x-api-key header) and pins anthropic-version.
    assert request.headers["authorization"] == "Bearer test"
    assert "anthropic-version" in request.headers


@pytest.mark.asyncio
async def test_finish_reason_is_mapped_per_provider(srv: WireServer) -> None:
    srv.script("length", Scenario(finish_reason="length"))
    srv.script("anthropic-word", Scenario(finish_reason="max_tokens"))
    assert (await run_openai(srv, "length")).finish_reason == "length"
    assert (await run_anthropic(srv, "length")).finish_reason == "max_tokens"
    assert (await run_openai(srv, "anthropic-word")).finish_reason == "length"
    assert (await run_anthropic(srv, "anthropic-word")).finish_reason == "max_tokens"


@pytest.mark.asyncio
async def test_default_scenario_serves_unscripted_models_and_clear_forgets(srv: WireServer) -> None:
    srv.default_scenario = Scenario(text="default answer")
    srv.script("special", Scenario(text="special answer"))
    assert (await run_openai(srv, "anything")).text == "default answer"
    assert (await run_anthropic(srv, "special")).text == "special answer"
    assert len(srv.requests) == 2
    srv.clear()
    assert srv.requests == []
    assert (await run_anthropic(srv, "special")).text == "default answer"


@pytest.mark.asyncio
async def test_stream_without_include_usage_has_no_usage_chunk(srv: WireServer) -> None:
    async with openai_client(srv) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None and len(chunk.choices) == 1 for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].model == "m"


@pytest.mark.asyncio
async def test_timing_first_byte_and_between_chunks(srv: WireServer) -> None:
    srv.script("timed", Scenario(chunk_count=4, first_byte_delay_s=0.1, between_chunks_s=0.03))
    async with openai_client(srv) as oai, anthropic_client(srv) as ant:
        await consume_openai(oai, "warm-up", Collected())
        await consume_anthropic(ant, "warm-up", Collected())
        for consume in (
            lambda got: consume_openai(oai, "timed", got),
            lambda got: consume_anthropic(ant, "timed", got),
        ):
            got = Collected()
            started = time.perf_counter()
            await consume(got)
            total = time.perf_counter() - started
            # Only lower bounds: the delays are the server's floor, and a busy machine may add to them.
            assert got.first_event_at is not None
            assert got.first_event_at - started >= 0.1
            assert total >= 0.1 + 3 * 0.03


@pytest.mark.asyncio
async def test_sixteen_concurrent_streams_per_sdk_overlap(srv: WireServer) -> None:
    async with openai_client(srv) as oai, anthropic_client(srv) as ant:
        await consume_openai(oai, "warm", Collected())
        await consume_anthropic(ant, "warm", Collected())
        # Every stream holds its first byte until all 34 requests (2 warm-ups + 32) have arrived, so
        # the 32 can only finish if they are all in flight at once: overlap proved by a barrier, not a
        # stopwatch. The timeout guards against the hang that serial streams would cause.
        srv.default_scenario = Scenario(chunk_count=5, hold_until_requests=34)
        results = [Collected() for _ in range(32)]
        await asyncio.wait_for(
            asyncio.gather(
                *(consume_openai(oai, f"o{i}", results[i]) for i in range(16)),
                *(consume_anthropic(ant, f"a{i}", results[16 + i]) for i in range(16)),
            ),
            timeout=60,
        )
    assert all(r.text == Scenario().text for r in results)
    last_request = max(r.received_at for r in srv.requests)
    assert all(r.first_event_at is not None and r.first_event_at >= last_request for r in results)
    assert len(srv.requests) == 34


# ------------------------------------------------------------------------------------------- status failures

OPENAI_STATUS_CASES = [
    (400, openai.BadRequestError, "invalid_request_error"),
    (401, openai.AuthenticationError, "authentication_error"),
    (404, openai.NotFoundError, "not_found_error"),
    (429, openai.RateLimitError, "rate_limit_error"),
    (500, openai.InternalServerError, "server_error"),
    (503, openai.InternalServerError, "server_error"),
    (529, openai.InternalServerError, "overloaded_error"),
]
ANTHROPIC_STATUS_CASES = [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (503, anthropic.ServiceUnavailableError, "api_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "exc_type", "error_type"), OPENAI_STATUS_CASES)
async def test_openai_status_failures(
    srv: WireServer, status: int, exc_type: type[openai.APIStatusError], error_type: str
) -> None:
    srv.script("m", Scenario(failure="status", status=status, error_type=error_type, error_message="nope"))
    with pytest.raises(exc_type) as caught:
        await run_openai(srv, "m")
    err = caught.value
    assert type(err) is exc_type
    assert err.status_code == status
    assert err.body == {"message": "nope", "type": error_type, "param": None, "code": err.code}
    assert err.type == error_type
    assert err.message == f"Error code: {status} - nope"
    assert "retry-after" not in err.response.headers


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "exc_type", "error_type"), ANTHROPIC_STATUS_CASES)
async def test_anthropic_status_failures(
    srv: WireServer, status: int, exc_type: type[anthropic.APIStatusError], error_type: str
) -> None:
    srv.script("m", Scenario(failure="status", status=status, error_type=error_type, error_message="nope"))
    with pytest.raises(exc_type) as caught:
        await run_anthropic(srv, "m")
    err = caught.value
    assert type(err) is exc_type
    assert isinstance(err, anthropic.InternalServerError) == (status >= 500)
    assert err.status_code == status
    assert err.body == {"type": "error", "error": {"type": error_type, "message": "nope"}}
    assert err.type == error_type
    assert err.api_message == "nope"
    assert err.request_id is not None and err.request_id.startswith("req_")


@pytest.mark.asyncio
async def test_status_defaults_and_retry_after_header_visible(srv: WireServer) -> None:
    srv.script("m", Scenario(failure="status", status=429, retry_after="7"))
    with pytest.raises(openai.RateLimitError) as oai_caught:
        await run_openai(srv, "m")
    assert oai_caught.value.response.headers["retry-after"] == "7"
    assert oai_caught.value.code == "rate_limit_exceeded"
    assert oai_caught.value.type == "rate_limit_error"
    with pytest.raises(anthropic.RateLimitError) as ant_caught:
        await run_anthropic(srv, "m")
    assert ant_caught.value.response.headers["retry-after"] == "7"
    assert ant_caught.value.type == "rate_limit_error"


# ------------------------------------------------------------------------------------------- stream failures


def raw_or_wrapped(err: BaseException | None, raw: type[BaseException]) -> bool:
    """anthropic up to 2.16 lets a transport error mid-stream out raw; 2.17 wraps it, as openai does,
    in its own APIConnectionError (APITimeoutError for a timeout) with the raw one as its cause.
    Quorum's adapter reads both (it walks the cause chain); these tests accept both."""
    if type(err) is raw:
        return True
    return isinstance(err, anthropic.APIConnectionError) and type(err.__cause__) is raw


@pytest.mark.asyncio
async def test_disconnect(srv: WireServer) -> None:
    srv.script("m", Scenario(text="abcdefghij", chunk_count=5, failure="disconnect"))
    got = Collected()
    with pytest.raises(openai.APIConnectionError) as oai_caught:
        async with openai_client(srv) as client:
            await consume_openai(client, "m", got)
    assert type(oai_caught.value) is openai.APIConnectionError
    assert isinstance(oai_caught.value.__cause__, httpx2.RemoteProtocolError)
    assert got.text == "abcd"  # two of five pieces arrived
    assert got.finish_reason is None

    got = Collected()
    with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)) as ant_caught:
        async with anthropic_client(srv) as client:
            await consume_anthropic(client, "m", got)
    assert raw_or_wrapped(ant_caught.value, httpx2.RemoteProtocolError)
    assert "incomplete chunked read" in str(ant_caught.value)
    assert got.text == "abcd"
    assert got.events[-1] == "content_block_delta"
    assert await wait_until(lambda: srv.open_connections == 0)


@pytest.mark.asyncio
async def test_stall_hits_the_sdk_read_timeout_and_the_handler_ends(srv: WireServer) -> None:
    srv.script("m", Scenario(text="abcdefghij", chunk_count=5, failure="stall", stall_s=30.0))
    timeout = httpx2.Timeout(0.4)

    # The timeout error itself shows the 0.4 s read timeout fired inside the 30 s stall; only the
    # lower bound is timed (a busy machine can only add to it).
    got = Collected()
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError) as oai_caught:
        async with openai_client(srv, timeout=timeout) as client:
            await consume_openai(client, "m", got)
    assert time.perf_counter() - started >= 0.4
    assert isinstance(oai_caught.value.__cause__, httpx2.ReadTimeout)
    assert got.text == "ab"
    assert await wait_until(lambda: srv.open_connections == 0)  # the stalled handler noticed the hang-up

    got = Collected()
    started = time.perf_counter()
    with pytest.raises((httpx2.ReadTimeout, anthropic.APITimeoutError)) as ant_caught:
        async with anthropic_client(srv, timeout=timeout) as client:
            await consume_anthropic(client, "m", got)
    assert raw_or_wrapped(ant_caught.value, httpx2.ReadTimeout)
    assert time.perf_counter() - started >= 0.4
    assert got.text == "ab"
    assert await wait_until(lambda: srv.open_connections == 0)


@pytest.mark.asyncio
async def test_stall_shorter_than_the_timeout_resumes_the_stream(srv: WireServer) -> None:
    srv.script("m", Scenario(text="abcdefghij", chunk_count=5, failure="stall", stall_s=0.15))
    started = time.perf_counter()
    got = await run_anthropic(srv, "m")
    assert got.text == "abcdefghij"
    assert got.finish_reason == "end_turn"
    assert time.perf_counter() - started >= 0.15


@pytest.mark.asyncio
async def test_stop_returns_quickly_while_streams_are_stalled() -> None:
    srv = WireServer().start()
    srv.default_scenario = Scenario(text="abcdefghij", chunk_count=5, failure="stall", stall_s=30.0)
    oai_got, ant_got = Collected(), Collected()
    async with openai_client(srv) as oai, anthropic_client(srv) as ant:
        oai_task = asyncio.create_task(consume_openai(oai, "m", oai_got))
        ant_task = asyncio.create_task(consume_anthropic(ant, "m", ant_got))
        assert await wait_until(lambda: oai_got.text == "ab" and ant_got.text == "ab")
        # stop() must not wait out the 30 s stalls: the guard is far below them and far above any
        # machine's load.
        await asyncio.wait_for(asyncio.to_thread(srv.stop), timeout=15)
        oai_result, ant_result = await asyncio.gather(oai_task, ant_task, return_exceptions=True)
    assert type(oai_result) is openai.APIConnectionError
    assert isinstance(oai_result.__cause__, httpx2.RemoteProtocolError)
    assert raw_or_wrapped(ant_result, httpx2.RemoteProtocolError)
    srv.stop()  # a second stop is harmless


@pytest.mark.asyncio
async def test_malformed(srv: WireServer) -> None:
    srv.script("m", Scenario(text="abcdefghij", chunk_count=5, failure="malformed"))
    got = Collected()
    with pytest.raises(json.JSONDecodeError):
        async with openai_client(srv) as client:
            await consume_openai(client, "m", got)
    assert got.text == "abcd"

    got = Collected()
    with pytest.raises(json.JSONDecodeError):
        async with anthropic_client(srv) as client:
            await consume_anthropic(client, "m", got)
    assert got.text == "abcd"


@pytest.mark.asyncio
async def test_error_event_openai(srv: WireServer) -> None:
    srv.script("default", Scenario(text="abcdefghij", chunk_count=5, failure="error_event"))
    srv.script(
        "custom",
        Scenario(failure="error_event", error_type="rate_limit_error", error_message="slow down"),
    )
    got = Collected()
    with pytest.raises(openai.APIError) as caught:
        async with openai_client(srv) as client:
            await consume_openai(client, "default", got)
    err = caught.value
    assert type(err) is openai.APIError  # the base class: not an APIStatusError, no status_code
    assert not isinstance(err, openai.APIStatusError)
    assert err.message == "The server had an error while processing your request."
    assert err.type == "server_error"
    assert got.text == "abcd"

    with pytest.raises(openai.APIError) as caught:
        await run_openai(srv, "custom")
    assert caught.value.message == "slow down"
    assert caught.value.type == "rate_limit_error"
    assert caught.value.body == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": None,
    }


@pytest.mark.asyncio
async def test_error_event_anthropic(srv: WireServer) -> None:
    srv.script("default", Scenario(text="abcdefghij", chunk_count=5, failure="error_event"))
    srv.script("custom", Scenario(failure="error_event", error_type="api_error", error_message="boom"))
    got = Collected()
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with anthropic_client(srv) as client:
            await consume_anthropic(client, "default", got)
    err = caught.value
    assert type(err) is anthropic.APIStatusError
    assert err.status_code == 200
    assert err.type == "overloaded_error"
    assert err.api_message == "Overloaded"
    assert err.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert got.text == "abcd"

    with pytest.raises(anthropic.APIStatusError) as caught:
        await run_anthropic(srv, "custom")
    assert (caught.value.status_code, caught.value.type, caught.value.api_message) == (
        200,
        "api_error",
        "boom",
    )


@pytest.mark.asyncio
async def test_no_finish_raises_nothing(srv: WireServer) -> None:
    srv.script("m", Scenario(text="abcdefghij", chunk_count=5, failure="no_finish"))
    got = await run_openai(srv, "m")
    assert (got.text, got.finish_reason, got.input_tokens, got.output_tokens) == (
        "abcdefghij",
        None,
        None,
        None,
    )
    assert len(got.events) == 5

    got = await run_anthropic(srv, "m")
    assert (got.text, got.finish_reason, got.output_tokens) == ("abcdefghij", None, None)
    assert got.input_tokens == 12  # message_start did arrive
    assert got.events[-1] == "content_block_delta"


# ------------------------------------------------------------------------------------------- retries


@pytest.mark.asyncio
async def test_fail_times_with_retry_after_zero_succeeds_on_the_retry(srv: WireServer) -> None:
    scenario = Scenario(text="second time lucky", failure="status", status=429, retry_after="0", fail_times=1)
    for run in (run_openai, run_anthropic):
        srv.clear()
        srv.script("m", scenario)
        started = time.perf_counter()
        got = await run(srv, "m", max_retries=1)
        elapsed = time.perf_counter() - started
        assert got.text == "second time lucky"
        assert [r.headers["x-stainless-retry-count"] for r in srv.requests] == ["0", "1"]
        # Retry-After: 0 is not honoured as "now": the SDK falls back to its 0.375-0.5 s backoff
        # (a floor; a busy machine can only add to it).
        assert elapsed >= 0.3, elapsed
        # The failure budget is spent; later requests for the model succeed at once.
        assert (await run(srv, "m")).text == "second time lucky"


@pytest.mark.asyncio
async def test_fail_times_without_retries_fails_then_succeeds(srv: WireServer) -> None:
    srv.script("m", Scenario(failure="disconnect", fail_times=2))
    for _ in range(2):
        with pytest.raises(openai.APIConnectionError):
            await run_openai(srv, "m")
    assert (await run_openai(srv, "m")).finish_reason == "stop"
    srv.script(
        "m", Scenario(failure="status", status=500, fail_times=1)
    )  # scripting again restarts the count
    with pytest.raises(anthropic.InternalServerError):
        await run_anthropic(srv, "m")
    assert (await run_anthropic(srv, "m")).finish_reason == "end_turn"


# ------------------------------------------------------------------------------------------- raw HTTP


@pytest.mark.asyncio
async def test_keep_alive_connection_close_and_plain_errors(srv: WireServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    try:
        status, headers, payload = await raw_exchange(reader, writer, "/v1/chat/completions", stream_body())
        assert status == 200
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["transfer-encoding"] == "chunked"
        assert payload.endswith(b"data: [DONE]\n\n")

        # Same connection: a chunked request body, then the Anthropic format.
        status, _, payload = await raw_exchange(
            reader, writer, "/v1/messages", stream_body(), chunked_body=True
        )
        assert status == 200
        assert payload.startswith(b"event: message_start\ndata: ")
        assert payload.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')

        status, _, payload = await raw_exchange(reader, writer, "/v2/nothing", stream_body())
        assert status == 404
        assert json.loads(payload)["error"]["type"] == "not_found_error"

        status, _, payload = await raw_exchange(reader, writer, "/v1/messages", stream_body(stream=False))
        assert status == 400
        assert "only supports streaming" in json.loads(payload)["error"]["message"]

        status, _, payload = await raw_exchange(reader, writer, "/v1/chat/completions", b"{not json")
        assert status == 400
        assert json.loads(payload)["error"]["type"] == "invalid_request_error"

        status, headers, _ = await raw_exchange(
            reader, writer, "/v1/chat/completions", stream_body(), extra_headers="Connection: close\r\n"
        )
        assert status == 200
        assert headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(), timeout=1.0) == b""  # the server hung up
    finally:
        writer.close()
    assert srv.connections_accepted == 1
    assert [r.path for r in srv.requests] == [
        "/v1/chat/completions",
        "/v1/messages",
        "/v2/nothing",
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/chat/completions",
    ]
    assert srv.requests[2].body["model"] == "m"
    assert srv.requests[4].body == {}


@pytest.mark.asyncio
async def test_sdk_clients_reuse_connections(srv: WireServer) -> None:
    async with openai_client(srv) as oai, anthropic_client(srv) as ant:
        for _ in range(3):
            await consume_openai(oai, "m", Collected())
            await consume_anthropic(ant, "m", Collected())
    assert len(srv.requests) == 6
    assert srv.connections_accepted == 2


def test_start_stop_and_base_urls() -> None:
    srv = WireServer()
    with srv:
        port = srv.port
        assert srv.openai_base_url == f"http://127.0.0.1:{port}/v1"
        assert srv.anthropic_base_url == f"http://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=1):  # an idle connection
            srv.stop()  # returns although the idle connection is still open (it would hang if not)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
