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
missing (`unreadable`, with why), and a seat whose call failed is missing as in a deliberation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tui.engine.answers import AnswerReading, seat_readings
from tui.engine.calls import ANSWERED
from tui.engine.types import CallResult, Missing, Mode, Phase, RoundResult, RunResult, Standing, VoteValue

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
    if round_ is None and result.rounds:
        round_ = result.rounds[-1]
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


def _answers_standing(result: RunResult, readings: Sequence[AnswerReading | None]) -> Standing:
    """A counted vote's standing: the seats whose answer could be read voted; the others are
    missing, unreadable (with why) or failed."""
    positions = _positions(result)
    missing: list[Missing] = []
    for index, (member, reading) in enumerate(zip(result.members, readings, strict=True)):
        if reading is None:
            call = positions[index]
            why = "not run" if call is None else call.error or call.status.value
            missing.append(Missing(member_index=index, alias=member.alias, phase=Phase.POSITION, reason=why))
        elif reading.key is None:
            missing.append(
                Missing(
                    member_index=index,
                    alias=member.alias,
                    phase=Phase.POSITION,
                    vote=VoteValue.INVALID,
                    reason=f"unreadable: {reading.failure}",
                )
            )
    voters = sum(1 for reading in readings if reading is not None and reading.key is not None)
    answered = sum(1 for reading in readings if reading is not None)
    return Standing(seats=len(result.members), voters=voters, answered=answered, missing=missing)


def _positions(result: RunResult) -> Sequence[CallResult | None]:
    """Each seat's position, in seat order (None where none is recorded)."""
    return [result.positions[i] if i < len(result.positions) else None for i in range(len(result.members))]


def _answered(call: CallResult | None) -> bool:
    return call is not None and call.status in ANSWERED
