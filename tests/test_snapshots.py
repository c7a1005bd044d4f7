"""Snapshots of the dashboard (pytest-textual-snapshot). Deterministic: a scripted provider, a frozen
clock, no timers, no cursor blink, workers awaited. Update with `pytest tests/test_snapshots.py
--snapshot-update` and look at every changed SVG before committing it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.dashboard import make_app
from tests.fakes import Script, rate_limited
from tui.dashboard.app import QuorumApp
from tui.dashboard.widgets.stream_view import StreamView
from tui.engine.provider import ChatRequest
from tui.engine.types import AnswerSpec, Mode
from tui.render.words import CallState

WIDE = (160, 50)
SMALL = (80, 24)


async def settled(pilot: Pilot[Any]) -> None:
    """Wait until nothing is left to lay out: the panes wrap long text in workers, slice by slice,
    and a busy machine must not photograph a half-wrapped pane."""
    before: list[object] = []
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        views = list(pilot.app.query(StreamView))
        # A relayout of the grid (scheduled after a refresh) can resize a pane after its text
        # settled: wait until sizes and scroll positions hold still across a turn as well.
        now: list[object] = [(v.region, v.virtual_size, v.scroll_offset) for v in views]
        idle = not any(worker.is_running for worker in pilot.app.workers)
        if idle and all(v.settled for v in views) and now == before:
            return
        before = now


def run_question(
    question: str = "Should we move the job queue to Postgres?",
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, QuorumApp)
        app.query_one("#prompt").load_text(question)  # type: ignore[attr-defined]
        app.submit(question)
        await app.workers.wait_for_complete()
        await app.workers.wait_for_complete()  # the run the cache's lookup started
        await pilot.pause()
        app.flush_now()
        app.set_focus(None)
        await settled(pilot)

    return run_before


async def start_mid_run(pilot: Pilot[Any]) -> QuorumApp:
    """Ask the question and wait until alpha is done and beta streams (gamma waits an hour)."""
    app = pilot.app
    assert isinstance(app, QuorumApp)
    app.query_one("#prompt").load_text("Should we move the job queue to Postgres?")  # type: ignore[attr-defined]
    app.submit("Should we move the job queue to Postgres?")
    for _ in range(200):
        if app.panes[0].status is CallState.DONE and app.panes[1].status is CallState.STREAMING:
            break
        await asyncio.sleep(0.01)
    return app


def test_empty_screen(snap_compare: Any) -> None:
    """You should see the prompt bar with its hint, an idle round tracker (up to 3 rounds), three
    member panes with stance badges saying '· ready', and the synthesis pane saying 'ready'."""
    app, _ = make_app(["alpha:for", "beta:against", "gamma:neutral"])
    assert snap_compare(app, terminal_size=WIDE)


def test_mid_run_streaming(snap_compare: Any) -> None:
    """You should see alpha done, beta streaming ('partial') and gamma waiting, with round 1 in progress."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {"beta": Script(hang=True), "gamma": Script(delay_s=3600)},
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await start_mid_run(pilot)
        app.flush_now()
        app.set_focus(None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_unanimous(snap_compare: Any) -> None:
    """You should see all three panes done with 'R1 ✓ accept', the tracker's R1 'unanimous' in green
    with '· 3 of 3 voted', and the synthesis pane's UNANIMOUS badge, the draft and a 'Complete ·'
    line."""
    app, _ = make_app(["alpha:for", "beta:against", "gamma:neutral"])
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


def test_majority(snap_compare: Any) -> None:
    """You should see two accepts and one reject in the single round, and a yellow 'majority' outcome
    resting on '3 of 3 voted'."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {"beta": Script(votes=["VERDICT: REJECT\n- name an owner for the rollback"])},
        run={"max_rounds": 1},
    )
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


def test_curator_decision(snap_compare: Any) -> None:
    """You should see accept, reject and an invalid vote ('? invalid'), an orange 'curator decision'
    resting on '2 of 3 voted (gamma invalid)', the tracker ending 'R1: 1 invalid vote: no verdict
    line', and the curator's text in the synthesis pane."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {
            "beta": Script(votes=["VERDICT: REJECT\n- too vague"]),
            "gamma": Script(votes=["I think it is mostly fine."]),
            "synth": Script(
                curator="CURATOR: proceed with a pilot; the rollback owner is the platform team."
            ),
        },
        run={"max_rounds": 1},
    )
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


