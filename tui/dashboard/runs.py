"""The dashboard's runs: asking the panel (unless the cache answers), rerunning the run on screen or
some of its members, re-synthesizing, cancelling, and exporting it.

A run is an async worker of the app; its events are applied to the screen as they come
(`RunDisplay`). The run on screen lives in the session (`session.shown`): live or opened from the
history, it is the one run that reruns, follow-ups and exports act on; nothing here keeps a copy.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from textual.app import App

from tui.cache import Lookup
from tui.config import paths
from tui.config.catalog import secret_values
from tui.config.schema import Settings
from tui.dashboard.following import Following
from tui.dashboard.next_question import NextQuestion
from tui.dashboard.run_display import RunDisplay
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.engine import events as ev
from tui.engine.orchestrator import ProviderLookup, Run
from tui.engine.types import RunResult
from tui.errors import QuorumError, StoreError
from tui.history.recorder import finish_recording
from tui.history.store import RunStore
from tui.render.cache import cache_line
from tui.session import PreparedRun, Session, ShownRun, start_run

log = logging.getLogger(__name__)


class RunControl:
    """Starts, reruns, cancels and exports the dashboard `app`'s runs."""

    def __init__(
        self,
        app: App[Any],
        settings: Settings,
        session: Session,
        store: RunStore | None,
        providers: ProviderLookup,
        *,
        clock: Callable[[], float],
        display: RunDisplay,
        following: Following,
        next_question: NextQuestion,
        prompt: PromptBar,
    ) -> None:
        self.app, self.settings, self.session, self.store = app, settings, session, store
        self.providers, self.clock = providers, clock
        self.display, self.following, self.next_question, self.prompt = (
            display,
            following,
            next_question,
            prompt,
        )

    @property
    def prepared(self) -> PreparedRun | None:
        """The request (and seat mapping) of the run on screen."""
        return self.session.shown.prepared if self.session.shown is not None else None

    @property
    def live_run(self) -> Run | None:
        """The run on screen if it is a live one (finished or not)."""
        return self.session.shown.run if self.session.shown is not None else None

    @property
    def running(self) -> bool:
        return self.session.shown is not None and self.session.shown.live

    # -- asking ----------------------------------------------------------------------------

    def submit(self, question: str, *, fresh: bool = False) -> None:
        """Start a new run of the whole panel for `question` — unless an earlier run answers it
        (the cache), which is shown instead; `fresh` asks the panel whatever the history holds.
        The cache is looked in by a worker (differently worded questions are compared in a
        thread); the run starts after it, if nothing is served."""
        question = question.strip()
        if not question:
            self.app.notify("Type a question first.", severity="warning")
            return
        self.next_question.new_question()
        if fresh:
            self._ask(question)
        else:
            self.app.run_worker(self._look_then_ask(question), group="cache", exclusive=True, name="cache")

    def _ask(self, question: str, lookup: Lookup | None = None) -> None:
        """Put `question` to the panel; while it answers, look for a similar earlier run to name."""
        shown = self.session.shown
        self._start(question, rerun_seats=None)
        if self.session.shown is not shown:  # it started: the box is ready for the next question
            self.next_question.forget_follow_up()
            self.prompt.question_sent(question)
            if self.session.shown is not None and self.store is not None:  # the cache says if it applies
                started = self.session.shown
                lookup = lookup or Lookup(self.settings, started.prepared.request, self.store)
                self.app.run_worker(
                    self._suggest_similar(started, lookup), group="similar", exclusive=True, name="similar"
                )
        self.next_question.refresh_chips()

    # -- the cache: its lookups, all here ----------------------------------------------------

    async def _look_then_ask(self, question: str) -> None:
        """Show the earlier run that answers `question` (the cache), or put it to the panel."""
        try:
            request = self.session.prepare(question).request
        except QuorumError:
            self._ask(question)  # starting the run says what is wrong
            return
        lookup = Lookup(self.settings, request, self.store)
        try:
            hit = await lookup.serve()
        except (StoreError, sqlite3.Error) as err:
            log.warning("the cache lookup failed, asking the panel: %s", err)
            hit = None
        if hit is not None:
            self._show_hit(question, hit)
        else:
            self._ask(question, lookup)

    async def _suggest_similar(self, shown: ShownRun, lookup: Lookup) -> None:
        """Name the most similar earlier run (not served) while `shown` runs, if it is still on screen."""
        line = cache_line(await lookup.suggest())
        if line is not None and self.session.shown is shown:
            self.app.notify(line, title="Cache", markup=False, timeout=10)

    def _show_hit(self, question: str, hit: RunResult) -> None:
        """Show a run served from the cache; one in flight is cancelled, as a new question does."""
        self._take_over_from_following()
        if self.running and self.live_run is not None:
            self.live_run.cancel()
        self.display.show_recorded(hit)
        self.prompt.question_sent(question)
        self._confirm_recorded_apart(hit)

    # -- a run, to its end and its record ----------------------------------------------------

    def _start(self, question: str, rerun_seats: set[int] | None) -> None:
        try:
            prepared = self.session.prepare(question)
        except QuorumError as err:
            self.app.notify(str(err), severity="error", markup=False)
            return
        self._take_over_from_following()
        reuse = {} if rerun_seats is None else self.session.reuse_for(prepared, rerun_seats)
        show: ev.EventSink = lambda event: self._on_engine_event(run, event)  # noqa: E731
        # The run it replaces is cancelled by the exclusive worker below; its late events are
        # ignored (they belong to another run) and its recorder records it to the end.
        run = start_run(
            self.settings,
            prepared.request,
            self.providers,
            [show],
            store=self.store,
            reuse=reuse,
            clock=self.clock,
        )
        self.session.shown = ShownRun(prepared, run)
        self.display.start(prepared)
        self.app.run_worker(self._execute(run), group="run", exclusive=True, exit_on_error=False, name="run")
        self.next_question.refresh_chips()

    def _take_over_from_following(self) -> None:
        """A run of this dashboard's own takes the screen: a run followed (or watch mode) stops."""
        if self.following.followed is not None or self.following.watching:
            self.following.stop_following(taken_over=True)

    def _on_engine_event(self, run: Run, event: ev.Event) -> None:
        if run is self.live_run:
            self.display.apply(event, run.request)

    async def _execute(self, run: Run) -> None:
        """The run's worker, to the run's end and its record in the history. The engine ends a run
        whose display or recorder failed as failed (and says why); whatever still goes wrong here
        is shown, so the dashboard stays usable. A run another one replaces is cancelled, and its
        record is waited for in a worker of its own."""
        try:
            result = await run.execute()
        except asyncio.CancelledError:
            self._confirm_recorded_apart(run.result)
            raise
        except Exception as err:
            log.exception("run %s: the worker failed", run.result.run_id)
            self._show_run_failure(run, f"internal error: {type(err).__name__}: {err} (see the log)")
            return
        if run is self.live_run and self.display.says_running:
            # The display failed before it could show the end: show it now, plainly.
            self._show_run_failure(run, "; ".join(result.errors) or "the run ended but could not be shown")
        try:
            await self._confirm_recorded(result)
        except asyncio.CancelledError:
            self._confirm_recorded_apart(result)
            raise

    def _confirm_recorded_apart(self, result: RunResult) -> None:
        """`_confirm_recorded` in a worker of its own (none once the dashboard is closing)."""
        if self.app.is_running:
            self.app.run_worker(
                self._confirm_recorded(result), group="recording", exit_on_error=False, name="recording"
            )

    async def _confirm_recorded(self, result: RunResult) -> None:
        """Wait until the history holds `result` as it ended. A run it could not record is shown
        failed, with why (its answer stays on screen)."""

        def waiting(why: str) -> None:
            self.app.notify(f"{why[0].upper()}{why[1:]}.", title="History", severity="warning", markup=False)

        problem = await finish_recording(self.store, result, waiting=waiting)
        if problem is None:
            return
        shown = self.session.shown
        if shown is not None and result is shown.result:
            self.display.show_failure(problem, title="Run not recorded")
        else:
            self.app.notify(
                f"Run {result.run_id}: {problem}", title="Run not recorded", severity="error", markup=False
            )

    def _show_run_failure(self, run: Run, message: str) -> None:
        if run is self.live_run:
            self.display.show_failure(message, title="Run failed")

    # -- the keys --------------------------------------------------------------------------

    def rerun(self) -> None:
        """Ctrl+R (and F9): the question in the prompt, or the one on screen, asked of the panel —
        never served from the cache."""
        if self.following.waits_for_followed_run("A rerun"):
            return
        prepared = self.prepared
        question = self.prompt.text.strip() or (prepared.request.question if prepared else "")
        if (
            prepared is not None
            and question == prepared.request.question
            and not self.next_question.follows_up
        ):
            # The same question again is the same request: a follow-up stays one (its thread).
            self.next_question.follow_up(prepared.request.thread)
        self.submit(question, fresh=True)

    def rerun_failed(self) -> None:
        self._rerun_seats(self.session.failed_seats(), "failed members")

    def rerun_member(self, seat: int) -> None:
        if self.prepared is not None and seat not in self.prepared.seat_of_member:
            self.app.notify("That member was not in the last run; press Ctrl+R to run the panel.")
            return
        self._rerun_seats({seat}, "member")

    def _rerun_seats(self, seats: set[int], what: str) -> None:
        if self.following.waits_for_followed_run(f"A rerun of the {what}"):
            return
        if self.prepared is None:
            self.app.notify("Nothing has run yet: type a question and press Enter.", severity="warning")
            return
        if not seats:
            self.app.notify(f"No {what} to rerun.", severity="information")
            return
        run = self.live_run
        if run is not None and self.running and run.phase == "positions":
            indices = [i for i, seat in enumerate(self.prepared.seat_of_member) if seat in seats]
            if indices and run.replace_members(indices):
                return
        self._start(self.prepared.request.question, rerun_seats=seats)

    def resynthesize(self) -> None:
        if self.following.waits_for_followed_run("Re-synthesizing"):
            return
        if self.prepared is None:
            self.app.notify("Nothing to re-synthesize yet.", severity="warning")
            return
        run = self.live_run
        if self.running and run is not None and run.phase == "positions":
            self.app.notify(
                "The members are still answering; the synthesis follows them.", severity="warning"
            )
            return
        self._start(self.prepared.request.question, rerun_seats=set())

    def cancel(self) -> None:
        run = self.live_run
        if self.running and run is not None:
            run.cancel()
        elif self.following.followed is not None:
            self.app.notify(
                f"This run belongs to {self.following.followed_from}: only that process can cancel it. "
                "Ctrl+G cancels the runs started here.",
                severity="warning",
                markup=False,
            )
        else:
            self.app.notify("No run in progress.", severity="information")

    def export(self) -> None:
        """F5: the run on screen as Markdown and JSON, in the exports folder."""
        shown = self.session.shown
        if shown is None:
            self.app.notify("Nothing to export yet.", severity="warning")
            return
        from tui.render.export import export_run

        try:
            markdown, data = export_run(shown.result, paths.exports_dir(), secret_values(self.settings))
        except OSError as err:
            self.app.notify(f"Could not export: {err}", severity="error", markup=False)
            return
        self.app.notify(f"Exported to {markdown} and {data.name}", title="Export", markup=False)
