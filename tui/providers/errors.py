"""Turning what an HTTP provider said into a `ProviderError` a user can act on.

Both SDK adapters funnel their failures through here, so a 429 reads the same whether it came
from OpenAI, OpenRouter or Anthropic. What a provider says back is redacted first: error bodies
and gateways may echo the key, and a base URL may carry credentials.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2

from tui.engine.provider import ErrorKind, ProviderError
from tui.errors import redact

_CONTEXT_WORDS = (
    "context length",
    "context_length",
    "context window",
    "too many tokens",
    "prompt is too long",
)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What an error message needs to name: who was called, for which model, with which key."""

    provider: str
    model_id: str
    alias: str
    api_key_env: str
    base_url: str
    secrets: tuple[str, ...] = ()
    """The key in use: redacted from anything the provider says back."""

    @property
    def who(self) -> str:
        return f"{self.provider} ({self.alias} → {self.model_id})" if self.alias else self.provider


def retry_after_seconds(headers: httpx2.Headers | None) -> float | None:
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return float(raw_ms) / 1000
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw:
        try:
            return float(raw)
        except ValueError:
            return None  # an HTTP date: rare from model APIs, and not worth a parser here
    return None


def _short(message: str, limit: int = 200) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def from_status(
    ctx: CallContext,
    status: int,
    message: str,
    *,
    error_type: str = "",
    headers: httpx2.Headers | None = None,
) -> ProviderError:
    """A provider's HTTP error status (or in-stream error of the given type) as a ProviderError."""
    detail = _short(redact(message, ctx.secrets)) if message else ""  # bodies may echo the key
    detail_part = f": {detail}" if detail else ""
    lowered = f"{error_type} {message}".lower()
    if status == 200:
        return _mid_answer(ctx, error_type, lowered, detail_part)
    if status == 401 or error_type == "authentication_error":
        key = f"check {ctx.api_key_env}" if ctx.api_key_env else "check the provider's key"
        return ProviderError(ErrorKind.AUTH, f"{ctx.provider} rejected the API key (HTTP {status}); {key}")
    if status == 403 or error_type == "permission_error":
        return ProviderError(
            ErrorKind.AUTH,
            f"{ctx.provider} refused access to {ctx.model_id} (HTTP {status}); the key in "
            f"{ctx.api_key_env or 'use'} may not have this model{detail_part}",
        )
    if status == 404 or error_type == "not_found_error":
        return ProviderError(
            ErrorKind.UNKNOWN_MODEL,
            f"{ctx.provider} does not know model {ctx.model_id!r} (alias {ctx.alias}, HTTP {status}); "
            "fix its id in the catalog",
        )
    if status == 429 or error_type == "rate_limit_error":
        retry = retry_after_seconds(headers)
        if "quota" in lowered or "billing" in lowered or "credit" in lowered:
            return ProviderError(
                ErrorKind.RATE_LIMIT, f"{ctx.provider} quota or credit exhausted (HTTP {status}){detail_part}"
            )
        after = f"; retry after {retry:g} s" if retry is not None else "; try again shortly"
        return ProviderError(
            ErrorKind.RATE_LIMIT,
            f"rate limited by {ctx.provider} (HTTP {status}){after}",
            retry_after_s=retry,
            retryable=True,
        )
    if status == 413 or any(word in lowered for word in _CONTEXT_WORDS):
        return ProviderError(
            ErrorKind.CONTEXT_TOO_LONG, f"context too long for {ctx.model_id} ({ctx.provider}){detail_part}"
        )
    if status == 529 or error_type == "overloaded_error":
        return ProviderError(
            ErrorKind.SERVER,
            f"{ctx.provider} is overloaded (HTTP {status}); try again shortly",
            retryable=True,
        )
    if status >= 500 or error_type in ("api_error", "server_error"):
        return ProviderError(
            ErrorKind.SERVER,
            f"{ctx.provider} had a server error (HTTP {status}){detail_part}",
            retryable=True,
        )
    return ProviderError(
        ErrorKind.BAD_REQUEST, f"{ctx.provider} refused the request (HTTP {status}){detail_part}"
    )


# What a server's words say when it refuses the structured-output part of a request: OpenAI's
# "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model",
# llama-cpp-python's "Input should be 'text' or 'json_object'" (on HTTP 500), a proxy's "tools are
# not supported", vLLM's guided decoding.
_FORMAT_WORDS = (
    "response_format",
    "json_schema",
    "json_object",
    "'text'",
    "schema",
    "structured output",
    "tool",
    "grammar",
    "guided",
)


def format_refusal(ctx: CallContext, status: int, message: str, form: str) -> ProviderError | None:
    """The server refused the structured form `form` of the request, not the request: a 400, 415
    or 422 (or, as llama-cpp-python answers an unknown `response_format`, a 500) whose words are
    about the format. None for any other error, which is then the ordinary error it is; a 500
    that is a refusal must not be retried as it was sent."""
    lowered = message.lower()
    if status not in (400, 415, 422, 500) or any(word in lowered for word in _CONTEXT_WORDS):
        return None
    if not any(word in lowered for word in _FORMAT_WORDS):
        return None
    # A pydantic validation error (llama-cpp-python) says it best in its `msg`, not its traceback.
    said = re.search(r"""'msg': (?:"([^"]+)"|'([^']+)')""", message)
    detail = _short(redact(said.group(1) or said.group(2) if said else message, ctx.secrets), 160)
    what = f"{ctx.provider} refused structured output ({form}, HTTP {status})"
    return ProviderError(ErrorKind.FORMAT_REFUSED, f"{what}: {detail}")


