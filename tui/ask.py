"""What a front end was asked: one shape for the dashboard, `quorum run`, MCP's `consensus` and
`quorum eval`.

An `Ask` holds what the person (or agent) gave, as given: model aliases with their stances, file
and image paths, the id of a run to follow up. The session (`tui.session.Session`) reads the
files and images, resolves the panel against the catalog, fills what was not given from the
settings, and prepares the engine's `RunRequest` from it; the run records what was asked as its
`Asked`. Each front end maps its own words onto these names where it reads them (MCP's `models`,
`focus_areas` and `continuation_id` are `members`, `focus` and `follow_up` here) and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.config.schema import MemberSpec
from tui.engine.types import AnswerSpec, Mode, Origin


@dataclass(frozen=True)
class Ask:
    """A question and everything given with it; what is not given (None, empty) is the settings'
    (or, for a follow-up that takes over its run, that run's)."""

    question: str = ""
    origin: Origin | None = None
    """The front end that asks (None: not said)."""
    members: tuple[MemberSpec, ...] = ()
    """The panel: each seat's model alias, stance and custom stance prompt. Empty: the configured
    panel, or the default one."""
    synthesizer: str | None = None
    """The synthesizer (and curator), by alias."""
    mode: Mode | None = None
    max_rounds: int | None = None
    """The round limit given; said to have no effect in a mode without rounds."""
    token_budget: int | None = None
    files: tuple[str, ...] = ()
    """Text files to attach, by path."""
    images: tuple[str, ...] = ()
    """Images to attach, by path."""
    focus: tuple[str, ...] = ()
    """Focus areas."""
    answer: AnswerSpec | None = None
    """The shape the question's one right answer is asked in; None: an open question."""
    follow_up: str | None = None
    """An earlier run this one follows up: its id, or the start of it."""
    fresh: bool = False
    """Ask the panel even if an earlier run answers the question: the cache serves nothing (it
    may still name a similar earlier run, as it does for any question it does not serve)."""
