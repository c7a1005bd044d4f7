"""One model call: its request, the pre-flight context check, the stream and its retries, the bill.

A call never raises into the run for anything the provider does: whatever goes wrong becomes
the call's own result, with status `error` and a message the user can act on, so one member
failing never stops the others. Only cancellation leaves a call, and only after it has recorded
what had arrived (the partial text of a cancelled call is kept and billed).

An answer the provider itself ended short of whole (cut off at the output limit, stopped by its
content filter, refused) is not a failure and not a success: the call is `incomplete`, its text
kept and billed, and `error` gives the reason (`cutoff`). One with no text at all is an empty
answer, an error. A stream that just stops, with no finish reason, stays an error (`truncated`).

A provider that serves only so many calls at once (`max_concurrency`; see `tui.engine.slots`) makes
a call beyond them wait in line first. The call's clock starts when it is sent: its deadline, its
latency and its time to first token leave out the wait, which is kept as `queued_ms`. It holds its
slot through its own retries and a vote's weaker form (neither goes back to the end of the line)
and gives it back however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from tui.engine import events as ev
from tui.engine.accounting import cost_usd, estimate_tokens
from tui.engine.connection import Connection, ProviderLookup
from tui.engine.provider import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    Finished,
    GatewayRetried,
    Provider,
    ProviderError,
    StructuredDelta,
    TextDelta,
    Usage,
)
from tui.engine.slots import CallSlots
from tui.engine.types import CallResult, CallStatus, Image, Member, Phase, TokensSource
from tui.engine.vision import images_tokens
from tui.errors import redact

log = logging.getLogger(__name__)

# The providers' finish words that mean the answer is not whole, and the kind of each: OpenAI's
# finish_reason (`length`, `content_filter`) and Anthropic's stop_reason (`max_tokens`,
# `model_context_window_exceeded`, `refusal`).
_CUTOFF_KINDS = {
    "length": "length",
    "max_tokens": "length",
    "model_context_window_exceeded": "context_window",
    "content_filter": "content_filter",
    "refusal": "refusal",
}

ANSWERED = frozenset({CallStatus.SUCCESS, CallStatus.INCOMPLETE})
"""The statuses of a call that has an answer to use: whole, or incomplete (and marked so)."""


def ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass(frozen=True, slots=True)
class CallSpec:
    """What one call asks of one model, and where it stands in its run."""

    run_id: str
    call_id: str
    member: Member
    index: int | None  # the member's seat in the panel; None for the synthesizer
    phase: Phase
    round: int
    system: str
    user: str
    seed: int = 0
    # The question's images, when the member can see them (see `tui.engine.vision`).
    images: tuple[Image, ...] = ()


class ModelCall:
    """One call, from its `CallStarted` to its `CallFinished`; `result` is live from the start.

    `emit` is the run's own: it raises nothing but `CancelledError`, which is how a run whose
    sink has failed stops the call that was emitting (see `Lifecycle.emit`).
    """

    def __init__(self, spec: CallSpec, emit: ev.EventSink, clock: Callable[[], float]) -> None:
        member = spec.member
        self.spec = spec
        self.result = CallResult(
            call_id=spec.call_id,
            round=spec.round,
            phase=spec.phase,
            member_index=spec.index,
            alias=member.alias,
            model_id=member.model_id,
            provider=member.provider,
            stance=member.stance if spec.index is not None else None,
            demo=member.demo,
            status=CallStatus.CANCELLED,
        )
        # What a cancelled call's pane says; the run sets it when a rerun replaced the call.
        self.cancel_reason = "cancelled"
        self._emit = emit
        self._clock = clock
        self._started = 0.0  # when the call's clock started: when it was sent, after any wait in line
        self._in_line = False  # waiting for a slot of its provider's (and not sent, if it ends so)
        self._parts: list[str] = []
        self._usage: Usage | None = None

    async def run(self, providers: ProviderLookup, book: Callable[[CallResult], None]) -> CallResult:
        """Make the call and return its result; `book` files it with the run before `CallFinished`.

        Raises only `CancelledError`, once the call has been settled with what had arrived.
        """
        spec, call = self.spec, self.result
        self._started = self._clock()
        try:
            self._emit(ev.CallStarted(spec.call_id, spec.round, spec.phase, spec.index, spec.member.alias))
            call.status = await self._answer(providers)
        except TimeoutError:
            self._fail(
                ErrorKind.TIMEOUT,
                f"no complete answer within the {spec.member.deadline_s:g} s deadline; the call was stopped",
            )
        except ProviderError as err:
            self._fail(err.kind, err.message)
        except asyncio.CancelledError:
            call.status, call.error = CallStatus.CANCELLED, self.cancel_reason
            self._settle(book)
            raise
        except Exception as err:  # an adapter bug must cost one pane, not the run
            log.exception("unexpected failure in %s call %s", spec.member.alias, spec.call_id)
            # An SDK's own exception may quote a request header: redact before it is shown.
            self._fail(ErrorKind.INTERNAL, redact(f"internal error: {type(err).__name__}: {err}"))
        self._settle(book)
        return call

    async def _answer(self, providers: ProviderLookup) -> CallStatus:
        """Send the request and read the answer to its end: success, or incomplete when the
        provider ended it short (`error` says why); raises for every way it can fail."""
        member = self.spec.member
        request = self._request()
        preflight(member, request)
        connection = providers(member)
        async with self._slot(connection.slots):
            # Set once the call holds its slot: a wait in line is not the model's time.
            async with asyncio.timeout(member.deadline_s):
                finished = await self._exchange(connection, request)
        if finished is None:
            raise ProviderError(
                ErrorKind.TRUNCATED, "the stream ended without a finish reason: answer truncated"
            )
        self.result.finish_reason = finished.reason
        short = cutoff(finished.reason, request.max_output_tokens)
        if not self._reply().strip():
            why = f" ({short[1]})" if short is not None else ""
            raise ProviderError(ErrorKind.EMPTY, f"{member.alias} returned an empty answer{why}")
        if short is None:
            return CallStatus.SUCCESS
        self.result.error_kind, self.result.error = short
        return CallStatus.INCOMPLETE

    @contextlib.asynccontextmanager
    async def _slot(self, slots: CallSlots | None) -> AsyncIterator[None]:
        """Hold one of its provider's `slots` for calls in flight while the call is made (none
        needed where it has no limit), waiting in line for one if none is free: then the call is
        `CallQueued`, and `CallDequeued` once it has one, its clock starting again."""
        if slots is None:
            yield
            return
        queued = not slots.free()
        if queued:
            await self._wait_in_line(slots)
        else:
            await slots.take()  # at once: a slot is free and nobody is in line
        try:
            if queued:
                spec = self.spec
                self._emit(ev.CallDequeued(spec.call_id, spec.index, self.result.queued_ms or 0))
            yield
        finally:
            slots.give_back()

    async def _wait_in_line(self, slots: CallSlots) -> None:
        """Take a slot after the calls in line before this one, saying so; the time waited is kept
        apart from the call's own."""
        spec = self.spec
        self._emit(ev.CallQueued(spec.call_id, spec.index, spec.member.alias, slots.provider, slots.limit))
        queued_at = self._clock()
        self._in_line = True
        try:
            await slots.take()
            self._in_line = False
        finally:
            self._started = self._clock()
            self.result.queued_ms = ms(self._started - queued_at)

    def _request(self) -> ChatRequest:
        """What is sent to the provider."""
        spec, member = self.spec, self.spec.member
        return ChatRequest(
            model_id=member.model_id,
            system=spec.system,
            messages=(ChatMessage("user", spec.user, spec.images),),
            max_output_tokens=member.max_output_tokens,
            temperature=member.temperature,
            alias=member.alias,
            phase=spec.phase,
            stance=member.stance.value,
            seed=spec.seed,
            extra={"round": str(spec.round), "member": str(spec.index)},
        )

    async def _exchange(self, connection: Connection, request: ChatRequest) -> Finished | None:
        """The request answered, with the engine's retries: the stream's `Finished`, or None."""
        return await self._stream_with_retries(connection.provider, request)

    def _reply(self) -> str:
        """The reply as the model sent it (here: the text shown)."""
        return "".join(self._parts)

    async def _stream_with_retries(self, provider: Provider, request: ChatRequest) -> Finished | None:
        spec, member = self.spec, self.spec.member
        tries = 0
        while True:
            try:
                return await self._stream(provider, request)
            except ProviderError as err:
                elapsed = self._clock() - self._started
                wait = retry_wait(err, member, tries, elapsed, bool(self._reply()))
                if wait is None:
                    raise
                tries += 1
                self.result.retries = tries
                self._emit(
                    ev.CallRetrying(
                        spec.call_id, spec.index, member.alias, tries, member.retries, wait, err.message
                    )
                )
                log.debug(
                    "run %s model=%s retry %d in %.1fs: %s",
                    spec.run_id,
                    member.alias,
                    tries,
                    wait,
                    err.message,
                )
                await asyncio.sleep(wait)

    async def _stream(self, provider: Provider, request: ChatRequest) -> Finished | None:
        """One attempt: read the stream to its end; its `Finished`, or None if it had none."""
        done: Finished | None = None
        async for item in provider.stream(request):
            if isinstance(item, TextDelta):
                self._take(item.text)
            elif isinstance(item, StructuredDelta):
                self._take_structured(item.text)
            elif isinstance(item, Usage):
                self._usage = item
            elif isinstance(item, Finished):
                done = item
            elif isinstance(item, GatewayRetried):
                # Each of Quorum's tries may have been retried behind the gateway: all are counted.
                self.result.gateway_retries = (self.result.gateway_retries or 0) + item.count
        return done

    def _take(self, text: str) -> None:
        """A piece of the reply arrived: shown as it is."""
        self._first_token()
        self._show(text)

    def _take_structured(self, text: str) -> None:
        """A piece of the reply's structured part arrived. Only a vote asks for one (see
        `tui.engine.votes`); anywhere else it is text like any other."""
        self._take(text)

    def _first_token(self) -> None:
        spec, call = self.spec, self.result
        if call.ttft_ms is None:
            call.ttft_ms = ms(self._clock() - self._started)
            self._emit(ev.FirstToken(spec.call_id, spec.index, call.ttft_ms))

    def _show(self, text: str) -> None:
        """Add `text` to what people see of the call (and what its `content` will be)."""
        spec = self.spec
        self._parts.append(text)
        if spec.index is None:
            self._emit(ev.SynthesisDelta(spec.call_id, spec.round, spec.phase, text))
        else:
            self._emit(ev.TextDelta(spec.call_id, spec.index, spec.phase, text))

    def _fail(self, kind: ErrorKind, message: str) -> None:
        self.result.status = CallStatus.ERROR
        self.result.error_kind = kind.value
        self.result.error = message

    def _settle(self, book: Callable[[CallResult], None]) -> None:
        """Fill in the time, text, tokens and cost, have the run file the call, then announce it."""
        spec, call, member = self.spec, self.result, self.spec.member
        # Cancelled in line, the call was never sent: it took no time of its own (however long
        # the cancelling took to reach it here).
        call.latency_ms = 0 if self._in_line else ms(self._clock() - self._started)
        call.content = "".join(self._parts)
        reply = self._reply()
        if self._usage is not None:
            call.input_tokens, call.output_tokens = self._usage.input_tokens, self._usage.output_tokens
            if self._usage.counted_by_gateway:
                call.tokens_source = TokensSource.GATEWAY
        elif reply:
            # Text arrived but no usage (stream cut, or a server that never reports it): the call
            # was billed all the same, so estimate it and say so. A call refused before any text
            # (401, 429, context check) is not billed and counts nothing.
            call.input_tokens = estimate_tokens(spec.system, spec.user) + images_tokens(spec.images, member)
            call.output_tokens = estimate_tokens(reply)
            call.tokens_source = TokensSource.ESTIMATED
        call.cost_usd = cost_usd(
            call.input_tokens, call.output_tokens, member.input_price, member.output_price
        )
        log.debug(
            "run %s model=%s phase=%s round=%d status=%s latency=%dms ttft=%sms tokens=%d/%d",
            spec.run_id,
            member.alias,
            call.phase.value,
            call.round,
            call.status.value,
            call.latency_ms,
            call.ttft_ms,
            call.input_tokens,
            call.output_tokens,
        )
        book(call)
        self._emit(ev.CallFinished(call))


