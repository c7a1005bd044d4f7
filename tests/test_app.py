"""The dashboard driven by keys (Textual's Pilot): every action's effect on runs, calls and widgets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.theme import Theme
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from tests.conftest import write
from tests.dashboard import enter_question, make_app, palette_search
from tests.fakes import Script, rate_limited
from tui.config import paths
from tui.dashboard.app import QuorumApp
from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.engine import events as ev
from tui.engine.provider import ErrorKind, ProviderError
from tui.engine.types import CallResult, Mode, Outcome, RunResult, RunStatus
from tui.render.words import CallState


async def settle(app: QuorumApp, pilot) -> None:
    """Wait until the run worker is done, then flush text as the 5 Hz clock would."""
    await app.workers.wait_for_complete()
    await app.workers.wait_for_complete()  # the run the cache's lookup started, on a miss
    await pilot.pause()
    app.flush_now()
    await pilot.pause()


async def shown_after(app: QuorumApp, pilot, question: str) -> RunResult:
    """`question` submitted, once its run is done and on screen: its result."""
    app.submit(question)
    await settle(app, pilot)
    result = app.shown_result
    assert result is not None
    return result


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    # `timeout` only stops a test that would hang: it is no bound on how fast the app must be.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await pilot.pause(0.01)


def positions_sent(provider) -> list[str]:
    return [r.model_id for r in provider.requests if r.phase == "position"]


async def test_submit_runs_the_panel_to_a_decision() -> None:
    app, provider = make_app(["alpha:for", "beta:against"])
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.click(PromptBar)
        await pilot.press(*"Adopt X?", "enter")
        await settle(app, pilot)
        assert app.shown_result is not None
        assert app.shown_result.outcome is Outcome.UNANIMOUS
        panes = app.panes
        assert [p.status for p in panes] == [CallState.DONE, CallState.DONE]
        assert "staged rollout" in panes[0].body.text
        assert panes[0].votes == {1: panes[0].votes[1]} and panes[0].votes[1].value == "accept"
        assert app.tracker.outcome is Outcome.UNANIMOUS
        assert app.synthesis.completion and app.synthesis.completion.startswith("Complete ·")
        assert positions_sent(provider) == ["alpha", "beta"]


async def test_the_whole_screen_is_painted_again_once_a_toast_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A toast that came while a pane scrolled was left on the terminal at 80x24 when it expired
    (Textual painted no cell under it): the dashboard paints the whole screen once it is gone."""
    app, _ = make_app(["alpha"])
    repaints: list[bool] = []
    async with app.run_test(size=(80, 24), notifications=True) as pilot:

        def refresh(*, repaint: bool = True, **_: bool) -> QuorumApp:
            repaints.append(repaint)
            return app

        monkeypatch.setattr(app, "refresh", refresh)
        app.notify("Next run: vote.", timeout=0.05)
        for _ in range(1000):  # the toast's own timer: Textual gives it no clock to inject
            await pilot.pause(0.01)
            if repaints and not app._notifications:
                break
        assert not app._notifications and repaints == [True]


async def test_multiline_prompt_keeps_its_new_lines() -> None:
    app, provider = make_app(["alpha"])
    async with app.run_test() as pilot:
        await pilot.click(PromptBar)
        await pilot.press(*"line one", "ctrl+j", *"line two", "enter")
        await settle(app, pilot)
        sent = provider.requests[0].messages[0].content
        assert "line one\nline two" in sent


async def test_rerun_failed_sends_only_the_failed_member() -> None:
    app, provider = make_app(["alpha", "beta"], {"beta": Script(fail=rate_limited())})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        beta = app.panes[1]
        assert beta.status is CallState.FAILED and "rate limited" in (beta.note or "")
        assert "rate limited" in beta.body.text
        provider.scripts["beta"] = Script(position="BETA WORKS")
        provider.requests.clear()
        await pilot.press("ctrl+f")
        await settle(app, pilot)
        assert positions_sent(provider) == ["beta"]
        assert app.panes[0].status is CallState.CACHED  # alpha's answer carried over
        assert app.panes[1].status is CallState.DONE and "BETA WORKS" in app.panes[1].body.text
        assert app.shown_result is not None and app.shown_result.status is RunStatus.SUCCESS


