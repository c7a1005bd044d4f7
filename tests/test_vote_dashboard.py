"""The dashboard, which has no key for vote mode yet, never breaks on a vote: one run from a
session in vote mode (`quorum --mode vote`) and one opened from F2's list show their outcome."""

from __future__ import annotations

from tests.dashboard import make_app
from tests.fakes import Script
from tests.test_app import settle, shown_after
from tui.dashboard.app import QuorumApp
from tui.engine.types import AnswerSpec, Mode, Outcome, RunStatus


def tie_panel() -> tuple[QuorumApp, object]:
    """Three seats answering 18, 20 and 22: a plurality, won by a tie broken in panel order."""
    scripts = {alias: Script(position=f"ANSWER: {n}") for alias, n in (("a", 18), ("b", 20), ("c", 22))}
    app, provider = make_app(["a", "b", "c"], scripts)
    app.session.mode, app.session.answer = Mode.VOTE, AnswerSpec.parse("numeric")
    return app, provider


async def test_a_vote_run_in_the_dashboard_shows_its_plurality_and_the_answer() -> None:
    app, _ = tie_panel()
    async with app.run_test(size=(140, 45)) as pilot:
        result = await shown_after(app, pilot, "Which number?")
        assert result.status is RunStatus.SUCCESS
        assert result.outcome is Outcome.PLURALITY
        assert app.tracker.outcome is Outcome.PLURALITY
        assert "ANSWER: 18" in (result.synthesis or "")


async def test_a_recorded_vote_opens_from_f2() -> None:
    app, _ = tie_panel()
    async with app.run_test(size=(140, 45)) as pilot:
        app.submit("Which number?")
        await settle(app, pilot)
        run_id = app.shown_result.run_id if app.shown_result else ""
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "HistoryScreen"
        assert [run.outcome for run in screen.runs] == [Outcome.PLURALITY]  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == run_id
        assert app.shown_result.outcome is Outcome.PLURALITY
