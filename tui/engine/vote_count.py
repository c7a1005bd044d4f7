"""A vote's count: what a vote run with a declared answer shape decides from its members' answers.

Every seat answers once, blind; each answer is read in the run's shape (`tui.engine.answers`), and
a readable answer is the seat's vote. The count is derived from the run's positions and what was
asked whenever it is needed — by the run itself, its report and JSON, a replay — never kept
beside them, so a recorded vote is counted again exactly as it was decided.

The outcome:
- `no_quorum` — fewer seats' answers could be read than a quorum of the panel's seats
  (`tui.engine.quorum`): not a decision, though the answer most given is still shown, marked;
- `unanimous` — with a quorum, every seat that answered gave a readable answer, and the same one
  (a seat whose call failed did not vote, as in a deliberation; an unreadable answer is never
  ignored);
- `majority` — the answer most given came from more than the majority threshold (half, unless
  set otherwise) of the panel's seats;
- `plurality` — otherwise the answer most given wins; a tie is broken by the rule the count
  records (`TieRule.FIRST_IN_PANEL_ORDER`: the tied answer of the seat earliest in the panel).

The run's synthesis (`vote_synthesis`) says it plainly: the answer line, who gave it, the dissent,
the answers that could not be read and why, the seats that gave none, a tie and its rule, and a
missing quorum. No model writes it: its author is `VOTE_COUNT`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.engine.answers import AnswerReading, Plurality, TieRule, plurality, read_answer, seat_readings
from tui.engine.names import member_names
from tui.engine.quorum import quorum_met, quorum_needed
from tui.engine.types import Member, Mode, Outcome, RunResult

VOTE_COUNT = "vote count"
"""Who wrote a counted vote's synthesis, where a run names its synthesizer: no model did."""

TIE_RULE = TieRule.FIRST_IN_PANEL_ORDER
"""How a vote run breaks a tie."""


@dataclass(frozen=True)
class AnswerCount:
    """What a vote's answers decided."""

    readings: tuple[AnswerReading | None, ...]
    """Each seat's answer as read, in panel order; None for a seat that gave none."""
    plurality: Plurality
    outcome: Outcome
    needed: int
    """How many readable answers a quorum of the seats needs."""

    @property
    def seats(self) -> int:
        return len(self.readings)

    @property
    def readable(self) -> int:
        return sum(1 for reading in self.readings if reading is not None and reading.key is not None)

    def seats_with(self, key: str) -> list[int]:
        """The seats whose answer has this key, in panel order."""
        return [i for i, reading in enumerate(self.readings) if reading is not None and reading.key == key]

    @property
    def answer(self) -> str | None:
        """The winning answer as the first seat that gave it wrote it; None when there is none."""
        if self.plurality.key is None:
            return None
        reading = self.readings[self.seats_with(self.plurality.key)[0]]
        return reading.answer if reading is not None else None


def decide_vote(
    readings: Sequence[AnswerReading | None], *, quorum: float = 0.5, majority_threshold: float = 0.5
) -> AnswerCount:
    """The count of these seats' answers (panel order) under the run's quorum and threshold."""
    seats = len(readings)
    keys = [reading.key if reading is not None else None for reading in readings]
    winner = plurality(keys, TIE_RULE)
    readable = sum(1 for key in keys if key is not None)
    answered = sum(1 for reading in readings if reading is not None)
    if not quorum_met(readable, seats, quorum):
        outcome = Outcome.NO_QUORUM
    elif winner.votes == answered:
        outcome = Outcome.UNANIMOUS
    elif winner.votes > majority_threshold * seats and not winner.tied:
        outcome = Outcome.MAJORITY
    else:
        outcome = Outcome.PLURALITY
    return AnswerCount(tuple(readings), winner, outcome, quorum_needed(seats, quorum))


COUNTED_MODES = (Mode.VOTE, Mode.DEBATE)
"""The modes whose answer, with an answer shape, is counted: a vote's answers, a debate's last round."""


def count_answers(result: RunResult) -> AnswerCount | None:
    """The count of a vote run with an answer shape, or of a debate's last round; None for any
    other run (without a shape it is the synthesizer's to report; the other modes decide
    otherwise)."""
    if result.mode not in COUNTED_MODES or result.asked is None:
        return None
    readings = seat_readings(result)
    if readings is None:
        return None
    return decide_vote(
        readings, quorum=result.asked.quorum, majority_threshold=result.asked.majority_threshold
    )


