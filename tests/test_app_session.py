"""A new user's afternoon with the dashboard: the prompt behaves like a prompt, the
follow-up and next-run states are shown and true, keys typed on a pane cannot silently edit the
panel (and a removal can be undone), stances and members are chosen as meant, the numbers are
honest while a call streams, and the demo shows its retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color
from textual.theme import BUILTIN_THEMES
from textual.widgets import Input

from tests.conftest import FAST_SPEED
from tests.dashboard import enter_question, make_app, palette_search
from tests.fakes import Script
from tests.test_app import settle, wait_for
from tui.cli.main import main
from tui.dashboard.app import QuorumApp
from tui.dashboard.widgets.prompt_bar import PLACEHOLDER, PromptBar
from tui.engine.types import Mode, RunStatus, Stance
from tui.providers.demo import RATE_LIMIT_RETRY_AFTER_S
from tui.render.words import CallState


def sent_questions(provider) -> list[str]:
    """The question of each run, in order (the first position call of each carries it)."""
    questions = []
    for request in provider.requests:
        if request.phase == "position" and request.model_id == "alpha":
            questions.append(request.messages[-1].content)
    return questions


# -- A: the prompt behaves like a prompt ---------------------------------------------------------


async def test_a_question_from_the_command_line_leaves_the_prompt_ready_for_the_next() -> None:
    """`quorum "First question"`: typing a second question and Enter sends just that one."""
    app, provider = make_app(["alpha"], question="First question")
    app.start_at_once = True  # as `quorum "First question"` makes it
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.shown_result is not None)
        await settle(app, pilot)
        prompt = app.query_one(PromptBar)
        # The question stays in view with its run, selected: typing replaces it.
        assert prompt.selected_text == "First question" and prompt.has_focus
        await pilot.press(*"Second question", "enter")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.question == "Second question"
        assert "Second questionFirst question" not in sent_questions(provider)[-1]


async def test_a_given_question_is_continued_at_its_end_and_ctrl_u_clears_it() -> None:
    app, _ = make_app(["alpha"], question="Is it")
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptBar)
        await pilot.press(*" fine?")
        assert prompt.text == "Is it fine?"
        await pilot.press("ctrl+u")
        assert prompt.text == ""


async def test_up_and_down_recall_earlier_questions_from_the_history_and_this_session() -> None:
    first, _ = make_app(["alpha"])
    async with first.run_test() as pilot:
        first.submit("From an earlier session?")
        await settle(first, pilot)
    app, _ = make_app(["alpha"])
    async with app.run_test() as pilot:
        prompt = app.query_one(PromptBar)
        await enter_question(pilot, "One?")
        await settle(app, pilot)
        await enter_question(pilot, "Two?")
        await settle(app, pilot)
        prompt.load_text("half-written")  # as a paste leaves it: being written, not sent
        recalled = []
        for _ in range(4):  # the last Up finds nothing older: the oldest stays
            await pilot.press("up")
            recalled.append(prompt.text)
        assert recalled == ["Two?", "One?", "From an earlier session?", "From an earlier session?"]
        await pilot.press("down", "down")
        assert prompt.text == "Two?"
        await pilot.press("down")
        assert prompt.text == "half-written"  # back to what was being written
        await pilot.press("up", "enter")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.question == "Two?"


# -- B: the follow-up state is explicit and true ------------------------------------------------


async def test_the_follow_up_chip_is_there_exactly_when_enter_sends_a_follow_up() -> None:
    app, _ = make_app(["alpha", "beta"])
    async with app.run_test(size=(160, 50)) as pilot:
        prompt = app.query_one(PromptBar)
        app.submit("Should we shard the orders table?")
        await settle(app, pilot)
        parent = app.shown_result
        assert parent is not None and prompt.follow_up is None
        await pilot.press("f3")
        assert prompt.follow_up == "Should we shard the orders table?"
        assert "follow-up" in str(prompt.border_title)
        await enter_question(pilot, "And the replicas?")
        await settle(app, pilot)
        child = app.shown_result
        assert child is not None and child.parent_run_id == parent.run_id
        # Sent: the chip and the hint are gone, and so is the link.
        assert prompt.follow_up is None and prompt.border_title is None
        assert prompt.placeholder == PLACEHOLDER and "Follow-up" not in str(prompt.placeholder)
        await enter_question(pilot, "Something new?")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.parent_run_id is None
        # Escape drops an armed follow-up: no chip, and Enter sends a new question.
        await pilot.press("f3")
        assert prompt.follow_up is not None
        await pilot.press("escape")
        assert prompt.follow_up is None and prompt.has_focus
        await enter_question(pilot, "Unrelated?")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.parent_run_id is None


# -- C: the next run's mode is shown apart from the run on screen, and kept ---------------------


async def test_the_mode_for_the_next_run_leaves_the_tracker_alone_and_survives_opening_a_run() -> None:
    app, provider = make_app(["alpha", "beta"])
    async with app.run_test(size=(160, 50)) as pilot:
        prompt = app.query_one(PromptBar)
        app.submit("Deliberate this?")
        await settle(app, pilot)
        tracker_line = app.tracker.render_text().plain
        assert prompt.next_mode is None  # the same as the run on screen: the tracker says it
        await pilot.press("ctrl+o")
        assert app.tracker.mode is Mode.DELIBERATE and app.tracker.render_text().plain == tracker_line
        assert prompt.next_mode == "consult" and "consult" in str(prompt.border_subtitle)
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("enter")  # the deliberate run, from the history
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.mode is Mode.DELIBERATE
        assert app.session.mode is Mode.CONSULT and prompt.next_mode == "consult"
        provider.requests.clear()
        await enter_question(pilot, "Consult this?")
        await settle(app, pilot)
        consulted = app.shown_result
        assert consulted is not None and consulted.mode is Mode.CONSULT
        assert "vote" not in {r.phase for r in provider.requests}
        assert prompt.next_mode is None  # the run on screen is the consult one now


# -- D: keys that cannot hurt --------------------------------------------------------------------


async def test_typing_on_a_pane_types_in_the_prompt_and_leaves_the_panel_alone() -> None:
    app, _ = make_app(["alpha:against", "beta"])
    async with app.run_test() as pilot:
        app.panes[0].focus()
        await pilot.press(*"what does it cost")  # t, d, s and r are the pane's keys
        prompt = app.query_one(PromptBar)
        assert prompt.has_focus and prompt.text == "what does it cost"
        assert [(s.model, s.stance) for s in app.session.seats] == [
            ("alpha", Stance.AGAINST),
            ("beta", Stance.NEUTRAL),
        ]


async def test_the_member_keys_are_the_member_panes_and_the_palette_runs_them_on_the_focused_one() -> None:
    """`t` is a key of the member grid: on the synthesis it is typing, so it goes to the prompt; the
    palette's Stance acts on the member whose pane has the focus, as the key does."""
    app, _ = make_app(["alpha:against", "beta"])
    async with app.run_test() as pilot:
        app.synthesis.focus()
        await pilot.press("t")
        assert app.prompt_bar.has_focus and app.prompt_bar.text == "t"
        assert app.session.seats[0].stance is Stance.AGAINST
        app.panes[1].focus()
        await pilot.pause()
        [stance] = [command for command in app.get_system_commands(app.screen) if command.title == "Stance"]
        stance.callback()
        assert [seat.stance for seat in app.session.seats] == [Stance.AGAINST, Stance.FOR]


