r"""Known answers: the one shape a question with a right answer is asked in, reading the answer back
from a reply, and the plurality of the answers read.

A request may declare its answer shape (`AnswerSpec`, part of the data contract in
`tui.engine.types`): then every prompt that produces an answer ends with the same instruction
(`answer_instruction`), a last line `ANSWER: <the answer>`, and an answer is read from a reply by
the rules below and by nothing else. What they cannot read is unreadable, with its reason, never
guessed. A member's position is read with `read_position` (an incomplete one is unreadable), a
run's seats with `seat_readings` (their first answers, or a debate's answers in a later round).

The answer line is the last line that begins `ANSWER:` or `Final answer:`, in any case; Markdown
before it (`**`, `#`, `>`) and around its value (`**`, `_`, backticks) is let be. Its value is
what follows the colon or, when nothing does, the next line that is not blank; a final full stop
is dropped.

| shape           | reads                                                                     |
|-----------------|---------------------------------------------------------------------------|
| `numeric`       | the answer line's one number; with no answer line, the last `\boxed{…}`'s |
|                 | one number, else the number after the last `#### `, else the last number  |
|                 | in the reply                                                              |
| `choice`        | the answer line's letter (`B`, `(B)`, `B)`, `B.`, `B: …`), naming one of  |
|                 | the choices (any letter A–Z when the shape lists none)                    |
| `exact`         | the answer line                                                           |
| `includes`      | the answer line (read as `exact` is; how it is judged is the caller's)    |
| `regex=PATTERN` | the pattern's first match in the answer line (its first group's, if it    |
|                 | has groups); with no answer line, its last match in the reply             |

Text is compared ignoring case and runs of white space. A number is an optional sign (`-`, `+`,
`−`), digits with an optional fraction and exponent (`18`, `-0.5`, `1.8e1`), not glued to a word
before it (`mp3` holds none); `$` is dropped, and so is a comma (or LaTeX's `{,}`) between groups
of three digits (`$1,234` is 1234). Numbers are exact decimals: 18 = 18.0 = 1.8e1, 0.1 is one
tenth (never a float's nearest), and `3/4` is two numbers. An answer line holding two numbers is
unreadable: which one was meant is not for the reader to guess.

Each reading gives a `key`: the answer normalized so that two replies giving the same answer have
the same key (`18.0` and `$18` both `18`). The plurality counts keys (`plurality`), with a named
rule for a tie (`TieRule`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from tui.engine.types import LETTERS, AnswerKind, AnswerSpec, CallResult, CallStatus, Mode, Phase, RunResult

ANSWER_LABEL = "ANSWER:"
"""How the answer line begins, as the instruction asks for it."""

_ANSWER_LINE = re.compile(r"^[ \t>#*_]*(?:final[ \t]+)?answer[ \t*_]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_AROUND_VALUE = " \t*_`"
_NUMBER = re.compile(r"(?<![\w.])[-+\u2212]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"(?<=\d)(?:,|\{,\})(?=\d{3}(?!\d))")
_GSM8K_FINAL = re.compile(r"####[ \t]*([^\n]*)")
_CHOICE = re.compile(r"[(\[]?([A-Za-z])(?![A-Za-z0-9])")
_BOXED = "\\boxed{"
# An exponent beyond this is written as one (`1e40`) in a key rather than as 40 zeros.
_PLAIN_EXPONENT = 30


HINTS: dict[AnswerKind, str] = {
    AnswerKind.NUMERIC: "<the number alone, without units>",
    AnswerKind.CHOICE: "<the letter of your choice>",
}
"""What the answer line's placeholder says, by shape; the others ask for `TEXT_HINT`."""
TEXT_HINT = "<your final answer, as short as it can be>"


def letters(count: int) -> str:
    """The letters of `count` choices: `ABCD` for four."""
    return LETTERS[:count]


def answer_instruction(spec: AnswerSpec) -> str:
    """The words that end every prompt asking for an answer: the one declared answer shape."""
    hint = HINTS.get(spec.kind, TEXT_HINT)
    return (
        "Work it out as you see fit, then end your reply with one line of this form, "
        f"with nothing after it:\n{ANSWER_LABEL} {hint}"
    )


@dataclass(frozen=True)
class AnswerReading:
    """What was read from one reply."""

    answer: str | None
    """The answer as read, for people (`$1,234`); None when it could not be read."""
    key: str | None
    """The answer normalized (`1234`): equal keys are the same answer. None when unreadable."""
    failure: str | None = None
    """Why no answer could be read, as a phrase (`no answer line`)."""
    rule: str = ""
    """Which rule read it: `answer line`, `\\boxed`, `####`, `last number` or `pattern`."""

    @property
    def parse_failed(self) -> bool:
        return self.key is None


