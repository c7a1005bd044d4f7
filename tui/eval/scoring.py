r"""The answer shape every seat is asked for, and the scorers that read it and judge it.

Every seat in every mode is asked for its final answer the same way (`Scorer.instruction`): a last
line `ANSWER: <the answer>`. A scorer reads an answer from a reply by the rules below and by
nothing else; what they cannot read is a parse failure, with its reason, never guessed, and wrong.

The answer line is the last line that begins `ANSWER:` or `Final answer:`, in any case; Markdown
before it (`**`, `#`, `>`) and around its value (`**`, `_`, backticks) is let be. Its value is
what follows the colon or, when nothing does, the next line that is not blank; a final full stop
is dropped.

| scorer          | reads                                                    | right when          |
|-----------------|----------------------------------------------------------|---------------------|
| `numeric`       | the answer line's one number; with no answer line, the   | it equals a target  |
|                 | last `\boxed{…}`'s one number, else the number after the | as a number         |
|                 | last `#### `, else the last number in the reply          |                     |
| `choice`        | the answer line's letter (`B`, `(B)`, `B)`, `B.`,        | it is a target      |
|                 | `B: …`), naming one of the item's choices                | letter              |
| `exact`         | the answer line                                          | it is a target      |
| `includes`      | the answer line                                          | it holds a target   |
| `regex=PATTERN` | the pattern's first match in the answer line (its first  | it is a target      |
|                 | group's, if it has groups); with no answer line, its     |                     |
|                 | last match in the reply                                  |                     |

Text is compared ignoring case and runs of white space. A number is an optional sign (`-`, `+`,
`−`), digits with an optional fraction and exponent (`18`, `-0.5`, `1.8e1`), not glued to a word
before it (`mp3` holds none); `$` is dropped, and so is a comma (or LaTeX's `{,}`) between groups
of three digits (`$1,234` is 1234). Numbers are compared exactly, as decimals: 18 = 18.0 = 1.8e1,
0.1 is one tenth (never a float's nearest), and `3/4` is two numbers. An answer line holding two
numbers is a parse failure: which one was meant is not for the scorer to guess.

Each reading also gives a `key`: the answer normalized so that two replies giving the same answer
have the same key (`18.0` and `$18` both `18`), which is what a plurality vote counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tui.errors import UsageError
from tui.eval.datasets import Sample
from tui.render.words import counted

SCORERS = ("numeric", "choice", "exact", "includes", "regex=PATTERN")
MAX_ITEMS_REPORTED = 10
"""How many unjudgeable targets a refusal names; the rest are counted."""

_ANSWER_LINE = re.compile(r"^[ \t>#*_]*(?:final[ \t]+)?answer[ \t*_]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_AROUND_VALUE = " \t*_`"
_NUMBER = re.compile(r"(?<![\w.])[-+\u2212]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"(?<=\d)(?:,|\{,\})(?=\d{3}(?!\d))")
_GSM8K_FINAL = re.compile(r"####[ \t]*([^\n]*)")
_CHOICE = re.compile(r"[(\[]?([A-Za-z])(?![A-Za-z0-9])")
_BOXED = "\\boxed{"
# An exponent beyond this is written as one (`1e40`) in a key rather than as 40 zeros.
_PLAIN_EXPONENT = 30


class ScorerError(UsageError):
    """A scorer that cannot be used as asked: an unknown name, a bad pattern, or targets it cannot
    judge."""


@dataclass(frozen=True)
class Reading:
    """What a scorer read from one reply."""

    answer: str | None
    """The answer as read, for people (`$1,234`); None when it could not be read."""
    key: str | None
    """The answer normalized (`1234`): equal keys are the same answer. None for a parse failure."""
    correct: bool
    failure: str | None = None
    """Why no answer could be read, as a phrase."""
    rule: str = ""
    """Which rule read it: `answer line`, `\\boxed`, `####`, `last number` or `pattern`."""

    @property
    def parse_failed(self) -> bool:
        return self.key is None


class _Unreadable(Exception):
    """Why a value holds no answer, as a phrase."""


class Scorer:
    """Reads an answer from a reply and judges it against a sample's target."""

    name = ""
    hint = "<your final answer, as short as it can be>"

    @property
    def spec(self) -> str:
        """The scorer as `--scorer` names it."""
        return self.name

    def instruction(self) -> str:
        """The words every seat is given after the question: the one declared answer shape."""
        return (
            "Work it out as you see fit, then end your reply with one line of this form, "
            f"with nothing after it:\nANSWER: {self.hint}"
        )

    def read(self, reply: str, sample: Sample) -> Reading:
        line = _answer_line(reply)
        rule = "answer line"
        try:
            if line is None:
                rule, answer, key = self._without_answer_line(reply, sample)
            elif not line:
                raise _Unreadable("the answer line is empty")
            else:
                answer, key = self._read(line, sample)
        except _Unreadable as why:
            return Reading(answer=None, key=None, correct=False, failure=str(why))
        return Reading(answer=answer, key=key, correct=self.judge(key, sample), rule=rule)

    def judge(self, key: str, sample: Sample) -> bool:
        """Whether the answer whose key this is is right for `sample`."""
        return any(key == _text_key(target) for target in sample.target)

    def unjudgeable(self, sample: Sample) -> str | None:
        """Why this scorer cannot judge answers to `sample`, or None when it can."""
        return None

    def _read(self, value: str, sample: Sample) -> tuple[str, str]:
        """The answer in the answer line's value, and its key."""
        return value, _text_key(value)

    def _without_answer_line(self, reply: str, sample: Sample) -> tuple[str, str, str]:
        """The rule, answer and key read from a reply with no answer line."""
        raise _Unreadable("no answer line")


