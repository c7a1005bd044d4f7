"""A debate's rounds read: what each seat answered in each round, how many agree, and who changed
its answer from one round to the next (a flip: the measure of herding).

Everything here is derived from the run's calls and the orders recorded with its rounds, whenever
it is needed (the run itself, its report and JSON, a replay), never kept beside them.

What an answer is, for agreeing and flipping:
- with a declared answer shape, the answer read in it (`tui.engine.answers`): two answers agree
  when their keys are equal (`18` and `$18.00`);
- for an open question, the answer's own `Lean:` line (favourable, unfavourable or mixed). That is
  a coarse reading, and knowingly so: it is free (no model is asked to judge), it cannot be talked
  into agreement, and it stops a debate only when every member leans the same way, not when their
  answers say the same thing. An answer without the line is unreadable, and an unreadable answer
  agrees with nothing.

A round agrees when every seat that answered in it gave a readable answer, and the same one.

The run's answer (with a shape) is the plurality of the last round's answers, counted as a vote's
are (`tui.engine.vote_count`: the same outcomes, quorum and tie rule); a seat that gave no answer
in the last round (its position, or a later answer, failed: it left the debate then) is no vote.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tui.engine.accounting import estimate_tokens
from tui.engine.answers import AnswerReading, plurality, read_position, round_answers
from tui.engine.calls import ANSWERED
from tui.engine.deliberation import EXPECTED_ANSWER_TOKENS
from tui.engine.names import member_names
from tui.engine.rules import read_lean
from tui.engine.types import CallResult, CallStatus, Image, Member, Mode, RunResult
from tui.engine.vision import images_for, images_tokens
from tui.engine.vote_count import AnswerCount, vote_synthesis

DEBATE_COUNT = "debate count"
"""Who wrote a counted debate's synthesis, where a run names its synthesizer: no model did."""

LEAN_RULE = "Lean: line"
"""The rule an open question's answer is read by in a debate: its own leaning."""


@dataclass(frozen=True)
class Flip:
    """A seat whose answer changed from one round to the next."""

    member_index: int
    before: str
    after: str
    """The answer as the seat wrote it in the round before, and in this one."""
    to_shown: bool
    """It changed to the answer most of the answers it was shown gave (herding, if anything is)."""


@dataclass(frozen=True)
class DebateRound:
    """One round of a debate, read."""

    number: int
    readings: tuple[AnswerReading | None, ...]
    """Each seat's answer in the round as read, in panel order; None for a seat that gave none."""
    flips: tuple[Flip, ...] = ()
    """Who changed its answer since the round before (none in round 1)."""

    @property
    def answered(self) -> int:
        return sum(1 for reading in self.readings if reading is not None)

    @property
    def agreeing(self) -> int:
        """How many seats gave the answer most given (0 when none could be read)."""
        keys = Counter(reading.key for reading in self.readings if reading is not None and reading.key)
        return max(keys.values(), default=0)

    @property
    def agreed(self) -> bool:
        """Every seat that answered gave a readable answer, and the same one."""
        return self.answered > 0 and self.agreeing == self.answered

    @property
    def answer(self) -> str | None:
        """The answer the round agreed on, as the first seat to give it wrote it; None without one."""
        if not self.agreed:
            return None
        return next(reading.answer for reading in self.readings if reading is not None)


def debate_readings(result: RunResult, number: int) -> list[AnswerReading | None]:
    """Each seat's answer in round `number` as a debate reads it (see the module), in panel order."""
    spec = result.asked.answer if result.asked is not None else None
    calls = round_answers(result, number)
    if spec is not None:
        return [read_position(call, spec) for call in calls]
    return [_lean_of(call) for call in calls]


def _lean_of(call: CallResult | None) -> AnswerReading | None:
    """An open answer's leaning, as a reading."""
    if call is None or call.status not in ANSWERED:
        return None
    if call.status is CallStatus.INCOMPLETE:
        return AnswerReading(answer=None, key=None, failure=f"the answer is incomplete: {call.error}")
    lean = read_lean(call.content)
    if lean is None:
        return AnswerReading(answer=None, key=None, failure="no Lean: line")
    return AnswerReading(answer=lean, key=lean, rule=LEAN_RULE)


def debate_rounds(result: RunResult) -> list[DebateRound]:
    """Every round of a debate run, read, with its flips; empty for any other run."""
    if result.mode is not Mode.DEBATE:
        return []
    return [debate_round(result, number) for number in range(1, result.rounds_used + 1)]


def debate_round(result: RunResult, number: int) -> DebateRound:
    """Round `number` of a debate, read, with who flipped since the round before."""
    readings = debate_readings(result, number)
    flips = _flips(result, number, debate_readings(result, number - 1), readings) if number > 1 else ()
    return DebateRound(number, tuple(readings), flips)


def _flips(
    result: RunResult,
    number: int,
    before: Sequence[AnswerReading | None],
    after: Sequence[AnswerReading | None],
) -> tuple[Flip, ...]:
    """The seats whose readable answer in round `number` is not their readable answer before it."""
    recorded = next((r for r in result.rounds if r.number == number), None)
    shown = {s.member_index: s.seats for s in recorded.shown} if recorded is not None else {}
    flips = []
    for seat, (then, now) in enumerate(zip(before, after, strict=True)):
        if then is None or now is None or then.key is None or now.key is None or then.key == now.key:
            continue
        keys = [reading.key if (reading := before[other]) else None for other in shown.get(seat, [])]
        most = plurality(keys)
        to_shown = most.key == now.key and not most.tied
        flips.append(Flip(seat, then.answer or "", now.answer or "", to_shown))
    return tuple(flips)


def debate_synthesis(
    count: AnswerCount, rounds: Sequence[DebateRound], members: Sequence[Member], errors: Sequence[str] = ()
) -> str:
    """A counted debate in words: the count of its last round (`vote_synthesis`), then how the
    debate went: its rounds, how many agreed in each, and every flip."""
    names = member_names(members)
    lines = [vote_synthesis(count, members, errors), ""]
    lines.append(f"The count is of round {rounds[-1].number}, the debate's last.")
    for round_ in rounds:
        said = f"Round {round_.number}: {round_.agreeing} of {round_.answered} agreed"
        if round_.flips:
            said += "; " + ", ".join(f"{names[f.member_index]} {f.before} → {f.after}" for f in round_.flips)
        lines.append(said + ".")
    return "\n".join(lines)


def round_tokens(
    question_block: str, answers: Sequence[str], debaters: Sequence[Member], images: Sequence[Image]
) -> int:
    """About how many tokens one more round would take: every debater reads the question and every
    answer of the round before (its own and the others'), with the images it is sent, and writes
    an answer of the length the prompts ask for."""
    read = estimate_tokens(question_block, *answers)
    return sum(
        read + images_tokens(images_for(member, images), member) + EXPECTED_ANSWER_TOKENS
        for member in debaters
    )
