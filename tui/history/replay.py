"""A recorded run turned back into what a run uses: the event stream it came from (so the dashboard
shows it like a live one) and the context a follow-up to it carries.

The events come from one piece of logic, `Replayer`, which turns a run's record into the events
that bring a display from what it has shown to what the record holds now: all of a finished run
at once (`replay_events`), or a run still being recorded a step at a time
(`tui.history.follow`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tui.engine import events as ev
from tui.engine.council import council_ranking
from tui.engine.debate import debate_round
from tui.engine.quorum import standing
from tui.engine.types import (
    ROUNDS_MODES,
    CallResult,
    Member,
    Mode,
    Phase,
    PriorTurn,
    RoundResult,
    RunRequest,
    RunResult,
    RunStatus,
    VoteValue,
)
from tui.errors import UsageError
from tui.history.store import RunStore


def replay_events(result: RunResult) -> list[ev.Event]:
    """The events that rebuild `result` on screen: calls in the order they started, each round's
    votes after its reviews, then the run's end. Nothing is re-sent; this is the record."""
    return Replayer().catch_up(result)


class Replayer:
    """What a display has been shown of one recorded run, and the events that show it the rest.

    Each `catch_up` takes the record as it is now and returns only what is new since the last:
    the run's start, calls started, calls put in line for their provider and sent from it, the
    text each call gained (only the new end of it), calls finished, each round's votes and
    decision once the record has them (the round ends before the next round's calls start), the
    agreement, the synthesis and the run's end. A debate's round also brings what each member was
    shown (as the round starts, once the record has it) and the round read (as it ends); a
    council's ballots and their ranking come before the chairman is asked (or, without one, as
    the round ends). A record
    whose text is not the continuation of what was shown (rewritten, not grown) starts the
    display over: the events begin again with `RunStarted`, so text is never shown twice nor
    lost.
    """

    def __init__(self) -> None:
        self._forget()

    def _forget(self) -> None:
        """Nothing shown yet."""
        self._started = False
        self._agreement = False
        self._text: dict[str, str] = {}  # every call started on the display, with the text it shows
        self._first_token: set[str] = set()
        self._queued: set[str] = set()  # calls shown waiting in line for their provider
        self._finished: set[str] = set()
        self._rounds_started: set[int] = set()
        self._answers_shown: set[int] = set()  # debate rounds whose AnswersShown was emitted
        self._ballots_cast = False  # a council's ballots and ranking were emitted
        self._rounds_decided: dict[int, RoundResult] = {}
        self._synthesis = False
        self._ended = False

    def catch_up(
        self, result: RunResult, in_flight: Collection[str] = (), queued: Mapping[str, int] | None = None
    ) -> list[ev.Event]:
        """The events from what was shown to `result`. `in_flight`: the ids of calls the record
        says are still being made (a record read without them has every call ended); `queued`:
        those of them waiting in line for their provider, with how many calls it serves at once."""
        queued = queued or {}
        if self._rewritten(result):
            self._forget()  # the display starts over from the record
        out: list[ev.Event] = []
        if not self._started:
            self._started = True
            out.append(ev.RunStarted(result.run_id, replay_request(result)))
            if result.skipped:
                out.append(ev.MembersSkipped(tuple(result.skipped)))
        if result.agreement is not None and not self._agreement:
            self._agreement = True
            out.append(ev.AgreementRead(result.agreement))
        shown = {c.call_id for c in result.calls}
        for position in result.positions:
            if position is not None and position.call_id not in shown | self._finished:
                self._finished.add(position.call_id)
                out.append(ev.CallFinished(position))  # carried over from the parent run
        rounds = {r.number: r for r in result.rounds}
        for call in result.calls:
            if call.call_id not in self._text:
                if call.round not in self._rounds_started and result.mode in ROUNDS_MODES:
                    # Close out the previous round before the next one begins.
                    out += self._round_ends(result, rounds, before=call.round)
                    self._rounds_started.add(call.round)
                    out.append(ev.RoundStarted(call.round, result.max_rounds))
                    out += self._answers_shown_events(rounds.get(call.round))
                if call.phase is Phase.CHAIR:  # the chairman is asked once the ballots are counted
                    out += self._ballot_events(result)
                self._text[call.call_id] = ""
                out.append(
                    ev.CallStarted(call.call_id, call.round, call.phase, call.member_index, call.alias)
                )
            out += self._queue_events(call, queued)
            out += self._text_events(call)
            if call.call_id not in in_flight and call.call_id not in self._finished:
                self._finished.add(call.call_id)
                out.append(ev.CallFinished(call))
        out += self._round_ends(result, rounds)
        if result.synthesis is not None and result.synthesizer is not None and not self._synthesis:
            self._synthesis = True
            out.append(
                ev.SynthesisFinished(
                    result.synthesis, result.synthesizer, result.outcome, result.synthesis_incomplete
                )
            )
        if result.status is not RunStatus.RUNNING and not self._ended:
            self._ended = True
            out.append(_run_end(result))
        return out

    def _rewritten(self, result: RunResult) -> bool:
        """The record no longer continues what was shown: a call's text is not the start of the
        record's, or a call shown is not in it."""
        if not self._text:
            return False
        texts = {c.call_id: c.content for c in result.calls}
        return any(
            call_id not in texts or not texts[call_id].startswith(text)
            for call_id, text in self._text.items()
        )

    def _queue_events(self, call: CallResult, queued: Mapping[str, int]) -> list[ev.Event]:
        """The call put in line for its provider, or sent from it, since it was last shown."""
        call_id = call.call_id
        if call_id in queued and call_id not in self._queued:
            self._queued.add(call_id)
            return [ev.CallQueued(call_id, call.member_index, call.alias, call.provider, queued[call_id])]
        if call_id in self._queued and call_id not in queued:
            self._queued.discard(call_id)
            if call.queued_ms is not None:  # (a call cancelled in line just ends)
                return [ev.CallDequeued(call_id, call.member_index, call.queued_ms)]
        return []

    def _text_events(self, call: CallResult) -> list[ev.Event]:
        """The text `call` gained since it was last shown, and its first token once it has one."""
        out: list[ev.Event] = []
        if call.content and call.ttft_ms is not None and call.call_id not in self._first_token:
            self._first_token.add(call.call_id)
            out.append(ev.FirstToken(call.call_id, call.member_index, call.ttft_ms))
        gained = call.content[len(self._text[call.call_id]) :]
        if gained:
            self._text[call.call_id] = call.content
            if call.member_index is None:
                out.append(ev.SynthesisDelta(call.call_id, call.round, call.phase, gained))
            else:
                out.append(ev.TextDelta(call.call_id, call.member_index, call.phase, gained))
        return out

    def _answers_shown_events(self, round_: RoundResult | None) -> list[ev.Event]:
        """What each member of a debate's round was shown, once the record has it."""
        if round_ is None or not round_.shown or round_.number in self._answers_shown:
            return []
        self._answers_shown.add(round_.number)
        return [ev.AnswersShown(round_.number, tuple(round_.shown))]

    def _ballot_events(self, result: RunResult) -> list[ev.Event]:
        """A council's ballots and their ranking, once the record has them."""
        ranking = council_ranking(result)
        if ranking is None or self._ballots_cast:
            return []
        self._ballots_cast = True
        return [*(ev.BallotCast(ballot) for ballot in result.rounds[0].ballots), ev.RankingMade(ranking)]

    def _round_ends(
        self, result: RunResult, rounds: dict[int, RoundResult], before: int | None = None
    ) -> list[ev.Event]:
        """The votes and decision of every round the record has decided that the display has not
        (or has, differently), of the rounds before `before` if given; each with who it rests on,
        derived from the record as the run derived it."""
        out: list[ev.Event] = []
        for number in sorted(rounds):
            round_ = rounds[number]
            if (before is None or number < before) and self._rounds_decided.get(number) != round_:
                self._rounds_decided[number] = round_
                decided = ev.RoundDecided(round_, standing(result, round_))
                out += [*(ev.VoteCast(number, vote) for vote in round_.votes)]
                if result.mode is Mode.DEBATE:
                    out += self._answers_shown_events(round_)
                    out.append(ev.DebateRoundRead(debate_round(result, number)))
                out += [*self._ballot_events(result), decided]
        return out


