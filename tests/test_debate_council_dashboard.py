"""The dashboard, which has no display of its own for a debate or a council yet, never breaks on
one: a run from a session in debate or council mode, and the same run opened from F2's list (its
replay, with the rounds' answers shown, the ballots and the ranking), show their outcome."""

from __future__ import annotations

import pytest

from tests.dashboard import make_app
from tests.fakes import Script
from tui.dashboard.app import QuorumApp
from tui.dashboard.screens.history import OUTCOME_STYLES
from tui.dashboard.widgets.round_tracker import OUTCOME_CLASSES
from tui.engine import events as ev
from tui.engine.types import AnswerSpec, Mode, Outcome, RunStatus
from tui.history.replay import replay_events


async def settle(app: QuorumApp, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush_now()
    await pilot.pause()


def panel(mode: Mode) -> QuorumApp:
    """Three seats answering 18, 20 and 18; in a debate the second goes over to 18 in round 2; on
    a council each ranks in the order shown and the chairman answers 18."""
    scripts = {
        "a": Script(position="ANSWER: 18"),
        "b": Script(position="ANSWER: 20", revisions=["ANSWER: 18"]),
        "c": Script(position="ANSWER: 18"),
        "synth": Script(chair="ANSWER: 18"),
    }
    app, _ = make_app(["a", "b", "c"], scripts)
    app.session.mode, app.session.answer = mode, AnswerSpec.parse("numeric")
    return app


EXPECTED = {Mode.DEBATE: Outcome.UNANIMOUS, Mode.COUNCIL: Outcome.RANKED}
STAGES = {Mode.DEBATE: (ev.AnswersShown, ev.DebateRoundRead), Mode.COUNCIL: (ev.BallotCast, ev.RankingMade)}


@pytest.mark.parametrize("mode", [Mode.DEBATE, Mode.COUNCIL])
async def test_a_run_in_the_dashboard_and_its_replay_from_f2_show_the_outcome(mode: Mode) -> None:
    app = panel(mode)
    async with app.run_test(size=(140, 45)) as pilot:
        app.submit("Which number?")
        await settle(app, pilot)
        result = app.shown_result
        assert result is not None and result.status is RunStatus.SUCCESS, result and result.errors
        assert result.mode is mode and result.outcome is EXPECTED[mode]
        assert app.tracker.outcome is EXPECTED[mode]
        replayed = {type(e) for e in replay_events(result)}
        assert set(STAGES[mode]) <= replayed  # the replay below carries every stage's events
        await pilot.press("f2")
        await pilot.pause()
        assert [run.outcome for run in app.screen.runs] == [EXPECTED[mode]]  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == result.run_id
        assert app.shown_result.outcome is EXPECTED[mode]
        assert app.tracker.outcome is EXPECTED[mode]


def test_every_outcome_has_its_colour_in_the_tracker_and_in_f2s_list() -> None:
    assert set(OUTCOME_CLASSES) == set(Outcome) == set(OUTCOME_STYLES)
