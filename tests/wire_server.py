"""A local fake of the OpenAI and Anthropic streaming HTTP APIs, for wire-level tests and benchmarks.

`WireServer` is a small HTTP/1.1 server written on asyncio streams (standard library only). It runs its
own event loop in a daemon thread, so it can serve both synchronous and asynchronous clients, including
the real ``openai`` and ``anthropic`` SDKs pointed at it with ``base_url``:

    with WireServer() as srv:
        srv.script("gpt-test", Scenario(text="Hi there", first_byte_delay_s=0.1))
        client = openai.AsyncOpenAI(api_key="test", base_url=srv.openai_base_url, max_retries=0)
        ...

It speaks two wire formats, chosen by the request path:

* ``POST /v1/chat/completions`` -- OpenAI Chat Completions streaming: ``data: {chunk}\\n\\n`` Server-Sent
  Events of ``chat.completion.chunk`` objects, a finish chunk carrying ``finish_reason``, a final usage
  chunk (``choices: []``) when the request asked for ``stream_options.include_usage``, then
  ``data: [DONE]``.
* ``POST /v1/messages`` -- Anthropic Messages streaming: ``event:``/``data:`` pairs ``message_start``
  (carrying ``usage.input_tokens``), ``content_block_start``, ``ping``, ``content_block_delta``
  (``text_delta``) for each piece, ``content_block_stop``, ``message_delta`` (``stop_reason`` and
  ``usage.output_tokens``) and ``message_stop``.

Structured output is checked and answered as real servers do (see `Scenario`): OpenAI's
``response_format`` ``json_schema`` (its strict-mode rules enforced) and ``json_object`` (with
llama.cpp's ``schema`` field), and Anthropic's forced tool call (``tool_choice`` ``{"type": "tool"}``),
whose answer streams as a ``tool_use`` block of ``input_json_delta`` pieces. A server that does not
take a form refuses it the way OpenAI (HTTP 400) or llama-cpp-python (HTTP 500, "Input should be
'text' or 'json_object'") does.

Images are checked as the real APIs check them: an OpenAI ``image_url`` part's ``data:`` URL and an
Anthropic ``image`` block's ``base64`` source must decode (strict base64) to an image whose bytes are
of the media type declared (PNG, JPEG, WebP or GIF), else HTTP 400 in the provider's words; an
Anthropic image over 5 MiB of base64 is refused as Anthropic refuses it. The images a request carried
are recorded with it (`RecordedRequest.images`: media type and SHA-256 of the decoded bytes).

Streams use ``Transfer-Encoding: chunked`` with one HTTP chunk per SSE event, connections are kept alive
between complete responses (unless the request says ``Connection: close``), and every wait is an
``asyncio`` sleep that also ends as soon as the client hangs up or the server stops. What each request
gets is set per model with `WireServer.script` (see `Scenario`); every request is recorded in
`WireServer.requests`.

``GET /v1/models`` (the path both SDKs list models at) answers as `WireServer.listing` says (see
`Listing`): the ids in OpenAI's or Anthropic's shape (Anthropic's paged), a scripted error status, a
hang, or a body that is not a model list; with no listing set it is an unknown path (HTTP 404), as on a
server that does not list its models.

``POST /v1/embeddings`` answers as `WireServer.embeddings` says: a function of the model and the
inputs returning the JSON answer (`embeddings_answer` makes a well-formed one; a test may return
anything), or a status and a body; with none set it is an unknown path (HTTP 404).

How many requests it answers at once is `WireServer.serves_at_once`: unlimited by default; 1 makes it
answer one request at a time as llama.cpp's server does, the others waiting inside it (their clients'
clocks running) until it is free. `WireServer.in_flight` counts the requests received and not yet
answered in full, waiting ones included, and `WireServer.most_in_flight` the most there were at once:
what a client limiting its own concurrency is held to, counted rather than timed.

Which SDK exceptions each failure mode produces is pinned down in ``tests/test_wire_server.py``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal

__all__ = ["Listing", "RecordedRequest", "Scenario", "WireServer", "embeddings_answer", "split_text"]

log = logging.getLogger(__name__)

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"
MODELS_PATH = "/v1/models"
EMBEDDINGS_PATH = "/v1/embeddings"

FailureMode = Literal[None, "status", "disconnect", "stall", "malformed", "error_event", "no_finish"]

# What llama-cpp-python 0.3.36's server answers a `response_format` of type json_schema, as measured
# with `local-llm-server`: HTTP 500, its pydantic validation error and a traceback line as the message.
LLAMA_CPP_REFUSAL = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': '%s', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"/venv/lib/python3.11/site-packages/"
    'llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
)

# OpenAI finish_reason -> Anthropic stop_reason, and back.
_TO_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_ANTHROPIC_STOP_REASONS = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)
_TO_OPENAI_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Default error `type` per HTTP status, for each provider's error body.
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}
_OPENAI_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}

_MAX_HEADER_BYTES = 64 * 1024
_STOP_TIMEOUT_S = 2.0


@dataclass
class Scenario:
    """How the server answers requests for one model.

    On success the answer `text` is streamed as `chunk_count` delta pieces (see `split_text`): the
    response headers and the first piece go out together after `first_byte_delay_s`, later pieces each
    after a further `between_chunks_s`, and the closing events (finish reason, usage, ``[DONE]`` /
    ``message_stop``) follow the last piece at once.

    ``failure`` picks a way to fail instead (``None`` = succeed):

    * ``"status"`` -- answer with HTTP `status` and a JSON error body in the provider's own format
      (OpenAI ``{"error": {"message", "type", "param": null, "code"}}``, Anthropic
      ``{"type": "error", "error": {"type", "message"}}``), with a ``Retry-After: <retry_after>`` header
      when `retry_after` is set. `first_byte_delay_s` still applies (it is 0 by default).
    * ``"disconnect"`` -- send the headers and about half of the pieces (``max(1, chunk_count // 2)``),
      then close the TCP connection without ending the chunked body.
    * ``"stall"`` -- send the headers and the first piece, then nothing for `stall_s`; if the client is
      still there after that, the rest of the stream follows normally. The wait ends at once when the
      client hangs up or the server stops.
    * ``"malformed"`` -- up to two good pieces, then a ``data:`` line whose JSON is cut off, then a
      proper end of the chunked body.
    * ``"error_event"`` -- up to two good pieces, then an in-stream error (Anthropic
      ``event: error`` with ``{"type": "error", "error": {...}}``, default ``overloaded_error`` /
      ``"Overloaded"``; OpenAI ``data: {"error": {...}}``, default ``server_error``), then a proper end
      of the chunked body, with no finish / ``[DONE]``.
    * ``"no_finish"`` -- all pieces, but no finish reason, usage chunk, ``[DONE]``,
      ``content_block_stop``, ``message_delta`` or ``message_stop``; the chunked body ends properly.

    `error_type` / `error_message` fill the error body of ``"status"`` and ``"error_event"`` (sensible
    defaults by status code when empty). With `fail_times` = N only the first N requests for the model
    fail and later ones succeed (the count restarts when the model is scripted again or on
    `WireServer.clear`); ``None`` means every request fails.

    `hold_until_requests` = N holds the first byte (after `first_byte_delay_s`) until the server has
    received N requests in all since `start` or `clear`: a barrier that proves requests are in flight
    at once without a stopwatch (were they sent one after another, the first would never finish).

    `finish_reason` is given in OpenAI words; the Anthropic stream maps ``"stop"`` -> ``"end_turn"``,
    ``"length"`` -> ``"max_tokens"``, ``"tool_calls"`` -> ``"tool_use"``, ``"content_filter"`` ->
    ``"refusal"`` and passes Anthropic words through (the OpenAI stream maps Anthropic words back).
    A cut-off or filtered answer is a success with another finish reason: ``"length"`` (Anthropic
    ``"max_tokens"``), ``"content_filter"`` (Anthropic ``"refusal"``).

    `reports_usage` False leaves out the OpenAI stream's usage chunk even when the request asks for
    it (``stream_options.include_usage``), as llama.cpp's server and other local servers do: the
    answer ends with its finish reason and ``[DONE]`` alone. The Anthropic stream always carries
    its usage (the format has no way to leave it out).

    `usage_at_end` sends Anthropic's ``message_start`` with 0 input tokens and both counts in
    ``message_delta`` (``{"input_tokens", "output_tokens"}``), as a LiteLLM proxy does when it
    serves the messages API from a model it reaches in OpenAI's format.

    `refusal` streams the text as OpenAI's ``delta.refusal`` instead of ``delta.content`` (how an
    OpenAI model declines; the finish reason stays `finish_reason`). Anthropic has no such field: its
    stream is unchanged, and a refusal there is ``finish_reason="refusal"``.

    `echo_credentials` appends the request's ``Authorization`` and ``x-api-key`` headers to the error
    message of ``"status"`` and ``"error_event"``, as careless proxies and gateways do: a client must
    never show, log or store them.

    Structured output. A request asking for it (OpenAI ``response_format`` of type ``json_schema`` or
    ``json_object``; Anthropic ``tool_choice`` of type ``tool``) is first checked as the real APIs
    check it, and a malformed one gets HTTP 400 (``json_schema`` needs a ``name`` and a ``schema``
    object, and with ``strict`` every object must list all its properties in ``required`` and set
    ``additionalProperties`` false; a forced tool must be one of ``tools``, with an object
    ``input_schema``). Then:

    * `accepts` -- the forms the server takes (``None``: all of them). Any other form is refused
      before the model runs, as `refuse_as` says: ``"openai"`` -- HTTP 400 ``invalid_request_error``,
      "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."
      (Anthropic: HTTP 400 "tool_choice: forced tool use is not supported by this model."); or
      ``"llama_cpp"`` -- HTTP 500 with llama-cpp-python's validation error, "Input should be 'text'
      or 'json_object'" (`LLAMA_CPP_REFUSAL`).
    * `structured_text` -- what the model answers a structured request it takes (``None``: `text`,
      as a server that ignores the format would). On the OpenAI path it streams as content; on the
      Anthropic path, with `tool_answer` ``"tool"`` (the default), as a ``tool_use`` block of
      ``input_json_delta`` pieces ending with stop reason ``tool_use``, and with ``"text"`` as an
      ordinary text block (a proxy that drops the tool).
    * `tool_text` -- on the Anthropic path, with the tool answered: a ``text`` block of these words
      streamed before the ``tool_use`` block, in the same message (a model that says something
      before it calls the tool, as Anthropic's models may).

    Replaying a gateway. `error_body` is sent as the JSON body of a ``"status"`` failure in place of
    the provider's own shape, and `headers` go with every response, an answer's or an error's (a
    LiteLLM proxy's ``llm_provider-retry-after`` and ``x-litellm-*``): what a real proxy answered,
    captured (see `LITELLM_CAPTURES`). `error_event` is the JSON object of an OpenAI-path ``"error_event"``
    as it is sent (LiteLLM's ``{"error": {"message", "type", "param", "code": "500"}}``), and
    `usage_event` the OpenAI stream's usage chunk as it is sent, in place of the server's own (a
    LiteLLM proxy's carries a choice with an empty delta, and details of its own in the usage).
    """

    text: str = "Hello from the wire server."
    chunk_count: int = 5
    first_byte_delay_s: float = 0.0
    between_chunks_s: float = 0.0
    input_tokens: int = 12
    output_tokens: int = 7
    finish_reason: str = "stop"
    reports_usage: bool = True
    usage_at_end: bool = False
    refusal: bool = False
    failure: FailureMode = None
    status: int = 200
    error_type: str = ""
    error_message: str = ""
    retry_after: str | None = None
    fail_times: int | None = None
    stall_s: float = 30.0
    hold_until_requests: int = 0
    echo_credentials: bool = False
    structured_text: str | None = None
    accepts: frozenset[str] | None = None
    refuse_as: Literal["openai", "llama_cpp"] = "openai"
    tool_answer: Literal["tool", "text"] = "tool"
    tool_text: str = ""
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    error_event: dict[str, Any] | None = None
    usage_event: dict[str, Any] | None = None


@dataclass
class RecordedRequest:
    """One request as the server received it.

    `headers` has lower-cased names (a repeated header keeps its last value), `body` is the parsed JSON
    body (``{}`` when it was empty or not a JSON object) and `received_at` is the ``time.perf_counter()``
    reading taken when the request had been read in full. `images` holds the (media type, SHA-256 of
    the decoded bytes) of every image part that passed the server's checks, in order.
    """

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float
    method: str = "POST"
    images: list[tuple[str, str]] = dataclasses.field(default_factory=list)


@dataclass
class Listing:
    """How the server answers ``GET /v1/models``.

    Both SDKs list models at that path (OpenAI's base URL ends in ``/v1``, Anthropic's does not), so the
    shape follows the client: a request with an ``anthropic-version`` header gets Anthropic's page
    (``data`` of ``{"type": "model", "id", "display_name", "created_at"}`` with ``has_more``,
    ``first_id`` and ``last_id``, paged by the ``limit`` (default 20) and ``after_id`` parameters),
    any other OpenAI's list (``{"object": "list", "data": [{"id", "object": "model", "created",
    "owned_by"}]}``).

    * `ids` -- the models listed, in order.
    * `status` -- not 200: an error body in the client's provider format (401 a refused key, 403, 404
      a server without the endpoint, 500...) with `error_message` (a default by status when empty);
      `echo_credentials` appends the request's ``Authorization`` and ``x-api-key`` to it, as careless
      gateways do.
    * `delay_s` -- waited before answering; longer than the client waits is a server that hangs (the
      wait ends as soon as the client hangs up or the server stops).
    * `hold_until_requests` = N holds the answer until the server has received N requests in all (a
      barrier proving that several clients list at once).
    * `raw_body` -- sent as it is, with status 200 and a JSON content type: a broken or hostile listing.
    """

    ids: list[str] = dataclasses.field(default_factory=list)
    status: int = 200
    error_message: str = ""
    echo_credentials: bool = False
    delay_s: float = 0.0
    hold_until_requests: int = 0
    raw_body: str | None = None


def split_text(text: str, chunk_count: int) -> list[str]:
    """Split `text` into `chunk_count` pieces on character boundaries, as evenly as possible.

    Longer pieces come first; if the text is shorter than `chunk_count` the trailing pieces are empty.
    The concatenation is always exactly `text`. A `chunk_count` below 1 counts as 1.
    """
    count = max(1, chunk_count)
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def anthropic_stop_reason(finish_reason: str) -> str:
    """Map an OpenAI `finish_reason` to an Anthropic ``stop_reason`` (Anthropic words pass through)."""
    if finish_reason in _ANTHROPIC_STOP_REASONS:
        return finish_reason
    return _TO_ANTHROPIC_STOP.get(finish_reason, finish_reason)


def openai_finish_reason(finish_reason: str) -> str:
    """Map an Anthropic ``stop_reason`` to an OpenAI `finish_reason` (OpenAI words pass through)."""
    return _TO_OPENAI_FINISH.get(finish_reason, finish_reason)


def embeddings_answer(model: str, vectors: list[list[float]]) -> dict[str, Any]:
    """A well-formed OpenAI ``/v1/embeddings`` answer (float encoding) carrying `vectors`."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": len(vectors), "total_tokens": len(vectors)},
    }