def final_answer(result: RunResult) -> AnswerReading | None:
    """The run's answer, read in its declared shape: a counted vote's plurality, or a debate's
    plurality of its last round (rule `plurality`), or the answer its synthesis gives (a
    deliberation's decision, a consult's synthesis, a council chairman's answer); None for a run
    without a shape, or one with no synthesis (a council whose chairman failed)."""
    spec = result.asked.answer if result.asked is not None else None
    if spec is None:
        return None
    count = count_answers(result)
    if count is not None:
        if count.plurality.key is None:
            return AnswerReading(answer=None, key=None, failure="no seat's answer could be read")
        return AnswerReading(answer=count.answer, key=count.plurality.key, rule="plurality")
    if result.synthesis is None:
        return None
    return read_answer(result.synthesis, spec)


def vote_synthesis(count: AnswerCount, members: Sequence[Member], errors: Sequence[str] = ()) -> str:
    """A counted vote in words: the answer line first, then who gave it, the dissent, the
    unreadable answers and why, the seats that gave none (with `errors`' line for each), the tie
    and its rule, and a missing quorum."""
    names = member_names(members)
    lines: list[str] = []
    key = count.plurality.key
    if key is not None:
        lines += [f"ANSWER: {count.answer}", ""]
        given = count.seats_with(key)
        who = ", ".join(names[i] for i in given)
        if len(given) == count.seats:
            lines.append(f"Every seat answered {count.answer}: {who}.")
        else:
            lines.append(f"{len(given)} of {_seats(count.seats)} answered {count.answer}: {who}.")
    dissent = _groups(count, names, but=key)
    if dissent:
        lines.append(f"Dissent: {'; '.join(dissent)}.")
    unreadable = [
        f"{names[i]} ({reading.failure})"
        for i, reading in enumerate(count.readings)
        if reading is not None and reading.key is None
    ]
    if unreadable:
        lines.append(f"Unreadable: {'; '.join(unreadable)}.")
    silent = [_why_silent(names[i], errors) for i, reading in enumerate(count.readings) if reading is None]
    if silent:
        lines.append(f"No answer: {'; '.join(silent)}.")
    if count.plurality.tied and key is not None:
        tied = [answer for answer, votes in _answers(count) if votes == count.plurality.votes]
        first = names[count.seats_with(key)[0]]
        lines.append(
            f"Tie: {_listed(tied)} had {_seats(count.plurality.votes)} each; broken by the rule "
            f"{count.plurality.rule.value}: {count.answer}, the answer of {first}, the first seat to "
            "give one of them."
        )
    if count.outcome is Outcome.NO_QUORUM:
        lines.append(
            f"No quorum: {count.readable} of {count.seats} seats' answers could be read, "
            f"{count.needed} needed; this is not a decision."
        )
    return "\n".join(lines)


def _answers(count: AnswerCount) -> list[tuple[str, int]]:
    """Each answer read, as first written, with how many seats gave it, in the order first given."""
    seen: dict[str, tuple[str, int]] = {}
    for reading in count.readings:
        if reading is not None and reading.key is not None and reading.answer is not None:
            written, votes = seen.get(reading.key, (reading.answer, 0))
            seen[reading.key] = (written, votes + 1)
    return list(seen.values())


def _groups(count: AnswerCount, names: Sequence[str], but: str | None) -> list[str]:
    """`c answered 20`, `d and e answered 22`: every answer but the winner's, with who gave it."""
    groups: dict[str, list[int]] = {}
    for i, reading in enumerate(count.readings):
        if reading is not None and reading.key is not None and reading.key != but:
            groups.setdefault(reading.key, []).append(i)
    out = []
    for seats in groups.values():
        first = count.readings[seats[0]]
        assert first is not None
        out.append(f"{_listed([names[i] for i in seats])} answered {first.answer}")
    return out


def _why_silent(name: str, errors: Sequence[str]) -> str:
    """A seat that gave no answer, with the run's last error line about it: its position's error
    (`c: position failed: …`), or the round its answer failed in (`c: round 2 answer failed: …`)."""
    prefix = f"{name}: "
    said = [error.removeprefix(prefix) for error in errors if error.startswith(prefix)]
    why = said[-1].removeprefix("position failed: ") if said else None
    return f"{name} ({why})" if why else name


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _seats(count: int) -> str:
    return f"{count} seat{'' if count == 1 else 's'}"
