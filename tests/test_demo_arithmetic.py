"""The offline demo answers generated arithmetic: it computes each item, errs at its documented rate
(a seeded, pure decision, so the rates are counted here, not sampled), gives wrong answers spread
over plausible slips that no two personas share on one item, and so makes the plurality of three
members right as often as the closed forms say."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes import lookup, member
from tui.engine.answers import TieRule, plurality
from tui.engine.orchestrator import run_panel
from tui.engine.types import AnswerSpec, Mode, Outcome, RunRequest, RunResult, VoteValue
from tui.engine.vote_count import count_answers, final_answer
from tui.eval.datasets import MAX_ARITHMETIC_LEVEL, Sample, arithmetic
from tui.eval.stats import Interval, wilson
from tui.providers import demo_arithmetic as demo
from tui.providers.demo import DemoProvider

PERSONAS = ("atlas", "bolt", "cirrus", "delta")
NUMERIC = AnswerSpec.parse("numeric")
ITEM = "What is the result of 3+14*7+0-22*5?"
ITEMS = 1000
Z_999 = 3.2905267314919255
"""The standard normal's 99.95th percentile (`NormalDist().inv_cdf(0.9995)`): a two-sided 99.9%
interval. Each check below is one count of a pure function, so it passes or fails for good: a
right rate falls outside its interval for about one seed in a thousand, while a rate .06 off (a
fifth of bolt's) lies more than 3.3 standard deviations away at 1,000 items and fails."""


def expressions(level: int = 1) -> list[str]:
    return [str(sample.metadata["expression"]) for sample in arithmetic(level, ITEMS)]


def holds(rate: float, successes: int, trials: int) -> bool:
    """Whether `rate` is inside the 99.9% Wilson interval of `successes` out of `trials`."""
    interval: Interval = wilson(successes, trials, z=Z_999)
    return interval.low <= rate <= interval.high


# --------------------------------------------------------------------------------------------
# Recognising and computing


@pytest.mark.parametrize("level", range(1, MAX_ARITHMETIC_LEVEL + 1))
def test_every_generated_item_is_recognised_and_computed_to_its_target(level: int) -> None:
    samples: tuple[Sample, ...] = arithmetic(level, 200)
    for sample in samples:
        expression = demo.expression_in(f"Question:\n{sample.input}\n\nANSWER: <x>")
        assert expression is not None and expression == sample.metadata["expression"]
        assert demo.evaluate(expression) == int(sample.target[0])


def test_other_questions_are_not_arithmetic_items() -> None:
    for question in ("Should we adopt X?", "What is the result of the migration?", "What is 3+4?"):
        assert demo.expression_in(question) is None


def test_the_slips_are_left_to_right_then_an_operand_off_by_one_then_a_sign_each_once_never_right() -> None:
    expression = "3+14*7+0-22*5"  # = -9
    assert demo.evaluate(expression) == -9
    assert demo.left_to_right(expression) == (((3 + 14) * 7 + 0 - 22) * 5)
    slips = demo.slips(expression)
    assert slips[0] == 485  # left to right
    assert slips[1:5] == [-8, -10, -2, -16]  # 3 misread as 4 and 2, then 14 as 15 and 13 (×7)
    assert slips[-2:] == [-205, 211]  # 14*7 subtracted, 22*5 added (+0 slipped changes nothing)
    assert len(slips) == len(set(slips)) and -9 not in slips


# --------------------------------------------------------------------------------------------
# Seeded, and at the documented rates


def test_the_same_question_model_and_seed_give_the_same_answer_and_another_seed_other_draws() -> None:
    items = expressions()[:200]
    assert [demo.answer("bolt", e) for e in items] == [demo.answer("bolt", e) for e in items]
    assert [demo.errs("bolt", e, seed=1) for e in items] != [demo.errs("bolt", e) for e in items]


@pytest.mark.parametrize("level", [1, 3])
@pytest.mark.parametrize("name", [*PERSONAS, "tiny"])
def test_each_member_errs_at_its_documented_rate(name: str, level: int) -> None:
    wrong = sum(demo.errs(name, e) for e in expressions(level))
    assert holds(demo.error_rate(name), wrong, ITEMS), (name, wrong)
    assert demo.error_rate(name) == {"atlas": 0.2, "bolt": 0.3, "cirrus": 0.4, "delta": 0.25}.get(name, 0.25)


def test_a_wrong_answer_is_wrong_and_a_right_one_right() -> None:
    for e in expressions()[:300]:
        for name in PERSONAS:
            assert (demo.answer(name, e) != demo.evaluate(e)) == demo.errs(name, e)


def test_members_err_independently_of_one_another() -> None:
    items = expressions()
    both = sum(demo.errs("atlas", e) and demo.errs("cirrus", e) for e in items)
    assert holds(0.2 * 0.4, both, ITEMS), both


def test_wrong_answers_are_spread_over_the_slips_and_never_shared_by_two_personas() -> None:
    shared, kinds = 0, {"left to right": 0, "other slips": 0}
    for e in expressions():
        right = demo.evaluate(e)
        wrong = [a for a in (demo.answer(name, e) for name in PERSONAS) if a != right]
        shared += len(wrong) != len(set(wrong))
        for answer in wrong:
            kinds["left to right" if answer == demo.left_to_right(e) else "other slips"] += 1
    assert shared == 0
    # Left to right is one slip of about a dozen at level 1: taken sometimes, not always.
    assert 0 < kinds["left to right"] < kinds["other slips"]


@pytest.mark.parametrize(
    ("rule", "closed_form"),
    [(TieRule.NO_ANSWER, 0.788), (TieRule.FIRST_IN_PANEL_ORDER, 0.884)],
)
def test_the_plurality_of_atlas_bolt_and_cirrus_is_right_as_often_as_the_closed_form_says(
    rule: TieRule, closed_form: float
) -> None:
    p1, p2, p3 = (1 - demo.error_rate(name) for name in ("atlas", "bolt", "cirrus"))
    at_least_two = p1 * p2 + p1 * p3 + p2 * p3 - 2 * p1 * p2 * p3
    expected = at_least_two + (p1 * (1 - p2) * (1 - p3) if rule is TieRule.FIRST_IN_PANEL_ORDER else 0)
    assert math.isclose(expected, closed_form)
    for level in (1, 3):
        right = 0
        for e in expressions(level):
            keys = [str(demo.answer(name, e)) for name in ("atlas", "bolt", "cirrus")]
            right += plurality(keys, rule).key == str(demo.evaluate(e))
        assert holds(closed_form, right, ITEMS), (level, right)


# --------------------------------------------------------------------------------------------
# On the panel: the demo provider answers in the declared shape, and deliberates on answers


def demo_request(
    mode: Mode, *, answer: AnswerSpec | None = NUMERIC, question: str = ITEM, **extra: Any
) -> Any:
    return RunRequest(
        question=question,
        mode=mode,
        members=[member(name) for name in ("atlas", "bolt", "cirrus")],
        synthesizers=[member("delta")],
        answer=answer,
        **extra,
    )


async def run_demo(req: RunRequest) -> RunResult:
    return await run_panel(req, lookup(DemoProvider(speed=0)))


def first_item_where(wanted: Callable[[list[int], int], bool]) -> str:
    """The question of the first generated item whose atlas, bolt and cirrus answers (and value)
    are as wanted."""
    for e in expressions():
        if wanted([demo.answer(name, e) for name in ("atlas", "bolt", "cirrus")], demo.evaluate(e)):
            return f"What is the result of {e}?"
    raise AssertionError("no such item")


def atlas_alone_wrong(answers: list[int], right: int) -> bool:
    return answers[0] != right and answers[1] == answers[2] == right


async def test_a_demo_member_answers_an_item_in_the_declared_shape_and_only_when_asked() -> None:
    result = await run_demo(demo_request(Mode.VOTE))
    expression = demo.expression_in(ITEM)
    assert expression is not None
    for index, name in enumerate(("atlas", "bolt", "cirrus")):
        position = result.positions[index]
        assert position is not None
        assert position.content.rstrip().splitlines()[-1] == f"ANSWER: {demo.answer(name, expression)}"
        assert "[demo]" in position.content
    plain = await run_demo(demo_request(Mode.VOTE, answer=None))
    atlas = plain.positions[0]
    assert atlas is not None and "ANSWER:" not in atlas.content
    assert str(demo.answer("atlas", expression)) in atlas.content


async def test_a_demo_members_answer_is_the_same_whatever_the_mode() -> None:
    answers = []
    for mode in (Mode.VOTE, Mode.DELIBERATE, Mode.CONSULT):
        result = await run_demo(demo_request(mode))
        answers.append([p.content.splitlines()[-1] for p in result.positions if p is not None])
    assert answers[0] == answers[1] == answers[2]


async def test_a_demo_vote_is_decided_by_the_plurality_of_its_members_answers() -> None:
    question = first_item_where(
        lambda answers, right: answers[0] != right and answers[1] == answers[2] == right
    )
    result = await run_demo(demo_request(Mode.VOTE, question=question))
    final = final_answer(result)
    assert result.outcome is Outcome.MAJORITY
    assert final is not None and final.key == str(demo.evaluate(str(demo.expression_in(question))))


async def test_a_demo_deliberation_drafts_the_plurality_and_reviewers_accept_only_their_own_answer() -> None:
    # atlas wrong, bolt and cirrus right: the draft is the right answer, atlas alone rejects it.
    question = first_item_where(
        lambda answers, right: answers[0] != right and answers[1] == answers[2] == right
    )
    expression = str(demo.expression_in(question))
    right, atlas = demo.evaluate(expression), demo.answer("atlas", expression)
    result = await run_demo(demo_request(Mode.DELIBERATE, question=question, max_rounds=2))
    draft = result.rounds[0].draft
    assert draft is not None and draft.rstrip().splitlines()[-1] == f"ANSWER: {right}"
    votes = result.rounds[0].votes
    assert [v.value for v in votes] == [VoteValue.REJECT, VoteValue.ACCEPT, VoteValue.ACCEPT]
    assert votes[0].objections == [f"the answer should be: {atlas}"]
    assert result.outcome is Outcome.MAJORITY  # 2 of 3 accept in the last round
    final = final_answer(result)
    assert final is not None and final.key == str(right)


async def test_a_demo_curator_picks_the_plurality_and_a_tie_goes_to_the_first_answer_shown() -> None:
    # Three different answers: the draft takes the first, two reviewers reject it every round.
    question = first_item_where(lambda answers, right: len(set(answers)) == 3)
    expression = str(demo.expression_in(question))
    result = await run_demo(demo_request(Mode.DELIBERATE, question=question, max_rounds=2))
    assert result.outcome is Outcome.CURATOR_OVERRIDE
    final = final_answer(result)
    assert final is not None and final.key == str(demo.answer("atlas", expression))


async def test_a_demo_member_asked_in_a_shape_about_anything_else_still_ends_with_an_answer_line() -> None:
    exact = AnswerSpec.parse("exact")
    result = await run_demo(demo_request(Mode.VOTE, answer=exact, question="Should we adopt X?"))
    count = count_answers(result)
    assert count is not None and count.readable == 3