class _ClientGone(Exception):
    """The client closed its side of the connection while a response was in progress."""


class _BadRequest(Exception):
    """The bytes on the connection are not an HTTP/1.1 request this server understands."""


class _Connection:
    """One accepted TCP connection: a buffered reader fed by a background task, plus the writer.

    Reading in the background lets every pause of a response also watch for the client hanging up, so
    a handler never sleeps on behalf of a client that has gone away.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.eof = asyncio.Event()
        self._data = asyncio.Event()
        self.pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.buffer += data
                self._data.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.eof.set()
            self._data.set()

    async def _wait_data(self) -> None:
        self._data.clear()
        await self._data.wait()

    async def read_until(self, separator: bytes, limit: int) -> bytes | None:
        """Bytes up to and including `separator`, or None at end of stream before it arrives."""
        while True:
            index = self.buffer.find(separator)
            if index >= 0:
                end = index + len(separator)
                data = bytes(self.buffer[:end])
                del self.buffer[:end]
                return data
            if len(self.buffer) > limit:
                raise _BadRequest("header section too large")
            if self.eof.is_set():
                return None
            await self._wait_data()

    async def read_exactly(self, size: int) -> bytes | None:
        """Exactly `size` bytes, or None at end of stream before that many arrive."""
        while len(self.buffer) < size:
            if self.eof.is_set():
                return None
            await self._wait_data()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def pause(self, seconds: float) -> None:
        """Wait `seconds`; raise `_ClientGone` at once if the client hangs up meanwhile."""
        if self.eof.is_set():
            raise _ClientGone
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.eof.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise _ClientGone

    async def send(self, data: bytes) -> None:
        """Write `data` and wait until the transport has taken it."""
        if self.writer.transport.is_closing():
            raise _ClientGone
        self.writer.write(data)
        await self.writer.drain()

    def hang_up(self) -> None:
        """Close the TCP connection after what was already written, leaving the HTTP message unfinished."""
        self.pump_task.cancel()
        self.writer.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, discarding anything not yet sent."""
        self.pump_task.cancel()
        self.writer.transport.abort()

    async def close(self) -> None:
        """Close the connection in an orderly way and stop the background reader."""
        self.pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pump_task
        if not self.writer.transport.is_closing():
            self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), timeout=0.5)


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


