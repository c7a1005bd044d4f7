"""The typed event stream of a run: one event for every state change.

The CLI's progress display, the dashboard and the store all consume these; the engine knows none
of them. Events are plain frozen dataclasses (cheap to make at token rate) that carry the engine's
pydantic results where a result exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.engine.types import (
    Agreement,
    Ballot,
    CallResult,
    Outcome,
    Phase,
    RoundResult,
    RunRequest,
    RunResult,
    Shown,
    SkippedMember,
    Standing,
    Vote,
)

if TYPE_CHECKING:  # (they read runs, whose calls send these events: a cycle if loaded here)
    from tui.engine.council import Ranking
    from tui.engine.debate import DebateRound

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_id: str
    request: RunRequest


@dataclass(frozen=True, slots=True)
class MembersSkipped:
    skipped: tuple[SkippedMember, ...]


@dataclass(frozen=True, slots=True)
class RoundStarted:
    number: int
    max_rounds: int


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    round: int
    phase: Phase
    member_index: int | None
    alias: str


@dataclass(frozen=True, slots=True)
class CallQueued:
    """The call's provider has as many calls in flight as it serves at once (`max_concurrency`): the
    call waits in line for a slot, and is not sent (nor on its deadline's clock) until it gets one.
    Not every call is queued; one that is gets a `CallDequeued` when it is sent, unless it is
    cancelled first."""

    call_id: str
    member_index: int | None
    alias: str
    provider: str
    limit: int
    """How many calls the provider serves at once."""


@dataclass(frozen=True, slots=True)
class CallDequeued:
    """A queued call got its provider's slot and is sent now: its deadline, latency and time to
    first token count from here; `queued_ms` is how long it waited."""

    call_id: str
    member_index: int | None
    queued_ms: int


@dataclass(frozen=True, slots=True)
class FirstToken:
    """The first text of a call arrived: the call goes from waiting to streaming."""

    call_id: str
    member_index: int | None
    ttft_ms: int


@dataclass(frozen=True, slots=True)
class CallRetrying:
    """A call was refused (rate limit, server error, lost connection) and Quorum will send it again
    (its own retries, the member's `retries`; a gateway's retries behind it are not these: they
    arrive counted with the answer, `CallResult.gateway_retries`)."""

    call_id: str
    member_index: int | None
    alias: str
    attempt: int
    of: int
    wait_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of a member's answer (position or review)."""

    call_id: str
    member_index: int
    phase: Phase
    text: str


@dataclass(frozen=True, slots=True)
class SynthesisDelta:
    """A piece of the synthesizer's draft, revision or curator decision."""

    call_id: str
    round: int
    phase: Phase
    text: str


@dataclass(frozen=True, slots=True)
class CallFinished:
    result: CallResult


@dataclass(frozen=True, slots=True)
class VoteCast:
    round: int
    vote: Vote


@dataclass(frozen=True, slots=True)
class RoundDecided:
    round: RoundResult
    standing: Standing
    """Who the round's outcome rests on, derived from its votes and the positions when it was
    decided (`tui.engine.quorum.standing`)."""


@dataclass(frozen=True, slots=True)
class AnswersShown:
    """A debate's round is about to start: what each member still debating is shown of the other
    members' answers of the round before, in the order shown (`agent 1` first)."""

    round: int
    shown: tuple[Shown, ...]


@dataclass(frozen=True, slots=True)
class DebateRoundRead:
    """A debate's round is over and its answers were read: how many agree, and who changed its
    answer since the round before (`tui.engine.debate`)."""

    reading: DebateRound


@dataclass(frozen=True, slots=True)
class BallotCast:
    """A council reviewer's ballot: the seats it was shown, in label order, and its ranking of
    them, or its abstention and why."""

    ballot: Ballot


@dataclass(frozen=True, slots=True)
class RankingMade:
    """A council's ballots counted: the Borda ranking of its answers (`tui.engine.council`)."""

    ranking: Ranking


@dataclass(frozen=True, slots=True)
class AgreementRead:
    """Consult mode read how far the answers' own verdicts agree."""

    agreement: Agreement


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should know that is not a call's result (budget reached, fallback used)."""

    message: str


@dataclass(frozen=True, slots=True)
class SynthesisFinished:
    text: str
    by: str
    outcome: Outcome | None
    incomplete: str | None = None
    """Why the text is not whole (cut off, filtered, refused), or None."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    result: RunResult


@dataclass(frozen=True, slots=True)
class RunFailed:
    result: RunResult
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunCancelled:
    result: RunResult


Event = (
    RunStarted
    | MembersSkipped
    | RoundStarted
    | CallStarted
    | CallQueued
    | CallDequeued
    | FirstToken
    | CallRetrying
    | TextDelta
    | SynthesisDelta
    | CallFinished
    | VoteCast
    | AnswersShown
    | DebateRoundRead
    | BallotCast
    | RankingMade
    | RoundDecided
    | AgreementRead
    | Notice
    | SynthesisFinished
    | RunFinished
    | RunFailed
    | RunCancelled
)

EventSink = Callable[[Event], None]


def fan_out(*sinks: EventSink) -> EventSink:
    """One sink that hands every event to each of `sinks` in turn.

    Every sink gets every event even when another raises, so a broken screen never costs the
    history its record: once all have had the event, the first exception is raised again (and
    any later ones are logged).
    """

    def emit(event: Event) -> None:
        first: Exception | None = None
        for sink in sinks:
            try:
                sink(event)
            except Exception as err:
                if first is None:
                    first = err
                else:
                    log.error("another event sink also failed on %s", type(event).__name__, exc_info=err)
        if first is not None:
            raise first

    return emit
