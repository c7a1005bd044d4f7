"""Following runs that other processes record (`quorum mcp`, `quorum run`, another dashboard): a run
opened from F2 while it is running, and `quorum watch`.

A `RunFollower` (`tui.history.follow`) reads the run from the history every `FOLLOW_POLL_S` on a
Textual timer, and its events take the path a live run's take (`_apply`), so the panes stream
and the tracker and synthesis move as they would here. The recorder checkpoints streamed text
every half second, so the screen is at most about a second behind. One poll (a load of the run
and the events of what is new) takes a millisecond or two even for an 8-member run
(`benchmarks/bench_history.py --checkpoints`), so it runs on the event loop: a thread would cost
more than it saves.

While a run is followed it is the run on screen, read-only: the keys that need a finished run
(rerun, follow-up) say why they wait, and a question of one's own (Enter) or another run opened
from F2 stops following. Watch mode (`quorum watch`) follows each run another process starts, one
after another, until the user starts a run here.

Built on the keys for recorded runs (`HistoryActions`), which show a run from its events.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from tui.dashboard.core import WATCHING
from tui.dashboard.history_actions import HistoryActions
from tui.engine import events as ev
from tui.engine.types import RunResult, RunStatus
from tui.errors import StoreError
from tui.history.follow import RunFollower, RunGone, running_elsewhere
from tui.history.liveness import LIVE_RUNS
from tui.history.replay import replay_request
from tui.render.words import ACTIVE_STATES, ORIGIN_WORDS, run_word
from tui.session import ShownRun

FOLLOW_POLL_S = 0.5
"""How often a followed run (or, in watch mode, the list of running runs) is read: the recorder
checkpoints as often, so the screen is at most about a second behind the run."""


class FollowActions(HistoryActions):
    """Opening a running run from F2 follows it; `quorum watch` follows each run in turn."""

    # The followed run whose first events are on screen: polls apply their events after those.
    _caught_up: str | None = None

    def on_mount(self) -> None:
        # Textual calls each class's on_mount (the core's opens the history): start once all have.
        if self.watching:
            self.call_after_refresh(self._start_watching)

    async def on_unmount(self) -> None:
        # Called before the core's, which closes the history: no last tick may read it closed.
        if self.poll_timer is not None:
            self.poll_timer.stop()

    def _start_watching(self) -> None:
        """`quorum watch [RUN]`: open the run asked for, or the newest running one, or wait for one."""
        if self.store is None:
            self.watching = False
            self.notify("Watching needs the run history, which is turned off.", severity="error")
            return
        self._start_polling()
        run_id = self.watch_run or self._next_to_watch()
        if run_id is not None:
            self.follow_run(run_id)
            return
        self.tracker.show_source(*WATCHING)
        self.notify(
            "Waiting for a run: the next one quorum mcp or quorum run starts (with this history) "
            "opens here and is followed live. A question of your own (Enter) stops watching.",
            title="Watching",
            markup=False,
        )

    def open_recorded_run(self, run_id: str | None) -> None:
        """F2's choice: a run still being recorded is followed live; a finished one is shown
        read-only (which ends watch mode: the user chose what to look at)."""
        if not run_id or self.store is None:
            return
        if self.running:
            super().open_recorded_run(run_id)  # refused, with the reason
            return
        try:
            running = self.store.status(run_id) is RunStatus.RUNNING
        except KeyError:
            self.notify(f"Run {run_id} is no longer in the history.", severity="warning", markup=False)
            return
        if running and run_id not in LIVE_RUNS:
            self.follow_run(run_id)
            return
        if self.watching:
            self.watching = False
            self.notify("Stopped watching: the run you opened stays on screen.", markup=False)
        self.stop_following()
        super().open_recorded_run(run_id)

    def follow_run(self, run_id: str) -> None:
        """Show run `run_id` and follow it as it is recorded, until it ends (a run that has
        already ended is simply shown)."""
        assert self.store is not None
        self.stop_following()
        follower = RunFollower(self.store, run_id)
        try:
            events = follower.poll()
        except (RunGone, StoreError) as err:
            self.notify(f"Cannot follow run {run_id}: {err}", severity="error", markup=False)
            return
        assert follower.result is not None
        if not follower.ended:
            self.following = follower
            self._start_polling()
        self._caught_up = None
        self.show_result(follower.result, events)  # the follower's first poll shows it so far

    def result_shown(self, result: RunResult) -> None:
        follower = self.following
        if follower is None or follower.run_id != result.run_id:
            super().result_shown(result)
            return
        self._caught_up = result.run_id
        self._time_calls_in_flight(follower)
        origin = ORIGIN_WORDS[result.origin]
        self.tracker.show_source(
            f"following {origin} · run {result.run_id[:8]}", f"following {origin}", live=True
        )
        self.notify(
            f"Following run {result.run_id}, live from {self.followed_from}: read-only while it runs. "
            "Ctrl+R and F3 wait for its end; a question of your own (Enter) stops following.",
            title="Following",
            markup=False,
        )

    # -- the poll ---------------------------------------------------------------------------

    def _start_polling(self) -> None:
        if self.poll_timer is None:
            self.poll_timer = self.set_interval(FOLLOW_POLL_S, self._poll, name="follow")

    def _poll(self) -> None:
        """The timer: read the followed run, or in watch mode look for the next run to follow."""
        follower = self.following
        if follower is None:
            if self.watching and (run_id := self._next_to_watch()) is not None:
                self.follow_run(run_id)
            return
        shown = self.shown
        if shown is None or self._caught_up != follower.run_id:
            return  # its first events are not on screen yet
        try:
            events = follower.poll()
        except (RunGone, StoreError) as err:
            self.stop_following()
            self.notify(f"{err}. Stopped following it.", title="Following", severity="error", markup=False)
            return
        result = follower.result
        assert result is not None
        if events and isinstance(events[0], ev.RunStarted):
            self._caught_up = None
            self.show_result(result, events)  # the record was rewritten: show it afresh
            return
        # The record's request is the newest word (it names the synthesizers once they are called).
        request = replay_request(result, shown.prepared.request.thread)
        self.session.shown = ShownRun(replace(shown.prepared, request=request), result)
        for event in events:
            self._apply(event, request)
        self._time_calls_in_flight(follower)
        if events:
            self.flush_now()
        if follower.ended:
            self._followed_run_ended(result)

    def _time_calls_in_flight(self, follower: RunFollower) -> None:
        """A pane's clock counts from when its call started in the other process, not from when
        this dashboard first saw it (a run opened half-way is not younger than it is)."""
        now = datetime.now(UTC)
        for pane in self.grid.run_panes:
            started = follower.in_flight.get(pane.call_id or "")
            if started is not None and pane.status in ACTIVE_STATES:
                pane.started_at = self.clock() - max(0.0, (now - started).total_seconds())

    def _followed_run_ended(self, result: RunResult) -> None:
        where = self.followed_from
        self.stop_following()  # in watch mode the poll goes on, looking for the next run
        after = " Watching for the next run." if self.watching else ""
        if result.status is RunStatus.INTERRUPTED:
            self.notify(
                f"Run {result.run_id} was interrupted: {where} stopped before it finished. "
                f"What had arrived is shown.{after}",
                title="Following",
                severity="warning",
                markup=False,
            )
            return
        self.notify(
            f"Run {result.run_id} from {where} ended: {run_word(result.status)}. "
            f"Ctrl+R reruns it, F3 asks a follow-up, F5 exports it.{after}",
            title="Following",
            markup=False,
        )

    def _next_to_watch(self) -> str | None:
        """The newest run another process is recording, unless it is the one on screen."""
        assert self.store is not None
        shown = self.shown_result.run_id if self.shown_result is not None else None
        return next((run_id for run_id in running_elsewhere(self.store) if run_id != shown), None)