def test_failed_member(snap_compare: Any) -> None:
    """You should see beta's pane in error with the rate-limit message in words, and the run still
    reaching a decision with alpha and gamma: 'unanimous · 2 of 3 voted (beta failed)'."""
    app, _ = make_app(["alpha:for", "beta:against", "gamma:neutral"], {"beta": Script(fail=rate_limited())})
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


def test_no_quorum(snap_compare: Any) -> None:
    """You should see beta and gamma in error, the tracker's R1 'no quorum' in red with '· 1 of 3
    answered (beta failed, gamma failed)', and the synthesis pane's red NO QUORUM badge over the
    draft, still shown, with 'No quorum: not a decision: the round 1 draft above is all there is'."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {"beta": Script(fail=rate_limited()), "gamma": Script(fail=rate_limited())},
    )
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


def test_skipped_members(snap_compare: Any) -> None:
    """You should see the third 'alpha FOR' pane skipped, with the instance-limit reason in it."""
    app, _ = make_app(["alpha:for", "alpha:for", "alpha:for", "beta:against"])
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


@pytest.mark.parametrize("count", [1, 8, 16])
def test_panel_sizes(snap_compare: Any, count: int) -> None:
    """You should see `count` member panes laid out in a grid, every one done."""
    app, _ = make_app([f"m{index:02d}" for index in range(1, count + 1)])
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


def _three_rounds_to_a_curator_decision() -> QuorumApp:
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {
            "beta": Script(votes=["VERDICT: REJECT\n- too vague"]),
            "gamma": Script(votes=["VERDICT: ACCEPT or REJECT"]),
        },
    )
    return app


def test_small_terminal(snap_compare: Any) -> None:
    """You should see at 80x24 one member, alpha, full width with its answer text, under a strip
    'alpha ✓  beta ✓  gamma ✓  Synthesis  tab · f8' (the prompt has the focus, so the arrows are
    its cursor's: Tab reaches the panes); the tracker reaching R3's orange 'curator decision'; and
    'f1 Help' first in the footer."""
    app = _three_rounds_to_a_curator_decision()
    assert snap_compare(app, terminal_size=SMALL, run_before=run_question())


def test_small_terminal_synthesis(snap_compare: Any) -> None:
    """You should see at 80x24 the synthesis alone (F8), 'Synthesis' highlighted in the strip,
    its CURATOR DECISION badge and the three drafts."""
    app = _three_rounds_to_a_curator_decision()

    async def run_before(pilot: Pilot[Any]) -> None:
        await run_question()(pilot)
        await pilot.press("f8")
        pilot.app.set_focus(None)
        await settled(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_small_terminal_mid_run(snap_compare: Any) -> None:
    """You should see at 80x24 beta's pane alone, focused and streaming ('partial'), with the strip
    saying alpha ✓ done, beta ● streaming and gamma ◌ waiting, and round 1 in progress."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {"beta": Script(hang=True), "gamma": Script(delay_s=3600)},
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        app = await start_mid_run(pilot)
        await pilot.press("tab", "tab")  # from the prompt to alpha's pane, then on to beta's
        app.flush_now()
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("theme", ["quorum-dark", "quorum-light", "quorum-high-contrast"])
def test_themes(snap_compare: Any, theme: str) -> None:
    """You should see a finished majority run in each shipped theme, outcome colours readable."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {"beta": Script(votes=["VERDICT: REJECT\n- name an owner for the rollback"])},
        run={"max_rounds": 1},
        ui={"theme": theme},
    )
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())


SPEED = "A train covers 120 km in 1.5 hours. What is its average speed in km/h?"


def _debate() -> QuorumApp:
    """Three members, two of them answering 80 and beta 75, who goes over to 80 in round 2."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {
            "alpha": Script(position="Speed is distance over time: 120 / 1.5 = 80.\nANSWER: 80"),
            "beta": Script(
                position="Allowing for the stop on the way, about 75.\nANSWER: 75",
                revisions=["The others are right: no stop is mentioned, so 120 / 1.5 = 80.\nANSWER: 80"],
            ),
            "gamma": Script(position="120 km in 90 minutes is 80 km in an hour.\nANSWER: 80"),
        },
    )
    app.session.mode, app.session.answer = Mode.DEBATE, AnswerSpec.parse("numeric")
    return app


