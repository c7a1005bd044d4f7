"""A history for the benchmarks: finished runs written straight through the store (what the
history screen lists and the cache looks up, not how a run is recorded as it happens)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tui.engine.types import RunResult, RunStatus
from tui.history.store import RunStore
from tui.session import Session


def record_finished_runs(
    store: RunStore, session: Session, question: Callable[[int], str], runs: int, *, first: int = 0
) -> None:
    """`runs` runs of `session`'s panel, numbered from `first`, the n-th asking `question(n)`,
    each finished with success and a one-word synthesis."""
    for number in range(first, first + runs):
        request = session.prepare(question(number)).request
        result = RunResult.begin(request, f"run{number:08d}")
        store.insert_run(request, result, config={}, parent_run_id=None)
        result.status, result.synthesis, result.finished_at = RunStatus.SUCCESS, "answer", datetime.now(UTC)
        store.finish_run(result)
