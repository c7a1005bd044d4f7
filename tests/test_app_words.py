"""The dashboard's words a new user reads: counts in the singular when there is one, and a
cancelled member's pane saying `Cancelled` once."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, Static

from tests.dashboard import make_app
from tests.fakes import Script
from tui.engine.types import RunStatus
from tui.render.words import CallState


async def _settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush_now()
    await pilot.pause()


async def test_history_counts_one_run_in_the_singular() -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Should we shard?")
        await _settle(app, pilot)
        await pilot.press("f2")
        await pilot.pause()
        count = app.screen.query_one("#history-count", Static)
        assert str(count.content).startswith("1 of 1 run ·")
        search = app.screen.query_one(Input)  # the filter, set as a paste does
        search.value = "shard"
        await pilot.pause()
        assert str(count.content).startswith("1 matching run ·")
        search.value = "shardzzz"
        await pilot.pause()
        assert str(count.content).startswith("0 matching runs ·")


async def test_a_cancelled_members_pane_says_cancelled_once() -> None:
    app, _ = make_app(["alpha", "beta"], {"beta": Script(hang=True)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while app.panes[0].status is not CallState.DONE:
            assert loop.time() < deadline
            await pilot.pause(0.01)
        await pilot.press("ctrl+g")
        await _settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.status is RunStatus.CANCELLED
        text = app.panes[1].body.text
        assert "Cancelled" in text and "Cancelled (cancelled)" not in text
