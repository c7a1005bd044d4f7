"""The data contract as the history's rows hold it, and back: no SQL here, only the mapping.

A run row keeps a JSON snapshot of the run without its calls (the calls table has them); loading
puts the calls and each seat's position back. The database's strings become the engine's enums
here, at the boundary.
"""

from __future__ import annotations

import json
import sqlite3
from enum import StrEnum
from typing import TypeVar

from tui.engine.context import TeamContext
from tui.engine.types import (
    Asked,
    Attachment,
    CallResult,
    CallStatus,
    ImageRecord,
    Member,
    Phase,
    RunRequest,
    RunResult,
    Stance,
    TokensSource,
    VoteForm,
)

Known = TypeVar("Known", bound=StrEnum)

CALL_RUNNING = "running"
"""The calls table's status of a call in flight: not a `CallStatus`, which has only a call's ends."""


def snapshot(result: RunResult) -> str:
    """The run row's copy of the result, without what the calls table already holds: the calls,
    and the positions this run made itself (carried-over ones are kept: no row of ours has them),
    and what was asked (the `asked` column and the files' rows have it, written once)."""
    positions = [p if p is not None and p.reused_from is not None else None for p in result.positions]
    return result.model_copy(update={"calls": [], "positions": positions, "asked": None}).model_dump_json()


def asked_json(asked: Asked) -> str:
    """The run row's `asked`: what was asked but the files and images (their rows hold them) and
    the context (its own columns hold it)."""
    return asked.model_copy(update={"files": [], "images": [], "context": None}).model_dump_json()


def asked_from(
    text: str, files: list[Attachment], images: list[ImageRecord], context: TeamContext | None
) -> Asked:
    """What was asked, from the run row's `asked`, the files' and images' rows and its context."""
    return Asked.model_validate_json(text).model_copy(
        update={"files": files, "images": images, "context": context}
    )


def context_columns(context: TeamContext | None) -> tuple[str | None, str | None]:
    """The run row's `context` and `context_sha256`: the canonical JSON and its hash, or NULLs."""
    return (context.canonical_json(), context.sha256) if context is not None else (None, None)


def context_from(text: str | None) -> TeamContext | None:
    """The context a run row's `context` column holds (its canonical JSON), or None."""
    return TeamContext(entries=json.loads(text)) if text is not None else None


def image_from_row(row: sqlite3.Row) -> ImageRecord:
    """An image row as what the image was (the history never has its bytes)."""
    return ImageRecord(
        path=row["path"],
        full_path=row["full_path"],
        media_type=row["media_type"],
        size=row["size"],
        sha256=row["sha256"],
        width=row["width"],
        height=row["height"],
    )


def attachment_from_row(row: sqlite3.Row) -> Attachment:
    """A file row (joined with its text) as the attachment that was sent."""
    return Attachment(
        path=row["path"],
        content=row["content"],
        size=row["size"],
        sha256=row["sha256"],
        full_path=row["full_path"],
    )


def panel_json(request: RunRequest) -> str:
    """The run row's `panel`: the members, the seats skipped and the synthesizers' aliases."""
    return json.dumps(
        {
            "members": [m.model_dump(mode="json") for m in request.members],
            "skipped": [s.model_dump(mode="json") for s in request.skipped],
            "synthesizers": [s.alias for s in request.synthesizers],
        }
    )


def panel_text(members: list[Member]) -> str:
    """The run row's `panel_text`, what the history list shows and its filter searches."""
    return ", ".join(f"{m.alias}:{m.stance.value}" for m in members)


def positions(result: RunResult) -> list[CallResult | None]:
    """Each seat's position: the latest attempt among the run's calls (a rerun replaces an earlier
    one), or the one carried over from a parent run (recorded there, kept in the snapshot)."""
    seats: list[CallResult | None] = [None] * len(result.members)
    for index, earlier in enumerate(result.positions[: len(seats)]):
        if earlier is not None and earlier.reused_from is not None:
            seats[index] = earlier
    for call in result.calls:
        seat = call.member_index
        if call.phase is Phase.POSITION and seat is not None and seat < len(seats):
            current = seats[seat]
            if current is None or current.reused_from is None:
                seats[seat] = call
    return seats


def known(kind: type[Known], value: str | None) -> Known | None:
    """A stored value of `kind` (a run's mode, a call's vote form); None for none, or for one a
    newer Quorum wrote that this one does not know."""
    try:
        return kind(value) if value is not None else None
    except ValueError:
        return None


def call_from_row(row: sqlite3.Row) -> CallResult:
    """A call row as the data contract; one still `running` was cut short: it reads as cancelled."""
    in_flight = row["status"] == CALL_RUNNING
    return CallResult(
        call_id=row["id"],
        round=row["round"],
        phase=Phase(row["phase"]),
        member_index=row["member_index"],
        alias=row["alias"],
        model_id=row["model_id"],
        provider=row["provider"],
        stance=Stance(row["stance"]) if row["stance"] is not None else None,
        status=CallStatus.CANCELLED if in_flight else CallStatus(row["status"]),
        content=row["content"],
        error="interrupted mid-call" if in_flight else row["error"],
        ttft_ms=row["ttft_ms"],
        latency_ms=row["latency_ms"],
        queued_ms=row["queued_ms"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=row["cost_usd"],
        error_kind=row["error_kind"],
        finish_reason=row["finish_reason"],
        tokens_source=TokensSource(row["tokens_source"]),
        demo=bool(row["demo"]),
        retries=row["retries"],
        gateway_retries=row["gateway_retries"],
        vote_form=known(VoteForm, row["vote_form"]),
        raw_reply=row["raw_reply"],
    )
