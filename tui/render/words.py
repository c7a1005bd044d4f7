"""The one vocabulary of statuses and outcomes: every pane, tracker, report, list and progress line
says a run, a call, a round, a vote or an outcome with these words, so they never disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum

from tui.engine.answers import AnswerReading
from tui.engine.council import TIE_RULE as COUNCIL_TIE_RULE
from tui.engine.council import Ranking, score_text
from tui.engine.debate import DebateRound, Flip
from tui.engine.names import member_names
from tui.engine.types import (
    LETTERS,
    Ballot,
    CallResult,
    CallStatus,
    Member,
    Missing,
    Mode,
    Origin,
    Outcome,
    Phase,
    RoundResult,
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
    Origin.EVAL: "quorum eval",
    None: "another Quorum",
}
"""Where a run that another process records was started, as in "following a run from quorum mcp"
(None: a run recorded before Quorum kept it)."""

OUTCOME_WORDS: dict[Outcome, str] = {
    Outcome.UNANIMOUS: "unanimous",
    Outcome.MAJORITY: "majority",
    Outcome.CURATOR_OVERRIDE: "curator decision",
    Outcome.PLURALITY: "plurality",
    Outcome.RANKED: "ranked",
    Outcome.NO_QUORUM: "no quorum",
}
"""An outcome. A deliberation ends unanimous, majority (accepts), curator decision or no quorum; a
vote counted in a declared answer shape ends unanimous (every seat that answered gave the same
readable answer), majority (more than half the seats gave it), plurality (the most seats gave it,
not more than half, or it won a tie by the tie rule) or no quorum (too few answers could be read); a
debate counted the same way from its last round; a council ends ranked (the chairman wrote from a
ranking that a quorum of readable ballots made) or no quorum (too few answers, or readable ballots)."""

NO_OUTCOME_WORDS: dict[Mode, str] = {
    Mode.CONSULT: "no vote: the synthesis is the answer",
    Mode.VOTE: "vote",
    Mode.DEBATE: "debate",
    Mode.COUNCIL: "council",
}
"""A run without an outcome, by its mode: a consult takes no vote (its synthesis of the answers is
the answer); a vote or debate on an open question (its synthesis reports the majority view) and a
council with too few answers to rank (its chairman's answer) decide nothing; elsewhere it is
`none`."""

ONE_PASS_MODES = (Mode.CONSULT, Mode.VOTE, Mode.DEBATE, Mode.COUNCIL)
"""The modes whose answer may come with no outcome: it then rests on the seats that answered (or,
in a council, on the readable ballots), not on a vote on a draft."""

AGREED = "agreed"
"""A debate's round in which every answer agrees: the debate stops there."""

ABSTAINED = "abstained"
"""A council ballot that could not be read whole (or whose call failed): no ranking, and why."""

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

    READY = "ready"
    """No call: nothing runs yet, or the member joined the panel after the run on screen."""
    QUEUED = "queued"
    """A call waiting in line for its provider, which serves only so many at once."""
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
    CallState.READY: "·",
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

JOINS_NEXT_RUN = "joins the next run"
"""A member added to the panel while another run is on screen: that run is not its own."""

AWAITING_PANEL = "waiting for the panel"
"""The synthesis of a run under way, before the panel's answers let it start."""


def no_synthesis_words(run: RunStatus) -> str:
    """The synthesis of a run that ended without one: `no synthesis (run cancelled)`."""
    return "no synthesis" if run is RunStatus.SUCCESS else f"no synthesis (run {RUN_WORDS[run]})"


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


def retry_made_words(attempt: int, of: int) -> str:
    """`retry 1/2`: the try a call waiting for its answer is, once Quorum's wait for it is over (its
    pane said `Quorum's retry 1/2 in …` until then)."""
    return f"retry {attempt}/{of}"


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


PHASE_WORDS: dict[Phase, str] = {
    Phase.POSITION: "position",
    Phase.VOTE: "review",
    Phase.DRAFT: "draft",
    Phase.CURATOR: "curator decision",
    Phase.REVISION: "revision",
    Phase.BALLOT: "ballot",
    Phase.CHAIR: "chairman",
}
"""What a call is for: a member's first answer (position), its review of a draft (the vote), a
synthesizer's draft or curator decision, a debate member's answer in a later round (revision), a
council member's ranking of the others' answers (ballot) and the council's final answer (chairman)."""


def phase_word(phase: Phase, mode: Mode) -> str:
    """What a call is for (`PHASE_WORDS`); a synthesizer's draft in a mode without drafts (consult,
    a vote or debate on an open question) is its synthesis."""
    if phase is Phase.DRAFT and mode in (Mode.CONSULT, Mode.VOTE, Mode.DEBATE):
        return "synthesis"
    return PHASE_WORDS[phase]


def synthesizer_role(mode: Mode) -> str:
    """Who writes a run's answer from the members': a council's chairman, elsewhere the synthesizer."""
    return PHASE_WORDS[Phase.CHAIR] if mode is Mode.COUNCIL else "synthesizer"


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


def ballots_counted_words(decided: str) -> str:
    """A council's ballots counted and what they decided: `ballots counted → ranked · 3 of 3 voted`."""
    return f"ballots counted → {decided}"


def round_ended_words(mode: Mode, round_: RoundResult, decided: str) -> str:
    """How a round in `mode` ended, `decided` being its outcome or status in words: a vote's (or a
    debate's last round's) answers counted, a council's ballots counted, a deliberation's tally;
    else (a debate's open question, a council that asked no ballots) `decided` alone."""
    if mode is Mode.VOTE or (mode is Mode.DEBATE and round_.outcome is not None):
        return counted_words(decided)
    if mode is Mode.COUNCIL and round_.ballots:
        return ballots_counted_words(decided)
    if mode is Mode.DELIBERATE:
        return f"{tally_words(round_.tally)} → {decided}"
    return decided


def missing_word(missing: Missing) -> str:
    """What became of a seat an outcome lacks, in a word: `failed` (its position, or its review),
    `invalid` (its vote), `unreadable` (in a counted vote, its answer) or `abstained` (a council
    ballot that could not be read whole)."""
    if missing.phase is Phase.BALLOT and missing.vote is VoteValue.INVALID:
        return ABSTAINED
    if missing.vote is VoteValue.INVALID:
        return (
            UNREADABLE if missing.phase in (Phase.POSITION, Phase.REVISION) else VOTE_WORDS[VoteValue.INVALID]
        )
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
    """`1 round`, `3 rounds`, `1,319 items`: a number with its noun, in the plural when it is not one."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def invalid_votes_words(votes: Iterable[Vote]) -> str | None:
    """`3 invalid votes: no verdict line ×2, both words`, in the order the reasons first came; None
    when every vote was valid (or never came: a failed review is `no vote`, its pane says why)."""
    reasons = Counter(v.reason or "unreadable" for v in votes if v.value is VoteValue.INVALID)
    total = sum(reasons.values())
    if not total:
        return None
    listed = ", ".join(reason if n == 1 else f"{reason} ×{n}" for reason, n in reasons.items())
    return f"{counted(total, 'invalid vote')}: {listed}"


def listed_question(
    question: str,
    *,
    follow_up: bool,
    origin: Origin | None,
    cache_of: str | None,
    mode: Mode | None = Mode.DELIBERATE,
) -> str:
    """A run's question as a history list shows it, on one line, marked with where its answer came
    from: `↳` a follow-up, `[mcp]` asked by a coding agent, `[eval]` asked by `quorum eval`, the
    mode when it is not the default deliberation (`[debate]`, `[council]`, `[vote]`, `[consult]`,
    `[mode?]` for one this version does not know), `[cache of 3f2a1c9e]` served from an earlier
    run (not answered by the panel). The one wording of `quorum history`, F2 and MCP."""
    marks = ["↳"] if follow_up else []
    if origin in (Origin.MCP, Origin.EVAL):
        marks.append(f"[{origin.value}]")
    if mode is not Mode.DELIBERATE:
        marks.append(f"[{mode.value if mode is not None else 'mode?'}]")
    if cache_of is not None:
        marks.append(f"[cache of {cache_of[:8]}]")
    return " ".join([*marks, " ".join(question.split())])


# --------------------------------------------------------------------------------------------
# Debates and councils


FLIP_MARK = "⇄"
"""Between a debate member's answers of two rounds, on its pane, when the later one changed."""


def flip_count_words(flips: Sequence[Flip]) -> str:
    """`1 flip`, `2 flips`, or `no flips`."""
    return counted(len(flips), "flip") if flips else "no flips"


def flips_words(flips: Sequence[Flip], members: Sequence[Member]) -> str:
    """`1 flip: cirrus 25 → 23 (toward what it was shown)`, or `no flips`."""
    if not flips:
        return flip_count_words(flips)
    names = member_names(members)
    listed = ", ".join(
        f"{names[f.member_index]} {f.before} → {f.after}"
        + (" (toward what it was shown)" if f.to_shown else "")
        for f in flips
    )
    return f"{flip_count_words(flips)}: {listed}"


def agree_words(reading: DebateRound) -> str:
    """`2 of 3 agree`: how many of a debate round's answers give the answer most given; `none of 3
    read` when no answer could be read (`0 of 3 agree` would say they differ: nobody knows)."""
    if reading.answered and not reading.agreeing:
        return f"none of {reading.answered} read"
    return f"{reading.agreeing} of {reading.answered} agree"


def debate_answer_words(reading: AnswerReading | None) -> str:
    """A member's answer in a debate's round, in a word or two: `18` (or its leaning), `unreadable`,
    or `no answer` (its call failed, or it had left the debate)."""
    if reading is None:
        return "no answer"
    return reading.answer if reading.key is not None and reading.answer else UNREADABLE


DEBATE_ANSWERS = "answers"
"""A debate member's answers, round by round, as its pane lists them."""

NO_DEBATE_ANSWERS = "no answers read yet"
"""A debate member's pane before its first round is read."""


def debate_round_words(reading: DebateRound, members: Sequence[Member]) -> str:
    """A debate's round read: `2 of 3 agree · 1 flip: …`; `3 of 3 agree → agreed on 23 · no flips`."""
    said = agree_words(reading)
    if reading.agreed:
        said += f" → {AGREED} on {reading.answer}"
    return f"{said} · {flips_words(reading.flips, members)}" if reading.number > 1 else said


def _seat_name(names: Sequence[str], seat: int) -> str:
    """A seat's name (`tui.engine.names`), or `seat 4` past the panel's end."""
    return names[seat] if seat < len(names) else f"seat {seat + 1}"


def ballot_ranking_words(ballot: Ballot, members: Sequence[Member]) -> str:
    """A council ballot's ranking, best first: `bolt > cirrus`, or `abstained: missing B`."""
    if ballot.ranking is None:
        return f"{ABSTAINED}: {ballot.reason}"
    names = member_names(members)
    return " > ".join(_seat_name(names, seat) for seat in ballot.ranking)


def ballot_words(ballot: Ballot, members: Sequence[Member]) -> str:
    """A council ballot: `bolt > cirrus (shown A cirrus, B bolt)`, or `abstained: missing B (shown …)`."""
    names = member_names(members)
    shown = ", ".join(f"{LETTERS[i]} {_seat_name(names, seat)}" for i, seat in enumerate(ballot.shown))
    return f"{ballot_ranking_words(ballot, members)} (shown {shown})"


BALLOT = "ballot"
"""A council member's ballot, as its pane says it."""

NO_BALLOT = "no ballot yet"
"""A council member's pane before its ballot is read."""

COUNCIL_STAGES = "answers, ballots, then the chairman"
"""How a council goes, said before it starts."""


def ballots_cast_words(cast: int) -> str:
    """`2 ballots cast`: a council's ballots so far, before they are counted."""
    return f"{counted(cast, 'ballot')} cast"


def ballots_read_words(ranking: Ranking) -> str:
    """`3 ballots read · 1 abstained`: the ballots a council's ranking counted, and those it could not."""
    return f"{counted(ranking.ballots, 'ballot')} read · {ranking.abstained} {ABSTAINED}"


RANKING_COLUMNS = ("place", "answer", "Borda", "a ballot", "ballots")
"""A council's ranking as a table: each answer's place, whose it is, its Borda points, its points a
ballot (what orders the answers) and how many readable ballots ranked it."""


def ranking_rows(ranking: Ranking, members: Sequence[Member]) -> list[tuple[str, str, str, str, str]]:
    """A council's ranking as `RANKING_COLUMNS` rows, best first."""
    names = member_names(members)
    return [
        (str(place), names[r.seat], str(r.points), score_text(r.score), str(r.ballots))
        for place, r in enumerate(ranking.order, start=1)
    ]


def ties_words(ranking: Ranking, members: Sequence[Member]) -> list[str]:
    """`tied: atlas and cirrus, broken first in panel order` for each tie in a council's ranking."""
    names = member_names(members)
    return [
        f"tied: {' and '.join(names[seat] for seat in group)}, broken {COUNCIL_TIE_RULE.value}"
        for group in ranking.ties
    ]


BORDA = "Borda"
"""A council's ranking: the Borda count of its ballots."""


def ranking_words(ranking: Ranking, members: Sequence[Member]) -> str:
    """The Borda count in a line (after `Borda:`): `bolt 1 · atlas 0.5 · cirrus 0 (points a ballot,
    3 readable ballots, 1 abstained) · tied: …`."""
    names = member_names(members)
    listed = " · ".join(f"{names[r.seat]} {score_text(r.score)}" for r in ranking.order)
    abstained = f", {ranking.abstained} {ABSTAINED}" if ranking.abstained else ""
    said = f"{listed} (points a ballot, {counted(ranking.ballots, 'readable ballot')}{abstained})"
    return " · ".join([said, *ties_words(ranking, members)])
