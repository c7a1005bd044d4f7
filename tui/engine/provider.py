"""The one streaming interface every provider adapter speaks.

An adapter turns a `ChatRequest` into an async stream of `StreamEvent`s and turns every way a
provider can fail into a `ProviderError` whose `kind` says what happened and whose message says
what the user can do about it. The engine never sees an SDK exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from tui.engine.types import Image, Phase, VoteForm


class ErrorKind(StrEnum):
    """Every failure class a member's pane can show, each with a message of its own."""

    AUTH = "auth"
    MISSING_KEY = "missing_key"
    UNKNOWN_MODEL = "unknown_model"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    BAD_REQUEST = "bad_request"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    CONTEXT_TOO_LONG = "context_too_long"
    EMPTY = "empty"
    ATTACHMENT = "attachment"
    INTERNAL = "internal"
    FORMAT_REFUSED = "format_refused"
    """The server refused the structured-output form of the request (not the request itself):
    the engine asks again at once in a weaker form rather than retrying as is."""


class ProviderError(Exception):
    """A call failed; `str(err)` is a complete sentence fit for a member's pane."""

    def __init__(
        self, kind: ErrorKind, message: str, *, retry_after_s: float | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s
        # Worth trying again as it is (a rate limit, an overloaded or failing server, a dropped
        # connection); a bad key, an unknown model or an exhausted quota are not.
        self.retryable = retryable


def asked_wait(seconds: float) -> str:
    """A refusal's Retry-After in words, as what the provider asked rather than what will happen:
    whether the call is tried again is the engine's retries' to say (`CallRetrying`)."""
    return f"the provider asks to wait {seconds:g} s before trying again"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a request: its text, and the images that go with it (each adapter sends
    them as its wire format's image parts; none, and the content is the text alone)."""

    role: Literal["user", "assistant"]
    content: str
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, slots=True)
class StructuredOutput:
    """Ask for the answer as a JSON object fitting `schema`, in the wire form `form`.

    `name` and `description` name the schema (OpenAI's `json_schema.name`) or the tool (Anthropic's
    forced tool call). An adapter that cannot send `form` raises `ProviderError(FORMAT_REFUSED)`,
    as it does when the server refuses it.
    """

    form: VoteForm
    name: str
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call to one model, in provider-neutral terms."""

    model_id: str
    system: str
    messages: tuple[ChatMessage, ...]
    max_output_tokens: int
    temperature: float | None = None
    # None (or form `text`): free text.
    structured: StructuredOutput | None = None
    # Named in error messages; never sent.
    alias: str = ""
    # Not sent to real providers: lets the offline demo provider act its part convincingly.
    phase: Phase = Phase.POSITION
    stance: str = "neutral"
    seed: int = 0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text (for a structured request to an OpenAI-compatible server, the
    answer itself: its JSON is the text)."""

    text: str


@dataclass(frozen=True, slots=True)
class StructuredDelta:
    """A piece of the answer's structured part where the wire keeps it apart from the text: the
    input of Anthropic's forced tool call. Kept apart end to end, so that words the model writes
    beside its vote are never read as part of it, nor it as part of them."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """The tokens the answer took, as reported with it. `counted_by_gateway`: a gateway in front of
    the provider reported them, which may have counted them itself (see `TokensSource.GATEWAY`)."""

    input_tokens: int
    output_tokens: int
    counted_by_gateway: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    """The provider ended the answer; `reason` is its own word (stop, length, end_turn…).

    Some words mean the answer is not whole (see `tui.engine.calls.cutoff`): `length` /
    `max_tokens`, `content_filter`, `refusal`. An adapter that sees a refusal in the stream itself
    (OpenAI's `delta.refusal`) ends with `Finished("refusal")`.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class GatewayRetried:
    """A gateway in front of the provider (a LiteLLM proxy) says, with its answer, that it retried
    the request `count` times before it answered: retries of its own, not the engine's."""

    count: int


StreamEvent = TextDelta | StructuredDelta | Usage | Finished | GatewayRetried


class Provider(Protocol):
    """A configured connection to one provider (one SDK client, reused for every call)."""

    name: str
    is_demo: bool

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Yield the answer as it arrives. Raises `ProviderError` only.

        The stream must end with a `Finished` event; an adapter whose wire stream closed without
        one raises `ProviderError(TRUNCATED)` instead, so a cut-off answer is never taken as whole.
        """
        ...

    async def aclose(self) -> None: ...
