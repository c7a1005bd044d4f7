"""The one vocabulary of statuses and outcomes: every pane, tracker, report, list and progress line
says a run, a call, a round, a vote or an outcome with these words, so they never disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum

from tui.engine.answers import AnswerReading
from tui.engine.names import member_names
from tui.engine.types import (
    CallResult,
    CallStatus,
    Member,
    Missing,
    Mode,
    Origin,
    Outcome,
    Phase,
    RoundStatus,
    RunStatus,
    Standing,
    Tally,
    TokensSource,
    Vote,
    VoteValue,
)

RUN_WORDS: dict[RunStatus, str] = {
    RunStatus.RUNNING: "running",
    RunStatus.SUCCESS: "complete",
    RunStatus.ERROR: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.INTERRUPTED: "interrupted",
}
"""A run: cancelled is the user's Ctrl+G or Ctrl-C; interrupted, a process that stopped mid-run."""

ORIGIN_WORDS: dict[Origin | None, str] = {
    Origin.MCP: "quorum mcp",
    Origin.CLI: "quorum run",
    Origin.DASHBOARD: "another dashboard",
    None: "another Quorum",
}
"""Where a run that another process records was started, as in "following a run from quorum mcp"
(None: a run recorded before Quorum kept it)."""

OUTCOME_WORDS: dict[Outcome, str] = {
    Outcome.UNANIMOUS: "unanimous",
    Outcome.MAJORITY: "majority",
    Outcome.CURATOR_OVERRIDE: "curator decision",
    Outcome.PLURALITY: "plurality",
    Outcome.NO_QUORUM: "no quorum",
}
"""An outcome. A deliberation ends unanimous, majority (accepts), curator decision or no quorum; a
vote counted in a declared answer shape ends unanimous (every seat that answered gave the same
readable answer), majority (more than half the seats gave it), plurality (the most seats gave it,
not more than half, or it won a tie by the tie rule) or no quorum (too few answers could be read)."""

NO_OUTCOME_WORDS: dict[Mode, str] = {Mode.CONSULT: "consult", Mode.VOTE: "vote"}
"""A run without an outcome, by its mode: consult's synthesis, and a vote on an open question (its
synthesis reports the majority view), decide nothing; elsewhere it is `none`."""

UNREADABLE = "unreadable"
"""A seat whose answer could not be read in the run's answer shape: in a counted vote, no vote."""

OUTCOME_SHORT_WORDS: dict[Outcome, str] = {Outcome.CURATOR_OVERRIDE: "curator"}
"""An outcome in fewer cells, where a narrow column would cut its usual words (F2 at 80 columns)."""

NOT_A_DECISION = "no quorum: not a decision"
"""The mark on the synthesis of a run that ended with no quorum: its last draft, shown, not decided."""

ROUND_WORDS: dict[RoundStatus, str] = {
    RoundStatus.IN_PROGRESS: "in progress",
    RoundStatus.CONTINUE: "no consensus yet, next round",
    RoundStatus.DECIDED: "decided",
    RoundStatus.FAILED: "failed",
    RoundStatus.CANCELLED: "cancelled",
}

VOTE_WORDS: dict[VoteValue, str] = {
    VoteValue.ACCEPT: "accept",
    VoteValue.REJECT: "reject",
    VoteValue.INVALID: "invalid",
    VoteValue.NONE: "no vote",
}

VOTE_MARKS: dict[VoteValue, str] = {
    VoteValue.ACCEPT: "✓",
    VoteValue.REJECT: "✗",
    VoteValue.INVALID: "?",
    VoteValue.NONE: "·",
}


class CallState(StrEnum):
    """What a member's call is doing, as its pane and the progress lines say it."""

    QUEUED = "queued"
    WAITING = "waiting"
    STREAMING = "streaming"
    DONE = "done"
    INCOMPLETE = "incomplete"
    """Answered, but cut off at the output limit, stopped by a content filter or refused: the text
    is kept and used, and the reason is shown with it."""
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    CACHED = "cached"
    """Carried over from an earlier run by a partial rerun: not sent again, not paid again."""


CALL_MARKS: dict[CallState, str] = {
    CallState.QUEUED: "○",
    CallState.WAITING: "◌",
    CallState.STREAMING: "●",
    CallState.DONE: "✓",
    CallState.INCOMPLETE: "◐",
    CallState.FAILED: "✗",
    CallState.CANCELLED: "■",
    CallState.SKIPPED: "–",
    CallState.CACHED: "↺",
}

