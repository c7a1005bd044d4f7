"""Debate and council on the dashboard: the tracker shows a debate's rounds with how many agree and
who flipped, and a council's Borda ranking as a table with its ballots and the chairman; each
member's pane shows its answer in every round of a debate (and whether it flipped, from what) or
its council ballot (its ranking, or its abstention and why); Ctrl+O reaches both modes; and the same
run opened from F2's list shows exactly what the live run showed."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.dashboard import enter_question, make_app
from tests.fakes import Script
from tests.test_app import settle
from tui.dashboard.app import QuorumApp
from tui.dashboard.screens.history import OUTCOME_STYLES
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.dashboard.widgets.round_tracker import OUTCOME_CLASSES
from tui.engine import events as ev
from tui.engine.council import council_ranking
from tui.engine.provider import ChatRequest, ErrorKind, ProviderError
from tui.engine.types import AnswerSpec, Mode, Outcome, RunResult, RunStatus
from tui.history.replay import replay_events
from tui.render.words import CallState


async def ask(app: QuorumApp, pilot, question: str) -> RunResult:
    """`question` put to the dashboard's panel, once its run is done and shown: its result."""
    await enter_question(pilot, question)
    await settle(app, pilot)
    result = app.shown_result
    assert result is not None
    return result


def panel(mode: Mode, **scripts: Script) -> QuorumApp:
    """Three seats answering 18, 20 and 18; in a debate the second goes over to 18 in round 2; on
    a council each ranks in the order shown and the chairman answers 18."""
    app, _ = make_app(
        ["a", "b", "c"],
        {
            "a": Script(position="ANSWER: 18"),
            "b": Script(position="ANSWER: 20", revisions=["ANSWER: 18"]),
            "c": Script(position="ANSWER: 18"),
            "synth": Script(chair="ANSWER: 18"),
            **scripts,
        },
    )
    app.session.mode, app.session.answer = mode, AnswerSpec.parse("numeric")
    return app


def screen_words(app: QuorumApp) -> list[str]:
    """What the tracker, each member's info block and the synthesis's say, as plain text."""
    return [
        app.tracker.render_text().plain,
        *(pane.info_text().plain for pane in app.panes),
        app.synthesis.info_text().plain,
    ]


async def open_from_history(app: QuorumApp, pilot) -> None:
    """The newest run in F2's list, opened."""
    await pilot.press("f2")
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)


EXPECTED = {Mode.DEBATE: Outcome.UNANIMOUS, Mode.COUNCIL: Outcome.RANKED}
STAGES = {Mode.DEBATE: (ev.AnswersShown, ev.DebateRoundRead), Mode.COUNCIL: (ev.BallotCast, ev.RankingMade)}


