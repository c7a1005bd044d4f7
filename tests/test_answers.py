"""Known answers in the engine: the answer shape a request declares, the one instruction every
answering prompt ends with, reading an answer (or why it cannot be read) by the shape's rules
alone, and the plurality of the answers read, with its tie rule."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from tui.engine.answers import (
    ANSWER_LABEL,
    AnswerReading,
    Plurality,
    TieRule,
    answer_instruction,
    plurality,
    read_answer,
)
from tui.engine.types import AnswerKind, AnswerShapeError, AnswerSpec
from tui.errors import EXIT_USAGE

# --------------------------------------------------------------------------------------------
# The declared shape


@pytest.mark.parametrize("name", ["numeric", "choice", "exact", "includes", "regex=(\\d+) apples"])
def test_a_shape_is_named_as_it_is_parsed(name: str) -> None:
    assert AnswerSpec.parse(name).name == name


def test_a_shape_is_frozen_and_carries_its_choices_and_pattern() -> None:
    spec = AnswerSpec.parse("choice", choices=["Lyon", "Paris"])
    assert spec == AnswerSpec(kind=AnswerKind.CHOICE, choices=("Lyon", "Paris"))
    with pytest.raises(ValueError):
        spec.kind = AnswerKind.EXACT  # type: ignore[misc]
    assert AnswerSpec.parse("regex=a+").pattern == "a+"


SHAPES_WORDS = "numeric, choice, exact, includes or regex=PATTERN"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("fuzzy", "unknown answer shape 'fuzzy': use numeric, choice, exact, includes or regex=PATTERN"),
        (
            "numeric=3",
            "unknown answer shape 'numeric=3': use numeric, choice, exact, includes or regex=PATTERN",
        ),
        ("regex=", "regex= needs a pattern after the `=`"),
        (
            "regex=(\\d+",
            "regex=(\\d+: not a regular expression (missing ), unterminated subpattern at position 0)",
        ),
    ],
)
def test_a_shape_that_cannot_be_used_is_refused_in_one_line(name: str, why: str) -> None:
    with pytest.raises(AnswerShapeError) as caught:
        AnswerSpec.parse(name)
    assert caught.value.exit_code == EXIT_USAGE
    assert str(caught.value) == why


def test_choices_and_patterns_belong_to_their_own_shapes() -> None:
    with pytest.raises(ValueError, match="choices are for the choice shape"):
        AnswerSpec(kind=AnswerKind.NUMERIC, choices=("a",))
    with pytest.raises(ValueError, match="a pattern is for the regex shape"):
        AnswerSpec(kind=AnswerKind.EXACT, pattern="x")
    with pytest.raises(ValueError, match="27 choices"):
        AnswerSpec(kind=AnswerKind.CHOICE, choices=tuple("x" * 27))


@pytest.mark.parametrize("name", ["numeric", "choice", "exact", "includes", "regex=x"])
def test_every_shape_asks_for_the_same_last_line(name: str) -> None:
    instruction = answer_instruction(AnswerSpec.parse(name))
    assert instruction.startswith(
        "Work it out as you see fit, then end your reply with one line of this form"
    )
    assert instruction.splitlines()[-1].startswith(f"{ANSWER_LABEL} <")


def test_the_placeholder_says_what_the_shape_wants() -> None:
    assert answer_instruction(AnswerSpec.parse("numeric")).endswith(
        "ANSWER: <the number alone, without units>"
    )
    assert answer_instruction(AnswerSpec.parse("choice")).endswith("ANSWER: <the letter of your choice>")
    assert answer_instruction(AnswerSpec.parse("exact")).endswith(
        "ANSWER: <your final answer, as short as it can be>"
    )


# --------------------------------------------------------------------------------------------
# Reading


def test_a_reading_gives_the_answer_as_written_its_key_and_the_rule_that_read_it() -> None:
    spec = AnswerSpec.parse("numeric")
    assert read_answer("Working: 3 + 15 = 18.\nANSWER: $18.00", spec) == AnswerReading(
        answer="$18.00", key="18", rule="answer line"
    )
    assert read_answer("so \\boxed{18}", spec) == AnswerReading(answer="18", key="18", rule="\\boxed")


def test_an_unreadable_answer_says_why_and_has_no_key() -> None:
    reading = read_answer("I cannot say.", AnswerSpec.parse("numeric"))
    assert reading == AnswerReading(
        answer=None, key=None, failure="no answer line, and no number in the reply", rule=""
    )
    assert reading.parse_failed


def test_a_choice_without_listed_choices_is_any_letter() -> None:
    assert read_answer("ANSWER: (Z)", AnswerSpec.parse("choice")).key == "Z"
    listed = AnswerSpec.parse("choice", choices=["a", "b"])
    assert read_answer("ANSWER: C", listed).failure == "C is not one of the choices (A, B)"


def test_exact_and_includes_read_the_answer_line_alike() -> None:
    for name in ("exact", "includes"):
        assert read_answer("ANSWER:  New   York.", AnswerSpec.parse(name)).key == "new york"
        assert read_answer("New York", AnswerSpec.parse(name)).failure == "no answer line"


def test_regex_reads_its_group_on_the_answer_line() -> None:
    spec = AnswerSpec.parse("regex=(\\d+) apples")
    assert read_answer("ANSWER: 12 apples", spec) == AnswerReading(answer="12", key="12", rule="answer line")
    assert read_answer("4 apples, then 12 apples", spec).rule == "pattern"


# --------------------------------------------------------------------------------------------
# Plurality

PANEL = (Fraction(8, 10), Fraction(7, 10), Fraction(6, 10))


def plurality_right(rule: TieRule, *, shared_wrong_answer: bool) -> Fraction:
    """The chance the plurality is right, by enumerating the eight right/wrong outcomes of three
    independent members (right with .8, .7, .6) through `plurality` itself."""
    total = Fraction(0)
    for outcome in itertools.product((True, False), repeat=3):
        chance = math.prod(p if right else 1 - p for p, right in zip(PANEL, outcome, strict=True))
        keys = [
            "18" if right else ("7" if shared_wrong_answer else f"wrong{seat}")
            for seat, right in enumerate(outcome)
        ]
        if plurality(keys, rule).key == "18":
            total += chance
    return total


def test_three_members_at_8_7_6_vote_right_79_percent_of_the_time_less_ties() -> None:
    p1, p2, p3 = PANEL
    closed_form = p1 * p2 + p1 * p3 + p2 * p3 - 2 * p1 * p2 * p3  # at least two of three right
    assert closed_form == Fraction(788, 1000)
    assert plurality_right(TieRule.NO_ANSWER, shared_wrong_answer=False) == closed_form


def test_ties_broken_in_panel_order_add_the_items_only_the_first_member_got_right() -> None:
    # Distinct wrong answers make every one-right outcome a three-way tie: the first seat's
    # answer wins it, right when only it was: .788 + .8 · .3 · .4 = .884.
    assert plurality_right(TieRule.FIRST_IN_PANEL_ORDER, shared_wrong_answer=False) == Fraction(884, 1000)


def test_one_shared_wrong_answer_outvotes_a_lone_right_one_under_either_rule() -> None:
    for rule in TieRule:
        assert plurality_right(rule, shared_wrong_answer=True) == Fraction(788, 1000)


def test_a_tie_goes_to_the_answer_given_first_in_panel_order_or_to_no_answer() -> None:
    keys = ["b", "a", "a", None, "b"]
    assert plurality(keys) == Plurality(key="b", votes=2, tied=True, rule=TieRule.FIRST_IN_PANEL_ORDER)
    assert plurality(keys, TieRule.NO_ANSWER) == Plurality(
        key=None, votes=2, tied=True, rule=TieRule.NO_ANSWER
    )


def test_unread_answers_are_no_votes() -> None:
    assert plurality([None, "a", None]).key == "a"
    assert plurality([None, None]) == Plurality(
        key=None, votes=0, tied=False, rule=TieRule.FIRST_IN_PANEL_ORDER
    )
    assert plurality(["a", "b", "b"]) == Plurality(
        key="b", votes=2, tied=False, rule=TieRule.FIRST_IN_PANEL_ORDER
    )


def test_the_tie_rules_have_the_names_reports_give_them() -> None:
    assert [rule.value for rule in TieRule] == ["first in panel order", "no answer"]
