"""The quorum: how many of a panel's seats must cast a valid vote for a round to decide anything,
and who an outcome rests on.

A run's seats are its members (a member skipped before the run is no seat). A round decides only
when its valid votes (accepts and rejects) are more than `quorum` of the seats, or are every seat;
the default, 0.5, is a strict majority of the seats, and 1.0 asks for every one. Invalid votes and
failed members count against it: a panel of three where two members failed cannot decide, however
the third votes.

Who an outcome rests on is derived, whenever it is shown, from the round's votes and the members'
positions (`standing`): never a second copy kept beside them. In a vote run with a declared answer
shape, a seat's answer is its vote: a readable answer is a valid vote, an unreadable one is
missing (`unreadable`, with why), and a seat whose call failed is missing as in a deliberation. A
debate's round is read the same way, from its answers in that round (a seat that left the debate
is missing, with the round it left in); for an open question it rests on who answered. In a
council a readable ballot is a valid vote, and an abstention is missing with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tui.engine.answers import AnswerReading, round_answers, seat_readings
from tui.engine.calls import ANSWERED
from tui.engine.types import (
    Ballot,
    CallResult,
    Missing,
    Mode,
    Phase,
    RoundResult,
    RunResult,
    Standing,
    VoteValue,
)

VALID = (VoteValue.ACCEPT, VoteValue.REJECT)


def quorum_met(valid: int, seats: int, quorum: float) -> bool:
    """Whether `valid` votes (or answers) of `seats` are a quorum: more than `quorum` of them, or
    all of them. (Rounded, so that 0.57 x 100 is 57, not 56.99999999999999.)"""
    return seats > 0 and (valid > round(quorum * seats, 9) or valid >= seats)


def quorum_needed(seats: int, quorum: float) -> int:
    """The fewest valid votes of `seats` that are a quorum."""
    return min(seats, math.floor(round(quorum * seats, 9)) + 1)


def standing(result: RunResult, round_: RoundResult | None = None) -> Standing:
    """Who `round_`'s outcome rests on (by default the run's last round): the seats that cast a
    valid vote on its draft and the others, each with why; in a round where no vote was taken
    (consult mode, a panel too small to vote, a curator called by the budget), the seats that
    answered with a position and the others."""
    readings = seat_readings(result) if result.mode is Mode.VOTE else None
    if readings is not None:
        return _answers_standing(result, readings)
    if result.mode is Mode.DEBATE:
        return _debate_standing(result, round_.number if round_ is not None else max(1, result.rounds_used))
    if round_ is None and result.rounds:
        round_ = result.rounds[-1]
    if result.mode is Mode.COUNCIL and round_ is not None and round_.ballots:
        return _ballots_standing(result, round_.ballots)
    members, positions = result.members, _positions(result)
    votes = {vote.member_index: vote for vote in round_.votes} if round_ is not None else {}
    answered = sum(1 for call in positions if _answered(call))
    missing: list[Missing] = []
    for index, member in enumerate(members):
        vote, call = votes.get(index), positions[index]
        if vote is not None and vote.value not in VALID:
            why = vote.reason or vote.value.value
            missing.append(
                Missing(member_index=index, alias=member.alias, phase=Phase.VOTE, vote=vote.value, reason=why)
            )
        elif vote is None and not _answered(call):  # not asked to vote: its position failed
            why = "not run" if call is None else call.error or call.status.value
            missing.append(Missing(member_index=index, alias=member.alias, phase=Phase.POSITION, reason=why))
        elif vote is None and votes:  # it answered, but no vote of its is recorded
            missing.append(
                Missing(
                    member_index=index,
                    alias=member.alias,
                    phase=Phase.VOTE,
                    vote=VoteValue.NONE,
                    reason="no vote",
                )
            )
    voters = sum(1 for vote in votes.values() if vote.value in VALID) if votes else None
    return Standing(seats=len(members), voters=voters, answered=answered, missing=missing)


def _answers_standing(
    result: RunResult, readings: Sequence[AnswerReading | None], number: int = 1
) -> Standing:
    """A counted vote's (or debate round's) standing: the seats whose answer could be read voted;
    the others are missing, unreadable (with why) or failed."""
    missing: list[Missing] = []
    for index, (member, reading) in enumerate(zip(result.members, readings, strict=True)):
        if reading is None:
            missing.append(_silent(result, index, number))
        elif reading.key is None:
            missing.append(
                Missing(
                    member_index=index,
                    alias=member.alias,
                    phase=Phase.POSITION if number == 1 else Phase.REVISION,
                    vote=VoteValue.INVALID,
                    reason=f"unreadable: {reading.failure}",
                )
            )
    voters = sum(1 for reading in readings if reading is not None and reading.key is not None)
    answered = sum(1 for reading in readings if reading is not None)
    return Standing(seats=len(result.members), voters=voters, answered=answered, missing=missing)


def _debate_standing(result: RunResult, number: int) -> Standing:
    """A debate round's standing: with an answer shape its answers are counted as a vote's are;
    for an open question it rests on the seats that answered in it."""
    readings = seat_readings(result, number)
    if readings is not None:
        return _answers_standing(result, readings, number)
    calls = round_answers(result, number)
    missing = [_silent(result, index, number) for index, call in enumerate(calls) if not _answered(call)]
    answered = sum(1 for call in calls if _answered(call))
    return Standing(seats=len(result.members), voters=None, answered=answered, missing=missing)


def _silent(result: RunResult, index: int, number: int) -> Missing:
    """A seat that gave no answer in round `number` (of a debate: 1 is its position), and why: its
    call's failure, or the earlier round in which it left the debate."""
    member = result.members[index]
    calls = [c for c in (round_answers(result, n)[index] for n in range(1, number + 1)) if c is not None]
    if not calls:
        return Missing(member_index=index, alias=member.alias, phase=Phase.POSITION, reason="not run")
    last = calls[-1]
    why = last.error or last.status.value
    if last.round < number:
        why = f"left the debate in round {last.round}: {why}"
    return Missing(member_index=index, alias=member.alias, phase=last.phase, reason=why)


def _ballots_standing(result: RunResult, ballots: Sequence[Ballot]) -> Standing:
    """A council's standing: the seats whose ballot could be read voted; the others abstained
    (with why; `none` when the ballot's call failed) or, their answer failed, were asked none."""
    positions = _positions(result)
    cast = {ballot.member_index: ballot for ballot in ballots}
    failed = {c.member_index for c in result.calls if c.phase is Phase.BALLOT and c.status not in ANSWERED}
    missing: list[Missing] = []
    for index, member in enumerate(result.members):
        ballot = cast.get(index)
        if ballot is None:
            missing.append(_silent(result, index, 1))
        elif ballot.abstained:
            vote = VoteValue.NONE if index in failed else VoteValue.INVALID
            missing.append(
                Missing(
                    member_index=index,
                    alias=member.alias,
                    phase=Phase.BALLOT,
                    vote=vote,
                    reason=ballot.reason or "no ballot",
                )
            )
    voters = sum(1 for ballot in ballots if not ballot.abstained)
    answered = sum(1 for call in positions if _answered(call))
    return Standing(seats=len(result.members), voters=voters, answered=answered, missing=missing)


def _positions(result: RunResult) -> Sequence[CallResult | None]:
    """Each seat's position, in seat order (None where none is recorded)."""
    return [result.positions[i] if i < len(result.positions) else None for i in range(len(result.members))]


def _answered(call: CallResult | None) -> bool:
    return call is not None and call.status in ANSWERED