class _Unreadable(Exception):
    """Why a value holds no answer, as a phrase."""


def read_answer(reply: str, spec: AnswerSpec) -> AnswerReading:
    """The answer `reply` gives in the shape `spec` declares, or why it cannot be read."""
    line = answer_line(reply)
    rule = "answer line"
    try:
        if line is None:
            rule, answer, key = _without_answer_line(reply, spec)
        elif not line:
            raise _Unreadable("the answer line is empty")
        else:
            answer, key = _read_value(line, spec)
    except _Unreadable as why:
        return AnswerReading(answer=None, key=None, failure=str(why))
    return AnswerReading(answer=answer, key=key, rule=rule)


def read_position(call: CallResult | None, spec: AnswerSpec) -> AnswerReading | None:
    """The answer a member's position gives in the shape `spec` declares; None when the member
    gave no answer (its call failed, was cancelled, or has not ended). An incomplete answer (cut
    off, filtered, refused) is unreadable, whatever it holds: one cut off at the output limit may
    have been about to correct itself, and its last number is not its answer."""
    if call is None or call.status not in (CallStatus.SUCCESS, CallStatus.INCOMPLETE):
        return None
    if call.status is CallStatus.INCOMPLETE:
        return AnswerReading(answer=None, key=None, failure=f"the answer is incomplete: {call.error}")
    return read_answer(call.content, spec)


def round_answers(result: RunResult, number: int = 1) -> list[CallResult | None]:
    """Each seat's answer in round `number`, in panel order: in round 1 its position, in a later
    round of a debate its revision (the latest, if it was asked twice); None for a seat that gave
    none (its call failed, or it was out of the debate)."""
    seats = len(result.members)
    if number == 1:
        return [result.positions[i] if i < len(result.positions) else None for i in range(seats)]
    found: list[CallResult | None] = [None] * seats
    for call in result.calls:
        index = call.member_index
        if call.phase is Phase.REVISION and call.round == number and index is not None and index < seats:
            found[index] = call
    return found


def answering_round(result: RunResult) -> int:
    """The round whose answers are the run's answers: a debate's last (its answers as the debate
    left them), any other run's first (the positions)."""
    return max(1, result.rounds_used) if result.mode is Mode.DEBATE else 1


def seat_readings(result: RunResult, number: int | None = None) -> list[AnswerReading | None] | None:
    """What each seat answered in round `number` (by default the run's answering round), in panel
    order, when the run declared an answer shape (None when it did not)."""
    spec = result.asked.answer if result.asked is not None else None
    if spec is None:
        return None
    round_number = answering_round(result) if number is None else number
    return [read_position(call, spec) for call in round_answers(result, round_number)]


def _read_value(value: str, spec: AnswerSpec) -> tuple[str, str]:
    """The answer in the answer line's value, and its key."""
    if spec.kind is AnswerKind.NUMERIC:
        return value, number_key(_one_number(value, "the answer line"))
    if spec.kind is AnswerKind.CHOICE:
        match = _CHOICE.match(value)
        if match is None:
            raise _Unreadable("the answer line does not begin with a choice's letter")
        letter = match.group(1).upper()
        named = letters(len(spec.choices)) if spec.choices is not None else LETTERS
        if letter not in named:
            raise _Unreadable(f"{letter} is not one of the choices ({', '.join(named)})")
        return value, letter
    if spec.kind is AnswerKind.REGEX:
        pattern = re.compile(spec.pattern or "")
        return _matched(pattern, pattern.search(value), "the answer line does not match the pattern")
    return value, text_key(value)


def _without_answer_line(reply: str, spec: AnswerSpec) -> tuple[str, str, str]:
    """The rule, answer and key read from a reply with no answer line."""
    if spec.kind is AnswerKind.NUMERIC:
        boxed = _last_boxed(reply)
        if boxed is not None:
            return "\\boxed", boxed, number_key(_one_number(boxed, "the last \\boxed{}"))
        finals = _GSM8K_FINAL.findall(reply)
        if finals:
            final = finals[-1].strip()
            return "####", final, number_key(_one_number(final, "the last ####"))
        found = numbers(reply)
        if not found:
            raise _Unreadable("no answer line, and no number in the reply")
        text, number = found[-1]
        return "last number", text, number_key(number)
    if spec.kind is AnswerKind.REGEX:
        pattern = re.compile(spec.pattern or "")
        matches = list(pattern.finditer(reply))
        why = "no answer line, and the pattern matches nowhere in the reply"
        return ("pattern", *_matched(pattern, matches[-1] if matches else None, why))
    raise _Unreadable("no answer line")