_LAST_CHUNK = b"0\r\n\r\n"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _StreamWriter:
    """Sends SSE events of one streamed response as HTTP chunks; the headers go out with the first event."""

    def __init__(self, conn: _Connection, head: bytes) -> None:
        self._conn = conn
        self._head: bytes | None = head

    async def event(self, text: str) -> None:
        data = _chunk(text.encode("utf-8"))
        if self._head is not None:
            data = self._head + data
            self._head = None
        await self._conn.send(data)

    async def finish(self) -> None:
        data = _LAST_CHUNK
        if self._head is not None:
            data = self._head + data
            self._head = None
        await self._conn.send(data)


class WireServer:
    """Local HTTP/1.1 server speaking the OpenAI and Anthropic streaming wire formats.

    `start` binds 127.0.0.1 on a free port (or the `port` given) and serves from an event loop in a
    daemon thread; `stop` closes the listener and every open connection (stalled ones included) and
    joins the thread. Both are also available as a context manager. Behaviour is chosen per request
    by its JSON ``"model"``: `script` sets a `Scenario` for a model, `default_scenario` serves all
    others. Every request received is appended to `requests`. Scripts and the default scenario may
    be changed at any time, also while the server runs; a request uses the scenario in force when
    it arrives. Run on its own (`python tests/wire_server.py PORT`) it serves `FAULT_MODELS`.
    """

    def __init__(self, port: int = 0) -> None:
        self._bind_port = port  # 0: a free port, chosen at `start`
        self.default_scenario: Scenario = Scenario()
        # None: GET /v1/models is an unknown path (404), as on a server that does not list models.
        self.listing: Listing | None = None
        # None: POST /v1/embeddings is an unknown path (404). Otherwise called with the request's
        # model and inputs: its JSON object is the answer (200), or (status, object); as hostile as
        # a test makes it. `embeddings_answer` builds a well-formed one.
        self.embeddings: Callable[[str, list[str]], dict[str, Any] | tuple[int, dict[str, Any]]] | None = None
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, Scenario] = {}
        self._request_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[_Connection] = set()
        self._port: int | None = None
        self._accepted = 0
        # None: every request is answered at once; N: N at a time, the rest wait in the server.
        self.serves_at_once: int | None = None
        self._serving: asyncio.Semaphore | None = None  # made in the server's loop, from serves_at_once
        self._serving_limit: int | None = None
        # The connections with a request received and not yet answered, each with the server slot
        # its request holds (None: none, or none yet).
        self._answering: dict[_Connection, asyncio.Semaphore | None] = {}
        self._most_answering = 0

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> WireServer:
        """Bind 127.0.0.1 on a free port, serve from a daemon thread; return self once listening."""
        if self._thread is not None:
            raise RuntimeError("WireServer already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        thread = threading.Thread(target=self._run_loop, args=(loop,), name="wire-server", daemon=True)
        self._thread = thread
        thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), loop)
        try:
            self._port = future.result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(
            self._handle_connection, host="127.0.0.1", port=self._bind_port, reuse_address=True
        )
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def stop(self) -> None:
        """Close the listener and all open connections, then join the server thread (within ~2 s)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed() and thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(FutureTimeoutError, Exception):
                future.result(timeout=_STOP_TIMEOUT_S)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_STOP_TIMEOUT_S)
        if not thread.is_alive() and not loop.is_closed():
            loop.close()
        self._loop = None
        self._thread = None
        self._server = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        # The aborted connections' readers too: a task the stopped loop never ran again is
        # destroyed pending ("Task was destroyed but it is pending"), on a busy machine mostly.
        pumps = [conn.pump_task for conn in self._connections]
        tasks = [task for task in [*self._tasks, *pumps] if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S / 2)

    def __enter__(self) -> WireServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- configuration

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only valid after `start`)."""
        if self._port is None:
            raise RuntimeError("WireServer not started")
        return self._port

    @property
    def openai_base_url(self) -> str:
        """Base URL for ``openai.OpenAI(base_url=...)``: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for ``anthropic.Anthropic(base_url=...)``: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now (idle keep-alive ones included)."""
        return len(self._connections)

    @property
    def in_flight(self) -> int:
        """Requests received in full and not yet answered in full (those waiting for the server to be
        free included)."""
        return len(self._answering)

    @property
    def most_in_flight(self) -> int:
        """The most requests that were in flight at once since `start` or `clear`."""
        return self._most_answering

    @property
    def connections_accepted(self) -> int:
        """How many client connections were accepted since `start` (shows connection reuse)."""
        return self._accepted

    def script(self, model: str, scenario: Scenario) -> None:
        """Answer requests whose JSON ``"model"`` equals `model` with `scenario` (restarts `fail_times`)."""
        with self._lock:
            self._scripts[model] = scenario
            self._request_counts.pop(model, None)

    def clear(self) -> None:
        """Forget all scripts, the listing, `fail_times` counts and recorded requests
        (`default_scenario` stays)."""
        with self._lock:
            self.listing = None
            self._scripts.clear()
            self._request_counts.clear()
            self.requests.clear()
            self._most_answering = len(self._answering)

    def _scenario_for(self, model: str) -> Scenario:
        """The scenario for the next request for `model`; its failure is dropped once `fail_times` ran out."""
        with self._lock:
            scenario = self._scripts.get(model, self.default_scenario)
            count = self._request_counts.get(model, 0) + 1
            self._request_counts[model] = count
        if scenario.failure is not None and scenario.fail_times is not None and count > scenario.fail_times:
            return dataclasses.replace(scenario, failure=None)
        return scenario

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # ----------------------------------------------------------------- HTTP

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        conn = _Connection(reader, writer)
        self._connections.add(conn)
        self._accepted += 1
        try:
            while await self._serve_counted(conn):
                pass
        except (_ClientGone, ConnectionError, OSError):
            pass
        except _BadRequest as err:
            with contextlib.suppress(Exception):
                await self._send_json(
                    conn, 400, {"error": {"message": str(err), "type": "bad_request"}}, False
                )
        except asyncio.CancelledError:
            conn.abort()
            raise
        except Exception:
            log.exception("wire server: unexpected error while handling a connection")
        finally:
            self._connections.discard(conn)
            with contextlib.suppress(Exception):
                await conn.close()

    async def _serve_counted(self, conn: _Connection) -> bool:
        """`_serve_one`, with its request in flight from when it has been read (`_received`) until
        it has been answered, or the connection lost."""
        try:
            return await self._serve_one(conn)
        finally:
            held = self._answering.pop(conn, None)
            if held is not None:
                held.release()

    async def _received(self, conn: _Connection) -> None:
        """A request has been read in full: count it in flight, and hold it until the server is free
        to answer it (at once, unless `serves_at_once` is set)."""
        self._answering[conn] = None
        self._most_answering = max(self._most_answering, len(self._answering))
        if self.serves_at_once is None:
            return
        if self._serving is None or self._serving_limit != self.serves_at_once:
            # A new limit applies to the requests from now on; those in flight give back their own.
            self._serving, self._serving_limit = asyncio.Semaphore(self.serves_at_once), self.serves_at_once
        serving = self._serving
        await serving.acquire()
        self._answering[conn] = serving

    async def _serve_one(self, conn: _Connection) -> bool:
        """Read and answer one request; True if the connection may carry another one."""
        head = await conn.read_until(b"\r\n\r\n", _MAX_HEADER_BYTES)
        if head is None:
            return False
        lines = head.decode("latin-1").split("\r\n")
        request_line = lines[0].split(" ")
        if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
            raise _BadRequest(f"bad request line: {lines[0]!r}")
        method, target, version = request_line
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(f"bad header line: {line!r}")
            headers[name.strip().lower()] = value.strip()

        raw_body = await self._read_body(conn, headers)
        if raw_body is None:
            return False
        received_at = time.perf_counter()

        connection_tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep_alive = "close" not in connection_tokens and (
            version != "HTTP/1.0" or "keep-alive" in connection_tokens
        )
        path = target.split("?", 1)[0]

        body: dict[str, Any] = {}
        body_error = ""
        if raw_body:
            try:
                parsed = json.loads(raw_body)
            except ValueError as err:
                body_error = f"request body is not valid JSON: {err}"
            else:
                if isinstance(parsed, dict):
                    body = parsed
                else:
                    body_error = "request body must be a JSON object"
        provider_of_path = "openai" if path == OPENAI_PATH else "anthropic"
        images, image_problem = _image_parts(provider_of_path, body)
        self._record(RecordedRequest(path, headers, body, received_at, method, images))
        await self._received(conn)

        listing = self.listing
        if path == MODELS_PATH and method == "GET" and listing is not None:
            await self._send_listing(conn, listing, headers, target, keep_alive)
            return keep_alive
        if path == EMBEDDINGS_PATH and method == "POST" and self.embeddings is not None:
            given = body.get("input")
            inputs = [given] if isinstance(given, str) else [str(x) for x in given or []]
            answer = self.embeddings(str(body.get("model", "")), inputs)
            status, payload = answer if isinstance(answer, tuple) else (200, answer)
            await self._send_json(conn, status, payload, keep_alive)
            return keep_alive
        if path not in (OPENAI_PATH, ANTHROPIC_PATH):
            error = {
                "message": f"Unknown path {path!r}",
                "type": "not_found_error",
                "param": None,
                "code": None,
            }
            await self._send_json(conn, 404, {"type": "error", "error": error}, keep_alive)
            return keep_alive
        provider = "openai" if path == OPENAI_PATH else "anthropic"
        if method != "POST":
            await self._send_error(
                conn, provider, 405, "invalid_request_error", f"{method} not allowed", keep_alive
            )
            return keep_alive
        if body_error:
            await self._send_error(conn, provider, 400, "invalid_request_error", body_error, keep_alive)
            return keep_alive
        if body.get("stream") is not True:
            message = 'The wire server only supports streaming requests (set "stream": true).'
            await self._send_error(conn, provider, 400, "invalid_request_error", message, keep_alive)
            return keep_alive

        if image_problem:
            await self._send_error(conn, provider, 400, "invalid_request_error", image_problem, keep_alive)
            return keep_alive
        form = _structured_form(provider, body)
        if form is not None:
            problem = _structured_problem(provider, body, form)
            if problem:
                await self._send_error(conn, provider, 400, "invalid_request_error", problem, keep_alive)
                return keep_alive
        model = str(body.get("model", ""))
        scenario = self._scenario_for(model)
        if form is not None and scenario.accepts is not None and form not in scenario.accepts:
            await conn.pause(scenario.first_byte_delay_s)
            await self._refuse(conn, provider, scenario, form, keep_alive)
            return keep_alive
        tool = ""
        if form is not None:
            if scenario.structured_text is not None:
                scenario = dataclasses.replace(scenario, text=scenario.structured_text)
            if form == "tool" and scenario.tool_answer == "tool":
                tool = str(body["tool_choice"]["name"])
        if scenario.echo_credentials:
            echoed = ", ".join(
                f"{name}: {headers[name]}" for name in ("authorization", "x-api-key") if name in headers
            )
            message = scenario.error_message or _default_error_message(scenario.status)
            scenario = dataclasses.replace(scenario, error_message=f"{message} (request headers: {echoed})")
        await conn.pause(scenario.first_byte_delay_s)
        while len(self.requests) < scenario.hold_until_requests:
            await conn.pause(0.005)

        if scenario.failure == "status":
            status = scenario.status
            error_type = scenario.error_type or _default_error_type(provider, status)
            message = scenario.error_message or _default_error_message(status)
            extra = {"retry-after": scenario.retry_after} if scenario.retry_after is not None else {}
            extra.update(scenario.headers)
            if scenario.error_body is not None:
                await self._send_json(conn, status, scenario.error_body, keep_alive, extra)
                return keep_alive
            await self._send_error(conn, provider, status, error_type, message, keep_alive, extra)
            return keep_alive

        response_head = _response_head(
            200,
            {
                "Content-Type": "text/event-stream; charset=utf-8",
                "Transfer-Encoding": "chunked",
                "Cache-Control": "no-cache",
                "Connection": "keep-alive" if keep_alive else "close",
                "x-request-id" if provider == "openai" else "request-id": f"req_wire{next(self._ids):06d}",
                **scenario.headers,
            },
        )
        stream = _StreamWriter(conn, response_head)
        if provider == "openai":
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            completed = await self._stream_openai(conn, stream, scenario, model, include_usage)
        else:
            completed = await self._stream_anthropic(conn, stream, scenario, model, tool)
        return completed and keep_alive

    async def _send_listing(
        self, conn: _Connection, listing: Listing, headers: dict[str, str], target: str, keep_alive: bool
    ) -> None:
        """Answer ``GET /v1/models`` as `listing` says, in the shape of the client's provider."""
        provider = "anthropic" if "anthropic-version" in headers else "openai"
        await conn.pause(listing.delay_s)
        while len(self.requests) < listing.hold_until_requests:
            await conn.pause(0.005)
        if listing.status != 200:
            message = listing.error_message or _default_error_message(listing.status)
            if listing.echo_credentials:
                echoed = ", ".join(
                    f"{name}: {headers[name]}" for name in ("authorization", "x-api-key") if name in headers
                )
                message = f"{message} (request headers: {echoed})"
            error_type = _default_error_type(provider, listing.status)
            await self._send_error(conn, provider, listing.status, error_type, message, keep_alive)
            return
        if listing.raw_body is not None:
            body = listing.raw_body.encode("utf-8")
            head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
            head["Connection"] = "keep-alive" if keep_alive else "close"
            await conn.send(_response_head(200, head) + body)
            return
        if provider == "openai":
            data = [
                {"id": i, "object": "model", "created": 1_700_000_000, "owned_by": "wire"}
                for i in listing.ids
            ]
            await self._send_json(conn, 200, {"object": "list", "data": data}, keep_alive)
            return
        query = urllib.parse.parse_qs(target.partition("?")[2])
        limit = int(query.get("limit", ["20"])[0])
        after = query.get("after_id", [""])[0]
        start = listing.ids.index(after) + 1 if after in listing.ids else 0
        page = listing.ids[start : start + limit]
        payload = {
            "data": [
                {"type": "model", "id": i, "display_name": i, "created_at": "2026-01-01T00:00:00Z"}
                for i in page
            ],
            "has_more": start + limit < len(listing.ids),
            "first_id": page[0] if page else None,
            "last_id": page[-1] if page else None,
        }
        await self._send_json(conn, 200, payload, keep_alive)

    async def _refuse(
        self, conn: _Connection, provider: str, scenario: Scenario, form: str, keep_alive: bool
    ) -> None:
        """Refuse a structured form the server does not take, in the words of `scenario.refuse_as`."""
        if provider == "anthropic":
            message = "tool_choice: forced tool use is not supported by this model."
            await self._send_error(conn, provider, 400, "invalid_request_error", message, keep_alive)
        elif scenario.refuse_as == "llama_cpp":
            message = LLAMA_CPP_REFUSAL % form
            await self._send_error(conn, provider, 500, "internal_server_error", message, keep_alive)
        else:
            message = (
                f"Invalid parameter: 'response_format' of type '{form}' is not supported with this model."
            )
            await self._send_error(conn, provider, 400, "invalid_request_error", message, keep_alive)

    async def _read_body(self, conn: _Connection, headers: dict[str, str]) -> bytes | None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = await conn.read_until(b"\r\n", _MAX_HEADER_BYTES)
                if size_line is None:
                    return None
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError as err:
                    raise _BadRequest(f"bad chunk size line: {size_line!r}") from err
                if size == 0:
                    while True:  # optional trailers, then the empty line
                        trailer = await conn.read_until(b"\r\n", _MAX_HEADER_BYTES)
                        if trailer is None:
                            return None
                        if trailer == b"\r\n":
                            return b"".join(parts)
                data = await conn.read_exactly(size + 2)
                if data is None:
                    return None
                parts.append(data[:-2])
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as err:
            raise _BadRequest("bad Content-Length") from err
        return await conn.read_exactly(length)

    async def _send_json(
        self,
        conn: _Connection,
        status: int,
        payload: Any,
        keep_alive: bool,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "keep-alive" if keep_alive else "close",
            **(extra_headers or {}),
        }
        await conn.send(_response_head(status, headers) + body)

    async def _send_error(
        self,
        conn: _Connection,
        provider: str,
        status: int,
        error_type: str,
        message: str,
        keep_alive: bool,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        headers = {"x-request-id" if provider == "openai" else "request-id": f"req_wire{next(self._ids):06d}"}
        headers.update(extra_headers or {})
        await self._send_json(
            conn, status, _error_body(provider, status, error_type, message), keep_alive, headers
        )

    # ----------------------------------------------------------------- the two wire formats

    async def _stream_openai(
        self, conn: _Connection, stream: _StreamWriter, scenario: Scenario, model: str, include_usage: bool
    ) -> bool:
        """Stream one chat completion; True if the HTTP response ended properly (connection reusable)."""
        completion_id = f"chatcmpl-wire{next(self._ids):06d}"
        created = int(time.time())

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
            obj: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": choices,
            }
            if include_usage and scenario.reports_usage:
                obj["usage"] = None
            obj.update(extra)
            return f"data: {_dumps(obj)}\n\n"

        def delta_event(index: int, piece: str) -> str:
            field = "refusal" if scenario.refusal else "content"
            delta = {"role": "assistant", field: piece} if index == 0 else {field: piece}
            return chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

        failure = scenario.failure
        pieces = split_text(scenario.text, scenario.chunk_count)
        send_count = _pieces_to_send(failure, len(pieces))
        for index, piece in enumerate(pieces[:send_count]):
            if index:
                await conn.pause(scenario.between_chunks_s)
            await stream.event(delta_event(index, piece))
            if failure == "stall" and index == 0:
                await conn.pause(scenario.stall_s)

        if failure == "disconnect":
            conn.hang_up()
            return False
        if failure == "malformed":
            await stream.event('data: {"choices": [{"delta": {"content": "x"\n\n')
        elif failure == "error_event":
            error = {
                "message": scenario.error_message or "The server had an error while processing your request.",
                "type": scenario.error_type or "server_error",
                "param": None,
                "code": None,
            }
            payload = scenario.error_event if scenario.error_event is not None else {"error": error}
            await stream.event(f"data: {_dumps(payload)}\n\n")
        elif failure != "no_finish":
            finish = openai_finish_reason(scenario.finish_reason)
            await stream.event(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}]))
            if include_usage and scenario.usage_event is not None:
                await stream.event(f"data: {_dumps(scenario.usage_event)}\n\n")
            elif include_usage and scenario.reports_usage:
                usage = {
                    "prompt_tokens": scenario.input_tokens,
                    "completion_tokens": scenario.output_tokens,
                    "total_tokens": scenario.input_tokens + scenario.output_tokens,
                }
                await stream.event(chunk([], usage=usage))
            await stream.event("data: [DONE]\n\n")
        await stream.finish()
        return True

    async def _stream_anthropic(
        self, conn: _Connection, stream: _StreamWriter, scenario: Scenario, model: str, tool: str = ""
    ) -> bool:
        """Stream one message; True if the HTTP response ended properly (connection reusable).

        With `tool` named, the answer is that tool's input: a ``tool_use`` block of
        ``input_json_delta`` pieces, after a ``text`` block of the scenario's `tool_text` if it has
        one (the answer's block is then the second, index 1)."""

        def event(name: str, payload: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {_dumps(payload)}\n\n"

        message: dict[str, Any] = {
            "id": f"msg_wire{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 0 if scenario.usage_at_end else scenario.input_tokens,
                "output_tokens": 1,
            },
        }
        block: dict[str, Any] = {"type": "text", "text": ""}
        if tool:
            block = {"type": "tool_use", "id": f"toolu_wire{next(self._ids):06d}", "name": tool, "input": {}}
        index = 1 if tool and scenario.tool_text else 0  # the answer's block

        def start(at: int, content_block: dict[str, Any]) -> str:
            return event(
                "content_block_start",
                {"type": "content_block_start", "index": at, "content_block": content_block},
            )

        def text_delta(at: int, piece: str) -> str:
            delta = {"type": "text_delta", "text": piece}
            return event("content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta})

        opening = event("message_start", {"type": "message_start", "message": message})
        if index:  # words before the tool call: a whole text block of their own
            opening += start(0, {"type": "text", "text": ""}) + event("ping", {"type": "ping"})
            opening += "".join(text_delta(0, piece) for piece in split_text(scenario.tool_text, 3))
            opening += event("content_block_stop", {"type": "content_block_stop", "index": 0})
            opening += start(index, block)
        else:
            opening += start(index, block) + event("ping", {"type": "ping"})

        def delta_event(piece: str) -> str:
            if not tool:
                return text_delta(index, piece)
            delta = {"type": "input_json_delta", "partial_json": piece}
            return event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            )

        failure = scenario.failure
        pieces = split_text(scenario.text, scenario.chunk_count)
        send_count = _pieces_to_send(failure, len(pieces))
        for index, piece in enumerate(pieces[:send_count]):
            if index:
                await conn.pause(scenario.between_chunks_s)
            # The opening events travel with the first piece, so its timing is the time to first token.
            await stream.event((opening if index == 0 else "") + delta_event(piece))
            if failure == "stall" and index == 0:
                await conn.pause(scenario.stall_s)

        if failure == "disconnect":
            conn.hang_up()
            return False
        if failure == "malformed":
            await stream.event(
                'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
                '"delta": {"type": "text_delta", "text": "x"\n\n'
            )
        elif failure == "error_event":
            error = {
                "type": scenario.error_type or "overloaded_error",
                "message": scenario.error_message or "Overloaded",
            }
            await stream.event(event("error", {"type": "error", "error": error}))
        elif failure != "no_finish":
            await stream.event(
                event("content_block_stop", {"type": "content_block_stop", "index": index})
                + event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": "tool_use"
                            if tool and scenario.finish_reason == "stop"
                            else anthropic_stop_reason(scenario.finish_reason),
                            "stop_sequence": None,
                        },
                        "usage": {
                            "input_tokens": scenario.input_tokens,
                            "output_tokens": scenario.output_tokens,
                        }
                        if scenario.usage_at_end
                        else {"output_tokens": scenario.output_tokens},
                    },
                )
                + event("message_stop", {"type": "message_stop"})
            )
        await stream.finish()
        return True


_IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
_DATA_URL = re.compile(r"data:(?P<type>[\w/+.-]+);base64,(?P<data>.*)", re.DOTALL)
ANTHROPIC_IMAGE_MAX_BASE64 = 5 * 1024 * 1024


def _image_parts(provider: str, body: dict[str, Any]) -> tuple[list[tuple[str, str]], str]:
    """The images a request's messages carry, as (media type, SHA-256), and what a real API would
    refuse in them ("" when nothing): base64 that does not decode, bytes that are not of the media
    type declared, a type neither API takes, Anthropic's 5 MiB of base64 per image."""
    found: list[tuple[str, str]] = []
    messages = body.get("messages")
    for m, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        for c, part in enumerate(content if isinstance(content, list) else []):
            if not isinstance(part, dict):
                continue
            where = f"messages.{m}.content.{c}"
            if provider == "openai" and part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url", ""))
                match = _DATA_URL.fullmatch(url)
                if match is None:
                    return found, f"{where}.image_url.url: expected a base64 data: URL (the wire server)"
                media_type, encoded = match["type"], match["data"]
            elif provider == "anthropic" and part.get("type") == "image":
                source = part.get("source") or {}
                if source.get("type") != "base64":
                    return found, f"{where}.image.source.type: the wire server takes base64 only"
                media_type, encoded = str(source.get("media_type", "")), str(source.get("data", ""))
                if len(encoded) > ANTHROPIC_IMAGE_MAX_BASE64:
                    return found, (
                        f"{where}.image.source.base64: image exceeds 5 MB maximum: "
                        f"{len(encoded)} bytes > {ANTHROPIC_IMAGE_MAX_BASE64} bytes"
                    )
            else:
                continue
            if media_type not in _IMAGE_MAGIC:
                return found, f"{where}: unsupported image media type {media_type!r}"
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                return found, f"{where}: the image's base64 data does not decode"
            if not data.startswith(_IMAGE_MAGIC[media_type]):
                return found, f"{where}: Image does not match the provided media type {media_type}"
            found.append((media_type, hashlib.sha256(data).hexdigest()))
    return found, ""


