"""Following runs other processes record, in the dashboard: F2 opens a running run and follows it
live until it ends, `quorum watch` follows each run another process starts, and the keys say what
waits for the end. One test follows a real `quorum run` in a child process; the others record
"another process" in this one (its own connection, a live pid that is not ours), to stay fast."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write
from tests.dashboard import enter_question, make_app
from tests.fakes import FakeProvider, Script, lookup, request
from tests.test_app import settle, wait_for
from tests.test_store import FAKE_CONFIG, PacedProvider, dead_pid, quorum_run_in_a_child
from tui.config import paths
from tui.dashboard.app import QuorumApp
from tui.dashboard.following import WATCHING
from tui.engine import events as ev
from tui.engine.orchestrator import Run
from tui.engine.types import Origin, RunRequest, RunResult, RunStatus
from tui.history.liveness import LIVE_RUNS
from tui.history.recorder import RunRecorder
from tui.history.store import RunStore
from tui.render.words import CallState

PANEL = ["alpha:for", "beta:against"]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll and checkpoint every 50 ms: the same behaviour as every 500 ms, ten times sooner."""
    monkeypatch.setattr("tui.dashboard.following.FOLLOW_POLL_S", 0.05)
    monkeypatch.setattr("tui.history.recorder.CHECKPOINT_S", 0.05)


class AnotherProcess:
    """Records runs into the dashboard's history as another process would: through a connection
    of its own, and with a run row that names a live process other than this one (our parent),
    so the dashboard neither takes the run for its own nor for a dead one's."""

    def __init__(self) -> None:
        self.store = RunStore(paths.history_file(""))
        self.runs: list[tuple[Run, asyncio.Task[RunResult]]] = []

    def start(self, req: RunRequest, provider: Any) -> tuple[Run, asyncio.Task[RunResult]]:
        recorder = RunRecorder(self.store, config=FAKE_CONFIG)

        def sink(event: ev.Event) -> None:
            recorder(event)
            if isinstance(event, ev.RunStarted):
                self.store.flush()  # the run's row is written off the loop
                self.store._db.execute("UPDATE runs SET pid = ? WHERE id = ?", (os.getppid(), event.run_id))
                LIVE_RUNS.discard(event.run_id)

        run = Run(req, lookup(provider), sink)
        task = asyncio.ensure_future(run.execute())
        self.runs.append((run, task))
        return run, task

    def die(self, run: Run) -> None:
        """The process is killed: nothing more reaches the history, and its pid is gone."""
        self.store.flush()
        self.store._db.execute("UPDATE runs SET pid = ? WHERE id = ?", (dead_pid(), run.result.run_id))

    async def close(self) -> None:
        for run, task in self.runs:
            run.cancel()
            await task
        self.store.close()


