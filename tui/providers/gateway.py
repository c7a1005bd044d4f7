"""What a gateway in front of the providers (a LiteLLM proxy) says, read as what it means.

A gateway answers in the provider's wire format but adds its own layer: its own key (the one in
the provider's `api_key_env`), its own model list, its own retries, and its own way of passing an
upstream provider's error on. LiteLLM's shapes, as its proxy (1.108) answers them:

* an upstream error keeps its status and wraps the upstream's words:
  `litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided…
  \\n\\nLiteLLM: model group 'x' failed with the error above. No fallback was attempted.`;
* the gateway's own refusals are its own words and types: a key it cannot check, when it has no
  key database, is HTTP 400 `No connected db.` (type `no_db_connection`); an unknown key with a
  database `Authentication Error, Invalid proxy server token passed…` (type `auth_error`, 401);
  a model it does not serve HTTP 400 `Invalid model name passed in model=…`;
* the upstream's headers come back renamed `llm_provider-<name>`: its Retry-After is
  `llm_provider-retry-after`; LiteLLM's own are `x-litellm-*`, among them, on an answer,
  `x-litellm-attempted-retries` (how often the gateway retried before it answered);
* an upstream fault after the answer started (a dropped connection, a malformed chunk) arrives as
  an in-stream error event `{"error": {"message": "litellm.APIConnectionError: …", "type": null,
  "code": "500"}}`;
* an answer's token counts are the upstream's when it sent them and the gateway's own (tiktoken)
  when it did not, in the same usage fields and under the same headers: nothing tells which, so
  the adapters report every count through a gateway as the gateway's (`Usage.counted_by_gateway`).
  Its messages API, serving a model it reaches in OpenAI's format, sends none of its headers, 0
  input tokens at `message_start` and both counts in `message_delta`.

Everything here is a pure function of the status, the words and the headers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

# The gateway's own error types (LiteLLM's ProxyErrorTypes) that mean its key was not accepted.
_KEY_ERROR_TYPES = frozenset({"no_db_connection", "auth_error", "token_not_found_in_db", "expired_key"})
# ...and its own words for it, for a body whose type is missing or generic.
_KEY_ERROR_WORDS = (
    "no connected db",
    "invalid proxy server token",
    "authentication error",
    "no api key passed in",
    "malformed api key",
    "litellm virtual key expected",
    "expired key",
)
_UNKNOWN_MODEL_WORDS = ("invalid model name passed in model=",)
# LiteLLM's wrapping of an upstream's words: `<Provider>Exception - <their words>`, then its notes.
_UPSTREAM = re.compile(
    r"\b(\w+?)Exception - (.*?)(?:\s*\nmodel=|\s*\n\s*\nLiteLLM: |\s*\nReceived Model Group=|$)", re.S
)
_LITELLM_PREFIX = re.compile(r"^(?:litellm\.\w+: )+(?:\w+Error: )*")
# Headers that carry a Retry-After, the provider's own first, then as a gateway renames them.
_RETRY_AFTER_MS = ("retry-after-ms", "llm_provider-retry-after-ms")
_RETRY_AFTER_S = ("retry-after", "llm_provider-retry-after")
_LITELLM_HEADER_PREFIXES = ("x-litellm-", "llm_provider-")


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a refusal asks for, in seconds: `retry-after-ms`, `retry-after`, or either as a
    LiteLLM proxy passes it on (`llm_provider-retry-after`). None when none is given, when it is an
    HTTP date (which model APIs hardly send), or when it is no number of seconds at all (`inf`,
    `nan`, negative): a server's garbage must not become a wait that never ends or cannot be slept."""
    if headers is None:
        return None
    for names, scale in ((_RETRY_AFTER_MS, 1000.0), (_RETRY_AFTER_S, 1.0)):
        for name in names:
            seconds = _seconds(headers.get(name), scale)
            if seconds is not None:
                return seconds
    return None


def _seconds(raw: str | None, scale: float) -> float | None:
    try:
        value = float(raw) / scale if raw else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def answered_by_litellm(headers: Mapping[str, str] | None) -> bool:
    """Whether a response came through a LiteLLM proxy (its `x-litellm-*` or `llm_provider-*`
    headers), configured as a gateway or not."""
    return headers is not None and any(name.lower().startswith(_LITELLM_HEADER_PREFIXES) for name in headers)


MAX_GATEWAY_RETRIES = 1000
"""More retries than a gateway says it made are not a count but a broken or hostile header."""


def gateway_retries(headers: Mapping[str, str] | None) -> int | None:
    """How often the gateway retried the call before it answered (`x-litellm-attempted-retries`),
    or None when it does not say, or says something that is not a count (negative, or more than
    `MAX_GATEWAY_RETRIES`: a history column and a pane must not take it in)."""
    raw = headers.get("x-litellm-attempted-retries") if headers is not None else None
    if not raw or not raw.strip().isdigit() or len(raw.strip()) > 4:
        return None
    count = int(raw)
    return count if count <= MAX_GATEWAY_RETRIES else None


def refused_gateway_key(error_type: str, message: str) -> bool:
    """The gateway's own refusal of its key, whatever the status (LiteLLM answers HTTP 400 "No
    connected db." to a key that is not its master key when it has no key database)."""
    lowered = message.lower()
    return error_type in _KEY_ERROR_TYPES or any(word in lowered for word in _KEY_ERROR_WORDS)


def could_not_reach_upstream(error_type: str, message: str) -> bool:
    """The gateway could not connect to the provider behind it: LiteLLM's `APIConnectionError`
    (its status is 500, as for any fault of the upstream's)."""
    return "apiconnectionerror" in f"{error_type} {message}".lower()


def unknown_to_gateway(message: str) -> bool:
    """The gateway does not serve the model asked for (it is not in its model list)."""
    lowered = message.lower()
    return any(word in lowered for word in _UNKNOWN_MODEL_WORDS)


def upstream_words(message: str) -> tuple[str, str] | None:
    """(the upstream's name as the gateway gives it, e.g. "OpenAI"; its own words) when `message`
    is a gateway's wrapping of an upstream provider's error, else None."""
    found = _UPSTREAM.search(message)
    if found is None or not found.group(2).strip():
        return None
    return found.group(1), found.group(2).strip()


def without_gateway_prefix(message: str) -> str:
    """`message` without LiteLLM's `litellm.RateLimitError: RateLimitError: ` lead, which says
    nothing the status does not and eats the room the upstream's words need."""
    return _LITELLM_PREFIX.sub("", message, count=1)
