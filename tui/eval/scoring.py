"""The scorers of an evaluation: which answer shape each item is asked in, and whether the answer
read from a reply (`tui.engine.answers`, where the rules of reading are) is right.

Every seat in every mode is asked for its final answer in the one shape its scorer declares
(`Scorer.shape`); what cannot be read is a parse failure, with its reason, never guessed, and
wrong.

| scorer          | asks for                                     | right when                      |
|-----------------|----------------------------------------------|---------------------------------|
| `numeric`       | a number                                     | it equals a target as a number  |
| `choice`        | the letter of one of the item's choices      | it is a target letter           |
| `exact`         | a short answer                               | it is a target                  |
| `includes`      | a short answer                               | it holds a target               |
| `regex=PATTERN` | a short answer, read with the pattern        | what the pattern read is a      |
|                 |                                              | target                          |

Text is compared ignoring case and runs of white space; numbers exactly, as decimals (a target
written `1,234` is 1234).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from tui.engine.answers import AnswerReading, letters, numbers, read_answer, text_key
from tui.engine.types import SHAPES, AnswerKind, AnswerShapeError, AnswerSpec
from tui.errors import UsageError
from tui.eval.datasets import Sample
from tui.render.words import counted

MAX_ITEMS_REPORTED = 10
"""How many unjudgeable targets a refusal names; the rest are counted."""


class ScorerError(UsageError):
    """A scorer that cannot be used as asked: an unknown name, a bad pattern, or targets it cannot
    judge."""


@dataclass(frozen=True)
class Reading(AnswerReading):
    """What was read from one reply, judged."""

    correct: bool = False


class AskedItem(NamedTuple):
    """What every seat is asked for one item: the question as sent, and the shape of its answer."""

    question: str
    answer: AnswerSpec


class Scorer:
    """Declares the answer shape an item is asked in, and judges the answer read against the
    item's target."""

    name = ""
    kind = AnswerKind.EXACT

    @property
    def spec(self) -> str:
        """The scorer as `--scorer` names it."""
        return self.name

    def shape(self, sample: Sample) -> AnswerSpec:
        """The answer shape `sample` is asked in."""
        return AnswerSpec(kind=self.kind)

    def read(self, reply: str, sample: Sample) -> Reading:
        reading = read_answer(reply, self.shape(sample))
        correct = reading.key is not None and self.judge(reading.key, sample)
        return Reading(
            answer=reading.answer,
            key=reading.key,
            failure=reading.failure,
            rule=reading.rule,
            correct=correct,
        )

    def judge(self, key: str, sample: Sample) -> bool:
        """Whether the answer whose key this is is right for `sample`."""
        return any(key == text_key(target) for target in sample.target)

    def unjudgeable(self, sample: Sample) -> str | None:
        """Why this scorer cannot judge answers to `sample`, or None when it can."""
        return None


class NumericScorer(Scorer):
    name = "numeric"
    kind = AnswerKind.NUMERIC

    def judge(self, key: str, sample: Sample) -> bool:
        number = Decimal(key)
        return any(_target_number(target) == number for target in sample.target)

    def unjudgeable(self, sample: Sample) -> str | None:
        for target in sample.target:
            if _target_number(target) is None:
                return f"the target {target!r} is not one number"
        return None


class ChoiceScorer(Scorer):
    name = "choice"
    kind = AnswerKind.CHOICE

    def shape(self, sample: Sample) -> AnswerSpec:
        return AnswerSpec(kind=self.kind, choices=sample.choices)

    def judge(self, key: str, sample: Sample) -> bool:
        return any(key == target.strip().upper() for target in sample.target)

    def unjudgeable(self, sample: Sample) -> str | None:
        if not sample.choices:
            return "it has no choices"
        named = letters(len(sample.choices))
        for target in sample.target:
            if target.strip().upper() not in named:
                return f"the target {target!r} is not the letter of a choice ({named[0]}–{named[-1]})"
        return None


class ExactScorer(Scorer):
    name = "exact"


class IncludesScorer(Scorer):
    name = "includes"
    kind = AnswerKind.INCLUDES

    def judge(self, key: str, sample: Sample) -> bool:
        return any(text_key(target) in key for target in sample.target)


class RegexScorer(Scorer):
    name = "regex"
    kind = AnswerKind.REGEX

    def __init__(self, pattern: str) -> None:
        try:
            self._shape = AnswerSpec.parse(f"regex={pattern}")
        except AnswerShapeError as err:
            raise ScorerError(f"--scorer {err}") from None

    @property
    def spec(self) -> str:
        return self._shape.name

    def shape(self, sample: Sample) -> AnswerSpec:
        return self._shape


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
        raise ScorerError(f"unknown scorer {spec!r}: use {', '.join(SHAPES[:-1])} or {SHAPES[-1]}")
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


def question_for(sample: Sample, scorer: Scorer) -> AskedItem:
    """What every seat is asked for `sample`: the question with its lettered choices, sent as
    given, and the answer shape its scorer declares (whose instruction the engine adds to every
    prompt that asks for an answer)."""
    parts = [sample.input.strip()]
    if sample.choices:
        lettered = zip(letters(len(sample.choices)), sample.choices, strict=True)
        parts.append("\n".join(f"{letter}) {choice}" for letter, choice in lettered))
    return AskedItem("\n\n".join(parts), scorer.shape(sample))


def _target_number(target: str) -> Decimal | None:
    found = numbers(target)
    return found[0][1] if len(found) == 1 else None