def notes(app: QuorumApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def noted(pilot: Any, app: QuorumApp, *texts: str) -> None:
    """Wait until every text is in a notification: `notify` posts a message that the app handles
    on a later turn of its loop, later still on a busy machine."""
    await wait_for(pilot, lambda: all(text in notes(app) for text in texts), timeout=60)


def tracker_text(app: QuorumApp) -> str:
    return app.tracker.render_text().plain


async def ask(app: QuorumApp, pilot: Any, question: str) -> None:
    """A question of one's own in the prompt (it replaces the one on show), sent with Enter."""
    await enter_question(pilot, question)
    await settle(app, pilot)


async def open_from_history(app: QuorumApp, pilot: Any) -> None:
    """F2, then Enter on the newest run."""
    await pilot.press("f2")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "HistoryScreen")
    await pilot.press("enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ != "HistoryScreen")


# ------------------------------------------------------------------------------------------------
# a real `quorum run` in another process


async def test_f2_follows_a_run_another_process_records_live_until_it_ends(tmp_path: Path) -> None:
    """`quorum run` (the demo panel, slowed down) records in a child process; the dashboard opens it
    from F2 while it runs, streams it, and ends on what the record says."""
    slow = write(tmp_path / "slow.toml", "[demo]\nspeed = 2.5\n")  # a few seconds
    question = "Should we shard the orders table?"
    errors = tmp_path / "child-stderr.txt"
    child = quorum_run_in_a_child(slow, question, errors)
    app, _ = make_app(PANEL)
    try:
        async with app.run_test(size=(160, 50)) as pilot:

            def recording() -> bool:
                assert child.poll() is None, f"the run ended before it was opened: {errors.read_text()}"
                try:
                    return any(run.status is RunStatus.RUNNING for run in app.store.list_runs())  # type: ignore[union-attr]
                except sqlite3.OperationalError:  # its schema is still being written
                    return False

            await wait_for(pilot, recording, timeout=60)
            await open_from_history(app, pilot)
            following = app.following.followed
            assert following is not None and app.following.polling
            run_id = following.run_id
            await wait_for(pilot, lambda: "following quorum run" in tracker_text(app))
            await noted(pilot, app, "pid", str(child.pid))

            # Live: a pane streams while the other process is still recording the run.
            streamed_while_running: list[bool] = []

            def streaming() -> bool:
                if app.following.followed is None:
                    return True  # ended: checked below
                text = any(pane.body.text for pane in app.panes)
                streamed_while_running.append(text and app.store.status(run_id) is RunStatus.RUNNING)  # type: ignore[union-attr]
                return streamed_while_running[-1]

            await wait_for(pilot, streaming, timeout=60)
            assert any(streamed_while_running), "no text was shown while the run was being recorded"
            await wait_for(pilot, lambda: app.following.followed is None, timeout=60)
            assert child.wait(timeout=30) == 0, errors.read_text()
            await pilot.pause()

            record = app.store.load(run_id)  # type: ignore[union-attr]
            assert record.status is RunStatus.SUCCESS and record.synthesis
            shown = app.shown_result
            assert shown is not None and shown.run_id == run_id and shown.status is RunStatus.SUCCESS
            assert app.tracker.state is RunStatus.SUCCESS and app.tracker.outcome == record.outcome
            assert app.synthesis.outcome == record.outcome
            assert app.synthesis.completion and app.synthesis.completion.startswith("Complete ·")
            assert record.synthesis.strip().splitlines()[-1] in app.synthesis.body.text
            for pane, position in zip(app.panes, record.positions, strict=True):
                assert position is not None and position.content in pane.body.text
                assert pane.body.text.count(position.content) == 1  # never shown twice
                assert pane.status is CallState.DONE
            # nothing left behind: no poll, no "following" on the tracker, and the run is a
            # finished one now, for Ctrl+R, F3 and F5
            assert not app.following.polling and app.tracker.source is None
            await noted(pilot, app, "ended: complete")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


# ------------------------------------------------------------------------------------------------
# "another process" in this one


@pytest.fixture
async def another() -> AsyncIterator[AnotherProcess]:
    process = AnotherProcess()
    yield process
    await process.close()


async def follow_a_run_mid_answer(app: QuorumApp, pilot: Any, another: AnotherProcess) -> Run:
    """Another process's run in which alpha has answered and beta streams for ever; opened from
    F2 and followed until beta's first words are on screen."""
    hanging = FakeProvider({"alpha": Script(), "beta": Script(hang=True), "synth": Script()})
    run, _ = another.start(request(["alpha", "beta"]), hanging)
    await wait_for(pilot, lambda: run.result.positions and run.result.positions[0] is not None)
    await open_from_history(app, pilot)
    await wait_for(pilot, lambda: app.following.followed is not None and "partial" in app.panes[1].body.text)
    return run


async def test_keys_wait_for_the_followed_run_and_a_question_of_ones_own_stops_following(
    another: AnotherProcess,
) -> None:
    app, provider = make_app(PANEL)
    async with app.run_test(size=(160, 50)) as pilot:
        run = await follow_a_run_mid_answer(app, pilot, another)
        assert app.panes[0].status is CallState.DONE and app.panes[1].status is CallState.STREAMING
        # The streaming pane's clock counts from when the call started there, not from when it was
        # first seen here (the test's clock is frozen: only that start can move it).
        await wait_for(pilot, lambda: (app.panes[1].elapsed_ms() or 0) >= 200)
        for key, says in (
            ("ctrl+r", "A rerun waits until this run ends"),
            ("f3", "A follow-up waits until this run ends"),
            ("ctrl+f", "waits until this run ends"),
            ("ctrl+g", "only that process can cancel it"),
        ):
            await pilot.press(key)
            await noted(pilot, app, says)
        assert provider.requests == []  # nothing was sent by this dashboard
        assert app.following.followed is not None and app.following.polling

        await ask(app, pilot, "My own question?")
        assert app.following.followed is None and not app.following.polling and app.tracker.source is None
        assert app.shown_result is not None and app.shown_result.question == "My own question?"
        assert app.shown_result.status is RunStatus.SUCCESS
        assert run.phase != "done"  # the other process's run goes on, untouched


async def test_a_followed_run_whose_process_dies_ends_interrupted_with_a_message(
    another: AnotherProcess,
) -> None:
    app, _ = make_app(PANEL)
    async with app.run_test(size=(160, 50)) as pilot:
        run = await follow_a_run_mid_answer(app, pilot, another)
        another.die(run)
        await wait_for(pilot, lambda: app.following.followed is None)
        assert app.tracker.state is RunStatus.INTERRUPTED and "run interrupted" in tracker_text(app)
        # a request that named no origin
        await noted(
            pilot,
            app,
            "was interrupted: another Quorum (pid",
            "stopped before it finished. What had arrived is shown.",
        )
        assert app.panes[1].body.text.count("partial") == 1 and not app.following.polling


async def test_a_followed_run_gone_from_the_history_stops_the_follow_with_a_message(
    another: AnotherProcess,
) -> None:
    app, _ = make_app(PANEL)
    async with app.run_test(size=(160, 50)) as pilot:
        hanging = FakeProvider({"alpha": Script(hang=True), "beta": Script(hang=True), "synth": Script()})
        run, _ = another.start(request(["alpha", "beta"]), hanging)
        await wait_for(pilot, lambda: run.result.calls)
        await open_from_history(app, pilot)
        await wait_for(pilot, lambda: app.following.followed is not None)
        another.store._db.execute("DELETE FROM runs WHERE id = ?", (run.result.run_id,))
        await wait_for(pilot, lambda: app.following.followed is None)
        await noted(pilot, app, "no longer in the history. Stopped following it.")
        assert not app.following.polling


async def test_f2_says_which_runs_are_running_and_which_an_agent_asked(another: AnotherProcess) -> None:
    app, _ = make_app(PANEL)
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Finished here?")
        await settle(app, pilot)
        hanging = FakeProvider({"alpha": Script(hang=True), "beta": Script(), "synth": Script()})
        run, _ = another.start(request(["alpha", "beta"], origin=Origin.MCP), hanging)
        await wait_for(pilot, lambda: run.result.calls)
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HistoryScreen")
        rows = app.screen.run_list.rows  # type: ignore[attr-defined]
        assert rows[0].question.startswith("[mcp] Should we adopt X?") and rows[0].outcome == "● running"
        assert rows[1].question == "Finished here?" and rows[1].outcome == "unanimous"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "following quorum mcp · run" in tracker_text(app))


