"""A long dashboard session: a finished run leaves no widget, timer or worker behind.

`benchmarks/bench_dashboard.py --cases memory` measures the memory of 50 runs in one session;
these tests pin what it counts, after a handful of runs of every kind (a new question, a rerun,
a rerun of one member, a run opened from the history).
"""

from __future__ import annotations

from tests.dashboard import make_app
from tests.test_app import settle
from tui.dashboard.app import QuorumApp

PANEL = [f"m{index}" for index in range(8)]


def left_behind(app: QuorumApp) -> tuple[int, int, int]:
    """The widgets on every screen, the timers still running anywhere in the app, and its workers."""
    nodes = [node for screen in app.screen_stack for node in screen.walk_children(with_self=True)]
    timers = sum(
        1
        for pump in [app, *nodes]
        for timer in list(pump._timers)
        if timer._task is not None and not timer._task.done()
    )
    return len(nodes), timers, len(app.workers)


async def test_runs_one_after_another_leave_nothing_behind() -> None:
    app, _provider = make_app(PANEL, flush_interval=0.25)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.submit("Question 1?", fresh=True)
        await settle(app, pilot)
        after_one = left_behind(app)
        assert after_one[2] == 0, "a worker outlived its run"
        for number in range(2, 6):
            app.submit(f"Question {number}?", fresh=True)
            await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.question == "Question 5?"
        assert left_behind(app) == after_one


async def test_reruns_and_recorded_runs_leave_nothing_behind() -> None:
    app, _provider = make_app(PANEL, flush_interval=0.25)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.submit("Question?", fresh=True)
        await settle(app, pilot)
        first = app.shown_result
        assert first is not None
        after_one = left_behind(app)
        app.action_rerun()
        await settle(app, pilot)
        app.panes[2].focus()
        app.action_rerun_member()
        await settle(app, pilot)
        app.following.open_recorded_run(first.run_id)  # as Enter on it in F2 does
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == first.run_id
        assert left_behind(app) == after_one