def _rank_the_eighties_first(request: ChatRequest) -> str:
    """A ballot that ranks the answers of 80 first, the rest after, each group in the order shown."""
    answers = re.findall(
        r"^--- Answer ([A-Z]) ---\n(.*?)(?=^--- Answer |\Z)", request.messages[-1].content, re.M | re.S
    )
    ranked = sorted(answers, key=lambda answer: "ANSWER: 80" not in answer[1])
    return "FINAL RANKING: " + ", ".join(letter for letter, _ in ranked)


def _council() -> QuorumApp:
    """Four members, three answering 80 and delta 75; each ranks the answers of 80 first, and delta's
    ballot cannot be read (an abstention); the chairman answers 80."""
    ranks = _rank_the_eighties_first
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral", "delta:neutral"],
        {
            "alpha": Script(
                position="Speed is distance over time: 120 / 1.5 = 80.\nANSWER: 80", ballot=ranks
            ),
            "beta": Script(position="120 / 1.5 = 80.\nANSWER: 80", ballot=ranks),
            "gamma": Script(position="120 km in 90 minutes is 80 km in an hour.\nANSWER: 80", ballot=ranks),
            "delta": Script(position="Allowing for a stop, about 75.\nANSWER: 75", ballot="All good."),
            "synth": Script(chair="The answers ranked first agree: 120 km / 1.5 h = 80 km/h.\nANSWER: 80"),
        },
    )
    app.session.mode, app.session.answer = Mode.COUNCIL, AnswerSpec.parse("numeric")
    return app


def test_debate(snap_compare: Any) -> None:
    """You should see the tracker start 'debate · Round 2/2', R1 '2 of 3 agree → next' and R2 '3 of
    3 agree · 1 flip' then a green 'unanimous · 3 of 3 voted'; each pane's last info line 'answers
    R1 80  R2 80', beta's 'answers R1 75 ⇄ R2 80' (the flip in yellow), beta's text under its '──
    Round 2 revision ──' and '1 flip: beta 75 → 80'; and the debate's count in the synthesis pane,
    under 'Debate count', with 'Decision: unanimous, the count above'."""
    assert snap_compare(_debate(), terminal_size=WIDE, run_before=run_question(SPEED))


def test_debate_small_terminal(snap_compare: Any) -> None:
    """You should see at 80x24 the tracker 'Round 2/2 │ R1 → │ R2 3 of 3 agree · 1 flip unanimous ·
    3 of 3 voted' and alpha's pane with 'answers R1 80  R2 80'."""
    assert snap_compare(_debate(), terminal_size=SMALL, run_before=run_question(SPEED))


def test_council(snap_compare: Any) -> None:
    """You should see the tracker 'council · Borda: 3 ballots read · 1 abstained │ chairman ✓ done │
    ranked · 3 of 4 voted (delta abstained)' over a table: place, answer, Borda, a ballot, ballots,
    with alpha, gamma and beta (the answers of 80) before delta; each pane's 'ballot' line (delta's
    'abstained: no FINAL RANKING line' in yellow) and its ballot with the letters it was shown; and
    'Chairman's answer by synth' in the synthesis pane, with 'Decision: ranked, the chairman's answer
    above'."""
    assert snap_compare(_council(), terminal_size=WIDE, run_before=run_question(SPEED))


def test_council_small_terminal(snap_compare: Any) -> None:
    """You should see at 80x24 the tracker on one line, outcome first: 'ranked │ 1 alpha · 2 gamma ·
    3 beta · 4 delta │ Borda: 3 ballots read · 1…' (cut at the edge), and alpha's pane with its
    'ballot' line."""
    assert snap_compare(_council(), terminal_size=SMALL, run_before=run_question(SPEED))


