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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import httpx2

from tui.engine.provider import ErrorKind, ProviderError, asked_wait
from tui.errors import redact
from tui.providers import gateway

_CONTEXT_WORDS = (
    "context length",
    "context_length",
    "context window",
    "too many tokens",
    "prompt is too long",
    "contextwindowexceeded",
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
    gateway: str = ""
    """The provider is a gateway in front of other providers ("litellm", or "gateway" for one of
    another make); "" when it is the provider itself."""

    @property
    def who(self) -> str:
        return f"{self.provider} ({self.alias} → {self.model_id})" if self.alias else self.provider

    @property
    def key_env(self) -> str:
        return self.api_key_env or "the provider's key"


SAID_LIMIT = 320
"""How much of a provider's own words a message carries: its start and its end (see `said`)."""


def said(message: str, secrets: tuple[str, ...] = (), limit: int = SAID_LIMIT) -> str:
    """A provider's own words, fit for a message: redacted of keys first (error bodies and gateways
    echo them), on one line, and when too long its start and its end with `…` between, since the
    end is where a wrapped message keeps its meaning ("…Please reduce the length of the messages")."""
    text = " ".join(redact(message, secrets).split())
    if len(text) <= limit:
        return text
    head = limit // 3
    tail = limit - head - 3
    return f"{text[:head].rstrip()} … {text[-tail:].lstrip()}"


def _words(ctx: CallContext, message: str, gateway_name: str) -> str:
    """The provider's words for a message: a gateway's wrapping of an upstream's error is told as
    the upstream's ("OpenAI said: …"), a gateway's own words without its class-name lead."""
    if not message.strip():
        return ""
    if gateway_name:
        upstream = gateway.upstream_words(message)
        if upstream is not None:
            name, words = upstream
            return f"{name} (behind {ctx.provider}) said: {said(words, ctx.secrets)}"
        return f"{ctx.provider} said: {said(gateway.without_gateway_prefix(message), ctx.secrets)}"
    return f"{ctx.provider} said: {said(message, ctx.secrets)}"


def from_status(
    ctx: CallContext,
    status: int,
    message: str,
    *,
    error_type: str = "",
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """A provider's HTTP error status (or in-stream error of the given type) as a ProviderError:
    Quorum's advice, then the provider's own words (redacted, trimmed at the middle). Through a
    gateway (configured, or a LiteLLM proxy known by its headers) the advice names both layers."""
    gateway_name = ctx.gateway or ("litellm" if gateway.answered_by_litellm(headers) else "")
    words = _words(ctx, message, gateway_name)
    detail_part = f"; {words}" if words else ""
    lowered = f"{error_type} {message}".lower()
    if status == 200:
        return _mid_answer(ctx, error_type, message, gateway_name, detail_part)
    if gateway_name:
        known = _through_gateway(ctx, status, error_type, message, detail_part)
        if known is not None:
            return known
    if status == 401 or error_type == "authentication_error":
        return ProviderError(
            ErrorKind.AUTH,
            f"{ctx.provider} rejected the API key (HTTP {status}); check {ctx.key_env}{detail_part}",
        )
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
            f"fix its id in the catalog{detail_part}",
        )
    if status == 429 or error_type in ("rate_limit_error", "throttling_error"):
        retry = gateway.retry_after_seconds(headers)
        if "quota" in lowered or "billing" in lowered or "credit" in lowered:
            return ProviderError(
                ErrorKind.RATE_LIMIT, f"{ctx.provider} quota or credit exhausted (HTTP {status}){detail_part}"
            )
        # What the provider asked for, not a promise: whether Quorum tries again is its retries' to
        # say (a gateway's provider has none by default), and its pane says so when it does.
        after = f"; {asked_wait(retry)}" if retry is not None else "; try again shortly"
        return ProviderError(
            ErrorKind.RATE_LIMIT,
            f"rate limited by {_layer(ctx, gateway_name)} (HTTP {status}){after}{detail_part}",
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
            f"{ctx.provider} is overloaded (HTTP {status}); try again shortly{detail_part}",
            retryable=True,
        )
    if status >= 500 or error_type in ("api_error", "server_error"):
        return ProviderError(
            ErrorKind.SERVER,
            f"{_layer(ctx, gateway_name)} had a server error (HTTP {status}){detail_part}",
            retryable=True,
        )
    return ProviderError(
        ErrorKind.BAD_REQUEST, f"{ctx.provider} refused the request (HTTP {status}){detail_part}"
    )


def _layer(ctx: CallContext, gateway_name: str) -> str:
    """Who answered, in a retryable error's words: through a gateway, the gateway (after any
    retries of its own) on behalf of the model behind it."""
    if not gateway_name:
        return ctx.provider
    return f"{ctx.model_id} behind the gateway {ctx.provider} (after its own retries, if it makes any)"


def _through_gateway(
    ctx: CallContext, status: int, error_type: str, message: str, detail_part: str
) -> ProviderError | None:
    """The errors a gateway tells apart from a provider's: its own key refused (whatever the
    status), a model it does not serve, and an upstream's key or model refused behind it. None for
    the rest, which read as they would from the provider itself."""
    upstream = gateway.upstream_words(message) is not None
    gw = f"the gateway {ctx.provider}"
    if gateway.refused_gateway_key(error_type, message) and not upstream:
        why = (
            " (LiteLLM answers this to a key that is not its master key when it has no key database)"
            if "no connected db" in message.lower() or error_type == "no_db_connection"
            else ""
        )
        return ProviderError(
            ErrorKind.AUTH,
            f"{gw} refused its key (HTTP {status}){why}; check {ctx.key_env}, the key for the gateway"
            f"{detail_part}",
        )
    if gateway.could_not_reach_upstream(error_type, message):
        # LiteLLM answers HTTP 500 when the model behind it refused the connection: the gateway
        # is up and the model is not, which "server error" would hide.
        return ProviderError(
            ErrorKind.CONNECTION,
            f"{gw} could not reach the provider behind it for {ctx.model_id} (HTTP {status}); check "
            f"that the gateway's upstream for it is up and its address in the gateway's config{detail_part}",
            retryable=True,
        )
    if gateway.unknown_to_gateway(message):
        return ProviderError(
            ErrorKind.UNKNOWN_MODEL,
            f"{gw} serves no model {ctx.model_id!r} (alias {ctx.alias}, HTTP {status}); add it to the "
            f"gateway's model list or fix its id in the catalog{detail_part}",
        )
    if status == 401 or error_type == "authentication_error":
        where = (
            f"the provider behind it refused the upstream key the gateway holds for {ctx.model_id} "
            f"(the gateway took its own key, {ctx.key_env}); fix the key in the gateway's config"
            if upstream
            else f"check the gateway's key in {ctx.key_env}, or the upstream key the gateway holds "
            f"for {ctx.model_id}"
        )
        return ProviderError(ErrorKind.AUTH, f"{gw} answered HTTP {status}: {where}{detail_part}")
    if status == 403 or error_type == "permission_error":
        return ProviderError(
            ErrorKind.AUTH,
            f"{gw} refused access to {ctx.model_id} (HTTP {status}): the gateway's key in {ctx.key_env} "
            f"may not be allowed this model, or the upstream key behind it may not have it{detail_part}",
        )
    if status == 404 or error_type == "not_found_error":
        where = (
            f"the gateway serves {ctx.model_id!r} but the provider behind it does not know the model "
            "it maps to; fix the model in the gateway's config"
            if upstream
            else f"the gateway, or the provider behind it, does not know {ctx.model_id!r}; fix its id "
            "in the catalog or the gateway's model list"
        )
        return ProviderError(
            ErrorKind.UNKNOWN_MODEL, f"{gw} answered HTTP {status} (alias {ctx.alias}): {where}{detail_part}"
        )
    return None


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
    found = re.search(r"""'msg': (?:"([^"]+)"|'([^']+)')""", message)
    detail = said(found.group(1) or found.group(2) if found else message, ctx.secrets, 160)
    what = f"{ctx.provider} refused structured output ({form}, HTTP {status})"
    return ProviderError(ErrorKind.FORMAT_REFUSED, f"{what}: {detail}")


def _mid_answer(
    ctx: CallContext, error_type: str, message: str, gateway_name: str, detail_part: str
) -> ProviderError:
    """An error event inside a stream that had started fine (HTTP 200): not an HTTP status, so the
    message says what happened, with the provider's type and words. Worth a retry when it is the
    provider's trouble (the engine retries only a call that had no text yet).

    A gateway passes on a fault between itself and the upstream (a dropped connection, a malformed
    chunk) as an event whose `code` is "500" and whose words name LiteLLM's `APIConnectionError`:
    that is a lost connection behind the gateway, not an error of the model."""
    lowered = f"{error_type} {message}".lower()
    if gateway_name and gateway.could_not_reach_upstream(error_type, message):
        return ProviderError(
            ErrorKind.CONNECTION,
            f"the gateway {ctx.provider} lost the provider behind it mid-answer{detail_part}",
            retryable=True,
        )
    kind = ""
    if error_type.isdigit():  # a code, not a type: a status the gateway or server gives the event
        kind = f" (status {error_type} in the stream)"
    elif error_type:
        kind = f" ({error_type})"
    where = f"the gateway {ctx.provider}" if gateway_name else ctx.provider
    text = f"{where} reported an error mid-answer{kind}{detail_part}"
    if error_type in ("rate_limit_error", "429"):
        return ProviderError(ErrorKind.RATE_LIMIT, text, retryable=True)
    if any(word in lowered for word in _CONTEXT_WORDS):
        return ProviderError(ErrorKind.CONTEXT_TOO_LONG, text)
    retryable = error_type in ("", "api_error", "server_error", "overloaded_error", "timeout_error") or (
        error_type.isdigit() and int(error_type) >= 500
    )
    return ProviderError(ErrorKind.SERVER, text, retryable=retryable)


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
        detail = said(message, ctx.secrets) if message else ""
        return ProviderError(
            ErrorKind.BAD_REQUEST,
            f"{ctx.provider} refused to list models (HTTP 403): the key may not be allowed to"
            + (f": {detail}" if detail else ""),
        )
    return from_status(ctx, status, message, error_type=error_type)


def malformed(ctx: CallContext, err: BaseException) -> ProviderError:
    detail = f": {err.msg}" if isinstance(err, json.JSONDecodeError) else ""
    return ProviderError(ErrorKind.MALFORMED, f"{ctx.provider} sent malformed stream data{detail}")
