"""What the MCP tools return: the structured content (pydantic models, whose JSON schemas are the
tools' published output schemas) and the short Markdown beside it for clients that read only text.

A run comes back summarized from the data contract (`RunResult`): each member's conclusion rather
than its whole answer, each round's votes with their objections, the synthesis whole, and the
totals. `quorum show RUN` (or the dashboard) has everything else. Every text that leaves here has
the configured keys' values taken out (`scrubbed`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from tui.config.catalog import CatalogEntry, KeyStatus
from tui.engine.context import ContextValue, TeamContext
from tui.engine.council import TIE_RULE as COUNCIL_TIE_RULE
from tui.engine.council import agrees_with, council_ranking, position_bias
from tui.engine.debate import debate_rounds
from tui.engine.names import member_names
from tui.engine.quorum import standing
from tui.engine.types import (
    ROUNDS_MODES,
    CacheInfo,
    CallResult,
    CallStatus,
    Member,
    Mode,
    Origin,
    Outcome,
    Phase,
    RoundResult,
    RoundStatus,
    RunResult,
    RunStatus,
    Stance,
    Tally,
    TokensSource,
    Totals,
    VoteValue,
)
from tui.history.store import RunSummary
from tui.render.cache import cache_line
from tui.render.context import context_brief
from tui.render.formatting import completion_line, cost, literal, safe_json, seconds
from tui.render.words import (
    BORDA,
    NOT_A_DECISION,
    VOTE_WORDS,
    CallState,
    ballot_words,
    debate_round_words,
    listed_question,
    outcome_word,
    ranking_words,
    round_word,
    run_word,
    serves_words,
    standing_words,
    tally_words,
)

SUMMARY_CHARS = 300
"""A position summary's length at most (the whole answer: `quorum show RUN`)."""