ACTIVE_STATES = (CallState.WAITING, CallState.STREAMING)


def serves_words(provider: str, limit: int) -> str:
    """`local serves 1 at a time`: why a call waits in line (its provider's `max_concurrency`)."""
    return f"{provider} serves {limit} at a time"


def queued_words(provider: str, limit: int) -> str:
    """`queued · local serves 1 at a time`: a call waiting in line for its provider, which takes
    only so many at once (`max_concurrency`)."""
    return f"{CallState.QUEUED.value} · {serves_words(provider, limit)}"


def queue_wait_words(waited: str) -> str:
    """`waited 38.0 s in queue`: how long a call waited for its provider before it was sent (its
    own time, deadline and first token count from then); `waited` is the time as shown."""
    return f"waited {waited} in queue"


def retry_words(attempt: int, of: int, wait_s: float) -> str:
    """A retry of Quorum's own about to be made, named as Quorum's: a gateway in front of the
    provider may retry too, and the two must not be taken for one another."""
    return f"Quorum's retry {attempt}/{of} in {wait_s:g} s"


def retried_words(call: CallResult) -> list[str]:
    """Who retried a finished call, each layer that did: Quorum itself, and the gateway in front
    of the provider when it says it did (a LiteLLM proxy's count, with its answer)."""
    words = [f"Quorum retried it {call.retries}×"] if call.retries else []
    if call.gateway_retries:
        words.append(f"the gateway retried it {call.gateway_retries}×")
    return words


TOKENS_SOURCE_WORDS: dict[TokensSource, str] = {TokensSource.GATEWAY: "gateway's count"}
"""Said after a token count that is not the provider's own word: a gateway's, which may be its own
count (a LiteLLM proxy counts what the provider did not report, and says nothing of it). Quorum's
own estimate is marked `~` on the number instead."""


def tokens_source_note(source: TokensSource) -> str:
    """` (gateway's count)` after a count the gateway gave; nothing after the provider's own."""
    words = TOKENS_SOURCE_WORDS.get(source)
    return f" ({words})" if words else ""


def call_state(call: CallResult) -> CallState:
    """The state a finished call leaves its member in."""
    if call.reused_from is not None:
        return CallState.CACHED
    return {
        CallStatus.SUCCESS: CallState.DONE,
        CallStatus.INCOMPLETE: CallState.INCOMPLETE,
        CallStatus.ERROR: CallState.FAILED,
        CallStatus.CANCELLED: CallState.CANCELLED,
        CallStatus.SKIPPED: CallState.SKIPPED,
    }[call.status]


def call_summary(call: CallResult | None, run: RunStatus | None = None) -> str:
    """`done`, `incomplete: <why>`, `failed: <why>`, `cancelled: <why>`, or `not run`: a call in one
    cell. Given the run's status, a call cut off by a Quorum that stopped is `interrupted`, like its
    run (`cancelled` is what the user did). The word is said once, never `cancelled: cancelled`."""
    if call is None:
        return "not run"
    word = call_state(call).value
    if run is RunStatus.INTERRUPTED and call.status is CallStatus.CANCELLED:
        word = RUN_WORDS[RunStatus.INTERRUPTED]
    why = call.error if call.status is not CallStatus.SUCCESS else None
    if why is not None and (why == word or why.startswith(f"{word}: ")):
        why = why[len(word) + 2 :]
    return f"{word}: {why}" if why else word


def phase_word(phase: Phase, mode: Mode) -> str:
    """What a call is for: a position, a review (the vote), a draft, or the synthesis of a consult
    or of a vote on an open question."""
    if phase is Phase.DRAFT and mode in (Mode.CONSULT, Mode.VOTE):
        return "synthesis"
    return {
        Phase.POSITION: "position",
        Phase.VOTE: "review",
        Phase.DRAFT: "draft",
        Phase.CURATOR: "curator decision",
    }[phase]


def run_word(status: RunStatus) -> str:
    return RUN_WORDS[status]


def outcome_word(outcome: Outcome | None, mode: Mode = Mode.DELIBERATE) -> str:
    """The outcome; a run without one says its mode's word (`NO_OUTCOME_WORDS`) or `none`."""
    if outcome is not None:
        return OUTCOME_WORDS[outcome]
    return NO_OUTCOME_WORDS.get(mode, "none")