def cutoff(finish_reason: str, max_output_tokens: int) -> tuple[str, str] | None:
    """(kind, reason) when `finish_reason` says the answer is not whole, else None.

    The reason is a phrase for a pane: "cut off at the 4,096-token output limit" (the limit the
    request asked for), "stopped by the provider's content filter", "refused by the model".
    """
    kind = _CUTOFF_KINDS.get(finish_reason.lower())
    if kind is None:
        return None
    reason = {
        "length": f"cut off at the {max_output_tokens:,}-token output limit",
        "context_window": "cut off: the model's context window is full",
        "content_filter": "stopped by the provider's content filter",
        "refusal": "refused by the model",
    }[kind]
    return ("length" if kind == "context_window" else kind), reason


def as_read(call: CallResult) -> str:
    """A call's text as the other models read it: an incomplete one says so, and why, at its end."""
    if call.status is not CallStatus.INCOMPLETE:
        return call.content
    return f"{call.content.rstrip()}\n\n[Quorum's note: the text above is incomplete, {call.error}.]"


def retry_wait(
    err: ProviderError, member: Member, tries: int, elapsed_s: float, answered: bool
) -> float | None:
    """Seconds to wait before trying a refused call again, or None to give up now.

    Only a call refused before any text (a partial answer cannot be resumed), only for
    errors worth retrying, at most `member.retries` times, and never into the deadline:
    a Retry-After longer than the time left fails the call at once with the provider's word.
    """
    if answered or not err.retryable or tries >= member.retries:
        return None
    wait = err.retry_after_s if err.retry_after_s is not None else min(8.0, 0.5 * 2**tries)
    if elapsed_s + wait >= member.deadline_s:
        return None
    return wait


def preflight(member: Member, request: ChatRequest) -> None:
    """Refuse a request that cannot fit the member's context window, before it is sent: its text,
    and the images it carries by their estimated tokens (see `tui.engine.vision`)."""
    texts = estimate_tokens(request.system, *(message.content for message in request.messages))
    images = [image for message in request.messages for image in message.images]
    pictures = images_tokens(images, member)
    needed = texts + pictures
    room = member.context_window - min(member.max_output_tokens, member.context_window // 4)
    if needed > room:
        of_images = f" ({pictures:,} of them for {len(images)} image{'s' if len(images) > 1 else ''})"
        raise ProviderError(
            ErrorKind.CONTEXT_TOO_LONG,
            f"context too long: the prompt is about {needed:,} tokens{of_images if images else ''}, and "
            f"{member.alias}'s {member.context_window:,}-token window leaves {room:,} after room for "
            "its answer; not sent",
        )