@pytest.mark.parametrize("mode", [Mode.DEBATE, Mode.COUNCIL])
async def test_a_run_and_its_replay_from_f2_show_the_same_outcome_tracker_panes_and_synthesis(
    mode: Mode,
) -> None:
    app = panel(mode)
    async with app.run_test(size=(160, 50)) as pilot:
        result = await ask(app, pilot, "Which number?")
        assert result.status is RunStatus.SUCCESS, result and result.errors
        assert result.mode is mode and result.outcome is EXPECTED[mode]
        assert app.tracker.outcome is EXPECTED[mode]
        replayed = {type(e) for e in replay_events(result)}
        assert set(STAGES[mode]) <= replayed  # the replay below carries every stage's events
        live = screen_words(app)
        await open_from_history(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == result.run_id
        assert app.shown_result.outcome is EXPECTED[mode]
        assert screen_words(app) == live


async def test_the_tracker_shows_each_debate_round_with_how_many_agree_its_flips_and_the_outcome() -> None:
    app = panel(Mode.DEBATE)
    async with app.run_test(size=(160, 50)) as pilot:
        await ask(app, pilot, "Which number?")
        line = app.tracker.render_text().plain
        assert line.startswith("debate · ")
        assert "deliberate" not in line
        assert "R1 2 of 3 agree → next" in line
        assert "R2 3 of 3 agree · 1 flip unanimous · 3 of 3 voted" in line


async def test_a_debate_that_agrees_in_round_one_shows_it_stopped_there() -> None:
    app = panel(Mode.DEBATE, b=Script(position="ANSWER: 18"))
    async with app.run_test(size=(160, 50)) as pilot:
        await ask(app, pilot, "Which number?")
        line = app.tracker.render_text().plain
        assert "R1 3 of 3 agree unanimous · 3 of 3 voted" in line
        assert line.endswith("R2 ·")  # never run: the debate stopped when every answer agreed


async def test_an_open_debate_ends_in_the_synthesizers_report_on_the_tracker() -> None:
    app, _ = make_app(
        ["a", "b"],
        {
            "a": Script(position="Yes.\nLean: favourable"),
            "b": Script(position="No.\nLean: unfavourable", revisions=["Still no.\nLean: unfavourable"]),
        },
    )
    app.session.mode = Mode.DEBATE  # no answer shape: the leanings are read, and the synthesizer reports
    async with app.run_test(size=(160, 50)) as pilot:
        result = await ask(app, pilot, "Adopt it?")
        assert result.outcome is None and result.synthesis
        line = app.tracker.render_text().plain
        assert "R2 1 of 2 agree · no flips → synthesis · 2 of 2 answered" in line
        assert [pane.info_text().plain.splitlines()[-1] for pane in app.panes] == [
            "answers R1 favourable  R2 favourable",
            "answers R1 unfavourable  R2 unfavourable",
        ]
        assert "── Synthesis by synth ──" in app.synthesis.body.text


async def test_each_debate_pane_shows_its_answer_in_every_round_and_what_it_flipped_from() -> None:
    app = panel(Mode.DEBATE)
    async with app.run_test(size=(160, 50)) as pilot:
        await ask(app, pilot, "Which number?")
        steady, flipped, _ = (pane.info_text().plain.splitlines()[-1] for pane in app.panes)
        assert steady == "answers R1 18  R2 18"
        assert flipped == "answers R1 20 ⇄ R2 18"  # it flipped, from 20
        body = app.panes[1].body.text
        assert "── Round 2 revision ──" in body and "review" not in body
        assert "1 flip: b 20 → 18" in body


async def test_a_debates_count_is_shown_in_the_synthesis_pane_with_its_decision() -> None:
    app = panel(Mode.DEBATE)
    async with app.run_test(size=(160, 50)) as pilot:
        result = await ask(app, pilot, "Which number?")
        assert result.synthesis is not None
        body = app.synthesis.body.text
        assert "── Debate count ──" in body
        assert result.synthesis.splitlines()[-1] in body  # no model wrote it: nothing streamed it
        assert "Decision: unanimous, the count above" in body and "draft" not in body
        assert "by debate count" in app.synthesis.info_text().plain


async def test_a_votes_count_is_shown_in_the_synthesis_pane_too() -> None:
    app = panel(Mode.VOTE)
    async with app.run_test(size=(160, 50)) as pilot:
        result = await ask(app, pilot, "Which number?")
        assert result.outcome is Outcome.MAJORITY and result.synthesis
        body = app.synthesis.body.text
        assert "── Vote count ──" in body and result.synthesis.splitlines()[0] in body
        assert "Decision: majority, the count above" in body


async def test_a_vote_is_one_pass_on_the_tracker_before_during_and_after_its_count() -> None:
    """No rounds for a vote to go through: the tracker never offers R2 or R3, and says the count."""
    app = panel(Mode.VOTE)
    async with app.run_test(size=(160, 50)) as pilot:
        app.tracker.reset(Mode.VOTE, 3)
        assert app.tracker.render_text().plain == "vote · one pass"
        await ask(app, pilot, "Which number?")
        assert app.tracker.render_text().plain == "vote · one pass  │  majority · 3 of 3 voted"
        app.session.answer = None  # an open question: the synthesizer reports the leanings
        await ask(app, pilot, "Which plan?")
        line = app.tracker.render_text().plain
        assert line == "vote · one pass  │  3 of 3 answered · complete", line
        app.tracker.compact = True  # a small screen's line: no mode word
        app.tracker.reset(Mode.VOTE, 3)
        assert app.tracker.render_text().plain == "one pass"


async def test_a_councils_chairman_writes_under_its_own_name_in_the_synthesis_pane() -> None:
    app = panel(Mode.COUNCIL)
    async with app.run_test(size=(160, 50)) as pilot:
        await ask(app, pilot, "Which number?")
        body = app.synthesis.body.text
        assert "── Chairman's answer by synth ──" in body
        assert "Decision: ranked, the chairman's answer above" in body and "draft" not in body


async def test_the_tracker_tabulates_a_councils_ranking_with_its_ballots_and_the_chairman() -> None:
    app = panel(Mode.COUNCIL)
    async with app.run_test(size=(160, 50)) as pilot:
        result = await ask(app, pilot, "Which number?")
        ranking = council_ranking(result)
        assert ranking is not None
        first, header, *rows = app.tracker.render_text().plain.splitlines()
        rows = [row for row in rows if not row.startswith("tied: ")]
        assert first.startswith("council · ")
        assert "Borda: 3 ballots read · 0 abstained" in first
        assert "chairman ✓ done" in first and "ranked · 3 of 3 voted" in first
        assert header.split() == ["place", "answer", "Borda", "a", "ballot", "ballots"]
        assert [row.split()[:2] for row in rows] == [
            [str(place), "abc"[ranked.seat]] for place, ranked in enumerate(ranking.order, start=1)
        ]
        assert [row.split()[2] for row in rows] == [str(ranked.points) for ranked in ranking.order]
        assert app.tracker.outer_size.height == 2 + len(rows) + len(ranking.ties)  # all on screen


def prefers(answer: str) -> Callable[[ChatRequest], str]:
    """A ballot that ranks the answer saying `answer` first, the other after it."""

    def ballot(request: ChatRequest) -> str:
        shown = re.findall(
            r"^--- Answer ([A-Z]) ---\n(.*?)(?=^--- Answer |\Z)", request.messages[-1].content, re.M | re.S
        )
        ranked = sorted(shown, key=lambda item: answer not in item[1])
        return "FINAL RANKING: " + ", ".join(letter for letter, _ in ranked)

    return ballot


async def test_a_councils_tie_is_said_below_its_table_and_no_line_wraps() -> None:
    app = panel(
        Mode.COUNCIL,  # a prefers b, b prefers a, c abstains: a and b have a point a ballot each
        a=Script(position="ANSWER: 18", ballot=prefers("ANSWER: 20")),
        b=Script(position="ANSWER: 20", ballot=prefers("ANSWER: 18")),
        c=Script(position="ANSWER: 22", ballot="No ranking from me."),
    )
    async with app.run_test(size=(100, 40)) as pilot:
        await ask(app, pilot, "Which number?")
        lines = app.tracker.render_text().plain.splitlines()
        assert lines[-1] == "tied: a and b, broken first in panel order"
        places = [line.split()[:3] for line in lines[2:5]]
        assert places == [["1", "a", "1"], ["2", "b", "1"], ["3", "c", "0"]]
        assert lines[0].endswith("ranked · 2 of 3 voted (c abstained)")
        assert len(lines[0]) > app.tracker.content_size.width  # cut at the edge, not wrapped
        assert app.tracker.outer_size.height == len(lines)


async def test_a_councils_chairman_at_work_and_failed_is_shown_in_the_tracker() -> None:
    app = panel(Mode.COUNCIL)
    async with app.run_test(size=(160, 50)):
        tracker = app.tracker
        tracker.reset(Mode.COUNCIL, 1)
        tracker.start()
        tracker.chair_called("chairman")
        assert "chairman ◌ waiting" in tracker.render_text().plain
        tracker.chair_streaming()
        assert "chairman ● streaming" in tracker.render_text().plain
        tracker.chair_finished(CallState.FAILED)
        assert "chairman ✗ failed" in tracker.render_text().plain


async def test_a_council_whose_chairman_fails_says_so_in_the_tracker() -> None:
    refused = ProviderError(ErrorKind.AUTH, "the key was refused")
    app = panel(
        Mode.COUNCIL,  # the chairman, and each member the chain falls back to, is refused
        **{
            alias: Script(position="ANSWER: 18", fail=refused, fail_phases=("chair",))
            for alias in ("a", "b", "c", "synth")
        },
    )
    async with app.run_test(size=(160, 50)) as pilot:
        result = await ask(app, pilot, "Which number?")
        assert result.status is RunStatus.ERROR
        line = app.tracker.render_text().plain.splitlines()[0]
        assert "chairman ✗ failed" in line and "run failed" in line
        assert "Borda: 3 ballots read" in line  # the ballots are kept


async def test_a_council_on_a_small_screen_shows_its_ranking_on_the_one_line() -> None:
    app = panel(Mode.COUNCIL)
    async with app.run_test(size=(80, 24)) as pilot:
        result = await ask(app, pilot, "Which number?")
        ranking = council_ranking(result)
        assert ranking is not None
        line = app.tracker.render_text().plain
        assert "\n" not in line
        assert "ranked" in line
        assert " · ".join(f"{place} {'abc'[r.seat]}" for place, r in enumerate(ranking.order, 1)) in line


async def test_each_council_pane_shows_its_ballot_or_its_abstention_and_why() -> None:
    app = panel(Mode.COUNCIL, c=Script(position="ANSWER: 18", ballot="I like them all."))
    async with app.run_test(size=(160, 50)) as pilot:
        result = await ask(app, pilot, "Which number?")
        ballots = result.rounds[0].ballots
        a_ballot = ballots[0]
        assert a_ballot.ranking is not None
        lines = [pane.info_text().plain.splitlines()[-1] for pane in app.panes]
        assert lines[0] == "ballot  " + " > ".join("abc"[seat] for seat in a_ballot.ranking)
        assert lines[2].startswith("ballot  abstained: ")
        assert ballots[2].reason is not None and ballots[2].reason in lines[2]
        assert "── Ballot ──" in app.panes[0].body.text
        assert "(shown A " in app.panes[0].body.text  # the order its labels were shown in
        assert "1 abstained" in app.tracker.render_text().plain


async def test_ctrl_o_goes_through_every_mode_and_the_prompt_names_the_next_one() -> None:
    app, _ = make_app(["a", "b"])
    async with app.run_test(size=(160, 50)) as pilot:
        seen = []
        for _ in range(5):
            await pilot.press("ctrl+o")
            seen.append(app.session.mode)
            assert app.tracker.render_text().plain.startswith(app.session.mode.value)  # nothing on screen
        assert seen == [Mode.CONSULT, Mode.VOTE, Mode.DEBATE, Mode.COUNCIL, Mode.DELIBERATE]
        await ask(app, pilot, "Deliberate this?")
        prompt = app.query_one(PromptBar)
        for mode in (Mode.CONSULT, Mode.VOTE, Mode.DEBATE, Mode.COUNCIL):
            await pilot.press("ctrl+o")
            assert prompt.next_mode == mode.value and mode.value in str(prompt.border_subtitle)
        assert app.tracker.render_text().plain.startswith("deliberate")  # the run on screen's


def test_every_outcome_has_its_colour_in_the_tracker_and_in_f2s_list() -> None:
    assert set(OUTCOME_CLASSES) == set(Outcome) == set(OUTCOME_STYLES)
