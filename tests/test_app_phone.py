"""The dashboard on a phone's screen (41 x 40 cells, through `quorum serve`): the deciding outcome
stays on the tracker, the member strip says where it is cut, F1 Help stays in the footer, and the
strip's entries and the footer's keys work by a tap (a click), a phone having no F-keys."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets._footer import FooterKey

from tests.dashboard import make_app
from tests.fakes import Script
from tui.dashboard.app import QuorumApp
from tui.dashboard.widgets.member_strip import MemberStrip

PHONE = (41, 40)


async def _settle(app: QuorumApp, pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await app.workers.wait_for_complete()  # the run the cache's lookup started
    await pilot.pause()
    app.flush_now()
    await pilot.pause()


def _screen_lines(app: QuorumApp) -> list[str]:
    """The screen as it is drawn now (the compositor's lines, as a terminal shows them)."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def _three_round_panel(decided_by: str) -> QuorumApp:
    """Two rounds without a majority, then a third decided: unanimously, or by the curator."""
    last = "VERDICT: ACCEPT" if decided_by == "unanimous" else "VERDICT: REJECT\n- no"
    app, _ = make_app(
        ["demo-alpha:for", "demo-beta:against", "demo-gamma:neutral"],
        {
            "demo-beta": Script(votes=["VERDICT: REJECT\n- too vague", "VERDICT: REJECT\n- still", last]),
            "demo-gamma": Script(votes=["VERDICT: REJECT\n- hm", "VERDICT: ACCEPT or REJECT", last]),
        },
    )
    return app


@pytest.mark.parametrize(("decided_by", "word"), [("unanimous", "unanimous"), ("curator", "curator")])
async def test_at_41_columns_the_deciding_outcome_stays_on_the_tracker(decided_by: str, word: str) -> None:
    app = _three_round_panel(decided_by)
    async with app.run_test(size=PHONE) as pilot:
        app.submit("Should we move the job queue to Postgres?")
        await _settle(app, pilot)
        assert app.tracker.rounds.keys() == {1, 2, 3}
        line = _screen_lines(app)[app.tracker.region.y]
        assert word in line, line


async def test_at_41_columns_the_strip_is_cut_with_an_ellipsis_and_its_entries_are_tapped() -> None:
    app = _three_round_panel("unanimous")
    async with app.run_test(size=PHONE) as pilot:
        app.submit("Should we move the job queue to Postgres?")
        await _settle(app, pilot)
        strip = app.query_one(MemberStrip)
        line = _screen_lines(app)[strip.region.y]
        assert line.rstrip().endswith("…"), line
        at = line.index("demo-beta") - strip.region.x
        await pilot.click(MemberStrip, offset=(at, 0))  # a tap on beta's entry: beta's pane
        await pilot.pause()
        assert app.grid.current == 1 and not app.pane_area.synthesis_shown
        assert app.panes[1].has_focus_within or app.focused is app.panes[1]


async def test_at_41_columns_f1_help_stays_in_the_footer_and_a_tap_on_it_opens_the_help() -> None:
    app, _ = make_app(["alpha", "beta", "gamma"])
    async with app.run_test(size=PHONE) as pilot:
        await pilot.pause()
        help_key = next(key for key in app.query(FooterKey) if key.action == "help")
        assert help_key.region.right <= PHONE[0] and help_key.region.width > 0
        assert "Help" in _screen_lines(app)[PHONE[1] - 1]
        await pilot.click(help_key)
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
