"""Opening recorded runs, and following those that other processes record (`quorum mcp`, `quorum
run`, another dashboard): F2's choice is shown read-only, or followed live while it runs; `quorum
watch` follows each run another process starts, one after another, until the user starts a run here.

A `RunFollower` (`tui.history.follow`) reads the run from the history every `FOLLOW_POLL_S` on a
Textual timer, and its events take the path a live run's take (`RunDisplay.apply`), so the panes
stream and the tracker and synthesis move as they would here. The recorder checkpoints streamed
text every half second, so the screen is at most about a second behind. One poll (a load of the
run and the events of what is new) takes a millisecond or two even for an 8-member run
(`benchmarks/bench_history.py --checkpoints`), so it runs on the event loop: a thread would cost
more than it saves.

While a run is followed it is the run on screen, read-only: the keys that need a finished run
(rerun, follow-up) say why they wait, and a question of one's own (Enter) or another run opened
from F2 stops following.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from textual.app import App
from textual.timer import Timer

from tui.dashboard.run_display import RunDisplay
from tui.dashboard.widgets.round_tracker import RoundTracker
from tui.engine import events as ev
from tui.engine.types import RunResult, RunStatus
from tui.errors import StoreError
from tui.history.follow import RunFollower, RunGone, running_elsewhere
from tui.history.liveness import LIVE_RUNS
from tui.history.replay import replay_request
from tui.history.store import RunStore
from tui.render.words import ACTIVE_STATES, ORIGIN_WORDS, run_word
from tui.session import Session, ShownRun

FOLLOW_POLL_S = 0.5
"""How often a followed run (or, in watch mode, the list of running runs) is read: the recorder
checkpoints as often, so the screen is at most about a second behind the run."""
WATCHING = ("watching · the next run quorum mcp or quorum run starts opens here", "watching")
"""What the tracker says (in full, and on a small screen) while watch mode waits for a run."""


class Following:
    """Opens recorded runs on the dashboard `app` and follows the ones still being recorded.
    `watching`: `quorum watch`, which opens `watch_run` first (else the newest running run)."""

    def __init__(
        self,
        app: App[Any],
        session: Session,
        store: RunStore | None,
        display: RunDisplay,
        tracker: RoundTracker,
        *,
        clock: Callable[[], float],
        watching: bool = False,
        watch_run: str | None = None,
    ) -> None:
        self.app, self.session, self.store, self.display, self.tracker = app, session, store, display, tracker
        self.clock = clock
        self.watching, self.watch_run = watching, watch_run
        self.followed: RunFollower | None = None
        """The run on screen while another process records it."""
        self._poll_timer: Timer | None = None  # reads the history while following or watching
        self._caught_up: str | None = None  # the followed run whose first events are on screen

    @property
    def polling(self) -> bool:
        """The history is read on a clock: a run is followed, or watch mode waits for one."""
        return self._poll_timer is not None

    @property
    def followed_from(self) -> str:
        """Where the followed run is being recorded: `quorum mcp (pid 4242)`."""
        follower = self.followed
        if follower is None or follower.result is None:
            return ""
        return f"{ORIGIN_WORDS[follower.result.origin]} (pid {follower.pid})"

    # -- opening a recorded run ------------------------------------------------------------

    def open_history(self) -> None:
        """F2: the history, whose choice is opened here."""
        if self.store is None:
            self.app.notify("Run history is turned off ([store] enabled = false).", severity="warning")
            return
        from tui.dashboard.screens.history import HistoryScreen  # screens load when first opened

        self.app.push_screen(HistoryScreen(self.store), callback=self.open_recorded_run)

    def open_recorded_run(self, run_id: str | None) -> None:
        """F2's choice: a run still being recorded is followed live; a finished one is shown
        read-only (which ends watch mode: the user chose what to look at)."""
        if not run_id or self.store is None:
            return
        if self.session.shown is not None and self.session.shown.live:
            self.app.notify(
                "A run is in progress: cancel it (Ctrl+G) or let it finish first.", severity="warning"
            )
            return
        try:
            running = self.store.status(run_id) is RunStatus.RUNNING
        except KeyError:
            self.app.notify(f"Run {run_id} is no longer in the history.", severity="warning", markup=False)
            return
        if running and run_id not in LIVE_RUNS:
            self.follow_run(run_id)
            return
        if self.watching:
            self.watching = False
            self.app.notify("Stopped watching: the run you opened stays on screen.", markup=False)
        self.stop_following()
        self.display.show_recorded(self.store.load(run_id))

    # -- following -------------------------------------------------------------------------

    def start_watching(self) -> None:
        """`quorum watch [RUN]`: open the run asked for, or the newest running one, or wait for one."""
        if self.store is None:
            self.watching = False
            self.app.notify("Watching needs the run history, which is turned off.", severity="error")
            return
        self._start_polling()
        run_id = self.watch_run or self._next_to_watch()
        if run_id is not None:
            self.follow_run(run_id)
            return
        self.tracker.show_source(*WATCHING)
        self.app.notify(
            "Waiting for a run: the next one quorum mcp or quorum run starts (with this history) "
            "opens here and is followed live. A question of your own (Enter) stops watching.",
            title="Watching",
            markup=False,
        )

    def follow_run(self, run_id: str) -> None:
        """Show run `run_id` and follow it as it is recorded, until it ends (a run that has
        already ended is simply shown)."""
        assert self.store is not None
        self.stop_following()
        follower = RunFollower(self.store, run_id)
        try:
            events = follower.poll()
        except (RunGone, StoreError) as err:
            self.app.notify(f"Cannot follow run {run_id}: {err}", severity="error", markup=False)
            return
        assert follower.result is not None
        if not follower.ended:
            self.followed = follower
            self._start_polling()
        self._caught_up = None
        # The follower's first poll shows it so far.
        self.display.show_recorded(follower.result, events, shown=self._result_shown)

    def _result_shown(self, result: RunResult) -> None:
        follower = self.followed
        if follower is None or follower.run_id != result.run_id:
            self.display.announce(result)
            return
        self._caught_up = result.run_id
        self._time_calls_in_flight(follower)
        origin = ORIGIN_WORDS[result.origin]
        self.tracker.show_source(
            f"following {origin} · run {result.run_id[:8]}", f"following {origin}", live=True
        )
        self.app.notify(
            f"Following run {result.run_id}, live from {self.followed_from}: read-only while it runs. "
            "Ctrl+R and F3 wait for its end; a question of your own (Enter) stops following.",
            title="Following",
            markup=False,
        )

    def stop_following(self, *, taken_over: bool = False) -> None:
        """Stop following the run on screen: it stays as the record last had it. `taken_over`: the
        user starts a run here, which ends watch mode too. The history's poll stops unless watch
        mode goes on waiting for the next run."""
        if taken_over and self.watching:
            self.watching = False
            self.app.notify("Stopped watching: this dashboard runs your question now.", markup=False)
        self.followed = None
        if self.watching:
            self.tracker.show_source(*WATCHING)
            return
        self.tracker.show_source(None)
        self.stop()

    def stop(self) -> None:
        """No more reads of the history (the dashboard is closing it, or nothing is followed)."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None

    def waits_for_followed_run(self, what: str) -> bool:
        """While a run another process records is followed, keys that act on a finished run wait
        for its end: True (and the user is told why) if `what` has to wait."""
        if self.followed is None:
            return False
        self.app.notify(
            f"{what} waits until this run ends: it is still running in {self.followed_from}. "
            "A new question (Enter) starts a run of your own instead.",
            severity="warning",
            markup=False,
        )
        return True

    # -- the poll ---------------------------------------------------------------------------

    def _start_polling(self) -> None:
        if self._poll_timer is None:
            self._poll_timer = self.app.set_interval(FOLLOW_POLL_S, self._poll, name="follow")

    def _poll(self) -> None:
        """The timer: read the followed run, or in watch mode look for the next run to follow."""
        follower = self.followed
        if follower is None:
            if self.watching and (run_id := self._next_to_watch()) is not None:
                self.follow_run(run_id)
            return
        shown = self.session.shown
        if shown is None or self._caught_up != follower.run_id:
            return  # its first events are not on screen yet
        try:
            events = follower.poll()
        except (RunGone, StoreError) as err:
            self.stop_following()
            self.app.notify(
                f"{err}. Stopped following it.", title="Following", severity="error", markup=False
            )
            return
        result = follower.result
        assert result is not None
        if events and isinstance(events[0], ev.RunStarted):
            self._caught_up = None
            self.display.show_recorded(result, events, shown=self._result_shown)  # rewritten: afresh
            return
        # The record's request is the newest word (it names the synthesizers once they are called).
        request = replay_request(result, shown.prepared.request.thread)
        self.session.shown = ShownRun(replace(shown.prepared, request=request), result)
        for event in events:
            self.display.apply(event, request)
        self._time_calls_in_flight(follower)
        if events:
            self.display.flush()
        if follower.ended:
            self._followed_run_ended(result)

    def _time_calls_in_flight(self, follower: RunFollower) -> None:
        """A pane's clock counts from when its call started in the other process, not from when
        this dashboard first saw it (a run opened half-way is not younger than it is)."""
        now = datetime.now(UTC)
        for pane in self.display.grid.run_panes:
            started = follower.in_flight.get(pane.call_id or "")
            if started is not None and pane.status in ACTIVE_STATES:
                pane.started_at = self.clock() - max(0.0, (now - started).total_seconds())

    def _followed_run_ended(self, result: RunResult) -> None:
        where = self.followed_from
        self.stop_following()  # in watch mode the poll goes on, looking for the next run
        after = " Watching for the next run." if self.watching else ""
        if result.status is RunStatus.INTERRUPTED:
            self.app.notify(
                f"Run {result.run_id} was interrupted: {where} stopped before it finished. "
                f"What had arrived is shown.{after}",
                title="Following",
                severity="warning",
                markup=False,
            )
            return
        self.app.notify(
            f"Run {result.run_id} from {where} ended: {run_word(result.status)}. "
            f"Ctrl+R reruns it, F3 asks a follow-up, F5 exports it.{after}",
            title="Following",
            markup=False,
        )

    def _next_to_watch(self) -> str | None:
        """The newest run another process is recording, unless it is the one on screen."""
        assert self.store is not None
        shown = self.session.shown.result.run_id if self.session.shown is not None else None
        return next((run_id for run_id in running_elsewhere(self.store) if run_id != shown), None)
