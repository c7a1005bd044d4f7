"""The runs an evaluation makes, in the order they start: the development slice first (where the
best single member is chosen: asked in `vote` only, and only when `single` is measured), then each
scored item in every mode (`tui.eval.modes`) before the next item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tui.engine.types import Mode
from tui.eval.datasets import Sample
from tui.eval.modes import SINGLE, run_modes
from tui.eval.scoring import AskedItem, Scorer, question_for

DEV = "dev"
SCORED = "scored"


@dataclass(frozen=True)
class EvalItem:
    sample: Sample
    asked: AskedItem
    """The question as every seat is asked it, and its answer shape."""
    slice: str
    """`dev` or `scored`."""


@dataclass(frozen=True)
class Work:
    """One run to make: an item in a mode."""

    item: EvalItem
    mode: Mode


def plan_work(
    dev: Sequence[Sample],
    scored: Sequence[Sample],
    scorer: Scorer,
    modes: Sequence[str],
    done: set[tuple[str, str]],
) -> list[Work]:
    """The runs still to make, in the order they start; those whose (item, mode) is in `done`
    left out."""
    asked_dev = dev if SINGLE in modes else ()
    work = [
        Work(EvalItem(sample, question_for(sample, scorer), DEV), Mode.VOTE)
        for sample in asked_dev
        if (sample.id, Mode.VOTE.value) not in done
    ]
    for sample in scored:
        item = EvalItem(sample, question_for(sample, scorer), SCORED)
        work += [Work(item, mode) for mode in run_modes(modes) if (sample.id, mode.value) not in done]
    return work