_CONCLUSION = re.compile(r"^\W*conclusion\W*:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_MARKUP = re.compile(r"[*_`#>]+")


class MemberStatus(StrEnum):
    """Where a member's position stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    INCOMPLETE = "incomplete"
    ERROR = "error"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


STATUS_WORDS: dict[MemberStatus, str] = {
    MemberStatus.QUEUED: CallState.QUEUED.value,
    MemberStatus.RUNNING: "running",
    MemberStatus.SUCCESS: CallState.DONE.value,
    MemberStatus.INCOMPLETE: CallState.INCOMPLETE.value,
    MemberStatus.ERROR: CallState.FAILED.value,
    MemberStatus.CANCELLED: CallState.CANCELLED.value,
    MemberStatus.SKIPPED: CallState.SKIPPED.value,
    MemberStatus.NOT_RUN: "not run",
}
"""A member's status as the dashboard and the reports say it."""


class MemberReport(BaseModel):
    """One panel member and its first position (round 1, blind)."""

    model: str = Field(description="The member's model alias.")
    seat: int | None = Field(
        default=None,
        description="Its seat on the panel, from 1: what tells apart members of one model and stance "
        "(None for a member skipped before the run).",
    )
    model_id: str = Field(description="The provider's model id ('' for a skipped member).")
    provider: str
    stance: Stance
    demo: bool = Field(description="A simulated offline member: its answer is not a real model's.")
    status: MemberStatus = Field(
        description="queued (waiting in Quorum's queue for its provider's slot: the provider serves "
        "only so many calls at once, its max_concurrency), running (asked, no answer yet), success, "
        "incomplete (cut off, filtered or refused: the text is kept), error, cancelled, skipped (left "
        "out before the run), not_run."
    )
    queued_s: float | None = Field(
        default=None,
        description="While queued: how long it has waited for its provider's slot so far (its own "
        "time starts once it is sent).",
    )
    queue_note: str | None = Field(
        default=None, description="While queued: why, in words (`local serves 1 at a time`)."
    )
    position_summary: str | None = Field(
        description="The member's conclusion, in a sentence or two (its whole answer: `quorum show RUN`)."
    )
    error: str | None = Field(description="Why it failed, stopped short, was cancelled or was skipped.")
    latency_s: float | None
    tokens: int = Field(description="Input and output tokens of its position.")
    tokens_estimated: bool = Field(
        description="Its provider reported no usage (llama.cpp, some local servers): the count is estimated."
    )
    tokens_source: TokensSource = Field(
        description="Who counted its tokens: provider, gateway (a gateway in front of the provider, which "
        "may have counted them itself: a LiteLLM proxy does when the provider reports none) or estimated "
        "(by Quorum)."
    )
    cost_usd: float


class VoteReport(BaseModel):
    """A member's vote on a round's draft."""

    model: str
    seat: int | None = Field(
        default=None,
        description="Its seat on the panel, from 1: what tells apart members of one model and stance "
        "(None for a vote of no seat).",
    )
    stance: Stance
    vote: VoteValue = Field(
        description="accept, reject, invalid (no unambiguous VERDICT line; never counts as accept) "
        "or none (its review failed)."
    )
    objections: list[str]
    invalid_reason: str | None = Field(description="Why the vote is invalid or absent.")


class MissingReport(BaseModel):
    """A seat an outcome lacks: its member failed, or its vote was invalid."""

    model: str
    seat: int = Field(description="Its seat on the panel, from 1.")
    phase: Phase = Field(
        description="position: its position failed, so it was not asked to vote; vote: its vote."
    )
    vote: VoteValue | None = Field(description="invalid, or none (its review failed); null when not asked.")
    reason: str = Field(description="The failed call's error, or why the vote is invalid.")


class RestsOn(BaseModel):
    """Who an outcome rests on: of the panel's seats, those who cast a valid vote, and the others."""

    seats: int = Field(description="The panel's seats (its members; a skipped member is none).")
    voters: int | None = Field(
        description="How many seats cast a valid vote on the deciding draft; null where no vote was taken "
        "(consult mode, or too few answers for any vote to decide)."
    )
    answered: int = Field(description="How many seats answered with a position.")
    missing: list[MissingReport] = Field(description="Each seat the outcome lacks, and why.")
    rests_on: str = Field(description="The same in words: `2 of 3 voted (demo-flaky failed)`.")


class RoundReport(RestsOn):
    """One round of a deliberation: the draft's votes, what they decided and who that rests on."""

    number: int
    status: RoundStatus
    outcome: Outcome | None = Field(description="The outcome this round decided, if any.")
    decided: str = Field(description="How the round ended, in words.")
    accept: int
    reject: int
    invalid: int
    no_vote: int
    votes: list[VoteReport]
    note: str | None = Field(description="Why the curator decided, or why there was no quorum, when so.")


class FlipReport(BaseModel):
    """A debate member that changed its answer since the round before."""

    model: str
    seat: int = Field(description="Its seat on the panel, from 1.")
    before: str
    after: str
    to_shown: bool = Field(description="It changed to the answer most of the answers it was shown gave.")


class DebateRoundReport(BaseModel):
    """One round of a debate, read: how many agree, and who changed its answer."""

    number: int
    answered: int = Field(description="How many seats answered in the round.")
    agreeing: int = Field(description="How many gave the answer most given.")
    agreed: bool = Field(
        description="Every seat that answered gave the same readable answer: the debate stops."
    )
    answer: str | None = Field(description="The answer the round agreed on, if it did.")
    flips: list[FlipReport] = Field(description="Who changed its answer since the round before (herding).")
    said: str = Field(description="The same in words: `3 of 3 agree → agreed on 18 · 1 flip: …`.")


class BallotReport(BaseModel):
    """A council member's ballot on the others' answers."""

    model: str
    seat: int = Field(description="Its seat on the panel, from 1.")
    shown: list[int] = Field(
        description="The seats of the answers it was shown, labelled A, B… in this order."
    )
    ranking: list[int] | None = Field(
        description="Those seats as it ranked them, best first; null: it abstained."
    )
    abstained: str | None = Field(description="Why its ballot could not be read whole (an abstention).")
    said: str = Field(
        description="The same in words: `demo-bolt > demo-cirrus (shown A demo-cirrus, B demo-bolt)`."
    )


class RankedReport(BaseModel):
    """An answer's place in a council's Borda count."""

    place: int
    model: str
    seat: int
    points: int = Field(description="Its Borda points, summed over the ballots that ranked it.")
    ballots: int = Field(description="How many readable ballots ranked it.")
    points_a_ballot: float = Field(
        description="What the ranking orders by: points per ballot that ranked it."
    )
    firsts: int


class CouncilReport(BaseModel):
    """A council's ballots and their aggregate ranking."""

    ranking: list[RankedReport] = Field(description="Every answer, best first (a tie broken by tie_rule).")
    ties: list[list[int]] = Field(description="The seats of each group of answers tied on points a ballot.")
    tie_rule: str
    ballots: int = Field(description="How many ballots were readable.")
    abstained: int = Field(description="How many were not (each an abstention with its reason).")
    cast: list[BallotReport]
    position_bias: list[float] = Field(
        description="The mean rank (1 is best) of the answers shown first (A), second (B)…: with no bias "
        "each is the same."
    )
    agree_with_aggregate: int = Field(description="How many readable ballots rank as the aggregate does.")
    said: str = Field(
        description="The ranking in words: `demo-bolt 1 · demo-atlas 0.5 · … (points a ballot, …)`."
    )


class TotalsReport(BaseModel):
    """What the run has cost so far (all of it, once it has ended)."""

    wall_s: float = Field(description="Wall time in seconds (so far, while it runs).")
    input_tokens: int
    output_tokens: int
    tokens_estimated: bool = Field(description="Some provider reported no usage: counts are estimates.")
    tokens_source: TokensSource = Field(
        description="The least certain of the members' sources: estimated if any count is, else gateway "
        "if any is, else provider."
    )
    cost_usd: float


class ContextReport(BaseModel):
    """The asking team's context, as recorded with the run."""

    entries: dict[str, ContextValue] = Field(
        description="What the team says about itself (language, frameworks, team_size, security_level, "
        "stack, notes, others), keys sorted, whitespace normalized."
    )
    sha256: str = Field(description="SHA-256 of the entries' canonical JSON: equal for equal contexts.")

    @classmethod
    def of(cls, context: TeamContext | None) -> ContextReport | None:
        return None if context is None else cls(entries=dict(context.entries), sha256=context.sha256)


class RunReport(RestsOn):
    """A run as it stands: finished, or still running with what has arrived; who its outcome rests
    on (its deciding round's votes; in consult mode, the positions)."""

    run_id: str = Field(description="Pass it to consensus_result, or as continuation_id for a follow-up.")
    status: RunStatus = Field(
        description="running (it goes on: call consensus_result), success, error, cancelled, or "
        "interrupted (the process recording it stopped)."
    )
    outcome: Outcome | None = Field(
        description="unanimous, majority or curator_override; plurality (a counted vote or debate: the "
        "answer most given); ranked (a council's chairman wrote from a quorum of ballots); no_quorum when "
        "too few seats cast a valid vote (or ballot): then `synthesis` is the last draft or the answer "
        "most given, not a decision; none in consult mode, for an open question, or before the end."
    )
    question: str
    context: ContextReport | None = Field(
        description="The asking team's context every member received with the question (the project's "
        "[context] in .quorum.toml, where the server runs); null for none."
    )
    mode: Mode
    rounds_used: int
    max_rounds: int
    rounds: list[RoundReport]
    synthesis: str | None = Field(
        description="The panel's answer: the accepted draft, or the curator's decision (with no quorum, "
        "the last draft, which no quorum decided)."
    )
    synthesizer: str | None
    synthesis_incomplete: str | None = Field(description="Why the synthesis is not whole, if it is not.")
    agreement: str | None = Field(description="Consult mode: how far the answers' own leanings agree.")
    debate: list[DebateRoundReport] = Field(
        default_factory=list, description="Debate mode: each round read (none in the other modes)."
    )
    council: CouncilReport | None = Field(
        default=None,
        description="Council mode: the ballots and the Borda ranking (null when none were asked).",
    )
    members: list[MemberReport]
    errors: list[str]
    notes: list[str]
    totals: TotalsReport
    parent_run_id: str | None = Field(description="The run this one follows up on.")
    origin: Origin | None = Field(description="Where the run was started: dashboard, cli, mcp or eval.")
    started_at: datetime
    finished_at: datetime | None
    next_step: str | None = Field(description="What to do next, while the run is still going.")
    cache: CacheInfo = Field(
        default_factory=CacheInfo,
        description="Whether the answer was served from an earlier run that asked the same (hit, kind, "
        "similarity, original_run_id, saved_usd, saved_seconds); ask again with fresh=true to put it "
        "to the panel anyway.",
    )


class ModelReport(BaseModel):
    """One model of the catalog."""

    model: str = Field(description="Its alias: what `models[].model` and `synthesizer` take.")
    aliases: list[str]
    provider: str
    model_id: str
    key: KeyStatus = Field(description="Whether the key it needs is set in the server's environment.")
    key_env: str | None = Field(description="The environment variable that holds its key.")
    usable: bool = Field(description="It can be asked now: its key is set, or it needs none.")
    demo: bool = Field(description="A simulated offline model (answers are not real).")
    vision: bool = Field(description="It takes images: a run's `images` are sent to it.")
    context_window: int
    input_price_per_mtok: float = Field(description="USD per million input tokens.")
    output_price_per_mtok: float = Field(description="USD per million output tokens.")


class ModelsReport(BaseModel):
    """The model catalog, and the panel a run gets when `models` is not given."""

    models: list[ModelReport]
    default_panel: list[str] = Field(description="`alias:stance` of each member of the default panel.")


class HistoryEntry(BaseModel):
    """One recorded run."""

    run_id: str
    created_at: str
    question: str
    panel: str = Field(description="`alias:stance` of each member.")
    status: RunStatus
    outcome: Outcome | None
    cost_usd: float
    parent_run_id: str | None
    origin: Origin | None
    cache_of: str | None = Field(
        default=None,
        description="For a run answered from the cache: the run it was served from (it cost nothing).",
    )
    mode: Mode | None = Field(
        default=Mode.DELIBERATE,
        description="How the panel was asked (null for a mode this version of Quorum does not know).",
    )


class HistoryReport(BaseModel):
    """Recorded runs, newest first."""

    runs: list[HistoryEntry]


# --------------------------------------------------------------------------------------------
# From the data contract


def position_summary(text: str) -> str | None:
    """A member's conclusion: its `Conclusion:` line, or else its first line of text, shortened."""
    found = _CONCLUSION.search(text)
    line = found.group(1) if found else next((ln for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(_MARKUP.sub("", line).split())
    if not line:
        return None
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1].rstrip() + "…"


@dataclass(frozen=True)
class Queued:
    """A member's call waiting in Quorum's queue for its provider's slot, and for how long so far."""

    waited_s: float
    provider: str
    limit: int


def _member(
    seat: int, member: Member, call: CallResult | None, running: bool, queued: Queued | None
) -> MemberReport:
    if call is None:
        status = MemberStatus.RUNNING if running else MemberStatus.NOT_RUN
        if running and queued is not None:
            status = MemberStatus.QUEUED
    else:
        queued = None  # its position is in: a later call's wait is not its position's
        status = MemberStatus(call.status.value)
    answered = call is not None and call.status is not CallStatus.ERROR
    return MemberReport(
        model=member.alias,
        seat=seat,
        model_id=member.model_id,
        provider=member.provider,
        stance=member.stance,
        demo=member.demo,
        status=status,
        position_summary=position_summary(call.content) if call is not None and answered else None,
        error=call.error if call is not None and call.status is not CallStatus.SUCCESS else None,
        latency_s=call.latency_ms / 1000 if call is not None and call.latency_ms is not None else None,
        tokens=call.input_tokens + call.output_tokens if call is not None else 0,
        tokens_estimated=call is not None and call.tokens_estimated,
        tokens_source=call.tokens_source if call is not None else TokensSource.PROVIDER,
        cost_usd=call.cost_usd if call is not None else 0.0,
        queued_s=round(queued.waited_s, 1) if queued is not None else None,
        queue_note=serves_words(queued.provider, queued.limit) if queued is not None else None,
    )


def _rests_on(result: RunResult, round_: RoundResult | None) -> dict[str, Any]:
    """Who `round_` (by default the run's deciding round, or its positions) rests on, as the
    fields of a `RestsOn`."""
    said = standing(result, round_)
    missing = [
        MissingReport(model=m.alias, seat=m.member_index + 1, phase=m.phase, vote=m.vote, reason=m.reason)
        for m in said.missing
    ]
    words = standing_words(said, result.members)
    rests_on = RestsOn(
        seats=said.seats, voters=said.voters, answered=said.answered, missing=missing, rests_on=words
    )
    return dict(rests_on)


def _round(round_: RoundResult, result: RunResult) -> RoundReport:
    members, run = result.members, result.status
    stances = {index: member.stance for index, member in enumerate(members)}
    return RoundReport(
        **_rests_on(result, round_),
        number=round_.number,
        status=round_.status,
        outcome=round_.outcome,
        decided=round_word(round_.status, round_.outcome, run),
        accept=round_.tally.accept,
        reject=round_.tally.reject,
        invalid=round_.tally.invalid,
        no_vote=round_.tally.none,
        votes=[
            VoteReport(
                model=vote.alias,
                seat=vote.member_index + 1,
                stance=stances.get(vote.member_index, Stance.NEUTRAL),
                vote=vote.value,
                objections=list(vote.objections),
                invalid_reason=vote.reason,
            )
            for vote in round_.votes
        ],
        note=round_.note,
    )


def _debate(result: RunResult) -> list[DebateRoundReport]:
    members = result.members
    names = member_names(members)
    return [
        DebateRoundReport(
            number=r.number,
            answered=r.answered,
            agreeing=r.agreeing,
            agreed=r.agreed,
            answer=r.answer,
            flips=[
                FlipReport(
                    model=names[f.member_index],
                    seat=f.member_index + 1,
                    before=f.before,
                    after=f.after,
                    to_shown=f.to_shown,
                )
                for f in r.flips
            ],
            said=debate_round_words(r, members),
        )
        for r in debate_rounds(result)
    ]


def _council(result: RunResult) -> CouncilReport | None:
    ranking = council_ranking(result)
    if ranking is None:
        return None
    names, ballots = member_names(result.members), result.rounds[0].ballots
    return CouncilReport(
        ranking=[
            RankedReport(
                place=place,
                model=names[r.seat],
                seat=r.seat + 1,
                points=r.points,
                ballots=r.ballots,
                points_a_ballot=float(r.score),
                firsts=r.firsts,
            )
            for place, r in enumerate(ranking.order, start=1)
        ],
        ties=[[seat + 1 for seat in group] for group in ranking.ties],
        tie_rule=COUNCIL_TIE_RULE.value,
        ballots=ranking.ballots,
        abstained=ranking.abstained,
        cast=[
            BallotReport(
                model=names[b.member_index],
                seat=b.member_index + 1,
                shown=[seat + 1 for seat in b.shown],
                ranking=[seat + 1 for seat in b.ranking] if b.ranking is not None else None,
                abstained=b.reason if b.ranking is None else None,
                said=ballot_words(b, result.members),
            )
            for b in ballots
        ],
        position_bias=[float(p.mean_rank) for p in position_bias(ballots)],
        agree_with_aggregate=sum(agrees_with(ballot, ranking) for ballot in ballots),
        said=ranking_words(ranking, result.members),
    )


def _totals(result: RunResult) -> Totals:
    """The run's totals; while it runs, what its finished calls have cost and the time so far."""
    if result.status is not RunStatus.RUNNING:
        return result.totals
    calls = result.calls  # those still in flight have nothing to add yet
    return Totals(
        wall_ms=round((datetime.now(UTC) - result.started_at).total_seconds() * 1000),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        cost_usd=sum(c.cost_usd for c in calls),
        tokens_source=TokensSource.least_certain(c.tokens_source for c in calls),
    )


LEAVING = (
    "If your client exits or closes the server before the run ends (a one-call client, such as "
    "the Inspector's CLI, does so as soon as it has this answer), the run is cancelled and recorded "
    "as cancelled with what had arrived: stay connected and call consensus_result, or ask again "
    "with a wait_seconds that covers the run."
)
"""What becomes of a run of the server's when its client leaves: the server goes, and its runs."""


def run_report(
    result: RunResult,
    in_flight: Iterable[str] = (),
    *,
    recording: bool = False,
    queued: Mapping[int, Queued] | None = None,
    own: bool = False,
) -> RunReport:
    """`result` summarized; `in_flight` names calls a recording process is still making (a run
    read from the history shows them as cut short). A run `recording` has ended but the history
    does not hold its end yet (another process holds it locked): it is `running` until it does.
    `queued` holds, by member index, the members whose position waits for its provider's slot.
    An `own` run is the answering server's: it ends with the server (another process's goes on)."""
    running = result.status is RunStatus.RUNNING
    still = set(in_flight)
    positions = [
        None if call is not None and call.call_id in still else call
        for call in (result.positions + [None] * len(result.members))[: len(result.members)]
    ]
    members = [
        _member(seat, m, call, running, (queued or {}).get(seat - 1))
        for seat, (m, call) in enumerate(zip(result.members, positions, strict=True), start=1)
    ]
    members += [
        MemberReport(
            model=s.alias,
            model_id="",
            provider="",
            stance=s.stance,
            demo=False,
            status=MemberStatus.SKIPPED,
            position_summary=None,
            error=s.reason,
            latency_s=None,
            tokens=0,
            tokens_estimated=False,
            tokens_source=TokensSource.PROVIDER,
            cost_usd=0.0,
        )
        for s in result.skipped
    ]
    totals = _totals(result)
    return RunReport(
        **_rests_on(result, None),
        run_id=result.run_id,
        status=RunStatus.RUNNING if recording else result.status,
        outcome=result.outcome,
        question=result.question,
        context=ContextReport.of(result.asked.context if result.asked is not None else None),
        mode=result.mode,
        rounds_used=result.rounds_used,
        max_rounds=result.max_rounds,
        rounds=[_round(r, result) for r in result.rounds] if result.mode is Mode.DELIBERATE else [],
        synthesis=result.synthesis,
        synthesizer=result.synthesizer,
        synthesis_incomplete=result.synthesis_incomplete,
        agreement=result.agreement.summary if result.agreement is not None else None,
        debate=_debate(result),
        council=_council(result),
        members=members,
        errors=list(result.errors),
        notes=list(result.notes),
        totals=TotalsReport(
            wall_s=totals.wall_ms / 1000,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            tokens_estimated=totals.tokens_estimated,
            tokens_source=totals.tokens_source,
            cost_usd=totals.cost_usd,
        ),
        parent_run_id=result.parent_run_id,
        origin=result.origin,
        started_at=result.started_at,
        finished_at=result.finished_at,
        next_step=(
            f"The run goes on in the server: call consensus_result with run_id {result.run_id!r} "
            "to wait for the rest." + (f" {LEAVING}" if own else "")
            if running
            else f"The panel has answered; the run is being recorded in the history, which another "
            f"process holds locked: call consensus_result with run_id {result.run_id!r} to wait until it is."
            if recording
            else None
        ),
        cache=result.cache,
    )


def models_report(entries: Sequence[CatalogEntry], default_panel: Sequence[str]) -> ModelsReport:
    return ModelsReport(
        models=[
            ModelReport(
                model=e.alias,
                aliases=list(e.aliases),
                provider=e.provider,
                model_id=e.model_id,
                key=e.key,
                key_env=e.key_env,
                usable=e.key != "missing",
                demo=e.demo,
                vision=e.vision,
                context_window=e.context_window,
                input_price_per_mtok=e.input_price,
                output_price_per_mtok=e.output_price,
            )
            for e in entries
        ],
        default_panel=list(default_panel),
    )


def history_report(runs: Sequence[RunSummary]) -> HistoryReport:
    return HistoryReport(
        runs=[
            HistoryEntry(
                run_id=r.id,
                created_at=r.created_at,
                question=r.question,
                panel=r.panel,
                status=r.status,
                outcome=r.outcome,
                cost_usd=r.cost_usd,
                parent_run_id=r.parent_run_id,
                origin=r.origin,
                cache_of=r.cache_of,
                mode=r.mode,
            )
            for r in runs
        ]
    )


def scrubbed(report: BaseModel, secrets: Iterable[str]) -> dict[str, object]:
    """`report` as JSON data with the values of the configured keys taken out of every string."""
    data: dict[str, object] = json.loads(safe_json(report.model_dump_json(), secrets))
    return data


# --------------------------------------------------------------------------------------------
# Markdown


def _quote(text: str) -> list[str]:
    """Model output as a blockquote: visibly not Quorum's own words."""
    return [f"> {line}" if line.strip() else ">" for line in literal(text).rstrip().splitlines() or [""]]


def run_markdown(report: RunReport) -> str:
    """The run in a few lines: status, the answer, each member's conclusion and each round's votes."""
    status = run_word(report.status)
    outcome = f"{outcome_word(report.outcome)} · {report.rests_on}" if report.outcome is not None else ""
    rounds = (
        f"round {report.rounds_used} of {report.max_rounds}" if report.mode in ROUNDS_MODES else "one pass"
    )
    head = f"**Quorum run `{report.run_id}`: {status}**" + (f" · {outcome}" if outcome else "")
    out = [f"{head} · {report.mode.value}, {rounds}", "", *_quote(report.question.strip()), ""]
    if report.context is not None:
        context = TeamContext(entries=report.context.entries)
        out += [f"**Context** (the team asking): {context_brief(context)}", ""]
    served = cache_line(report.cache)
    if served is not None:
        fresh = " Ask with fresh=true to put it to the panel." if report.cache.hit else ""
        out += [f"**{served}.**{fresh}", ""]
    if report.next_step:
        out += [f"_Still running._ {report.next_step}", ""]
    if report.parent_run_id:
        out += [f"Follows up on run `{report.parent_run_id}`.", ""]
    if report.synthesis is not None:
        by = f" by {report.synthesizer}" if report.synthesizer else ""
        marked = f" ({NOT_A_DECISION})" if report.outcome is Outcome.NO_QUORUM else ""
        out += [f"### Answer{by}{marked}", ""]
        if report.synthesis_incomplete:
            out += [f"**incomplete:** {literal(report.synthesis_incomplete)}", ""]
        out += [*_quote(report.synthesis), ""]
    if report.agreement:
        out += [f"**Agreement:** {literal(report.agreement)}", ""]
    if report.mode is Mode.CONSULT and report.synthesis is not None:
        out += [f"**Rests on:** {report.rests_on}", ""]
    if report.debate:
        out += [f"**Debate round {r.number}:** {literal(r.said)}" for r in report.debate] + [""]
    if report.council is not None:
        out += [f"**{BORDA}:** {literal(report.council.said)}"]
        out += [f"  - {b.model}: {literal(b.said)}" for b in report.council.cast]
        out.append("")
    out += ["### Members", ""]
    for m in report.members:
        said = f": {literal(m.position_summary)}" if m.position_summary else ""
        why = f" ({literal(m.error)})" if m.error else ""
        demo = ", demo" if m.demo else ""
        state = STATUS_WORDS[m.status]
        if m.queued_s is not None:
            state += f" for {seconds(round(m.queued_s * 1000))} · {m.queue_note}"
        out.append(f"- **{m.model}** ({m.stance.value}{demo}) {state}{why}{said}")
    out.append("")
    for r in report.rounds:
        tally = tally_words(Tally(accept=r.accept, reject=r.reject, invalid=r.invalid, none=r.no_vote))
        ended = r.decided
        if r.status in (RoundStatus.DECIDED, RoundStatus.CONTINUE):
            ended += f" · {r.rests_on}"
        out.append(f"**Round {r.number}:** {tally} → {ended}")
        if r.note:
            out.append(f"  _{literal(r.note)}_")
        for v in r.votes:
            detail = "; ".join(v.objections) or (v.invalid_reason or "")
            out.append(f"  - {v.model}: {VOTE_WORDS[v.vote]}" + (f" — {literal(detail)}" if detail else ""))
        out.append("")
    if report.notes:
        out += ["**Notes:**", *(f"- {literal(note)}" for note in report.notes), ""]
    if report.errors:
        out += ["**Errors:**", *(f"- {literal(error)}" for error in report.errors), ""]
    totals = Totals(
        wall_ms=round(report.totals.wall_s * 1000),
        input_tokens=report.totals.input_tokens,
        output_tokens=report.totals.output_tokens,
        cost_usd=report.totals.cost_usd,
        tokens_source=report.totals.tokens_source,
    )
    if out[-1]:
        out.append("")
    out.append(completion_line(totals, report.status))
    return "\n".join(out).strip() + "\n"


def models_markdown(entries: Sequence[CatalogEntry], default_panel: Sequence[str]) -> str:
    lines = [
        "| model | provider | model id | context | vision | $/M in | $/M out | key |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        vision = "yes" if e.vision else "no"
        lines.append(
            f"| {e.alias} | {e.provider} | {e.model_id} | {e.context_window:,} | {vision} | "
            f"{e.input_price:.2f} | {e.output_price:.2f} | {e.key_words} |"
        )
    lines += ["", "Default panel (when `models` is not given): " + ", ".join(default_panel)]
    return "\n".join(lines) + "\n"


def history_markdown(report: HistoryReport) -> str:
    if not report.runs:
        return "No runs recorded.\n"
    lines = []
    for r in report.runs:
        outcome = outcome_word(r.outcome) if r.outcome else run_word(r.status)
        # Where it was asked follows the cost, every origin alike ([mcp], [cli], [dashboard]).
        question = listed_question(
            r.question, follow_up=r.parent_run_id is not None, origin=None, cache_of=r.cache_of, mode=r.mode
        )
        question = question if len(question) <= 80 else question[:79] + "…"
        origin = f" [{r.origin.value}]" if r.origin else ""
        when = r.created_at[:16].replace("T", " ")
        lines.append(f"- `{r.run_id}` {when} · {outcome} · {cost(r.cost_usd)}{origin} · {literal(question)}")
    return "\n".join(lines) + "\n"