def _structured_form(provider: str, body: dict[str, Any]) -> str | None:
    """The structured-output form a request asks for, or None for free text."""
    if provider == "openai":
        response_format = body.get("response_format")
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        return kind if kind in ("json_schema", "json_object") else None
    choice = body.get("tool_choice")
    return "tool" if isinstance(choice, dict) and choice.get("type") == "tool" else None


def _structured_problem(provider: str, body: dict[str, Any], form: str) -> str:
    """What a real API would reject in the request's structured-output part ("" when it is fine)."""
    if form == "tool":
        choice = body["tool_choice"]
        tools = body.get("tools")
        named = (
            [t for t in tools if isinstance(t, dict) and t.get("name") == choice.get("name")]
            if isinstance(tools, list)
            else []
        )
        if not named:
            return f"tool_choice.name: tool {choice.get('name')!r} is not one of tools"
        schema = named[0].get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return "tools.0.input_schema: Input should be an object schema with type 'object'"
        return ""
    response_format = body["response_format"]
    if form == "json_object":
        schema = response_format.get("schema")
        return (
            "" if schema is None or isinstance(schema, dict) else "response_format.schema: must be an object"
        )
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        return "Missing required parameter: 'response_format.json_schema.name'."
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        return "Invalid type for 'response_format.json_schema.schema': expected an object."
    if spec.get("strict") is True:
        return _strict_problem(spec["name"], schema)
    return ""


