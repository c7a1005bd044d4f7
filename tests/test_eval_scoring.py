"""The one answer shape every seat is asked for, and the scorers that read it: each reads by its
listed rules and nothing more, says why when it cannot (a parse failure, never a guess), gives a
key that is the same for the same answer, and judges it against the target exactly."""

from __future__ import annotations

import pytest

from tui.engine.types import AnswerKind, AnswerSpec
from tui.errors import EXIT_USAGE
from tui.eval.datasets import Sample, arithmetic, gsm8k
from tui.eval.scoring import (
    ScorerError,
    check_targets,
    default_scorer,
    parse_scorer,
    question_for,
)


def item(target: str | tuple[str, ...] = "18", choices: tuple[str, ...] | None = None) -> Sample:
    return Sample(
        id="1", input="How many?", target=(target,) if isinstance(target, str) else target, choices=choices
    )


def read(scorer: str, reply: str, sample: Sample | None = None) -> tuple[str | None, bool, str | None]:
    """The key read, whether it was right, and why it could not be read."""
    reading = parse_scorer(scorer).read(reply, sample or item())
    return reading.key, reading.correct, reading.failure


# --------------------------------------------------------------------------------------------
# The answer shape


def test_the_question_asked_is_the_input_and_its_lettered_choices_in_the_scorers_shape() -> None:
    sample = Sample(id="1", input="Which is prime?\n", target=("B",), choices=("4", "5"))
    asked = question_for(sample, parse_scorer("choice"))
    assert asked.question == "Which is prime?\n\nA) 4\nB) 5"
    assert asked.answer == AnswerSpec(kind=AnswerKind.CHOICE, choices=("4", "5"))


@pytest.mark.parametrize(
    ("scorer", "kind"), [("numeric", "numeric"), ("exact", "exact"), ("includes", "includes")]
)
def test_every_scorer_declares_the_shape_of_its_name(scorer: str, kind: str) -> None:
    assert question_for(item(), parse_scorer(scorer)).answer == AnswerSpec(kind=AnswerKind(kind))
    assert question_for(item(), parse_scorer("regex=(x)")).answer == AnswerSpec(
        kind=AnswerKind.REGEX, pattern="(x)"
    )


# --------------------------------------------------------------------------------------------
# The answer line


@pytest.mark.parametrize(
    "reply",
    [
        "ANSWER: 18",
        "Some working.\nanswer: 18.",
        "**ANSWER:** 18",
        "**Final Answer: 18**",
        "### Answer: `18`",
        "> ANSWER: 18",
        "ANSWER:\n\n18\n",
        "ANSWER: 3\nOn reflection that was wrong.\nANSWER: 18",
    ],
)
def test_the_last_answer_line_is_read_whatever_markdown_is_around_it(reply: str) -> None:
    assert read("exact", reply) == ("18", True, None)


def test_a_reply_without_an_answer_line_cannot_be_read_as_text() -> None:
    for scorer in ("exact", "includes", "choice"):
        assert read(scorer, "The answer is 18.", item(choices=("18", "19"))) == (
            None,
            False,
            "no answer line",
        )


def test_an_answer_line_with_nothing_after_it_is_empty() -> None:
    assert read("numeric", "I computed \\boxed{18}.\nANSWER:") == (None, False, "the answer line is empty")


def test_a_parse_failure_is_wrong_and_has_no_answer() -> None:
    reading = parse_scorer("numeric").read("no idea", item())
    assert (reading.answer, reading.key, reading.correct, reading.parse_failed) == (None, None, False, True)


# --------------------------------------------------------------------------------------------
# numeric


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        ("18", "18"),
        ("$18", "18"),
        ("18.0", "18"),
        ("1.8e1", "18"),
        ("$1,234", "1234"),
        ("1{,}234", "1234"),
        ("1,234,567.50", "1234567.5"),
        ("-259", "-259"),
        ("\u2212259", "-259"),
        ("0.50", "0.5"),
        (".5", "0.5"),
        ("25%", "25"),
        ("x = 7", "7"),
        ("\\boxed{18}", "18"),
        ("18 dollars", "18"),
        ("an mp3 player for 20", "20"),
        ("1e400", "1e400"),
        ("1.5e-20", "0.000000000000000000015"),
        ("2.5e-80", "25e-81"),
    ],
)
def test_a_number_on_the_answer_line_is_read_to_one_key(answer: str, key: str) -> None:
    assert read("numeric", f"Working.\nANSWER: {answer}")[0] == key


