"""The dashboard's core: its layout, the run on screen, starting runs and the keys that rerun them.

The app only consumes engine events and calls engine entry points. A run is an async worker; its
events are applied to the widgets as they come, except streamed text, which panes buffer and a
single clock flushes a few times a second (so a token never costs a repaint).

The run on screen lives in the session (`session.shown`): live or opened from the history, it is
the one run that reruns, follow-ups and exports act on; the app keeps no copy of it. The keys
that edit the panel and those for recorded runs are in `panel_actions` and `history_actions`,
which build on this class; following runs that other processes record is in `follow_actions`;
`tui.dashboard.app.QuorumApp` puts them together.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.color import ColorParseError
from textual.containers import Horizontal
from textual.css.errors import StylesheetError
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from tui.cache import Lookup, warm_embedder
from tui.config.catalog import secret_values
from tui.config.schema import Settings
from tui.dashboard import keys
from tui.dashboard.run_display import RunDisplay
from tui.dashboard.themes import DEFAULT_THEME, register_themes, theme_variable_defaults
from tui.dashboard.widgets.member_grid import MemberGrid
from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.member_strip import MemberStrip
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.dashboard.widgets.round_tracker import RoundTracker
from tui.dashboard.widgets.synthesis_pane import SynthesisPane
from tui.engine import events as ev
from tui.engine.orchestrator import ProviderLookup, Run
from tui.engine.types import Image, Mode, PriorTurn, RunRequest, RunResult, RunStatus
from tui.engine.validators import warm_validators
from tui.errors import QuorumError, StoreError, UserConfigError, redact
from tui.history.follow import RunFollower
from tui.history.recorder import CLOSING_WAIT_S, finish_recording
from tui.history.store import RunStore
from tui.pool import ProviderPool
from tui.render.cache import cache_line
from tui.render.context import context_chip
from tui.render.words import ORIGIN_WORDS
from tui.session import PreparedRun, Session, ShownRun, open_store, start_run

if TYPE_CHECKING:
    from rich.traceback import Trace

log = logging.getLogger(__name__)

# Text is flushed to the screen this often while streaming: frames, not tokens, are the budget.
FLUSH_INTERVAL_S = 0.25
# The prompt's Up key reaches this many of the history's questions (and all of this session's).
RECALLED_QUESTIONS = 200
# Below either, a terminal is small: one pane at a time, full size, and a strip to move between them.
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30
# What the tracker says (in full, and on a small screen) while watch mode waits for a run.
WATCHING = ("watching · the next run quorum mcp or quorum run starts opens here", "watching")


class DashboardCore(App[None]):
    """Everything the dashboard's keys build on; see `QuorumApp`."""

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere (benchmarks) find it too
    TITLE = "Quorum"
    BINDINGS = keys.bindings()

    def __init__(
        self,
        settings: Settings,
        session: Session,
        *,
        question: str = "",
        start: bool = False,
        providers: ProviderLookup | None = None,
        clock: Callable[[], float] = time.perf_counter,
        flush_interval: float | None = FLUSH_INTERVAL_S,
        save_settings: bool = True,
        cursor_blink: bool = True,
        watch: bool = False,
        watch_run: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.session = session
        self.initial_question = question
        self.start_at_once = start and bool(question.strip())
        self._pool = ProviderPool(settings) if providers is None else None
        self.providers: ProviderLookup = providers or self._pool  # type: ignore[assignment]
        self.clock = clock
        self.flush_interval = flush_interval
        self.save_settings = save_settings
        self.cursor_blink = cursor_blink
        self.run_panes: list[ModelPane] = []  # the panes of the run on screen, in its panel order
        self.follow_up_armed = False  # F3 was pressed: the next question follows up the run on screen
        self.panel_undo: list[Any] = []  # the panel's edits that `u` undoes, newest last (see PanelActions)
        self.store: RunStore | None = None
        # The run on screen while another process records it (see FollowActions).
        self.following: RunFollower | None = None
        # `quorum watch`: each run another process starts is followed, until the user starts one;
        # `watch_run` is the run it was asked to open first.
        self.watching, self.watch_run = watch, watch_run
        self.poll_timer: Timer | None = None  # reads the history while following or watching
        # Themes are registered and chosen before the first frame: switching theme after mount
        # would restyle every widget a second time.
        self._theme_errors = register_themes(self, settings.ui.theme)

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        prompt = PromptBar(self.initial_question, id="prompt")
        prompt.cursor_blink = self.cursor_blink
        prompt.recall.earlier = self._earlier_questions
        self._prompt = prompt  # held: a modal screen on top must not hide it from the app's keys
        yield prompt
        yield RoundTracker(id="tracker")
        with Horizontal(id="main"):
            yield MemberStrip(id="strip")
            yield MemberGrid(self.session.members(), clock=self.clock, id="members")
            yield SynthesisPane(id="synthesis")
        yield Footer()

    @property
    def grid(self) -> MemberGrid:
        return self.dashboard_screen.query_one("#members", MemberGrid)

    @property
    def panes(self) -> list[ModelPane]:
        return self.grid.panes

    @property
    def prompt_bar(self) -> PromptBar:
        return self._prompt

    @property
    def tracker(self) -> RoundTracker:
        return self._tracker

    @property
    def synthesis(self) -> SynthesisPane:
        return self._synthesis

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Per theme: Textual's own themes get the colours of the Quorum theme of their kind.
        return theme_variable_defaults(self.current_theme, self.available_themes)

    def on_mount(self) -> None:
        # Held, not queried: events and the flush clock reach them many times a second.
        self._tracker = self.query_one(RoundTracker)
        self._synthesis = self.query_one(SynthesisPane)
        self.run_display = RunDisplay(self._tracker, self._synthesis)
        self._report_theme_errors()
        self.theme_changed_signal.subscribe(self, lambda theme: self.theme_chosen(theme.name))
        self._open_store()
        if self.settings.ui.keymap:
            self.set_keymap(self.settings.ui.keymap)
        self.tracker.reset(self.session.mode, self.session.max_rounds)
        self.synthesis.reset(self.session.mode is Mode.CONSULT)
        self.refresh_chips()  # images given on the command line show before the first question
        self.relayout()
        # Toasts after the first frame: they are not what the user should wait for.
        for note in self.session.notes:
            self.call_after_refresh(self.notify, note, title="Panel", markup=False)
        if self.flush_interval:
            self.set_interval(self.flush_interval, self.flush_now, name="flush")
        self.query_one(PromptBar).focus()
        if self.start_at_once:
            self.call_after_refresh(self.submit, self.initial_question)
        self.call_after_refresh(self.tune_gc)  # again: the widgets built for the first frame stay too
        if self._pool is not None:  # after the first frame, the panel's SDKs start loading
            self.call_after_refresh(self._pool.warm, self.session.members())
        self.call_after_refresh(warm_embedder, self.settings)  # the cache's embedder, while the user types
        self.call_after_refresh(warm_validators)  # the engine's, or the first run's start builds them

    @staticmethod
    def tune_gc() -> None:
        """Keep the collector's full passes from stalling the stream (measured: 100+ ms every second).

        Everything built at start-up lives as long as the app, so it is frozen out of the
        collector's scans, and the young generation is collected less often: streaming makes
        many short-lived strips, and each full pass otherwise walks the whole widget tree. The
        flush tick collects the young generation itself (`flush_now`), between frames.
        """
        gc.freeze()  # no collection first: a full pass costs ~40 ms, and start-up leaves little garbage
        gc.set_threshold(20_000, 50, 100)  # as every `quorum` command starts (tui.cli)

    def _report_theme_errors(self) -> None:
        if self._theme_errors:
            self.call_after_refresh(
                self.notify,
                "\n".join(self._theme_errors),
                title="Theme problems",
                severity="error",
                markup=False,
                timeout=10,
            )

    def _open_store(self) -> None:
        try:
            self.store = open_store(self.settings)
        except StoreError as err:
            self._notify_later(f"{err}. Runs will not be recorded.", title="History", severity="error")
            return
        if self.store is not None and self.store.interrupted:
            count = len(self.store.interrupted)
            self._notify_later(
                f"{count} run{'s were' if count > 1 else ' was'} interrupted last time; "
                "F2 opens the history.",
                title="History",
            )

    def _notify_later(self, message: str, *, title: str, severity: Any = "information") -> None:
        self.call_after_refresh(self.notify, message, title=title, severity=severity, markup=False)

    def on_resize(self, event: events.Resize) -> None:
        # The event's size, not self.size: the screen may not have been resized yet.
        self.relayout(event.size.width, event.size.height)

    def relayout(self, width: int | None = None, height: int | None = None) -> None:
        width = width or self.size.width or 160
        height = height or self.size.height or 50
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        dashboard = self.dashboard_screen  # a resize may come while another screen is on top
        main = dashboard.query_one("#main")
        main.set_class(width < 110, "-narrow")
        main.set_class(compact, "-compact")
        self.grid.compact = compact
        self.grid.relayout(width)
        tracker = dashboard.query_one(RoundTracker)
        if tracker.compact != compact:
            tracker.compact = compact
            tracker.refresh_view()
        footer = dashboard.query_one(Footer)
        footer.compact = compact
        footer.show_command_palette = not compact  # Ctrl+P still works; F1 Help must fit instead
        self.refresh_strip()

    @property
    def dashboard_screen(self) -> Screen[Any]:
        """The screen the dashboard is on (help, history and the picker go on top of it)."""
        return self.screen_stack[0]

    @property
    def compact(self) -> bool:
        """A small terminal: one pane at a time (see `relayout`)."""
        return self.grid.compact

    @property
    def synthesis_shown(self) -> bool:
        """On a small screen, the synthesis is the pane on screen (instead of a member)."""
        return self.dashboard_screen.query_one("#main").has_class("-synthesis-view")

    def refresh_strip(self) -> None:
        """The small screen's strip: every member's status, and which pane is on screen."""
        try:
            if not self.compact:
                return
            strip = self.dashboard_screen.query_one(MemberStrip)
            panes = self.panes
            current = len(panes) if self.synthesis_shown else self.grid.current
        except (NoMatches, IndexError):  # the clock ticked while the dashboard is taken down (no screen)
            return
        rows = {row[3]: row[0].lstrip("● ").strip() for row in self.key_rows()}
        # In the prompt the arrows move the text cursor: the strip says how to reach the panes.
        arrows = "tab" if self._prompt.has_focus else f"{rows['previous_pane']}/{rows['next_pane']}"
        hint = f"{arrows} · {rows['toggle_synthesis']}"
        strip.show([(p.shown_name or p.member.alias, p.status) for p in panes], current, hint)

    # -- the run on screen -------------------------------------------------------------------

    @property
    def shown(self) -> ShownRun | None:
        """The run on screen, live or opened from the history (kept by the session, never here)."""
        return self.session.shown

    @property
    def shown_result(self) -> RunResult | None:
        return self.session.shown.result if self.session.shown is not None else None

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

    # -- runs ------------------------------------------------------------------------------

    @on(PromptBar.Submitted)
    def _on_submit(self, event: PromptBar.Submitted) -> None:
        self.submit(event.question)

    def submit(self, question: str, *, fresh: bool = False) -> None:
        """Start a new run of the whole panel for `question` — unless an earlier run answers it
        (the cache), which is shown instead; `fresh` asks the panel whatever the history holds.
        The cache is looked in by a worker (differently worded questions are compared in a
        thread); the run starts after it, if nothing is served."""
        question = question.strip()
        if not question:
            self.notify("Type a question first.", severity="warning")
            return
        if not self.follow_up_armed:
            self.session.follow_up([])  # a new question starts a new thread
        if fresh:
            self._ask(question)
        else:
            self.run_worker(self._look_then_ask(question), group="cache", exclusive=True, name="cache")

    def _ask(self, question: str, lookup: Lookup | None = None) -> None:
        """Put `question` to the panel; while it answers, look for a similar earlier run to name."""
        shown = self.session.shown
        self._start(question, rerun_seats=None)
        if self.session.shown is not shown:  # it started: the box is ready for the next question
            self.follow_up_armed = False
            self.prompt_bar.question_sent(question)
            if self.session.shown is not None and self.store is not None:  # the cache says if it applies
                started = self.session.shown
                lookup = lookup or Lookup(self.settings, started.prepared.request, self.store)
                self.run_worker(
                    self._suggest_similar(started, lookup), group="similar", exclusive=True, name="similar"
                )
        self.refresh_chips()

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
            self.notify(line, title="Cache", markup=False, timeout=10)

    def _show_hit(self, question: str, hit: RunResult) -> None:
        """Show a run served from the cache; one in flight is cancelled, as a new question does."""
        if self.following is not None or self.watching:
            self.stop_following(taken_over=True)
        if self.running and self.live_run is not None:
            self.live_run.cancel()
        self.show_result(hit)
        self.prompt_bar.question_sent(question)
        self._confirm_recorded_apart(hit)

    def show_result(self, result: RunResult, events: list[ev.Event] | None = None) -> None:
        """Show a recorded run (the history's key group does)."""
        raise NotImplementedError

    def key_for(self, binding_id: str) -> str:
        """The key that does `binding_id` now (the user's keymap applied), as the help shows it."""
        default = next(
            key for _action, key, _name, _tip, bound, _anywhere in keys.KEYS if bound == binding_id
        )
        first = self.settings.ui.keymap.get(binding_id, default).split(",")[0].strip()
        shown = self.get_key_display(Binding(first, ""))
        return shown.upper() if re.fullmatch(r"f\d+", shown) else shown  # F7, as people write it

    # -- the prompt: what Enter will send ----------------------------------------------------

    def refresh_chips(self) -> None:
        """The prompt's chips, from the state itself: a follow-up exactly when Enter sends one, the
        asking team's context (`ctx (run …):` when it is a recorded run's, not the project's), the
        images the next question goes with (a recorded one that is not on disk as it was is named
        `(not sent)`), and the next run's mode when it is not the mode of the run on screen (the
        tracker's)."""
        thread = self.session.thread
        follow_up = thread[-1].question if self.follow_up_armed and thread else None
        shown_mode = self.prepared.request.mode if self.prepared is not None else None
        next_mode = self.session.mode.value if shown_mode not in (None, self.session.mode) else None
        images = [
            PurePath(image.path).name + ("" if isinstance(image, Image) else " (not sent)")
            for image in self.session.images
        ]
        self.prompt_bar.show_chips(
            follow_up=follow_up, next_mode=next_mode, images=images, context=self._context_chip()
        )

    def _context_chip(self) -> tuple[str, str] | None:
        """The context chip's label and text: none without a context, unless a recorded run's lack
        of one stands in for the project's."""
        session = self.session
        recorded = session.context_difference() is not None
        label = f"ctx (run {session.context_from}):" if recorded else "ctx:"
        if session.context is None:
            return (label, "none") if recorded else None
        return label, context_chip(session.context)

    def arm_follow_up(self, thread: list[PriorTurn]) -> None:
        """The next question follows up `thread` (its last run is the parent), until it is sent or
        Escape drops it."""
        self.session.follow_up(thread)
        self.follow_up_armed = True
        self.refresh_chips()

    @on(PromptBar.FollowUpDropped)
    def drop_follow_up(self) -> None:
        self.session.follow_up([])
        self.follow_up_armed = False
        self.refresh_chips()
        self.notify("Not a follow-up any more: Enter sends a new question.", markup=False)

    def _earlier_questions(self) -> list[str]:
        """The history's questions, oldest first, for the prompt's Up key."""
        if self.store is None:
            return []
        try:
            return [run.question for run in reversed(self.store.list_runs(limit=RECALLED_QUESTIONS))]
        except StoreError:
            return []

    async def on_event(self, event: events.Event) -> None:
        """A printable key that no binding takes, pressed away from the prompt, goes to the prompt:
        a question typed while a pane has the focus is typed, it does not edit the panel. Decided
        here, before Textual hands the key to the focused widget, so that every key after it goes
        to the prompt too, in order (a paste or a fast typist sends them all at once)."""
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and event.is_printable
            and self.screen is self.screen_stack[0]
            and self.focused is not self.prompt_bar
            and event.key not in self.screen.active_bindings
        ):
            self.screen.set_focus(self.prompt_bar)
        await super().on_event(event)

    def _start(self, question: str, rerun_seats: set[int] | None) -> None:
        try:
            prepared = self.session.prepare(question)
        except QuorumError as err:
            self.notify(str(err), severity="error", markup=False)
            return
        if self.following is not None or self.watching:
            self.stop_following(taken_over=True)
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
        panes = self._panes_for_seats()
        self.run_panes = [panes[seat] for seat in prepared.seat_of_member]
        for seat, pane in enumerate(panes):
            pane.reset(self.session.member(seat))
            if seat in prepared.skipped_seats:
                pane.skip(prepared.skipped_seats[seat].reason)
        self.tracker.reset(prepared.request.mode, prepared.request.max_rounds)
        self.synthesis.reset(prepared.request.mode is Mode.CONSULT)
        self.run_worker(self._execute(run), group="run", exclusive=True, exit_on_error=False, name="run")
        self.refresh_chips()

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
        if run is self.live_run and self.tracker.state is RunStatus.RUNNING:
            # The display failed before it could show the end: show it now, plainly.
            self._show_run_failure(run, "; ".join(result.errors) or "the run ended but could not be shown")
        try:
            await self._confirm_recorded(result)
        except asyncio.CancelledError:
            self._confirm_recorded_apart(result)
            raise

    def _confirm_recorded_apart(self, result: RunResult) -> None:
        """`_confirm_recorded` in a worker of its own (none once the dashboard is closing)."""
        if self.is_running:
            self.run_worker(
                self._confirm_recorded(result), group="recording", exit_on_error=False, name="recording"
            )

    async def _confirm_recorded(self, result: RunResult) -> None:
        """Wait until the history holds `result` as it ended. A run it could not record is shown
        failed, with why (its answer stays on screen)."""

        def waiting(why: str) -> None:
            self.notify(f"{why[0].upper()}{why[1:]}.", title="History", severity="warning", markup=False)

        problem = await finish_recording(self.store, result, waiting=waiting)
        if problem is None:
            return
        if result is self.shown_result:
            self._show_failure(problem, title="Run not recorded")
        else:
            self.notify(
                f"Run {result.run_id}: {problem}", title="Run not recorded", severity="error", markup=False
            )

    def _show_run_failure(self, run: Run, message: str) -> None:
        if run is self.live_run:
            self._show_failure(message, title="Run failed")

    def _show_failure(self, message: str, *, title: str) -> None:
        self.tracker.finish(RunStatus.ERROR)
        self.synthesis.note(message, "error")
        self.notify(message, title=title, severity="error", markup=False)

    def _panes_for_seats(self) -> list[ModelPane]:
        """One pane per seat. After a recorded run is shown, the panel may differ from its panes
        (a model it used has left the catalog): then the panes are made anew from the seats."""
        panes = self.panes
        if [pane.member.alias for pane in panes] != [spec.model for spec in self.session.seats]:
            panes = self.grid.replace(self.session.members())
        return panes

    def _rerun_seats(self, seats: set[int], what: str) -> None:
        if self.waits_for_followed_run(f"A rerun of the {what}"):
            return
        if self.prepared is None:
            self.notify("Nothing has run yet: type a question and press Enter.", severity="warning")
            return
        if not seats:
            self.notify(f"No {what} to rerun.", severity="information")
            return
        run = self.live_run
        if run is not None and self.running and run.phase == "positions":
            indices = [i for i, seat in enumerate(self.prepared.seat_of_member) if seat in seats]
            if indices and run.replace_members(indices):
                return
        self._start(self.prepared.request.question, rerun_seats=seats)

    def _on_engine_event(self, run: Run, event: ev.Event) -> None:
        if run is self.live_run:
            self._apply(event, run.request)

    def _apply(self, event: ev.Event, request: RunRequest) -> None:
        self.run_display.apply(event, request, self.run_panes)

    def flush_now(self) -> None:
        """Write every pane's buffered text and move the running clocks (the 4 Hz tick)."""
        self.run_display.flush(self.run_panes)
        self.refresh_strip()
        # The young generation is collected here, a quarter second's objects at a time, not when
        # its count reaches the threshold: that came mid-frame, 10-30 ms in one go (measured: the
        # worst lags of a streaming panel). Here it is a millisecond or two, between frames.
        gc.collect(0)

    # -- following runs another process records (started by `follow_actions`) --------------

    @property
    def followed_from(self) -> str:
        """Where the followed run is being recorded: `quorum mcp (pid 4242)`."""
        follower = self.following
        if follower is None or follower.result is None:
            return ""
        return f"{ORIGIN_WORDS[follower.result.origin]} (pid {follower.pid})"

    def stop_following(self, *, taken_over: bool = False) -> None:
        """Stop following the run on screen: it stays as the record last had it. `taken_over`: the
        user starts a run here, which ends watch mode too. The history's poll stops unless watch
        mode goes on waiting for the next run."""
        if taken_over and self.watching:
            self.watching = False
            self.notify("Stopped watching: this dashboard runs your question now.", markup=False)
        self.following = None
        if self.watching:
            self.tracker.show_source(*WATCHING)
            return
        self.tracker.show_source(None)
        if self.poll_timer is not None:
            self.poll_timer.stop()
            self.poll_timer = None

    def waits_for_followed_run(self, what: str) -> bool:
        """While a run another process records is followed, keys that act on a finished run wait
        for its end: True (and the user is told why) if `what` has to wait."""
        if self.following is None:
            return False
        self.notify(
            f"{what} waits until this run ends: it is still running in {self.followed_from}. "
            "A new question (Enter) starts a run of your own instead.",
            severity="warning",
            markup=False,
        )
        return True

    # -- actions on runs ---------------------------------------------------------------------

    def focused_seat(self) -> int | None:
        return self.grid.seat_of(self.focused)

    def need_seat(self) -> int | None:
        """The focused member's seat, or None after telling the user to focus one."""
        seat = self.focused_seat()
        if seat is None:
            self.notify("Focus a member's pane first (Tab moves between panes).", severity="warning")
        return seat

    def _fatal_error(self) -> None:
        """A crash's report on the terminal, without the local variables Textual shows beside each
        frame: they can hold a key (cut short or wrapped across lines, where no redaction of the
        printed text finds it) and the prompts and answers on screen. The exception's message is
        redacted as every message is; the traceback goes to the log too. Textual calls this while
        it handles the exception, so the traceback is the one being handled."""
        import rich  # here: Rich's tracebacks load Pygments (~30 ms), for a crash only
        from rich.traceback import Traceback

        log.error("the dashboard stopped on an unexpected error", exc_info=True)
        report = Traceback(show_locals=False, width=None, suppress=[rich])
        _redact_trace(report.trace, secret_values(self.settings))
        self.bell()
        self.panic(report)

    def refresh_css(self, animate: bool = True) -> None:
        """Restyle for the current theme. A theme whose variables Textual's CSS refuses (one that
        got past the theme file check) is one notification and the default theme, not the end of
        the dashboard; it is taken out of the picker."""
        try:
            super().refresh_css(animate)
        except (StylesheetError, ColorParseError):
            bad = self.theme
            if bad == DEFAULT_THEME:
                raise
            log.exception("theme %r: Textual could not apply it", bad)
            self.unregister_theme(bad)
            self.notify(
                f"The theme {bad!r} cannot be used: Textual's CSS refuses one of its variables "
                f"(the log has the details). Using {DEFAULT_THEME}.",
                title="Theme problems",
                severity="error",
                markup=False,
                timeout=10,
            )
            self.theme = DEFAULT_THEME

    def theme_chosen(self, name: str) -> None:
        """A theme was picked (Ctrl+T or the palette): remember it in the user's config."""
        if name not in self.available_themes:
            return  # it could not be applied (see refresh_css): the default theme is saved instead
        if self.save_settings and name != self.settings.ui.theme:
            self.settings.ui.theme = name
            self.save_user_config({"ui": {"theme": name}}, quiet=True)

    def save_user_config(self, changes: dict[str, dict[str, object]], *, quiet: bool) -> Path | None:
        from tui.config.user_file import update_user_config

        try:
            path = update_user_config(changes)
        except (UserConfigError, OSError) as err:
            self.notify(str(err), title="Could not save", severity="error", markup=False)
            return None
        if not quiet:
            self.notify(f"Saved to {path}", markup=False)
        return path

    def action_rerun(self) -> None:
        if self.waits_for_followed_run("A rerun"):
            return
        prepared = self.prepared
        question = self.query_one(PromptBar).text.strip() or (prepared.request.question if prepared else "")
        if prepared is not None and question == prepared.request.question and not self.follow_up_armed:
            # The same question again is the same request: a follow-up stays one (its thread).
            self.session.follow_up(prepared.request.thread)
            self.follow_up_armed = True
        self.submit(question, fresh=True)  # a rerun asks the panel: never the cache

    def action_run_fresh(self) -> None:
        """The question in the prompt (or on screen) asked of the panel, not served from the cache."""
        self.action_rerun()

    def action_rerun_failed(self) -> None:
        self._rerun_seats(self.session.failed_seats(), "failed members")

    def action_rerun_member(self) -> None:
        seat = self.need_seat()
        if seat is not None:
            if self.prepared is not None and seat not in self.prepared.seat_of_member:
                self.notify("That member was not in the last run; press Ctrl+R to run the panel.")
                return
            self._rerun_seats({seat}, "member")

    def action_resynthesize(self) -> None:
        if self.waits_for_followed_run("Re-synthesizing"):
            return
        if self.prepared is None:
            self.notify("Nothing to re-synthesize yet.", severity="warning")
            return
        run = self.live_run
        if self.running and run is not None and run.phase == "positions":
            self.notify("The members are still answering; the synthesis follows them.", severity="warning")
            return
        self._start(self.prepared.request.question, rerun_seats=set())

    def action_cancel(self) -> None:
        run = self.live_run
        if self.running and run is not None:
            run.cancel()
        elif self.following is not None:
            self.notify(
                f"This run belongs to {self.followed_from}: only that process can cancel it. "
                "Ctrl+G cancels the runs started here.",
                severity="warning",
                markup=False,
            )
        else:
            self.notify("No run in progress.", severity="information")

    def action_help(self) -> None:
        from tui.dashboard.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.key_rows()))

    def key_rows(self) -> list[tuple[str, str, str, str]]:
        return keys.key_rows(self.settings.ui.keymap, self.get_key_display)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, _key, description, tooltip, _id, _anywhere in keys.KEYS:
            yield SystemCommand(description, tooltip, getattr(self, f"action_{action}"))

    async def on_unmount(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if self.store is not None:
            self.store.close(wait_s=CLOSING_WAIT_S)


def _redact_trace(trace: Trace, secrets: Iterable[str]) -> None:
    """Each exception's message and notes in a crash report, redacted (a group's members too)."""
    for stack in trace.stacks:
        stack.exc_value = redact(stack.exc_value, secrets)
        stack.notes = [redact(note, secrets) for note in stack.notes]
        for member in stack.exceptions:
            _redact_trace(member, secrets)