def _strict_problem(name: str, schema: dict[str, Any], where: str = "()") -> str:
    """OpenAI's strict mode: every object lists all its properties as required and allows no others."""
    if schema.get("type") == "object":
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return (
                f"Invalid schema for response_format '{name}': In context={where}, 'additionalProperties' "
                "is required to be supplied and to be false."
            )
        if sorted(schema.get("required", [])) != sorted(properties):
            return (
                f"Invalid schema for response_format '{name}': In context={where}, 'required' is required "
                "to be supplied and to be an array including every key in properties."
            )
        for key, sub in properties.items():
            problem = _strict_problem(name, sub, f"('properties', '{key}')")
            if problem:
                return problem
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return _strict_problem(name, schema["items"], f"{where}, 'items'")
    return ""


def _pieces_to_send(failure: FailureMode, total: int) -> int:
    if failure == "disconnect":
        return max(1, total // 2)
    if failure in ("malformed", "error_event"):
        return min(2, total)
    return total


def _response_head(status: int, headers: dict[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {_http_date()}", "Server: wire-server"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _http_date() -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())


def _default_error_type(provider: str, status: int) -> str:
    if provider == "anthropic":
        return _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def _default_error_message(status: int) -> str:
    try:
        return f"{HTTPStatus(status).phrase} (wire server)"
    except ValueError:
        return f"Error {status} (wire server)"


def _error_body(provider: str, status: int, error_type: str, message: str) -> dict[str, Any]:
    if provider == "anthropic":
        return {"type": "error", "error": {"type": error_type, "message": message}}
    return {
        "error": {
            "message": message,
            "type": error_type,
            "param": None,
            "code": _OPENAI_ERROR_CODES.get(status),
        }
    }


# ----------------------------------------------------------------- a LiteLLM proxy, as captured

# What a real LiteLLM proxy (1.108.7, `litellm --config`, default retries) answered a streamed chat
# request, in front of this server run on its own (`FAULT_MODELS`), captured with curl: the status,
# the JSON body and the headers that matter (the rest are `x-litellm-call-id`, cost and timing).
# Its own refusals carry none of its `x-litellm-*` headers; an upstream's error carries the
# upstream's headers renamed `llm_provider-*`; `x-litellm-attempted-retries` comes with answers only.
_LITELLM_TAIL = "\n\nLiteLLM: model group '{model}' failed with the error above. No fallback was attempted."
_LITELLM_HEADERS = {"x-litellm-call-id": "8c6aec96-be33-47ad-a5e6-bd2136248ca3", "x-litellm-key-spend": "0.0"}

# ...and on an answer (a 200 stream), the upstream's and its own, its retries among them.
_LITELLM_STREAM_HEADERS = {
    **_LITELLM_HEADERS,
    "x-litellm-version": "1.108.7",
    "x-litellm-model-group": "fault-disconnect",
    "llm_provider-x-request-id": "req_wire000010",
    "x-litellm-attempted-retries": "0",
    "x-litellm-attempted-fallbacks": "0",
}


def _litellm_error(status: int, message: str, error_type: str | None, **headers: str) -> Scenario:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": str(status)}}
    return Scenario(failure="status", status=status, error_body=body, headers=headers)


LITELLM_CAPTURES: dict[str, Scenario] = {
    # The upstream refused the key the gateway holds (the gateway's own key was fine).
    "upstream-401": _litellm_error(
        401,
        "litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided: "
        "wrong-up********************1234. You can find your API key at "
        "https://platform.openai.com/account/api-keys." + _LITELLM_TAIL.format(model="fault-401"),
        "authentication_error",
        **_LITELLM_HEADERS,
        **{"llm_provider-x-request-id": "req_wire000001"},
    ),
    # The gateway serves the model; the upstream has no such model.
    "upstream-404": _litellm_error(
        404,
        "litellm.NotFoundError: NotFoundError: OpenAIException - The model `fault-404` does not exist or "
        "you do not have access to it." + _LITELLM_TAIL.format(model="fault-404"),
        "invalid_request_error",
        **_LITELLM_HEADERS,
    ),
    # After the gateway's own two retries (21.5 s): the upstream's Retry-After, renamed.
    "upstream-429": _litellm_error(
        429,
        "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 7s."
        + _LITELLM_TAIL.format(model="fault-429"),
        "throttling_error",
        **_LITELLM_HEADERS,
        **{"llm_provider-retry-after": "7"},
    ),
    "upstream-500": _litellm_error(
        500,
        "litellm.InternalServerError: InternalServerError: OpenAIException - The upstream had an internal "
        "error." + _LITELLM_TAIL.format(model="fault-500"),
        "internal_server_error",
        **_LITELLM_HEADERS,
    ),
    "upstream-context": _litellm_error(
        400,
        "litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: "
        "OpenAIException - This model's maximum context length is 2048 tokens. However, you requested "
        "9120 tokens (8096 in the messages, 1024 in the completion). Please reduce the length of the "
        "messages or completion.\nmodel=fault-context. context_window_fallbacks=None. fallbacks=None.\n\n"
        "Set 'context_window_fallback' - https://docs.litellm.ai/docs/routing#fallbacks"
        + _LITELLM_TAIL.format(model="fault-context"),
        "invalid_request_error",
        **_LITELLM_HEADERS,
    ),
    # A key that is not the master key, on a gateway without a key database: its own HTTP 400.
    "wrong-gateway-key": _litellm_error(400, "No connected db.", "no_db_connection"),
    "unknown-to-gateway": _litellm_error(
        400,
        "/chat/completions: Invalid model name passed in model=no-such-model. Call `/v1/models` to view "
        "available models for your key.",
        "invalid_request_error",
        **_LITELLM_HEADERS,
    ),
    # The gateway could not reach the upstream at all (its api_base refused the connection): LiteLLM
    # answers HTTP 500 before any answer starts, its words naming APIConnectionError.
    "upstream-unreachable": _litellm_error(
        500,
        "litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.\n"
        "Received Model Group=fault-unreachable\nAvailable Model Group Fallbacks=None",
        None,
        **_LITELLM_HEADERS,
    ),
    # The upstream dropped the connection after two pieces: an error event in a 200 stream.
    "upstream-dropped": Scenario(
        failure="error_event",
        text="Half an answer, then the line goes dead.",
        headers=_LITELLM_STREAM_HEADERS,
        error_event={
            "error": {
                "message": "litellm.APIConnectionError: APIConnectionError: OpenAIException - "
                "Connection error.",
                "type": None,
                "param": None,
                "code": "500",
            }
        },
    ),
    "upstream-malformed": Scenario(
        failure="error_event",
        text="Two good pieces, then broken JSON.",
        headers=_LITELLM_STREAM_HEADERS,
        error_event={
            "error": {
                "message": "litellm.APIConnectionError: APIConnectionError: OpenAIException - Expecting ',' "
                "delimiter: line 1 column 39 (char 38)",
                "type": None,
                "param": None,
                "code": "500",
            }
        },
    ),
    # Token counts (1.108.7, chat completions, `stream_options.include_usage`): an upstream that
    # sent its usage (31 in, 8 out) and one that sent none, the same answer. LiteLLM counts the
    # missing ones itself (tiktoken over the messages and the text: 29 and 7) and sends both in
    # the same shape, with the same headers: nothing in the answer tells its count from the
    # upstream's. These are its usage chunks as sent.
    "counted-by-upstream": Scenario(
        text="Paris is the capital of France.",
        headers=_LITELLM_STREAM_HEADERS,
        usage_event={
            "id": "chatcmpl-wire000002",
            "created": 1796667585,
            "model": "with-usage",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}}],
            "usage": {
                "completion_tokens": 8,
                "prompt_tokens": 31,
                "total_tokens": 39,
                "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": 8},
            },
        },
    ),
    "counted-by-gateway": Scenario(
        text="Paris is the capital of France.",
        reports_usage=False,
        headers=_LITELLM_STREAM_HEADERS,
        usage_event={
            "id": "chatcmpl-wire000004",
            "created": 1796667585,
            "model": "no-usage",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}}],
            "usage": {
                "completion_tokens": 7,
                "prompt_tokens": 29,
                "total_tokens": 36,
                "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": 7},
            },
        },
    ),
    # Anthropic's messages API served from a model reached in OpenAI's format: no `x-litellm-*`
    # header at all, 0 input tokens at `message_start`, both counts in `message_delta` (the
    # upstream's 31 and 8 here; its own count, 19 and 7, when the upstream sent none).
    "messages-from-openai-format": Scenario(
        text="Paris is the capital of France.", input_tokens=31, output_tokens=8, usage_at_end=True
    ),
}