def _mid_answer(ctx: CallContext, error_type: str, lowered: str, detail_part: str) -> ProviderError:
    """An error event inside a stream that had started fine (HTTP 200): not an HTTP status, so the
    message says what happened, with the provider's type and words. Worth a retry when it is the
    provider's trouble (the engine retries only a call that had no text yet)."""
    kind = f" ({error_type})" if error_type else ""
    message = f"{ctx.provider} reported an error mid-answer{kind}{detail_part}"
    if error_type == "rate_limit_error":
        return ProviderError(ErrorKind.RATE_LIMIT, message, retryable=True)
    if any(word in lowered for word in _CONTEXT_WORDS):
        return ProviderError(ErrorKind.CONTEXT_TOO_LONG, message)
    retryable = error_type in ("", "api_error", "server_error", "overloaded_error", "timeout_error")
    return ProviderError(ErrorKind.SERVER, message, retryable=retryable)


def from_transport(ctx: CallContext, err: BaseException, *, received_text: bool) -> ProviderError:
    """A network-level failure (raw httpx2, or the SDK's wrapping of one) as a ProviderError."""
    cause: BaseException = err
    while cause.__cause__ is not None and not isinstance(cause, httpx2.HTTPError):
        cause = cause.__cause__
    if isinstance(cause, httpx2.TimeoutException) or "timeout" in type(err).__name__.lower():
        what = "stopped sending" if received_text else "did not answer"
        return ProviderError(
            ErrorKind.TIMEOUT, f"{ctx.provider} {what} in time (read timeout)", retryable=True
        )
    if isinstance(cause, httpx2.ConnectError):
        return ProviderError(
            ErrorKind.CONNECTION,
            f"could not connect to {ctx.provider} at {redact(ctx.base_url)}",
            retryable=True,
        )
    if received_text:
        return ProviderError(
            ErrorKind.CONNECTION, f"lost the connection to {ctx.provider} mid-answer ({type(cause).__name__})"
        )
    return ProviderError(
        ErrorKind.CONNECTION,
        f"lost the connection to {ctx.provider} ({type(cause).__name__})",
        retryable=True,
    )


def unreachable(ctx: CallContext, err: BaseException) -> ProviderError:
    """A server that could not be reached, saying why in the words a person checks first: the
    connection refused (nothing listens there), the host not found (DNS), a timeout, TLS. The base
    URL is named with any user-info redacted."""
    where = f"cannot reach {ctx.provider} at {redact(ctx.base_url, ctx.secrets)}"
    causes = list(_causes(err))
    if any(isinstance(cause, httpx2.TimeoutException | TimeoutError) for cause in causes):
        connecting = any(isinstance(cause, httpx2.ConnectTimeout) for cause in causes)
        return ProviderError(
            ErrorKind.TIMEOUT, f"{where}: timed out {'connecting' if connecting else 'waiting for an answer'}"
        )
    why = f"the connection failed ({type(err).__name__})"
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            why = "connection refused (is the server running, on that port?)"
            break
        if isinstance(cause, socket.gaierror):
            why = f"host not found (DNS: {cause.strerror or cause})"
            break
        if isinstance(cause, ssl.SSLError):
            why = f"TLS failed ({getattr(cause, 'reason', None) or type(cause).__name__})"
            break
        if isinstance(cause, httpx2.RemoteProtocolError):
            why = "the server closed the connection without answering"
            break
        if isinstance(cause, OSError) and cause.strerror:
            why = cause.strerror[:1].lower() + cause.strerror[1:]
            break
    return ProviderError(ErrorKind.CONNECTION, f"{where}: {redact(why, ctx.secrets)}")


def _causes(err: BaseException) -> Iterator[BaseException]:
    """`err` and what it was raised from or during, outermost first (each once)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__


def listing_refused(ctx: CallContext, status: int, message: str, error_type: str = "") -> ProviderError:
    """A listing of models (GET /models) answered with an error status: 401 is the key refused
    (`AUTH`); a 403 is not, since a key restricted to chat may not list models; anything else as
    `from_status` says. A server without the endpoint (404) is no error: the caller checks first."""
    if status == 403 or error_type == "permission_error":
        detail = _short(redact(message, ctx.secrets)) if message else ""
        return ProviderError(
            ErrorKind.BAD_REQUEST,
            f"{ctx.provider} refused to list models (HTTP 403): the key may not be allowed to"
            + (f": {detail}" if detail else ""),
        )
    return from_status(ctx, status, message, error_type=error_type)


def malformed(ctx: CallContext, err: BaseException) -> ProviderError:
    detail = f": {err.msg}" if isinstance(err, json.JSONDecodeError) else ""
    return ProviderError(ErrorKind.MALFORMED, f"{ctx.provider} sent malformed stream data{detail}")
