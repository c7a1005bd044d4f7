"""A scripted provider for engine tests: each model id gets its own behaviour, every request is kept.
And the real providers pointed at the loopback wire server (`tests/wire_server.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tui.engine import events as ev
from tui.engine.connection import Connection, ProviderLookup
from tui.engine.orchestrator import run_panel
from tui.engine.provider import (
    ChatRequest,
    ErrorKind,
    Finished,
    GatewayRetried,
    Provider,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
    asked_wait,
)
from tui.engine.types import Member, RunRequest, RunResult, Stance
from tui.history.store import iso_stamp
from tui.providers.anthropic_messages import AnthropicProvider
from tui.providers.openai_compat import OpenAICompatProvider

if TYPE_CHECKING:
    from tests.wire_server import WireServer


@dataclass
class Script:
    """How one fake model behaves. `votes` is indexed by round (1-based); the last one repeats."""

    position: str = "Verdict: fine.\nLean: favourable\nConfidence: 7/10"
    votes: list[str] = field(default_factory=lambda: ["VERDICT: ACCEPT"])
    draft: str = "DRAFT proposal"
    curator: str = "CURATOR decision"
    delay_s: float = 0.0
    fail: ProviderError | None = None
    fail_phases: tuple[str, ...] = ("position", "draft", "vote", "curator", "revision", "ballot", "chair")
    fail_times: int | None = None  # with `fail`: only the first N requests fail
    hang: bool = False
    chunks: int = 3
    no_finish: bool = False
    usage: tuple[int, int] | None = (100, 50)
    usage_by_gateway: bool = False  # the usage came from a gateway in front (which may have counted it)
    finish_reason: str = "stop"  # the provider's word, in `finish_phases` (elsewhere "stop")
    finish_phases: tuple[str, ...] = ("position", "draft", "vote", "curator")
    gateway_retries: int | None = None  # a gateway in front says it retried this often before answering
    # A debate's later rounds, indexed from round 2 (the last one repeats; none: the position again).
    revisions: list[str] = field(default_factory=list)
    # A council ballot: its text, or made from the request (whose prompt shows the letters).
    ballot: str | Callable[[ChatRequest], str] = "FINAL RANKING: A, B"
    chair: str = "CHAIR answer"


class FakeProvider:
    name = "fake"
    is_demo = False

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.requests: list[ChatRequest] = []
        self.cancelled: list[str] = []
        self.failures: dict[str, int] = {}

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    def text_for(self, script: Script, request: ChatRequest) -> str:
        number = int(request.extra.get("round", "1"))
        if request.phase == "vote":
            return script.votes[min(number, len(script.votes)) - 1]
        if request.phase == "revision" and script.revisions:
            return script.revisions[min(number - 1, len(script.revisions)) - 1]
        if request.phase == "ballot":
            return script.ballot(request) if callable(script.ballot) else script.ballot
        return {
            "position": script.position,
            "draft": script.draft,
            "curator": script.curator,
            "chair": script.chair,
        }.get(request.phase, script.position)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        script = self.scripts[request.model_id]
        try:
            if script.hang and request.phase in script.fail_phases:
                yield TextDelta("partial ")
                await asyncio.sleep(3600)
            await asyncio.sleep(script.delay_s)
            failed_so_far = self.failures.get(request.model_id, 0)
            fails_now = script.fail_times is None or failed_so_far < script.fail_times
            if script.fail is not None and request.phase in script.fail_phases and fails_now:
                self.failures[request.model_id] = failed_so_far + 1
                raise script.fail
            if script.gateway_retries is not None:
                yield GatewayRetried(script.gateway_retries)
            text = self.text_for(script, request)
            step = max(1, len(text) // script.chunks)
            for start in range(0, len(text), step):
                yield TextDelta(text[start : start + step])
                await asyncio.sleep(0)
            if script.usage:
                yield Usage(*script.usage, counted_by_gateway=script.usage_by_gateway)
            if not script.no_finish:
                yield Finished(script.finish_reason if request.phase in script.finish_phases else "stop")
        except asyncio.CancelledError:
            self.cancelled.append(f"{request.model_id}:{request.phase}")
            raise


def member(alias: str, stance: Stance = Stance.NEUTRAL, **extra: object) -> Member:
    return Member(
        alias=alias,
        model_id=alias,
        provider="fake",
        stance=stance,
        input_price=1.0,
        output_price=2.0,
        **extra,
    )


def request(
    aliases: list[str],
    *,
    synth: list[str] | None = None,
    stances: list[Stance] | None = None,
    **extra: object,
) -> RunRequest:
    stances = stances or [Stance.NEUTRAL] * len(aliases)
    return RunRequest(
        question="Should we adopt X?",
        members=[member(a, s) for a, s in zip(aliases, stances, strict=True)],
        synthesizers=[member(a) for a in (synth or ["synth"])],
        **extra,
    )


def lookup(provider: Provider, max_concurrency: int | None = None) -> ProviderLookup:
    """Every member's calls through one connection to `provider`."""
    connection = Connection.limited(provider, max_concurrency)
    return lambda _member: connection


def rate_limited() -> ProviderError:
    return ProviderError(ErrorKind.RATE_LIMIT, f"rate limited by fake (HTTP 429); {asked_wait(1)}")


class BrokenSink:
    """An event sink with a bug: raises `ValueError("boom")` on every event `breaks_on` picks."""

    def __init__(self, breaks_on: Callable[[ev.Event], bool]) -> None:
        self.breaks_on = breaks_on
        self.raised_on: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        if self.breaks_on(event):
            self.raised_on.append(event)
            raise ValueError("boom")


class SteppingClock:
    """A clock for the history (`RunStore(clock=...)`) that moves `step` on each time it is read,
    from now: runs recorded one after another get stamps in that order, however fast the machine,
    and no test waits for the real clock to move. `given` holds every stamp handed out, as the
    history writes it."""

    def __init__(self, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = datetime.now(UTC)
        self.step = step
        self.given: list[str] = []

    def __call__(self) -> datetime:
        self.now += self.step
        self.given.append(iso_stamp(self.now))
        return self.now


def wire_provider(
    kind: str,
    server: WireServer,
    *,
    retries: int = 0,
    read_timeout: float = 30.0,
    max_tokens_param: str = "max_tokens",
) -> Provider:
    """The real provider of `kind` ("openai" or "anthropic": its SDK) talking to the wire server,
    with a key of that kind's shape and no retries unless asked."""
    if kind == "openai":
        return OpenAICompatProvider(
            "openai",
            base_url=server.openai_base_url,
            api_key="sk-wire",
            api_key_env="OPENAI_API_KEY",
            max_retries=retries,
            read_timeout_s=read_timeout,
            max_tokens_param=max_tokens_param,
        )
    return AnthropicProvider(
        "anthropic",
        base_url=server.anthropic_base_url,
        api_key="sk-ant-wire",
        api_key_env="ANTHROPIC_API_KEY",
        max_retries=retries,
        read_timeout_s=read_timeout,
    )


async def run_on_wire(kind: str, server: WireServer, request: RunRequest) -> tuple[RunResult, list[ev.Event]]:
    """`request` run by the real provider of `kind` against the wire server: its result and the
    events it emitted, the provider closed after."""
    provider = wire_provider(kind, server)
    events: list[ev.Event] = []
    try:
        result = await run_panel(request, lookup(provider), events.append)
    finally:
        await provider.aclose()
    return result, events
