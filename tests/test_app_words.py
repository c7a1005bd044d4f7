"""The dashboard's words a new user reads: counts in the singular when there is one, a cancelled
member's pane saying `Cancelled` once, and panes that say what is happening: ready while nothing
runs, no synthesis awaited once a run ended without one, no votes awaited where none are taken, and
a retry's countdown."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Input, Static

from tests.conftest import write
from tests.dashboard import make_app
from tests.fakes import Script
from tests.test_debate_council_dashboard import panel
from tui.config import paths
from tui.config.keymap import KEYS
from tui.config.loading import load_settings
from tui.dashboard.app import QuorumApp
from tui.dashboard.widgets.info_lines import InfoLines
from tui.engine.types import Mode, Phase, RunStatus, Stance
from tui.render.words import CALL_MARKS, CallState
from tui.session import Session


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


def _status_line(app: QuorumApp, seat: int) -> str:
    return app.panes[seat].info_text().plain.splitlines()[1]


async def _until(pilot, condition) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10  # stops a test that would hang; no bound on the app's speed
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await pilot.pause(0.01)


async def test_an_idle_panel_says_ready_and_the_synthesis_awaits_no_panel() -> None:
    # "queued" is a call waiting for its provider: before any question, nothing is queued.
    for watching in (False, True):  # a fresh start, and `quorum watch` waiting for a run
        app, _ = make_app(["alpha", "beta"], watch=watching)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            for seat in (0, 1):
                assert _status_line(app, seat) == f"{CALL_MARKS[CallState.READY]} ready"
            said = app.synthesis.info_text().plain
            assert "waiting for the panel" not in said and "queued" not in said


async def test_a_member_added_once_a_run_is_on_screen_says_it_joins_the_next_run() -> None:
    app, _ = make_app(["alpha", "beta"], {"beta": Script(hang=True)})
    async with app.run_test(size=(160, 50)) as pilot:
        app.grid.add_member(("alpha", Stance.AGAINST))  # before any run: ready, like the others
        await pilot.pause()
        assert _status_line(app, 2) == f"{CALL_MARKS[CallState.READY]} ready"
        app.submit("Q?")
        await _until(pilot, lambda: app.panes[1].status is CallState.STREAMING)
        app.grid.add_member(("beta", Stance.FOR))  # mid-run: not part of it
        await pilot.pause()
        assert _status_line(app, 3) == f"{CALL_MARKS[CallState.READY]} joins the next run"
        await pilot.press("ctrl+g")
        await _settle(app, pilot)
        app.grid.add_member(("beta", Stance.NEUTRAL))  # after it: not part of it either
        await pilot.pause()
        assert _status_line(app, 4) == f"{CALL_MARKS[CallState.READY]} joins the next run"
        assert "queued" not in "".join(pane.info_text().plain for pane in app.panes)


async def test_a_run_cancelled_before_its_synthesis_says_so_once_and_awaits_nothing() -> None:
    app, _ = make_app(["alpha", "beta"], {"alpha": Script(hang=True), "beta": Script(hang=True)})
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Q?")
        await _until(pilot, lambda: app.panes[1].status is CallState.STREAMING)
        assert "waiting for the panel" in app.synthesis.info_text().plain  # while the panel answers
        await pilot.press("ctrl+g")
        await _settle(app, pilot)
        info = app.synthesis.info_text().plain
        assert "waiting for the panel" not in info
        assert info.splitlines()[0] == "no synthesis (run cancelled)"
        said = info + "\n" + app.synthesis.body.text
        assert said.count("Cancelled ·") == 1, said


async def _no_votes_awaited_after(app: QuorumApp, pilot, question: str) -> None:
    """`question` asked, its run a success, and no pane still saying it awaits votes."""
    app.submit(question)
    await _settle(app, pilot)
    await _settle(app, pilot)
    assert app.shown_result is not None and app.shown_result.status is RunStatus.SUCCESS
    for pane in app.panes:
        assert "votes" not in pane.info_text().plain


async def test_a_consult_run_leaves_no_votes_awaited_on_its_panes() -> None:
    app, _ = make_app(["alpha", "beta"])
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("ctrl+o")  # consult: one pass, one synthesis, no vote
        await _no_votes_awaited_after(app, pilot, "Q?")


@pytest.mark.parametrize("mode", [Mode.VOTE, Mode.DEBATE, Mode.COUNCIL])
async def test_no_mode_but_a_deliberation_leaves_votes_awaited_on_its_panes(mode: Mode) -> None:
    app = panel(mode)  # answers in a declared shape: counted, debated, or ranked on ballots
    async with app.run_test(size=(160, 50)) as pilot:
        await _no_votes_awaited_after(app, pilot, "Which number?")


async def test_a_retry_counts_down_to_its_call() -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        pane = app.panes[0]
        now = [1000.0]
        pane.clock = lambda: now[0]
        pane.call_started("c1", Phase.POSITION, 1)
        now[0] += 0.4
        pane.retrying(1, 2, 2.0, "rate limited")
        assert _status_line(app, 0) == "◌ Quorum's retry 1/2 in 2 s"
        now[0] += 0.4
        assert _status_line(app, 0) == "◌ Quorum's retry 1/2 in 1.6 s"
        now[0] += 2.0  # the wait is over: the call is made again, on its own clock
        assert _status_line(app, 0) == "◌ waiting 2.8 s · retry 1/2"


def _screen_lines(app: QuorumApp) -> list[str]:
    """The screen as it is drawn now (the compositor's lines, as a terminal shows them)."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


async def test_the_info_lines_are_cut_at_the_new_width_when_the_grid_reflows() -> None:
    reviews = ["VERDICT: REJECT\n- x", "VERDICT: REJECT\n- y", "VERDICT: ACCEPT"]
    app, _ = make_app(["alpha", "beta"], {"alpha": Script(votes=reviews), "beta": Script(votes=reviews)})
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Q?")
        await _settle(app, pilot)
        whole = "votes  R1 ✗ reject R2 ✗ reject R3 ✓ accept"
        assert "\n".join(_screen_lines(app)).count(whole) == 2  # two columns: it fits
        app.grid.add_member(("alpha", Stance.AGAINST))  # three columns now: every pane narrower
        await _settle(app, pilot)
        await pilot.pause()
        for pane in app.panes[:2]:
            region = pane.query_one(InfoLines).region
            cut = Text(whole, no_wrap=True)
            cut.truncate(region.width, overflow="ellipsis", pad=True)
            assert cut.plain.rstrip().endswith("…")
            vote_line = _screen_lines(app)[region.y + 3]
            assert vote_line[region.x : region.right] == cut.plain, vote_line


async def test_three_members_at_160_columns_share_the_width_with_the_synthesis() -> None:
    app, _ = make_app(["alpha:neutral", "beta:neutral", "gamma:neutral"])
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        widths = [pane.size.width for pane in app.panes]
        # A demo member's header whole (` NEUTRAL   demo  simulated offline`), and the synthesis
        # no wider than a member: each pane as wide as the others, give or take a cell.
        assert min(widths) >= len(" NEUTRAL   demo  simulated offline")
        assert abs(app.synthesis.size.width - max(widths)) <= 2, (widths, app.synthesis.size.width)


async def test_ctrl_r_asks_the_prompts_question_of_the_whole_panel_as_the_help_and_the_docs_say() -> None:
    app, provider = make_app(["alpha", "beta"])
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Should we shard?")
        await _settle(app, pilot)
        app.prompt_bar.load_text("Should we shard the orders table?")  # an edited question, as pasted
        await pilot.press("ctrl+r")
        await _settle(app, pilot)
        edited = app.shown_result
        assert edited is not None and edited.question == "Should we shard the orders table?"
        app.prompt_bar.load_text("")
        sent = len(provider.requests)
        await pilot.press("ctrl+r")  # an empty prompt: the question on screen, asked again
        await _settle(app, pilot)
        again = app.shown_result
        assert again is not None and again.question == "Should we shard the orders table?"
        assert not again.cache.hit and len(provider.requests) > sent  # the panel's, never the cache's
    rerun = next(key for key in KEYS if key.id == "rerun")
    page = (Path(__file__).parent.parent / "docs" / "dashboard.md").read_text(encoding="utf-8")
    row = re.search(r"^\| Ctrl\+R \| (.+) \|$", page, re.MULTILINE)
    assert row is not None, "the dashboard page's Ctrl+R row moved"
    assert row.group(1) == rerun.tooltip[0].lower() + rerun.tooltip[1:]  # F1 says the tooltip


def _dashboard() -> QuorumApp:
    """The dashboard as `quorum` starts it, with the settings and panel the user has."""
    settings = load_settings()
    return QuorumApp(
        settings, Session(settings), flush_interval=None, save_settings=False, cursor_blink=False
    )


def _notes(app: QuorumApp) -> str:
    return "\n".join(str(note.message) for note in app._notifications)


async def test_saving_the_demo_panel_warns_that_its_runs_stay_simulated() -> None:
    app = _dashboard()  # no key set: the offline demo panel
    async with app.run_test(size=(160, 50)) as pilot:
        assert all(member.demo for member in app.session.members())
        await pilot.press("ctrl+s")
        await _until(pilot, lambda: "Saved" in _notes(app))
        saved = [note for note in app._notifications if "Saved" in str(note.message)]
        assert len(saved) == 1 and saved[0].severity == "warning"
        assert "simulated" in str(saved[0].message) and "even with a provider key" in str(saved[0].message)


async def test_a_saved_demo_panel_is_noted_once_a_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    write(paths.user_config_file(), "[panel]\nmembers = ['demo-atlas:for', 'demo-bolt:against']\n")
    for keyed in (False, True):
        if keyed:
            monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        app = _dashboard()
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            await pilot.pause()
            noted = "your saved panel is the demo panel" in _notes(app).lower()
            assert noted is keyed, _notes(app)
            if keyed:
                assert "simulated" in _notes(app) and "sk-test" not in _notes(app)