def test_the_same_value_written_differently_is_the_same_answer_and_right() -> None:
    for reply in ("ANSWER: $18", "ANSWER: 18.00", "ANSWER: 1.8e1", "ANSWER: +18"):
        assert read("numeric", reply, item("18.0")) == ("18", True, None)


def test_numbers_are_compared_exactly_never_as_floats() -> None:
    # As floats these are equal (0.10000000000000001 == 0.1); as the decimals written, they are not.
    assert read("numeric", "ANSWER: 0.10000000000000001", item("0.1"))[1] is False
    assert read("numeric", "ANSWER: 0.1", item("0.1"))[1] is True


def test_a_target_with_thousands_commas_is_its_number() -> None:
    assert read("numeric", "ANSWER: 1234", item("1,234"))[1] is True


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("12 or 13", "the answer line holds 2 numbers"),
        ("5-3", "the answer line holds 2 numbers"),
        ("3/4", "the answer line holds 2 numbers"),
        ("1,23", "the answer line holds 2 numbers"),  # not a thousands comma: two numbers
        ("eighteen", "the answer line holds no number"),
    ],
)
def test_an_answer_line_that_is_not_one_number_is_a_parse_failure_not_a_guess(answer: str, why: str) -> None:
    # The boxed 18 earlier is not looked at: the answer line said what the answer is.
    assert read("numeric", f"So \\boxed{{18}}.\nANSWER: {answer}") == (None, False, why)


@pytest.mark.parametrize(
    ("reply", "key", "rule"),
    [
        ("First \\boxed{12}, then \\boxed{18} and 99 more.", "18", "\\boxed"),
        ("\\boxed{\\$1,{}018}", None, "the last \\boxed{} holds 2 numbers"),
        ("\\boxed{\\text{18 apples}}", "18", "\\boxed"),
        ("16 - 3 - 4 = 9 eggs, 9 * 2 = 18\n#### 18", "18", "####"),
        ("I make it 7 apples, then 18 pears", "18", "last number"),
        ("I cannot say.", None, "no answer line, and no number in the reply"),
    ],
)
def test_without_an_answer_line_numeric_reads_boxed_then_marks_then_the_last_number(
    reply: str, key: str | None, rule: str
) -> None:
    reading = parse_scorer("numeric").read(reply, item())
    assert (reading.key, reading.rule if key else reading.failure) == (key, rule)


def test_numeric_refuses_a_target_that_is_not_one_number() -> None:
    samples = [
        item("18"),
        Sample(id="2", input="q", target=("Paris",)),
        Sample(id="3", input="q", target=("1 2",)),
    ]
    with pytest.raises(ScorerError) as caught:
        check_targets(parse_scorer("numeric"), samples)
    assert caught.value.exit_code == EXIT_USAGE
    assert str(caught.value).splitlines() == [
        "the numeric scorer cannot judge 2 items:",
        "  item 2: the target 'Paris' is not one number",
        "  item 3: the target '1 2' is not one number",
    ]


def test_past_ten_unjudgeable_items_the_rest_are_counted() -> None:
    samples = [Sample(id=str(i), input="q", target=("x",)) for i in range(13)]
    with pytest.raises(ScorerError) as caught:
        check_targets(parse_scorer("numeric"), samples)
    assert str(caught.value).splitlines()[-1] == "  3 more items"


def test_the_built_in_sets_are_judged_by_numbers() -> None:
    for samples in (gsm8k(), arithmetic(count=50)):
        assert default_scorer(samples) == "numeric"
        check_targets(parse_scorer("numeric"), samples)


# --------------------------------------------------------------------------------------------
# choice