async def test_quorum_watch_waits_follows_each_run_in_turn_until_the_user_takes_over(
    another: AnotherProcess,
) -> None:
    app, _ = make_app(PANEL, watch=True)  # as `quorum watch` makes it
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: app.tracker.source == WATCHING)
        await noted(pilot, app, "Waiting for a run")
        assert app.following.polling

        paced = PacedProvider(pieces=6, every_s=0.05)
        first, done = another.start(request(["alpha", "beta"]), paced)
        await wait_for(pilot, lambda: app.following.followed is not None)
        assert app.following.followed.run_id == first.result.run_id  # type: ignore[union-attr]
        await done
        await wait_for(pilot, lambda: app.following.followed is None)
        assert app.shown_result is not None and app.shown_result.run_id == first.result.run_id
        assert app.tracker.state is RunStatus.SUCCESS and app.tracker.source == WATCHING
        assert app.panes[0].body.text.count("alpha-piece-5") == 1
        assert app.following.polling  # still watching for the next

        second, done = another.start(request(["alpha", "beta"]), paced)
        await wait_for(pilot, lambda: app.following.followed is not None)
        assert app.following.followed.run_id == second.result.run_id  # type: ignore[union-attr]
        await done
        await wait_for(
            pilot, lambda: app.following.followed is None and app.tracker.state is RunStatus.SUCCESS
        )

        await ask(app, pilot, "Mine now?")
        assert not app.following.watching and not app.following.polling
        await noted(pilot, app, "Stopped watching")
        _, done = another.start(request(["alpha", "beta"]), paced)
        await done
        await pilot.pause()  # nothing reads the history any more (no poll): nothing can take it
        assert app.shown_result is not None and app.shown_result.question == "Mine now?"  # not taken


async def test_quorum_watch_opens_the_run_it_is_given_and_the_newest_running_one() -> None:
    app, _ = make_app(PANEL)
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Recorded before?")
        await settle(app, pilot)
        recorded = app.shown_result
        assert recorded is not None
    app, _ = make_app(PANEL, watch=True, watch_run=recorded.run_id)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: app.shown_result is not None)
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == recorded.run_id
        assert (
            app.following.followed is None and app.tracker.source == WATCHING
        )  # ended: shown, and watching on
        assert "staged rollout" in app.panes[0].body.text