async def test_rerun_member_in_flight_replaces_only_that_call() -> None:
    app, provider = make_app(["alpha", "beta"], {"alpha": Script(delay_s=0.4), "beta": Script(hang=True)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await wait_for(pilot, lambda: app.panes[1].status is CallState.STREAMING)
        provider.scripts["beta"] = Script(position="BETA AGAIN")
        app.panes[1].focus()
        await pilot.press("r")
        await settle(app, pilot)
        assert provider.cancelled == ["beta:position"]  # alpha's call was never touched
        assert positions_sent(provider) == ["alpha", "beta", "beta"]
        assert "BETA AGAIN" in app.panes[1].body.text
        assert app.panes[0].status is CallState.DONE


async def test_rerun_whole_run_in_flight_cancels_its_calls() -> None:
    app, provider = make_app(["alpha", "beta"], {"alpha": Script(hang=True), "beta": Script(hang=True)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await wait_for(pilot, lambda: len(provider.requests) == 2)
        provider.scripts["alpha"] = Script()
        provider.scripts["beta"] = Script()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert sorted(provider.cancelled) == ["alpha:position", "beta:position"]
        assert app.shown_result is not None and app.shown_result.status is RunStatus.SUCCESS


async def test_resynthesize_keeps_every_answer() -> None:
    app, provider = make_app(["alpha", "beta"])
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        provider.requests.clear()
        app.panes[0].focus()
        await pilot.press("s")
        await settle(app, pilot)
        assert positions_sent(provider) == []
        assert {r.phase for r in provider.requests} == {"draft", "vote"}
        assert all(p.status is CallState.CACHED for p in app.panes)


async def test_cancel_keeps_what_arrived() -> None:
    app, _ = make_app(["alpha", "beta"], {"beta": Script(hang=True)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await wait_for(pilot, lambda: app.panes[0].status is CallState.DONE)
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        result = app.shown_result
        assert result is not None and result.status is RunStatus.CANCELLED
        assert app.panes[0].status is CallState.DONE and "staged rollout" in app.panes[0].body.text
        assert app.panes[1].status is CallState.CANCELLED and "partial" in app.panes[1].body.text
        assert app.tracker.state == "cancelled"
        assert app.synthesis.completion and app.synthesis.completion.startswith("Cancelled")


async def test_stance_cycling_changes_the_next_runs_prompt() -> None:
    app, provider = make_app(["alpha:neutral"])
    async with app.run_test() as pilot:
        app.panes[0].focus()
        await pilot.press("t")
        assert app.session.seats[0].stance.value == "for"
        assert app.panes[0].member.stance.value == "for"
        await pilot.press("t")
        app.submit("Q?")
        await settle(app, pilot)
        system = next(r.system for r in provider.requests if r.phase == "position")
        assert "critic" in system  # neutral -> for -> against


async def test_zoom_and_mode_switch() -> None:
    app, provider = make_app(["alpha", "beta"])
    async with app.run_test() as pilot:
        app.panes[1].focus()
        await pilot.press("z")
        assert app.panes[1].has_class("-zoom") and app.query_one("#main").has_class("-zoomed")
        assert not app.panes[0].display or app.panes[0].region.height == 0
        await pilot.press("z")
        assert not app.query_one("#main").has_class("-zoomed")
        await pilot.press("ctrl+o")
        assert app.session.mode is Mode.CONSULT
        app.submit("Q?")
        await settle(app, pilot)
        assert "vote" not in {r.phase for r in provider.requests}
        assert app.shown_result is not None and app.shown_result.mode is Mode.CONSULT


async def test_picker_adds_and_delete_removes_a_member() -> None:
    app, provider = make_app(["alpha", "beta"], synthesizer="gamma")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        app.screen.query_one(Input).value = "gam"  # the picker's filter, as a paste sets it
        await pilot.press("enter")
        await pilot.pause()
        assert [s.model for s in app.session.seats] == ["alpha", "beta", "gamma"]
        assert len(app.panes) == 3
        app.panes[0].focus()
        await pilot.press("delete")
        await pilot.pause()
        assert [s.model for s in app.session.seats] == ["beta", "gamma"]
        assert [p.member.alias for p in app.panes] == ["beta", "gamma"]
        app.submit("Q?")
        await settle(app, pilot)
        assert positions_sent(provider) == ["beta", "gamma"]


async def test_bad_theme_file_falls_back_with_one_notification(isolated_home: Path) -> None:
    write(paths.user_config_dir() / "themes" / "broken.toml", 'name = "broken"\nprimary = "not-a-colour"\n')
    app, _ = make_app(["alpha"], ui={"theme": "broken"})
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "quorum-dark"
        notes = [n for n in app._notifications if n.title == "Theme problems"]
        assert len(notes) == 1
        assert "broken.toml" in notes[0].message and "not-a-colour" in notes[0].message


BAD_VARIABLE_THEME = 'name = "bad"\nprimary = "#5fafff"\n[variables]\nfooter-key-foreground = "notacolour"\n'


def _theme_notes(app: QuorumApp) -> list[str]:
    return [n.message for n in app._notifications if n.title == "Theme problems"]


async def _pick_theme(app: QuorumApp, pilot, name: str) -> list[str]:
    """Ctrl+T, the name in the search box, Enter: what a person does in the theme picker. Returns
    what the picker offered (Escape closes it when that was nothing)."""
    await pilot.press("ctrl+t")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
    # Each theme's name, without the line under it that says whose theme it is.
    offered = [prompt.split("\n")[0] for prompt in await palette_search(pilot, name)]
    await pilot.press("enter" if offered else "escape")
    await pilot.pause()
    return offered


async def test_a_theme_with_a_bad_textual_variable_is_one_notification_and_the_default(
    isolated_home: Path,
) -> None:
    write(paths.user_config_dir() / "themes" / "bad.toml", BAD_VARIABLE_THEME)
    app, _ = make_app(["alpha"], ui={"theme": "bad"})
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.is_running and app.theme == "quorum-dark"
        notes = _theme_notes(app)
        assert len(notes) == 1, notes
        assert "bad.toml" in notes[0] and "footer-key-foreground" in notes[0] and "quorum-dark" in notes[0]
        # The picker does not offer it; the others still work.
        assert not any("bad" in offered for offered in await _pick_theme(app, pilot, "bad"))
        assert app.is_running and app.theme == "quorum-dark"
        assert await _pick_theme(app, pilot, "quorum-light")
        assert app.is_running and app.theme == "quorum-light"
        assert len(_theme_notes(app)) == 1


async def test_a_theme_textual_cannot_parse_falls_back_from_the_picker() -> None:
    """Whatever gets past the file check: CSS that fails to parse is one notification and the
    default theme, never the end of the app."""
    app, _ = make_app(["alpha"])
    async with app.run_test() as pilot:
        app.register_theme(
            Theme(name="raw", primary="#5fafff", variables={"footer-key-foreground": "notacolour"})
        )
        assert "raw" in await _pick_theme(app, pilot, "raw")
        await pilot.pause()
        assert app.is_running and app.theme == "quorum-dark"
        notes = _theme_notes(app)
        assert len(notes) == 1 and "raw" in notes[0] and "quorum-dark" in notes[0], notes
        assert not any("raw" in offered for offered in await _pick_theme(app, pilot, "raw"))  # taken out
        await _pick_theme(app, pilot, "quorum-light")
        assert app.is_running and app.theme == "quorum-light"


async def test_keymap_from_config_remaps_by_id() -> None:
    app, provider = make_app(["alpha"], ui={"keymap": {"rerun": "f6"}})  # the docs' example
    async with app.run_test() as pilot:
        app.query_one(PromptBar).text = "Q?"
        await pilot.press("f6")
        await settle(app, pilot)
        assert positions_sent(provider) == ["alpha"]
        assert any(row.key.id == "rerun" and row.keys == "f6" for row in app.key_names.help_rows())


def test_every_binding_id_of_the_dashboard_is_one_the_config_knows() -> None:
    """The config checks `[ui.keymap]` against a Textual-free list of ids: it must be the dashboard's,
    wherever each key is bound."""
    from textual.binding import Binding

    from tui.config.keymap import KEYS, SCREEN_KEY_IDS, keymap_problems
    from tui.dashboard.screens.context import ContextScreen
    from tui.dashboard.screens.help import HelpScreen
    from tui.dashboard.screens.history import HistoryScreen
    from tui.dashboard.screens.picker import MemberPicker
    from tui.dashboard.widgets.member_grid import MemberGrid
    from tui.dashboard.widgets.pane_area import PaneArea

    holders = (QuorumApp, MemberGrid, PaneArea)
    app_ids = {b.id for holder in holders for b in holder.BINDINGS if isinstance(b, Binding) and b.id}
    assert app_ids == {key.id for key in KEYS}
    screen_ids = {
        b.id
        for screen in (HelpScreen, HistoryScreen, MemberPicker, ContextScreen)
        for b in screen.BINDINGS
        if isinstance(b, Binding) and b.id
    }
    assert screen_ids == set(SCREEN_KEY_IDS)
    assert keymap_problems({binding_id: "f12" for binding_id in app_ids}) != []  # all on one key: clashes
    assert all(keymap_problems({binding_id: "f12"}) == [] for binding_id in app_ids | screen_ids)


async def test_help_and_command_palette_list_the_actions() -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        strips = app.screen._compositor.render_strips()
        lines = [" ".join("".join(segment.text for segment in strip).split()) for strip in strips]
        assert any("● ^q Quit fixed │" in line for line in lines), lines  # Textual's: not remappable
        assert any("● ^p Command palette: Every action by name fixed │" in line for line in lines)
        assert any("● ^r Rerun: Ask the whole panel the question in the prompt" in line for line in lines)
        await pilot.press("escape")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Rerun", "Rerun failed", "Rerun member", "Re-synthesize", "Cancel", "Stance", "Zoom"):
            assert title in titles


async def test_hostile_output_is_shown_literally() -> None:
    hostile = "[@click=app.quit]quit[/] [bold]x[/bold] \x1b[2J\x1b]0;pwned\x07 [link=http://evil]y[/link]"
    app, _ = make_app(["alpha"], {"alpha": Script(position=hostile)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        text = app.panes[0].body.text
        assert "[@click=app.quit]quit[/]" in text and "[link=http://evil]" in text
        assert "\x1b" not in text and "\\x1b[2J" in text
        await pilot.click(ModelPane)  # clicking the text must not run the embedded action
        await pilot.pause()
        assert app.is_running


async def test_tiny_terminal_and_resize_mid_run() -> None:
    app, _ = make_app(["alpha", "beta", "gamma"], {"gamma": Script(delay_s=0.3)})
    async with app.run_test(size=(40, 12)) as pilot:
        app.submit("Q?")
        await pilot.pause()
        assert app.running  # gamma takes a while: the resizes come mid-run
        await pilot.resize_terminal(160, 50)
        await pilot.pause()
        assert not app.query_one("#main").has_class("-narrow")
        await pilot.resize_terminal(40, 12)
        await settle(app, pilot)
        assert app.query_one("#main").has_class("-narrow")  # the layout followed the resize
        assert app.shown_result is not None and app.shown_result.status is RunStatus.SUCCESS


async def test_history_open_read_only_then_follow_up_and_export(isolated_home: Path) -> None:
    app, provider = make_app(
        ["alpha:for", "beta:against"], {"beta": Script(votes=["VERDICT: REJECT\n- cost"])}
    )
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Should we shard the orders table?")
        await settle(app, pilot)
        first = app.shown_result
        assert first is not None and app.store is not None
        app.submit("Unrelated second question?")
        await settle(app, pilot)
        await pilot.press("f2")
        await pilot.pause()
        assert type(app.screen).__name__ == "HistoryScreen"
        app.screen.query_one(Input).value = "shard"  # F2's filter, as a paste sets it
        await pilot.pause()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == first.run_id
        assert app.query_one(PromptBar).text == "Should we shard the orders table?"
        assert "staged rollout" in app.panes[0].body.text  # the recorded answer, not a new call
        assert app.tracker.outcome == first.outcome
        # a follow-up carries the earlier question, answer and objections
        provider.requests.clear()
        await pilot.press("f3")
        await enter_question(pilot, "And the read replicas?")
        await settle(app, pilot)
        sent = next(r for r in provider.requests if r.phase == "position").messages[0].content
        assert first.synthesis and first.synthesis in sent  # the earlier final answer
        assert "Should we shard the orders table?" in sent and "beta: cost" in sent
        child = app.shown_result
        assert child is not None and child.parent_run_id == first.run_id
        await pilot.press("f5")
        await pilot.pause()
        exported = paths.user_data_dir() / "exports" / f"quorum-{child.run_id}.md"
        assert exported.exists() and "Follows up on" in exported.read_text()
        assert (exported.with_suffix(".json")).exists()


async def test_history_pages_in_as_the_cursor_moves(monkeypatch) -> None:
    monkeypatch.setattr("tui.dashboard.screens.history.PAGE", 2)
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(160, 50)) as pilot:
        for number in range(5):
            app.submit(f"Question {number}?")
            await settle(app, pilot)
        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert len(screen.runs) == 2 and not screen.exhausted  # type: ignore[attr-defined]
        for _ in range(4):
            await pilot.press("down")
            await pilot.pause()
        assert len(screen.runs) == 5 and screen.exhausted  # type: ignore[attr-defined]
        assert [r.question for r in screen.runs][:2] == ["Question 4?", "Question 3?"]  # type: ignore[attr-defined]


async def test_opening_a_run_while_the_flush_clock_ticks() -> None:
    """The 5 Hz clock may tick between a recorded run's panes being made and being mounted."""
    app, _ = make_app(["alpha", "beta"], flush_interval=0.005)
    async with app.run_test() as pilot:
        app.submit("Q?")
        await app.workers.wait_for_complete()
        await app.workers.wait_for_complete()  # the run the cache's lookup started
        await pilot.pause(0.05)
        result = app.shown_result
        assert result is not None
        for _ in range(3):
            app.run_display.show_recorded(result)
            await pilot.pause(0.05)
        assert app.is_running and "staged rollout" in app.panes[0].body.text


async def test_a_retried_call_says_so_on_its_pane() -> None:
    refused = ProviderError(
        ErrorKind.RATE_LIMIT, "rate limited by fake (HTTP 429)", retry_after_s=0.3, retryable=True
    )
    app, _ = make_app(["alpha", "beta"], {"beta": Script(fail=refused, fail_times=1)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await wait_for(pilot, lambda: app.panes[1].retry_due is not None)
        # Not just "waiting", and named as Quorum's own retry (a gateway may retry behind it too).
        assert "Quorum's retry 1/2 in 0.3 s" in app.panes[1].info_text().plain
        await settle(app, pilot)
        beta = app.panes[1]
        assert beta.status is CallState.DONE and beta.retry_due is None
        assert "rate limited by fake (HTTP 429) — Quorum's retry 1/2 in 0.3 s" in beta.body.text
        assert "Quorum retried it 1×" in beta.info_text().plain  # after the answer, who retried it


async def test_a_gateways_retries_are_named_as_the_gateways_on_the_pane() -> None:
    """A gateway that says it retried before its answer: the pane says the gateway did, and a
    member nobody retried says nothing of retries."""
    app, _ = make_app(
        ["alpha", "beta"], {"beta": Script(gateway_retries=2), "alpha": Script(gateway_retries=0)}
    )
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        alpha, beta = app.panes
        assert "the gateway retried it 2×" in beta.info_text().plain
        assert "Quorum retried" not in beta.info_text().plain
        assert "retried" not in alpha.info_text().plain


async def test_rerun_of_a_recorded_run_whose_model_left_the_catalog() -> None:
    app, provider = make_app(["alpha", "beta"])
    async with app.run_test() as pilot:
        result = await shown_after(app, pilot, "Q?")
        gone = result.members[1].model_copy(update={"alias": "retired-model"})
        recorded = result.model_copy(update={"members": [result.members[0], gone]})
        app.run_display.show_recorded(recorded)
        await pilot.pause()
        assert len(app.panes) == 2 and [s.model for s in app.session.seats] == ["alpha"]
        provider.requests.clear()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert [p.member.alias for p in app.panes] == ["alpha"]
        assert positions_sent(provider) == ["alpha"]


async def test_rerun_failed_from_a_recorded_run_reuses_its_answers() -> None:
    app, provider = make_app(["alpha", "beta"], {"beta": Script(fail=rate_limited())})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        recorded = app.shown_result
        assert recorded is not None
        app.submit("Something else?")
        await settle(app, pilot)
        app.run_display.show_recorded(recorded)
        await pilot.pause()
        provider.scripts["beta"] = Script(position="BETA NOW")
        provider.requests.clear()
        await pilot.press("ctrl+f")
        await settle(app, pilot)
        assert positions_sent(provider) == ["beta"]  # alpha's recorded answer is carried over
        assert app.panes[0].status is CallState.CACHED and "BETA NOW" in app.panes[1].body.text


async def _open_first_recorded_run(app: QuorumApp, pilot) -> None:
    await pilot.press("f2")
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)


async def test_export_and_follow_up_act_on_the_rerun_of_a_recorded_run(isolated_home: Path) -> None:
    """The run on screen is one thing: after `s` on a run opened from the history, F5 exports
    and F3 follows up the new run, not the recorded one (a stale copy used to win)."""
    app, _provider = make_app(["alpha:for", "beta:against"])
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Should we shard the orders table?")
        await settle(app, pilot)
        recorded = app.shown_result
        assert recorded is not None
        await _open_first_recorded_run(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == recorded.run_id
        app.panes[0].focus()
        await pilot.press("s")
        await settle(app, pilot)
        resynthesized = app.shown_result
        assert resynthesized is not None and resynthesized.run_id != recorded.run_id
        await pilot.press("f5")
        await pilot.pause()
        exports = paths.exports_dir()
        assert (exports / f"quorum-{resynthesized.run_id}.md").exists()
        assert not (exports / f"quorum-{recorded.run_id}.md").exists()
        await pilot.press("f3")
        await enter_question(pilot, "And the replicas?")
        await settle(app, pilot)
        child = app.shown_result
        assert child is not None and child.parent_run_id == resynthesized.run_id


async def test_rerun_failed_of_a_recorded_run_then_export_writes_the_new_run(isolated_home: Path) -> None:
    app, _ = make_app(["alpha:for", "beta:against"], {"beta": Script(fail=rate_limited())})
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Is the cache worth it?")
        await settle(app, pilot)
        recorded = app.shown_result
        assert recorded is not None
        await _open_first_recorded_run(app, pilot)
        await pilot.press("ctrl+f")
        await settle(app, pilot)
        rerun = app.shown_result
        assert rerun is not None and rerun.run_id != recorded.run_id
        assert rerun.positions[0] is not None and rerun.positions[0].reused_from == recorded.run_id
        await pilot.press("f5")
        await pilot.pause()
        assert (paths.exports_dir() / f"quorum-{rerun.run_id}.json").exists()
        assert not (paths.exports_dir() / f"quorum-{recorded.run_id}.json").exists()


async def test_a_failing_display_ends_the_run_as_failed_and_the_dashboard_stays_usable(
    isolated_home: Path,
) -> None:
    """A bug in showing an event must not leave a run "running" forever with no word: the run
    ends as failed, on screen and in the history, and F2 and new runs still work."""
    app, _ = make_app(["alpha:for", "beta:against"])
    async with app.run_test(size=(160, 50)) as pilot:
        beta = app.panes[1]
        real_call_finished = beta.call_finished

        def broken_call_finished(result: CallResult) -> None:
            raise RuntimeError("display bug")

        beta.call_finished = broken_call_finished  # type: ignore[method-assign]
        result = await shown_after(app, pilot, "Does the display hold?")
        assert result.status is RunStatus.ERROR
        assert any("display bug" in error for error in result.errors)
        assert app.tracker.state is RunStatus.ERROR
        assert "display bug" in app.synthesis.body.text
        assert not app.running
        assert app.store is not None
        recorded = app.store.load(result.run_id)
        assert recorded.status is RunStatus.ERROR and any("display bug" in e for e in recorded.errors)
        await pilot.press("f2")
        await pilot.pause()
        assert type(app.screen).__name__ == "HistoryScreen"  # not refused as "a run is in progress"
        await pilot.press("escape")
        beta.call_finished = real_call_finished  # type: ignore[method-assign]
        app.submit("And now?")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.status is RunStatus.SUCCESS


async def test_the_tracker_says_how_many_votes_were_invalid_and_why() -> None:
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {
            "beta": Script(votes=["I would accept this."]),
            "gamma": Script(votes=["VERDICT: ACCEPT or REJECT"]),
        },
        run={"max_rounds": 2},
    )
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Adopt X?")
        await settle(app, pilot)
        assert app.shown_result is not None
        # 1 valid vote of 3 seats in each round: never unanimous, and no quorum to decide
        assert app.shown_result.outcome is Outcome.NO_QUORUM
        line = app.tracker.render_text().plain
        # each round's count and outcome first, with who the outcome rests on (an ellipsis on a
        # narrow screen cuts only the why)
        decided = "no quorum · 1 of 3 voted (beta invalid, gamma invalid)"
        assert f"R1 1✓ 0✗ 2? → next  │  R2 1✓ 0✗ 2? {decided}" in line, line
        assert line.endswith("│  R1, R2: 2 invalid votes: no verdict line, both words"), line


async def test_the_tracker_says_who_an_outcome_rests_on() -> None:
    app, _ = make_app(["alpha:for", "beta:against", "gamma:neutral"], {"beta": Script(fail=rate_limited())})
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Adopt X?")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.outcome is Outcome.UNANIMOUS
        line = app.tracker.render_text().plain
        assert "R1 2✓ 0✗ unanimous · 2 of 3 voted (beta failed)  │  R2 ·" in line, line


async def test_a_run_with_no_quorum_is_marked_not_a_decision_live_and_from_the_history() -> None:
    from tui.engine.quorum import standing
    from tui.history.replay import replay_events

    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {"beta": Script(fail=rate_limited()), "gamma": Script(fail=rate_limited())},
    )
    async with app.run_test(size=(160, 50)) as pilot:
        result = await shown_after(app, pilot, "Adopt X?")
        assert result.outcome is Outcome.NO_QUORUM
        assert result.status is RunStatus.SUCCESS

        def shown() -> tuple[str, str, str]:
            return (
                app.tracker.render_text().plain,
                app.synthesis.info_text().plain,
                app.synthesis.body.text,
            )

        tracker, badge, body = shown()
        assert "R1 no quorum · 1 of 3 answered (beta failed, gamma failed)" in tracker, tracker
        assert badge.startswith(" NO QUORUM  by synth")
        assert "No quorum: not a decision: the round 1 draft above is all there is" in body
        assert "DRAFT proposal" in body  # the synthesis is still shown
        # opened again from the history, the record says the same, the same way
        assert app.store is not None
        recorded = app.store.load(result.run_id)
        assert recorded.outcome is Outcome.NO_QUORUM and recorded.synthesis == result.synthesis
        decided = [e for e in replay_events(recorded) if isinstance(e, ev.RoundDecided)]
        assert [e.standing for e in decided] == [standing(result)]
        live = shown()
        app.run_display.show_recorded(recorded)
        await pilot.pause()
        await pilot.pause()
        assert shown()[:2] == live[:2] and live[2].split("\n")[-4:] == shown()[2].split("\n")[-4:]
        [summary] = [r for r in app.store.list_runs() if r.id == result.run_id]
        assert summary.outcome is Outcome.NO_QUORUM


async def test_a_consult_run_says_whom_its_synthesis_rests_on() -> None:
    app, _ = make_app(
        ["alpha:for", "beta:against"], {"beta": Script(fail=rate_limited())}, run={"mode": "consult"}
    )
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Adopt X?")
        await settle(app, pilot)
        line = app.tracker.render_text().plain
        assert "consult · one pass, one synthesis · 1 of 2 answered (beta failed)" in line, line


async def test_a_small_terminal_shows_one_pane_at_a_time_and_every_one_is_reachable() -> None:
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {
            "beta": Script(votes=["VERDICT: REJECT\n- too vague"]),
            "gamma": Script(votes=["VERDICT: ACCEPT or REJECT"]),
        },
        run={"max_rounds": 3},
    )
    async with app.run_test(size=(80, 24)) as pilot:
        app.submit("Adopt X?")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.outcome is Outcome.CURATOR_OVERRIDE
        main = app.query_one("#main")

        def on_screen() -> list[str]:
            shown = [p.member.alias for p in app.panes if p.region.area]
            return shown + (["synthesis"] if app.synthesis.region.area else [])

        assert main.has_class("-compact") and on_screen() == ["alpha"]
        assert app.panes[0].body.size.height >= 8  # room for the answer, not only the header lines
        # Three rounds, and the deciding one's outcome still on the line (who it rests on may be cut).
        width = app.tracker.content_size.width
        assert "R3 1✓ 1✗ 1? curator" in app.tracker.render_text().plain[:width]
        help_key = [key for key in app.query(FooterKey) if key.description == "Help"]
        assert help_key and help_key[0].region.right <= 80

        def hint() -> str:
            return str(app.query_one("#strip").render()).rsplit("  ", 1)[-1]

        assert hint() == "tab · f8"  # in the prompt the arrows move its cursor, not the panes
        await pilot.press("tab")  # from the prompt to the pane on screen
        assert app.focused is app.panes[0]
        await pilot.pause()
        assert hint() == "←/→ · f8"
        await pilot.press("tab")  # on to the next member, which takes the screen
        await pilot.pause()
        assert on_screen() == ["beta"] and app.focused is app.panes[1]
        await pilot.press("right", "right")  # after the last member, the synthesis
        await pilot.pause()
        assert on_screen() == ["synthesis"] and app.synthesis.has_focus
        await pilot.press("f8")  # back to the member it replaced
        await pilot.pause()
        assert on_screen() == ["gamma"] and app.focused is app.panes[2]
        await pilot.press("left", "shift+tab")
        await pilot.pause()
        assert on_screen() == ["alpha"] and app.focused is app.panes[0]
        app.query_one(PromptBar).focus()
        await pilot.press("f8")  # from anywhere, even the prompt
        await pilot.pause()
        assert on_screen() == ["synthesis"]
        strip = app.query_one("#strip").render()
        assert "alpha ✓" in str(strip) and "gamma ✓" in str(strip)

        await pilot.resize_terminal(160, 50)  # a large screen shows every pane again
        await pilot.pause()
        assert not main.has_class("-compact")
        assert on_screen() == ["alpha", "beta", "gamma", "synthesis"]
        assert "deliberate · Round 3/3  │  R1 1✓ 1✗ 1? → next" in app.tracker.render_text().plain


async def test_on_a_small_screen_f8_from_a_member_shows_the_synthesis_focused_and_back() -> None:
    app, _ = make_app(["alpha", "beta", "gamma"])
    async with app.run_test(size=(80, 24)) as pilot:
        app.submit("Adopt X?")
        await settle(app, pilot)
        await pilot.press("tab", "right")  # from the prompt to alpha's pane, then on to beta's
        await wait_for(pilot, lambda: app.panes[1].has_focus)
        await pilot.press("f8")
        await wait_for(pilot, lambda: app.synthesis.has_focus)
        assert app.synthesis.region.area and not app.panes[1].region.area
        await pilot.press("f8")  # back to the member it replaced, the arrows' keys again
        await wait_for(pilot, lambda: app.panes[1].has_focus)
        await pilot.press("left")
        await wait_for(pilot, lambda: app.panes[0].has_focus)


async def test_each_key_works_where_the_help_says() -> None:
    """The keys marked ● work from any focus; the run keys that are letters from any pane (in the
    prompt they are typed); the panel's on a member's pane; zoom and the arrows on any pane."""
    from tui.config.keymap import KEYS, Where

    app, _ = make_app(["alpha", "beta"])
    async with app.run_test() as pilot:
        for focus in (app.prompt_bar, app.panes[1], app.synthesis):
            app.set_focus(focus)
            await pilot.pause()
            active = {active.binding.id for active in app.screen.active_bindings.values()}
            in_prompt, on_member = focus is app.prompt_bar, focus is app.panes[1]
            for key in KEYS:
                works = {
                    Where.APP: key.anywhere or not in_prompt,
                    Where.MEMBERS: on_member,
                    Where.PANES: not in_prompt,
                }[key.where]
                assert (key.id in active) is works, (key.id, type(focus).__name__)