class NumericScorer(Scorer):
    name = "numeric"
    hint = "<the number alone, without units>"

    def judge(self, key: str, sample: Sample) -> bool:
        number = Decimal(key)
        return any(_target_number(target) == number for target in sample.target)

    def unjudgeable(self, sample: Sample) -> str | None:
        for target in sample.target:
            if _target_number(target) is None:
                return f"the target {target!r} is not one number"
        return None

    def _read(self, value: str, sample: Sample) -> tuple[str, str]:
        return value, _number_key(_one_number(value, "the answer line"))

    def _without_answer_line(self, reply: str, sample: Sample) -> tuple[str, str, str]:
        boxed = _last_boxed(reply)
        if boxed is not None:
            return "\\boxed", boxed, _number_key(_one_number(boxed, "the last \\boxed{}"))
        finals = _GSM8K_FINAL.findall(reply)
        if finals:
            final = finals[-1].strip()
            return "####", final, _number_key(_one_number(final, "the last ####"))
        numbers = _numbers(reply)
        if not numbers:
            raise _Unreadable("no answer line, and no number in the reply")
        text, number = numbers[-1]
        return "last number", text, _number_key(number)


class ChoiceScorer(Scorer):
    name = "choice"
    hint = "<the letter of your choice>"

    def judge(self, key: str, sample: Sample) -> bool:
        return any(key == target.strip().upper() for target in sample.target)

    def unjudgeable(self, sample: Sample) -> str | None:
        if not sample.choices:
            return "it has no choices"
        letters = _letters(len(sample.choices))
        for target in sample.target:
            if target.strip().upper() not in letters:
                return f"the target {target!r} is not the letter of a choice ({letters[0]}–{letters[-1]})"
        return None

    def _read(self, value: str, sample: Sample) -> tuple[str, str]:
        match = _CHOICE.match(value)
        if match is None:
            raise _Unreadable("the answer line does not begin with a choice's letter")
        letter = match.group(1).upper()
        letters = _letters(len(sample.choices or ()))
        if letter not in letters:
            raise _Unreadable(f"{letter} is not one of the choices ({', '.join(letters) or 'none'})")
        return value, letter


class ExactScorer(Scorer):
    name = "exact"


class IncludesScorer(Scorer):
    name = "includes"

    def judge(self, key: str, sample: Sample) -> bool:
        return any(_text_key(target) in key for target in sample.target)