def test_help_screen(snap_compare: Any) -> None:
    """You should see the help screen listing every key, its description and its keymap id (the
    command palette and quit say *fixed*: Textual's own keys cannot be remapped)."""
    app, _ = make_app(["alpha:for", "beta:against"])
    assert snap_compare(app, terminal_size=WIDE, press=["f1"])


def test_picker(snap_compare: Any) -> None:
    """You should see the member picker filtered by 'gam', showing gamma with provider, price and key."""
    app, _ = make_app(["alpha:for"], synthesizer="gamma")
    assert snap_compare(app, terminal_size=WIDE, press=["ctrl+n", "g", "a", "m"])


def test_history_screen(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """You should see the history list with two recorded runs, newest first, their outcome and cost."""
    # Recorded times, frozen per run: how many times a run reads the clock (a checkpoint every
    # half second) depends on how busy the machine is, so a counter of calls would not do.
    stamp = ["2026-11-20T09:00:00.000+00:00"]
    monkeypatch.setattr("tui.history.store.utc_now", lambda: datetime.fromisoformat(stamp[0]))
    app, _ = make_app(["alpha:for", "beta:against"])

    async def run_before(pilot: Pilot[Any]) -> None:
        assert isinstance(pilot.app, QuorumApp)
        app = pilot.app
        for minute, question in ((0, "Should we shard the orders table?"), (12, "Do we need a message bus?")):
            stamp[0] = f"2026-11-20T09:{minute:02d}:00.000+00:00"
            app.submit(question)
            await app.workers.wait_for_complete()
            await app.workers.wait_for_complete()  # the run the cache's lookup started
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


PHONE = (41, 40)


def test_small_terminal_empty(snap_compare: Any) -> None:
    """You should see at 80x24 alpha's pane alone saying '· ready' under a strip 'alpha ·  beta ·
    gamma ·  Synthesis', and 'f1 Help' first in the footer."""
    app, _ = make_app(["alpha:for", "beta:against", "gamma:neutral"])
    assert snap_compare(app, terminal_size=SMALL)


def test_phone_empty(snap_compare: Any) -> None:
    """You should see at 41x40 (a phone through `quorum serve`) alpha's pane alone saying '· ready',
    the strip cut with '…', and 'f1 Help' first in the footer."""
    app, _ = make_app(["alpha:for", "beta:against", "gamma:neutral"])
    assert snap_compare(app, terminal_size=PHONE)


def test_phone_after_a_run(snap_compare: Any) -> None:
    """You should see at 41x40 the tracker starting at R1 and reaching R3's orange 'curator' (no
    'Round 3/3' before it), the strip cut with '…', alpha's answer, and 'f1 Help' in the footer."""
    app = _three_rounds_to_a_curator_decision()
    assert snap_compare(app, terminal_size=PHONE, run_before=run_question())


def test_cancelled_before_the_synthesis(snap_compare: Any) -> None:
    """You should see three cancelled members (■), the tracker's 'run cancelled', and the synthesis
    pane saying 'no synthesis (run cancelled)' over one 'Cancelled ·' line, its body empty."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {alias: Script(hang=True) for alias in ("alpha", "beta", "gamma")},
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, QuorumApp)
        app.query_one("#prompt").load_text("Should we move the job queue to Postgres?")  # type: ignore[attr-defined]
        app.submit("Should we move the job queue to Postgres?")
        for _ in range(200):
            if all(pane.status is CallState.STREAMING for pane in app.panes):
                break
            await asyncio.sleep(0.01)
        app.runs.cancel()
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.flush_now()
        app.set_focus(None)
        await settled(pilot)

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_consult(snap_compare: Any) -> None:
    """You should see a consult run: three done panes with no votes line, the tracker's 'consult ·
    one pass, one synthesis · 3 of 3 answered', and the synthesis by synth."""
    app, _ = make_app(["alpha:for", "beta:against", "gamma:neutral"])
    app.session.mode = Mode.CONSULT
    assert snap_compare(app, terminal_size=WIDE, run_before=run_question())