def round_word(status: RoundStatus, outcome: Outcome | None, run: RunStatus | None = None) -> str:
    """How a round ended: its outcome when it decided one, else its status. A round the run's end
    cut short says so, `not decided (run failed)`; given the run's status, so does one left in
    progress by a run that ended (a recorded run that was interrupted)."""
    if outcome is not None:
        return OUTCOME_WORDS[outcome]
    ended = {RoundStatus.FAILED: RunStatus.ERROR, RoundStatus.CANCELLED: RunStatus.CANCELLED}.get(status)
    cut_short = (RunStatus.ERROR, RunStatus.CANCELLED, RunStatus.INTERRUPTED)
    if status is RoundStatus.IN_PROGRESS and run in cut_short:
        ended = run
    return f"not decided (run {RUN_WORDS[ended]})" if ended is not None else ROUND_WORDS[status]


def answer_words(reading: AnswerReading | None) -> str:
    """What a seat answered in the run's answer shape: `answered 18`, `unreadable: no answer line`,
    or `no answer` (its call failed)."""
    if reading is None:
        return "no answer"
    if reading.key is None:
        return f"{UNREADABLE}: {reading.failure}"
    return f"answered {reading.answer}"


def counted_words(decided: str) -> str:
    """A vote's count and what it decided: `answers counted → majority · 3 of 3 voted`."""
    return f"answers counted → {decided}"


def missing_word(missing: Missing) -> str:
    """What became of a seat an outcome lacks, in a word: `failed` (its position, or its review),
    `invalid` (its vote), or `unreadable` (in a counted vote, its answer)."""
    if missing.vote is VoteValue.INVALID:
        return UNREADABLE if missing.phase is Phase.POSITION else VOTE_WORDS[VoteValue.INVALID]
    return CallState.FAILED.value


def standing_words(standing: Standing, members: Sequence[Member]) -> str:
    """Who an outcome rests on: `2 of 3 voted (demo-flaky failed)`; where no vote was taken (consult,
    or too few answers to vote), `1 of 3 answered (b failed, c failed)`; `3 of 3 voted` when none
    is missing. Each seat by its name (`tui.engine.names`)."""
    names = member_names(members)
    count, did = (standing.answered, "answered") if standing.voters is None else (standing.voters, "voted")
    absent = ", ".join(
        f"{names[m.member_index] if m.member_index < len(names) else m.alias} {missing_word(m)}"
        for m in standing.missing
    )
    return f"{count} of {standing.seats} {did}" + (f" ({absent})" if absent else "")


def rests_on_words(said: str, standing: Standing, members: Sequence[Member]) -> str:
    """An outcome (or a round's end) in words, and who it rests on: `unanimous · 2 of 3 voted
    (demo-flaky failed)`."""
    return f"{said} · {standing_words(standing, members)}"


def tally_words(tally: Tally) -> str:
    """`2 accept · 1 reject · 0 invalid · 0 no vote`"""
    return (
        f"{tally.accept} {VOTE_WORDS[VoteValue.ACCEPT]} · {tally.reject} {VOTE_WORDS[VoteValue.REJECT]} · "
        f"{tally.invalid} {VOTE_WORDS[VoteValue.INVALID]} · {tally.none} {VOTE_WORDS[VoteValue.NONE]}"
    )


def counted(count: int, noun: str) -> str:
    """`1 round`, `3 rounds`: a number with its noun, in the plural when it is not one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def invalid_votes_words(votes: Iterable[Vote]) -> str | None:
    """`3 invalid votes: no verdict line ×2, both words`, in the order the reasons first came; None
    when every vote was valid (or never came: a failed review is `no vote`, its pane says why)."""
    reasons = Counter(v.reason or "unreadable" for v in votes if v.value is VoteValue.INVALID)
    total = sum(reasons.values())
    if not total:
        return None
    listed = ", ".join(reason if n == 1 else f"{reason} ×{n}" for reason, n in reasons.items())
    return f"{counted(total, 'invalid vote')}: {listed}"


def listed_question(question: str, *, follow_up: bool, origin: Origin | None, cache_of: str | None) -> str:
    """A run's question as a history list shows it, on one line, marked with where its answer came
    from: `↳` a follow-up, `[mcp]` asked by a coding agent, `[cache of 3f2a1c9e]` served from an
    earlier run (not answered by the panel). The one wording of `quorum history`, F2 and MCP."""
    marks = ["↳"] if follow_up else []
    if origin is Origin.MCP:
        marks.append("[mcp]")
    if cache_of is not None:
        marks.append(f"[cache of {cache_of[:8]}]")
    return " ".join([*marks, " ".join(question.split())])
