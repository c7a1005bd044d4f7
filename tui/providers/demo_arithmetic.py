"""The offline demo's arithmetic: how a simulated member answers a generated arithmetic item, right
or wrong, so that an evaluation runs with no key and its statistics can be checked exactly.

An item is recognised by the wording `quorum eval`'s `arithmetic` set uses — "What is the result
of 3+14*7+0-22*5?", with any number of terms (`tui.eval.datasets.arithmetic`) — and computed
(multiplication before addition and subtraction). A member errs at a fixed rate of its own
(`ERROR_RATES`): atlas .2, bolt .3, cirrus .4, delta .25, any other demo model .25; right with
.8, .7, .6 and .75.

Everything is a pure function of the expression, the member's name and the run's seed:
- whether a member errs on an item is the SHA-256 of `demo-arithmetic/{seed}/{name}/{expression}`
  read as a number in [0, 1) and compared with its rate, so the same question, model and seed
  give the same answer in every mode and every run, and different items (or members) are
  independent draws;
- a wrong answer is one of the item's plausible slips (`slips`): evaluating left to right,
  ignoring precedence; an operand misread by one, up or down; a sign slipped (a term added that
  should be subtracted, or the reverse) — in that order, each value once, the right one left out.
  Where in that list an item's slips start is drawn once per item; atlas takes the first from
  there, bolt the next, cirrus the one after, delta the fourth (another model a place of its
  own after them). So two of the four never give the same wrong answer to one item, and the
  plurality of members right with p = .8, .7, .6 is right .788 of the time when a tie is no
  answer and .884 when it goes to the first seat — the closed forms, exactly in expectation.
"""

from __future__ import annotations

import hashlib
import re

ERROR_RATES: dict[str, float] = {"atlas": 0.2, "bolt": 0.3, "cirrus": 0.4, "delta": 0.25}
"""How often each persona's answer to an arithmetic item is wrong."""
DEFAULT_ERROR_RATE = 0.25
"""How often any other demo model's is."""

ITEM = re.compile(r"What is the result of (\d+(?:[-+*]\d+)*)\?")
_TERM = re.compile(r"([-+]?)(\d+(?:\*\d+)*)")


def expression_in(text: str) -> str | None:
    """The expression of the first arithmetic item `text` asks, or None when it asks none."""
    match = ITEM.search(text)
    return match.group(1) if match else None


def evaluate(expression: str) -> int:
    """The value of `expression`: products first, then sums and differences from the left."""
    return _value(_terms(expression))


def left_to_right(expression: str) -> int:
    """The value of `expression` worked from left to right, ignoring precedence: a slip."""
    tokens = re.findall(r"\d+|[-+*]", expression)
    total = int(tokens[0])
    for operator, operand in zip(tokens[1::2], tokens[2::2], strict=True):
        value = int(operand)
        total = total + value if operator == "+" else total - value if operator == "-" else total * value
    return total


def slips(expression: str) -> list[int]:
    """The item's plausible wrong values, each once, in a fixed order: left to right; each operand
    (from the left) one more, then one less; each term after the first with its sign slipped."""
    right = evaluate(expression)
    found = [left_to_right(expression)]
    terms = _terms(expression)
    for position, (_, factors) in enumerate(terms):
        for place in range(len(factors)):
            for step in (1, -1):
                changed = [list(f) for _, f in terms]
                changed[position][place] += step
                found.append(_value([(s, f) for (s, _), f in zip(terms, changed, strict=True)]))
    for position in range(1, len(terms)):
        flipped = [(-sign if i == position else sign, factors) for i, (sign, factors) in enumerate(terms)]
        found.append(_value(flipped))
    return [value for value in dict.fromkeys(found) if value != right]


def error_rate(name: str) -> float:
    return ERROR_RATES.get(name, DEFAULT_ERROR_RATE)


def errs(name: str, expression: str, seed: int = 0) -> bool:
    """Whether the demo member `name` answers `expression` wrong (its model id's name: `atlas`)."""
    return unit(f"demo-arithmetic/{seed}/{name}/{expression}") < error_rate(name)


def answer(name: str, expression: str, seed: int = 0) -> int:
    """What the demo member `name` answers: the value, or (when it errs) its slip."""
    right = evaluate(expression)
    if not errs(name, expression, seed):
        return right
    wrong = slips(expression)
    if not wrong:  # every slip lands on the right value (all operands zero, say): off by one
        return right + 1
    start = int(unit(f"demo-arithmetic/{seed}/{expression}/slip") * len(wrong))
    return wrong[(start + _place(name)) % len(wrong)]


def _place(name: str) -> int:
    """A member's place among the slips: atlas 0, bolt 1, cirrus 2, delta 3, any other after them."""
    names = list(ERROR_RATES)
    if name in names:
        return names.index(name)
    return len(names) + int(unit(f"demo-arithmetic/place/{name}") * 1000)


def _terms(expression: str) -> list[tuple[int, list[int]]]:
    """The expression's terms: each its sign (+1 or -1) and its factors."""
    return [
        (-1 if sign == "-" else 1, [int(factor) for factor in term.split("*")])
        for sign, term in _TERM.findall(expression)
    ]


def _value(terms: list[tuple[int, list[int]]]) -> int:
    total = 0
    for sign, factors in terms:
        product = 1
        for factor in factors:
            product *= factor
        total += sign * product
    return total


def unit(key: str) -> float:
    """A number in [0, 1) drawn from `key`: the first eight bytes of its SHA-256."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