async def test_a_removed_member_comes_back_at_its_place_with_u() -> None:
    app, provider = make_app(["alpha:for", "beta:against", "gamma"])
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        app.panes[1].focus()
        await pilot.press("d")
        await pilot.pause()
        assert [s.model for s in app.session.seats] == ["alpha", "gamma"]
        assert any("removed beta — u to undo" in n.message.lower() for n in app._notifications)
        assert app.panes[1].has_focus  # gamma, where beta sat: u is a pane's key
        await pilot.press("u")
        await pilot.pause()
        assert [(s.model, s.stance) for s in app.session.seats] == [
            ("alpha", Stance.FOR),
            ("beta", Stance.AGAINST),
            ("gamma", Stance.NEUTRAL),
        ]
        beta = app.panes[1]
        assert beta.member.alias == "beta" and beta.has_focus
        assert beta.status is CallState.DONE and "staged rollout" in beta.body.text  # its answer too
        # A stance changed by mistake is undone the same way.
        await pilot.press("t")
        assert app.session.seats[1].stance is Stance.NEUTRAL
        await pilot.press("u")
        assert app.session.seats[1].stance.value == "against" and beta.next_stance is None
        provider.requests.clear()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert [r.model_id for r in provider.requests if r.phase == "position"] == ["alpha", "beta", "gamma"]


async def test_an_event_for_a_pane_whose_children_are_already_gone_changes_only_its_state() -> None:
    """Textual takes a removed pane's children down before the pane itself: an event of its run
    arriving in between (seen on a busy machine, when a member was removed mid-run) must not
    look for the info block that is gone; it failed the whole run as a broken display."""
    app, _ = make_app(["alpha", "beta"])
    async with app.run_test() as pilot:
        pane = app.panes[1]
        info = pane.query_one(".pane-info")
        await info.remove()  # the moment between the children's removal and the pane's unmount
        await pilot.pause()
        pane.first_token(120)  # raised NoMatches before
        assert pane.ttft_ms == 120


