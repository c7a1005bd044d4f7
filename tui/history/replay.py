"""A recorded run turned back into what a run uses: the event stream it came from (so the dashboard
shows it like a live one) and the context a follow-up to it carries."""

from __future__ import annotations

from typing import Any

from tui.engine import events as ev
from tui.engine.types import (
    CallResult,
    Member,
    Mode,
    PriorTurn,
    RoundResult,
    RunRequest,
    RunResult,
    RunStatus,
    VoteValue,
)


def replay_events(result: RunResult) -> list[ev.Event]:
    """The events that rebuild `result` on screen: calls in the order they started, each round's
    votes after its reviews, then the run's end. Nothing is re-sent; this is the record."""
    request = replay_request(result)
    out: list[ev.Event] = [ev.RunStarted(result.run_id, request)]
    if result.skipped:
        out.append(ev.MembersSkipped(tuple(result.skipped)))
    if result.agreement is not None:
        out.append(ev.AgreementRead(result.agreement))
    shown = {c.call_id for c in result.calls}
    for position in result.positions:
        if position is not None and position.call_id not in shown:
            out.append(ev.CallFinished(position))  # carried over from the parent run
    rounds = {r.number: r for r in result.rounds}
    started_rounds: set[int] = set()
    decided: set[int] = set()
    for call in result.calls:
        if call.round not in started_rounds and result.mode is Mode.DELIBERATE:
            # Close out the previous round before the next one begins.
            for number in sorted(n for n in rounds if n < call.round and n not in decided):
                out += _round_end(rounds[number])
                decided.add(number)
            started_rounds.add(call.round)
            out.append(ev.RoundStarted(call.round, result.max_rounds))
        out += _call_events(call)
    for number in sorted(n for n in rounds if n not in decided):
        out += _round_end(rounds[number])
    if result.synthesis is not None and result.synthesizer is not None:
        out.append(
            ev.SynthesisFinished(
                result.synthesis, result.synthesizer, result.outcome, result.synthesis_incomplete
            )
        )
    if result.status is RunStatus.SUCCESS:
        out.append(ev.RunFinished(result))
    elif result.status is RunStatus.ERROR:
        out.append(ev.RunFailed(result, tuple(result.errors)))
    else:  # cancelled, or interrupted (a stopped process has no event of its own): the run was cut short
        out.append(ev.RunCancelled(result))
    return out


def replay_request(result: RunResult, thread: list[PriorTurn] | None = None) -> RunRequest:
    """The request a recorded run answered, as far as the record tells it: what was asked (files,
    focus, round limit, budget), when the run was recorded with it; `thread` is the context it
    followed up on, when known."""
    asked = result.asked
    extra: dict[str, Any] = {"max_rounds": result.max_rounds}
    if asked is not None:
        extra = {
            "attachments": asked.files,
            "focus": asked.focus,
            "max_rounds": asked.max_rounds,
            "majority_threshold": asked.majority_threshold,
            "token_budget": asked.token_budget,
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


def _call_events(call: CallResult) -> list[ev.Event]:
    out: list[ev.Event] = [
        ev.CallStarted(call.call_id, call.round, call.phase, call.member_index, call.alias)
    ]
    if call.content:
        if call.ttft_ms is not None:
            out.append(ev.FirstToken(call.call_id, call.member_index, call.ttft_ms))
        if call.member_index is None:
            out.append(ev.SynthesisDelta(call.call_id, call.round, call.phase, call.content))
        else:
            out.append(ev.TextDelta(call.call_id, call.member_index, call.phase, call.content))
    out.append(ev.CallFinished(call))
    return out


def _round_end(round_: RoundResult) -> list[ev.Event]:
    return [*(ev.VoteCast(round_.number, vote) for vote in round_.votes), ev.RoundDecided(round_)]


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