class RegexScorer(Scorer):
    name = "regex"

    def __init__(self, pattern: str) -> None:
        if not pattern:
            raise ScorerError("--scorer regex= needs a pattern after the `=`")
        try:
            self.pattern = re.compile(pattern)
        except re.error as err:
            raise ScorerError(f"--scorer regex={pattern}: not a regular expression ({err})") from None

    @property
    def spec(self) -> str:
        return f"regex={self.pattern.pattern}"

    def _read(self, value: str, sample: Sample) -> tuple[str, str]:
        return self._answer(self.pattern.search(value), "the answer line does not match the pattern")

    def _without_answer_line(self, reply: str, sample: Sample) -> tuple[str, str, str]:
        matches = list(self.pattern.finditer(reply))
        why = "no answer line, and the pattern matches nowhere in the reply"
        return ("pattern", *self._answer(matches[-1] if matches else None, why))

    def _answer(self, match: re.Match[str] | None, why: str) -> tuple[str, str]:
        if match is None:
            raise _Unreadable(why)
        answer = match.group(1) if self.pattern.groups else match.group()
        if not answer or not answer.strip():
            raise _Unreadable("the pattern matched no text")
        return answer, _text_key(answer)


def parse_scorer(spec: str) -> Scorer:
    """The scorer `--scorer` names: `numeric`, `choice`, `exact`, `includes` or `regex=PATTERN`."""
    if spec.startswith("regex="):
        return RegexScorer(spec.removeprefix("regex="))
    named: dict[str, type[Scorer]] = {
        "numeric": NumericScorer,
        "choice": ChoiceScorer,
        "exact": ExactScorer,
        "includes": IncludesScorer,
    }
    if spec not in named:
        raise ScorerError(f"unknown scorer {spec!r}: use {', '.join(SCORERS[:-1])} or {SCORERS[-1]}")
    return named[spec]()


def default_scorer(samples: Sequence[Sample]) -> str:
    """The scorer a dataset is judged with when none is named: `choice` when every item has
    choices, `numeric` when every target is one number, else `exact`."""
    if all(sample.choices for sample in samples):
        return "choice"
    if all(_target_number(target) is not None for sample in samples for target in sample.target):
        return "numeric"
    return "exact"


def check_targets(scorer: Scorer, samples: Sequence[Sample]) -> None:
    """Refuse, before anything is asked, a dataset whose targets the scorer cannot judge: one line
    for each such item."""
    problems = [
        f"item {sample.id}: {reason}"
        for sample in samples
        if (reason := scorer.unjudgeable(sample)) is not None
    ]
    if problems:
        shown = problems[:MAX_ITEMS_REPORTED]
        if len(problems) > len(shown):
            shown.append(counted(len(problems) - len(shown), "more item"))
        head = f"the {scorer.spec} scorer cannot judge {counted(len(problems), 'item')}:"
        raise ScorerError("\n".join([head, *(f"  {line}" for line in shown)]))


def question_for(sample: Sample, scorer: Scorer) -> str:
    """What every seat is asked for `sample`: the question, its lettered choices, and the answer
    shape."""
    parts = [sample.input.strip()]
    if sample.choices:
        lettered = zip(_letters(len(sample.choices)), sample.choices, strict=True)
        parts.append("\n".join(f"{letter}) {choice}" for letter, choice in lettered))
    parts.append(scorer.instruction())
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------
# Reading


def _answer_line(reply: str) -> str | None:
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


def _numbers(text: str) -> list[tuple[str, Decimal]]:
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
    numbers = _numbers(text)
    if not numbers:
        raise _Unreadable(f"{where} holds no number")
    if len(numbers) > 1:
        raise _Unreadable(f"{where} holds {len(numbers)} numbers")
    return numbers[0][1]


def _target_number(target: str) -> Decimal | None:
    numbers = _numbers(target)
    return numbers[0][1] if len(numbers) == 1 else None


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


def _number_key(number: Decimal) -> str:
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


def _text_key(text: str) -> str:
    return " ".join(text.casefold().split())


def _letters(count: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:count]