CHOICES = ("Lyon", "Paris", "Nice", "Metz")


@pytest.mark.parametrize("answer", ["B", "b", "(B)", "B)", "B. Paris", "B: Paris", "**B**", "[B]"])
def test_choice_reads_the_letter_at_the_start_of_the_answer_line(answer: str) -> None:
    assert read("choice", f"ANSWER: {answer}", item("B", CHOICES)) == ("B", True, None)


def test_choice_refuses_a_letter_that_names_no_choice_and_a_word() -> None:
    assert read("choice", "ANSWER: E", item("B", CHOICES)) == (
        None,
        False,
        "E is not one of the choices (A, B, C, D)",
    )
    assert read("choice", "ANSWER: Paris", item("B", CHOICES)) == (
        None,
        False,
        "the answer line does not begin with a choice's letter",
    )


def test_choice_needs_choices_and_targets_that_are_their_letters() -> None:
    scorer = parse_scorer("choice")
    assert scorer.unjudgeable(item("B")) == "it has no choices"
    assert scorer.unjudgeable(item("E", CHOICES)) == "the target 'E' is not the letter of a choice (A–D)"
    assert scorer.unjudgeable(item("b", CHOICES)) is None


# --------------------------------------------------------------------------------------------
# exact, includes, regex


def test_exact_ignores_case_and_runs_of_space_but_nothing_else() -> None:
    assert read("exact", "ANSWER:   New   YORK.", item("new york")) == ("new york", True, None)
    assert read("exact", "ANSWER: New York City", item("new york"))[1] is False


def test_includes_is_right_when_a_target_is_within_the_answer() -> None:
    assert read("includes", "ANSWER: Paris, France", item(("Lyon", "paris"))) == ("paris, france", True, None)
    assert read("includes", "ANSWER: Lyons", item("Paris"))[1] is False


def test_regex_reads_its_first_group_on_the_answer_line_or_its_last_match_without_one() -> None:
    scorer = "regex=(\\d+) apples"
    assert read(scorer, "ANSWER: 12 apples, 3 pears", item("12")) == ("12", True, None)
    assert read(scorer, "4 apples, then 12 apples", item("12")) == ("12", True, None)
    assert read("regex=[A-Z]{3}", "ANSWER: code XYZ", item("xyz")) == ("xyz", True, None)


def test_regex_that_matches_nothing_is_a_parse_failure() -> None:
    assert read("regex=(\\d+) apples", "ANSWER: some pears", item("12")) == (
        None,
        False,
        "the answer line does not match the pattern",
    )
    assert read("regex=(\\d+) apples", "some pears", item("12"))[2] == (
        "no answer line, and the pattern matches nowhere in the reply"
    )
    assert read("regex=(\\d*)x", "ANSWER: x", item("12"))[2] == "the pattern matched no text"


def test_a_bad_pattern_is_refused_in_one_line() -> None:
    with pytest.raises(ScorerError) as caught:
        parse_scorer("regex=(\\d+")
    assert caught.value.exit_code == EXIT_USAGE
    assert str(caught.value) == (
        "--scorer regex=(\\d+: not a regular expression (missing ), unterminated subpattern at position 0)"
    )
    with pytest.raises(ScorerError, match="needs a pattern"):
        parse_scorer("regex=")


def test_an_unknown_scorer_lists_the_ones_there_are() -> None:
    with pytest.raises(ScorerError) as caught:
        parse_scorer("fuzzy")
    assert (
        str(caught.value) == "unknown scorer 'fuzzy': use numeric, choice, exact, includes or regex=PATTERN"
    )


def test_a_scorer_is_named_as_it_was_asked_for() -> None:
    assert [parse_scorer(spec).spec for spec in ("numeric", "regex=a+b")] == ["numeric", "regex=a+b"]


def test_a_set_with_choices_is_judged_by_letter_and_one_of_words_exactly() -> None:
    assert default_scorer([item("B", CHOICES)]) == "choice"
    assert default_scorer([item("Paris"), item("18")]) == "exact"