def _run_end(result: RunResult) -> ev.Event:
    if result.status is RunStatus.SUCCESS:
        return ev.RunFinished(result)
    if result.status is RunStatus.ERROR:
        return ev.RunFailed(result, tuple(result.errors))
    # cancelled, or interrupted (a stopped process has no event of its own): the run was cut short
    return ev.RunCancelled(result)


def replay_request(result: RunResult, thread: list[PriorTurn] | None = None) -> RunRequest:
    """The request a recorded run answered, as far as the record tells it: what was asked (files,
    focus, the team's context, round limit, budget), when the run was recorded with it; `thread`
    is the context it followed up on, when known."""
    asked = result.asked
    extra: dict[str, Any] = {"max_rounds": result.max_rounds}
    if asked is not None:
        extra = {
            "files": asked.files,
            "focus": asked.focus,
            "context": asked.context,
            "max_rounds": asked.max_rounds,
            "majority_threshold": asked.majority_threshold,
            "quorum": asked.quorum,
            "token_budget": asked.token_budget,
            "answer": asked.answer,
        }
    return RunRequest(
        question=result.question,
        mode=result.mode,
        members=result.members,
        skipped=result.skipped,
        synthesizers=_synthesizers(result),
        thread=thread or [],
        parent_run_id=result.parent_run_id,
        **extra,
    )


def _synthesizers(result: RunResult) -> list[Member]:
    """The synthesizers that took part, as members (for the request the replay starts with)."""
    seen: dict[str, Member] = {}
    for call in result.calls:
        if call.member_index is None and call.alias not in seen:
            seen[call.alias] = Member(
                alias=call.alias, model_id=call.model_id, provider=call.provider, demo=call.demo
            )
    if not seen:
        first = result.members[0] if result.members else Member(alias="-", model_id="-", provider="-")
        seen[first.alias] = first
    return list(seen.values())


def prior_turns(thread: list[RunResult]) -> list[PriorTurn]:
    """A follow-up's context from earlier runs: question, answer, and the last round's objections."""
    turns = []
    for result in thread:
        objections: list[str] = []
        if result.rounds:
            for vote in result.rounds[-1].votes:
                if vote.value in (VoteValue.REJECT, VoteValue.INVALID):
                    objections += [f"{vote.alias}: {item}" for item in vote.objections]
        turns.append(
            PriorTurn(
                run_id=result.run_id, question=result.question, answer=result.synthesis, objections=objections
            )
        )
    return turns


def follow_up_thread(store: RunStore | None, run: str, depth: int) -> list[PriorTurn]:
    """The context of a follow-up to `run` (an id or the start of one): it and up to `depth - 1`
    of its ancestors, oldest first."""
    if store is None:
        raise UsageError("a follow-up needs the run history, which is turned off ([store] enabled)")
    try:
        run_id = store.resolve(run)
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    return prior_turns(store.thread(run_id, depth))