def _matched(pattern: re.Pattern[str], match: re.Match[str] | None, why: str) -> tuple[str, str]:
    if match is None:
        raise _Unreadable(why)
    answer = match.group(1) if pattern.groups else match.group()
    if not answer or not answer.strip():
        raise _Unreadable("the pattern matched no text")
    return answer, text_key(answer)


def answer_line(reply: str) -> str | None:
    """The value of the reply's last answer line ("" when it has none), or None without one."""
    matches = list(_ANSWER_LINE.finditer(reply))
    if not matches:
        return None
    last = matches[-1]
    value = _bare(last.group(1))
    if not value:
        following = (line for line in reply[last.end() :].split("\n") if line.strip())
        value = _bare(next(following, ""))
    return value


def _bare(value: str) -> str:
    value = value.strip(_AROUND_VALUE)
    return value[:-1].rstrip(_AROUND_VALUE) if value.endswith(".") else value


def numbers(text: str) -> list[tuple[str, Decimal]]:
    """Every number in `text`, as written and as an exact decimal."""
    text = _THOUSANDS.sub("", text.replace("$", ""))
    found = []
    for match in _NUMBER.finditer(text):
        try:
            found.append((match.group(), Decimal(match.group().replace("\u2212", "-"))))
        except InvalidOperation:  # not reached for what the pattern matches; read as no number
            continue
    return found


def _one_number(text: str, where: str) -> Decimal:
    found = numbers(text)
    if not found:
        raise _Unreadable(f"{where} holds no number")
    if len(found) > 1:
        raise _Unreadable(f"{where} holds {len(found)} numbers")
    return found[0][1]


def _last_boxed(reply: str) -> str | None:
    """What the last `\\boxed{…}` holds, its braces matched; None when there is none."""
    start = reply.rfind(_BOXED)
    if start < 0:
        return None
    depth, begin = 1, start + len(_BOXED)
    for index in range(begin, len(reply)):
        depth += {"{": 1, "}": -1}.get(reply[index], 0)
        if depth == 0:
            return reply[begin:index]
    return reply[begin:]  # never closed: what follows is all it holds


def number_key(number: Decimal) -> str:
    """The one text of a number's value: 18, 18.0 and 1.8e1 all give `18`."""
    if number == 0:
        return "0"
    sign, digit_tuple, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # a number the pattern matched is finite
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    minus = "-" if sign else ""
    if exponent >= 0:
        if exponent > _PLAIN_EXPONENT:
            return f"{minus}{stripped}e{exponent}"
        return f"{minus}{stripped}{'0' * exponent}"
    if -exponent > len(stripped) + _PLAIN_EXPONENT:
        return f"{minus}{stripped}e{exponent}"
    whole, fraction = stripped[:exponent], stripped[exponent:]
    return f"{minus}{whole or '0'}.{fraction.rjust(-exponent, '0')}"


def text_key(text: str) -> str:
    """Text as answers are compared: case folded, runs of white space one space."""
    return " ".join(text.casefold().split())


# --------------------------------------------------------------------------------------------
# The plurality


class TieRule(StrEnum):
    """What a plurality does when two or more answers have the most votes."""

    FIRST_IN_PANEL_ORDER = "first in panel order"
    """The tied answer given by the seat earliest in the panel wins."""
    NO_ANSWER = "no answer"
    """A tie is no answer (and so wrong)."""


@dataclass(frozen=True)
class Plurality:
    key: str | None
    """The answer that won; None when no answer was read, or on a tie under `NO_ANSWER`."""
    votes: int
    """How many seats gave the most-given answer."""
    tied: bool
    """Whether another answer had as many votes."""
    rule: TieRule


def plurality(keys: Sequence[str | None], rule: TieRule = TieRule.FIRST_IN_PANEL_ORDER) -> Plurality:
    """The answer most seats gave, their keys in panel order; None (a parse failure) is no vote."""
    counts = Counter(key for key in keys if key is not None)  # in the order answers first appear
    if not counts:
        return Plurality(key=None, votes=0, tied=False, rule=rule)
    most = max(counts.values())
    leaders = [key for key, votes in counts.items() if votes == most]
    tied = len(leaders) > 1
    winner = None if tied and rule is TieRule.NO_ANSWER else leaders[0]
    return Plurality(key=winner, votes=most, tied=tied, rule=rule)
