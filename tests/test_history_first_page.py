"""F2 opens at once on a long history: the first page is only the rows the terminal can show; the
rest come as the cursor nears the end, and the filter still reaches every run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from textual.widgets import Input, Static

from tests.dashboard import make_app
from tui.dashboard.app import QuorumApp
from tui.dashboard.screens.history import HistoryScreen
from tui.engine.types import RunResult, RunStatus


def record_runs(app: QuorumApp, count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`count` finished runs written straight into the app's history, oldest first, a minute
    apart (runs recorded within one millisecond would list in no set order)."""
    assert app.store is not None
    stamp = [""]
    app.store.clock = lambda: datetime.fromisoformat(stamp[0])
    for number in range(count):
        stamp[0] = f"2026-11-20T{number // 60:02d}:{number % 60:02d}:00.000+00:00"
        request = app.session.prepare(f"Question {number}?").request
        result = RunResult.begin(request, f"run{number:08d}")
        app.store.insert_run(request, result, config={}, parent_run_id=None)
        result.status, result.synthesis, result.finished_at = RunStatus.SUCCESS, "answer", datetime.now(UTC)
        app.store.finish_run(result)


async def test_the_first_page_is_as_many_runs_as_the_terminal_has_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(120, 30)) as pilot:
        record_runs(app, 45, monkeypatch)
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        count = screen.query_one("#history-count", Static)
        listed = screen.run_list

        assert len(listed.rows) == 30 and str(count.content).startswith("30+ of 45 runs")  # more to come
        assert listed.rows[0].question == "Question 44?"
        await pilot.press(*["down"] * 25)
        await pilot.pause()
        assert len(listed.rows) == 45 and str(count.content).startswith("45 of 45 runs")
        # The filter reaches past the first page: 3 and 30..39 (set as a paste does).
        screen.query_one(Input).value = "Question 3"
        await pilot.pause()
        assert sorted(row.question for row in listed.rows) == sorted(
            ["Question 3?", *(f"Question {n}?" for n in range(30, 40))]
        )