async def test_removing_a_member_mid_run_leaves_the_run_whole_and_undo_brings_its_pane_back() -> None:
    app, _ = make_app(["alpha", "beta", "gamma"], {"beta": Script(delay_s=0.3)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await wait_for(pilot, lambda: app.panes[0].status is CallState.DONE)
        app.panes[1].focus()
        await pilot.press("d")
        await pilot.pause()
        app.panes[0].focus()
        await pilot.press("u")
        await settle(app, pilot)
        result = app.shown_result
        assert result is not None and result.status is RunStatus.SUCCESS, result and result.errors
        beta = app.panes[1]
        assert beta.member.alias == "beta" and beta.status is CallState.DONE
        assert "Verdict: fine." in beta.body.text and beta.votes  # what it said while away


# -- E: a new stance is for the next run -----------------------------------------------------


async def test_a_relabelled_pane_says_its_new_stance_is_for_the_next_run() -> None:
    app, _ = make_app(["alpha:against", "beta"])
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        app.panes[0].focus()
        await pilot.press("t")
        header = app.panes[0].info_text().plain.splitlines()[0]
        assert header.startswith(" AGAINST  →  NEUTRAL  next run"), header
        assert app.panes[0].member.stance is Stance.AGAINST  # the answer on screen was argued so
        assert app.session.seats[0].stance is Stance.NEUTRAL
        app.submit("Q again?")
        await settle(app, pilot)
        header = app.panes[0].info_text().plain.splitlines()[0]
        assert header.startswith(" NEUTRAL ") and "→" not in header


# -- F: the pickers ------------------------------------------------------------------------------


async def test_the_member_picker_chooses_the_stance() -> None:
    app, _ = make_app(["alpha"], synthesizer="gamma")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        app.screen.query_one(Input).value = "gam"  # the filter, as a paste sets it
        await pilot.press("tab", "enter")  # Tab: neutral -> for
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        app.screen.query_one(Input).value = "gam:against"  # as `-m gamma:against`
        await pilot.press("enter")
        await pilot.pause()
        assert [(s.model, s.stance) for s in app.session.seats] == [
            ("alpha", Stance.NEUTRAL),
            ("gamma", Stance.FOR),
            ("gamma", Stance.AGAINST),
        ]
        assert [p.member.stance for p in app.panes] == [Stance.NEUTRAL, Stance.FOR, Stance.AGAINST]


async def _themes_offered(app: QuorumApp, pilot, query: str) -> list[str]:
    await pilot.press("ctrl+t")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
    offered = await palette_search(pilot, query)
    await pilot.press("escape")
    await pilot.pause()
    return offered


async def test_the_theme_picker_shows_quorums_themes_first_then_textuals() -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(160, 50)) as pilot:
        offered = await _themes_offered(app, pilot, "")
        names = [text.split()[0] for text in offered]
        assert names[:3] == ["quorum-dark", "quorum-high-contrast", "quorum-light"], names
        assert set(names[3:]) == set(BUILTIN_THEMES) & set(app.available_themes)
        assert "Quorum's theme" in offered[0] and "Textual's built-in" in offered[3]
        light = [text.split()[0] for text in await _themes_offered(app, pilot, "light")]
        assert light[0] == "quorum-light", light


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def _contrast(a: Color, b: Color) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def test_textuals_own_themes_get_stance_and_outcome_colours_of_their_kind() -> None:
    """A built-in theme sets none of Quorum's colours: it gets those of the Quorum theme of its
    kind, so a stance badge (its label in the background colour) reads on light themes too."""
    app, _ = make_app(["alpha"])
    async with app.run_test() as pilot:
        problems = []
        for name in BUILTIN_THEMES:
            if name not in app.available_themes:
                continue
            app.theme = name
            await pilot.pause()
            variables = app.get_css_variables()
            background = Color.parse(variables["background"])
            for key in ("stance-for", "stance-against", "stance-neutral", "outcome-unanimous",
                        "outcome-majority", "outcome-curator"):  # fmt: skip
                badge = Color.parse(variables[key])
                if _contrast(badge, background) < 3.0:
                    problems.append(f"{name}: {key} {badge.hex} on {background.hex}")
        assert not problems, "\n".join(problems)
        app.theme = "textual-light"
        await pilot.pause()
        quorum_light = app.get_theme("quorum-light")
        assert quorum_light is not None
        assert app.get_css_variables()["stance-for"] == quorum_light.variables["stance-for"]


# -- G: honest numbers while it streams --------------------------------------------------------


async def test_a_streaming_pane_shows_a_running_token_estimate_until_the_usage_arrives() -> None:
    app, _ = make_app(["alpha", "beta"], {"beta": Script(hang=True)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await wait_for(pilot, lambda: app.panes[1].status is CallState.STREAMING)
        app.flush_now()
        info = app.panes[1].info_text().plain
        assert "no tokens yet" not in info
        assert "~2 tokens (est.)" in info, info  # "partial " is 8 characters
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        done = app.panes[0].info_text().plain
        assert "(est.)" not in done and "100 in · 50 out" in done  # the provider's own count


# -- H: the demo shows the retry display --------------------------------------------------------


def test_the_demo_flaky_member_is_retried_and_the_progress_says_so(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    panel = ["-m", "demo-flaky", "-m", "demo-atlas", "-m", "demo-delta"]  # 2 of 3 seats: a quorum
    code = main(["--config", str(fast_demo_config), "run", "q", *panel])
    _, err = capsys.readouterr()
    assert code == 0, err
    wait = f"{RATE_LIMIT_RETRY_AFTER_S / FAST_SPEED:g} s"  # the demo's wait, at the tests' speed
    assert f"Quorum's retry 1/2 in {wait}" in err and f"Quorum's retry 2/2 in {wait}" in err, err
    assert f"rate limited by demo (HTTP 429, demo failure); the provider asks to wait {wait}" in err
    assert "retry after" not in err  # the failed member's last word is what was asked, not a promise