# ----------------------------------------------------------------- standalone fault server

# What each model answers when the server runs on its own (`python tests/wire_server.py PORT`), put
# behind a real gateway (a LiteLLM proxy) by hand: one model per fault, in the upstream's own words.
FAULT_MODELS: dict[str, Scenario] = {
    "fault-401": Scenario(
        failure="status",
        status=401,
        error_message="Incorrect API key provided: wrong-up********************1234. You can find your "
        "API key at https://platform.openai.com/account/api-keys.",
    ),
    "fault-404": Scenario(
        failure="status",
        status=404,
        error_message="The model `fault-404` does not exist or you do not have access to it.",
    ),
    "fault-429": Scenario(
        failure="status",
        status=429,
        retry_after="7",
        error_message="Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. "
        "Please try again in 7s.",
    ),
    "fault-500": Scenario(failure="status", status=500, error_message="The upstream had an internal error."),
    # Fails once, then answers: a gateway that retries answers with its retry count.
    "fault-500-once": Scenario(
        failure="status", status=500, fail_times=1, error_message="The upstream had an internal error."
    ),
    "fault-context": Scenario(
        failure="status",
        status=400,
        error_type="invalid_request_error",
        error_message="This model's maximum context length is 2048 tokens. However, you requested 9120 "
        "tokens (8096 in the messages, 1024 in the completion). Please reduce the length of the messages "
        "or completion.",
    ),
    "fault-disconnect": Scenario(failure="disconnect", text="Half an answer, then the line goes dead."),
    "fault-malformed": Scenario(failure="malformed", text="Two good pieces, then broken JSON."),
    "fault-error-event": Scenario(failure="error_event", text="Two pieces, then an error event."),
    # The same answer with its usage and without it: what a gateway fills in when none came.
    "usage-sent": Scenario(text="Paris is the capital of France.", input_tokens=31, output_tokens=8),
    "usage-none": Scenario(text="Paris is the capital of France.", reports_usage=False),
}


def main(argv: list[str] | None = None) -> None:
    """Serve `FAULT_MODELS` (and a plain answer for every other model) on 127.0.0.1:PORT until ^C."""
    import argparse

    parser = argparse.ArgumentParser(description="The wire server on its own, with one model per fault.")
    parser.add_argument("port", type=int, nargs="?", default=8099)
    port = parser.parse_args(argv).port
    server = WireServer(port)
    for model, scenario in FAULT_MODELS.items():
        server.script(model, scenario)
    server.start()
    print(f"wire server on {server.openai_base_url}; fault models: {', '.join(FAULT_MODELS)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
