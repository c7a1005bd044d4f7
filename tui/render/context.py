"""The asking team's context as people read it: the one-line chip the dashboard and the progress
lines show, and the full list of its entries for the dashboard's context screen and the reports.

Every value is the team's own text, shown literally (`literal`): a control character in it is
displayed, never acted on.
"""

from __future__ import annotations

import re

from tui.engine.context import ContextValue, TeamContext, value_text
from tui.render.formatting import literal

# The entries the chip names; the others are counted ("+2 more") and listed in full on demand.
CHIP_KEYS = ("language", "frameworks", "team_size", "security_level")

_A_NUMBER_OF_PEOPLE = re.compile(r"^\d+(\s*(-|–|to)\s*\d+)?\+?$")


def label(key: str) -> str:
    """A key as a reader says it: `team_size` -> `team size`."""
    return key.replace("_", " ")


def _chip_part(key: str, value: ContextValue) -> str:
    text = literal(value_text(value))
    if key == "team_size":
        if text == "1":
            return "1 person"
        return f"{text} people" if _A_NUMBER_OF_PEOPLE.match(text) else f"team: {text}"
    if key == "security_level" and "security" not in text.lower():
        return f"{text} security"
    return text


def context_chip(context: TeamContext, width: int | None = None) -> str:
    """The context in one line, `Python · FastAPI · 4 people · high security · +2 more`, cut to
    `width` characters with an ellipsis when given."""
    parts = [_chip_part(key, context.entries[key]) for key in CHIP_KEYS if key in context.entries]
    others = len(context.entries) - len(parts)
    if others:
        parts.append(f"+{others} more" if parts else f"{others} {'entry' if others == 1 else 'entries'}")
    text = " · ".join(parts)
    if width is not None and len(text) > width:
        text = text[: max(width - 1, 0)] + "…"
    return text


def context_entries(context: TeamContext) -> list[tuple[str, str]]:
    """(label, value) for every entry, in reading order, each value one literal line."""
    return [(label(key), literal(value_text(value))) for key, value in context.ordered()]


def context_brief(context: TeamContext) -> str:
    """Every entry on one line, `language: Python · frameworks: FastAPI, SQLAlchemy · …`: for a
    report's header or a notification."""
    return " · ".join(f"{name}: {value}" for name, value in context_entries(context))
