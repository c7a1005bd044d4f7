"""Building the engine models' validators ahead of their first use.

The engine's models build their validators on first use (`defer_build`), which keeps ~60 ms off
the dashboard's start-up: most of them appear only once a run starts. Built then, on the event
loop, they stall the first run's start (measured: 25-30 ms, the worst lag of a streaming panel).
A long-lived front end calls `build_validators` in a background thread once it is up, so neither
its first frame nor its first question pays for them.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel

from tui.engine.context import TeamContext
from tui.engine.types import (
    Agreement,
    Asked,
    Attachment,
    Ballot,
    CacheInfo,
    CallResult,
    Image,
    ImageRecord,
    Member,
    Missing,
    PriorTurn,
    RoundResult,
    RunRequest,
    RunResult,
    Shown,
    SkippedMember,
    Standing,
    Tally,
    Totals,
    Vote,
)

DEFERRED: tuple[type[BaseModel], ...] = (
    Member,
    SkippedMember,
    Attachment,
    ImageRecord,
    Image,
    PriorTurn,
    RunRequest,
    Asked,
    CallResult,
    Vote,
    Tally,
    Shown,
    Ballot,
    RoundResult,
    Missing,
    Standing,
    Agreement,
    Totals,
    CacheInfo,
    RunResult,
    TeamContext,
)
"""Every engine model whose validator is built on first use (a test checks none is missing)."""


def build_validators() -> None:
    """Build every deferred validator not built yet (each once: a built one is left as it is)."""
    for model in DEFERRED:
        model.model_rebuild()


def warm_validators() -> threading.Thread:
    """Build the engine's validators in a thread of their own (see this module's docstring), for
    a long-lived front end to call once it is up: the first run then starts without them."""
    thread = threading.Thread(target=build_validators, name="quorum validators", daemon=True)
    thread.start()
    return thread
