"""The Quorum dashboard: a prompt bar, one pane per member, the round tracker and the synthesis pane.

The app only consumes engine events and calls engine entry points. A run is an async worker; its
events are applied to the widgets as they come, except streamed text, which panes buffer and a
single clock flushes a few times a second (so a token never costs a repaint).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Grid, Horizontal
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Footer

from tui.config import paths
from tui.config.schema import Settings
from tui.dashboard import keys
from tui.dashboard.run_display import RunDisplay
from tui.dashboard.themes import DEFAULT_THEME, THEME_VARIABLE_DEFAULTS, load_themes
from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.dashboard.widgets.round_tracker import RoundTracker
from tui.dashboard.widgets.synthesis_pane import SynthesisPane
from tui.engine import events as ev
from tui.engine.orchestrator import ProviderLookup, Run
from tui.engine.types import Mode, RunRequest, RunResult, RunStatus
from tui.errors import StoreError, UsageError, UserConfigError
from tui.runtime import ProviderPool, follow_up_thread, open_store, start_run
from tui.session import PreparedRun, Session

if TYPE_CHECKING:
    from tui.history.store import RunStore

# Text is flushed to the screen this often while streaming: frames, not tokens, are the budget.
FLUSH_INTERVAL_S = 0.25


class QuorumApp(App[None]):
    """The dashboard. Build it with `QuorumApp(settings, session)`; tests inject providers and a clock."""

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
        self.current_run: Run | None = None
        self.run_panes: list[ModelPane] = []
        self.store: RunStore | None = None
        self.viewing: RunResult | None = None  # a recorded run opened from the history
        self._follow_up_armed = False
        # Themes are registered and chosen before the first frame: switching theme after mount
        # would restyle every widget a second time.
        self._theme_errors = self._register_themes()

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        prompt = PromptBar(self.initial_question, id="prompt")
        prompt.cursor_blink = self.cursor_blink
        yield prompt
        yield RoundTracker(id="tracker")
        with Horizontal(id="main"):
            yield Grid(*self._make_panes(), id="members")
            yield SynthesisPane(id="synthesis")
        yield Footer()

    def _make_panes(self) -> list[ModelPane]:
        return [ModelPane(member, clock=self.clock) for member in self.session.members()]

    @property
    def panes(self) -> list[ModelPane]:
        return list(self.query_one("#members", Grid).query_children(ModelPane))

    @property
    def tracker(self) -> RoundTracker:
        return self._tracker

    @property
    def synthesis(self) -> SynthesisPane:
        return self._synthesis

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        # Held, not queried: events and the flush clock reach them many times a second.
        self._tracker = self.query_one(RoundTracker)
        self._synthesis = self.query_one(SynthesisPane)
        self.run_display = RunDisplay(self._tracker, self._synthesis)
        self._load_themes()
        self._open_store()
        if self.settings.ui.keymap:
            self.set_keymap(self.settings.ui.keymap)
        self.tracker.reset(self.session.mode, self.settings.run.max_rounds)
        self.synthesis.reset(self.session.mode is Mode.CONSULT)
        self._layout_panes()
        # Toasts after the first frame: they are not what the user should wait for.
        for note in self.session.notes:
            self.call_after_refresh(self.notify, note, title="Demo panel", markup=False)
        if self.flush_interval:
            self.set_interval(self.flush_interval, self.flush_now, name="flush")
        self.query_one(PromptBar).focus()
        if self.start_at_once:
            self.call_after_refresh(self.submit, self.initial_question)
        self.call_after_refresh(self._tune_gc)

    @staticmethod
    def _tune_gc() -> None:
        """Keep the collector's full passes from stalling the stream (measured: 100+ ms every second).

        Everything built at start-up lives as long as the app, so it is frozen out of the
        collector's scans, and the young generation is collected less often: streaming makes
        many short-lived strips, and each full pass otherwise walks the whole widget tree.
        """
        gc.freeze()  # no collection first: a full pass costs ~40 ms, and start-up leaves little garbage
        gc.set_threshold(20_000, 50, 100)

    def _register_themes(self) -> list[str]:
        themes, errors = load_themes()
        for theme in themes:
            self.register_theme(theme)
        wanted = self.settings.ui.theme
        if wanted not in self.available_themes:
            errors.append(f"unknown theme {wanted!r} in the config; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME
        self.theme = wanted
        return errors

    def _load_themes(self) -> None:
        errors = self._theme_errors
        if errors:
            self.call_after_refresh(
                self.notify,
                "\n".join(errors),
                title="Theme problems",
                severity="error",
                markup=False,
                timeout=10,
            )
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def _open_store(self) -> None:
        try:
            self.store = open_store(self.settings)
        except StoreError as err:
            self.call_after_refresh(
                self.notify,
                f"{err}. Runs will not be recorded.",
                title="History",
                severity="error",
                markup=False,
            )
            return
        if self.store is not None and self.store.interrupted:
            count = len(self.store.interrupted)
            self.call_after_refresh(
                self.notify,
                f"{count} run{'s were' if count > 1 else ' was'} interrupted last time; "
                "F2 opens the history.",
                title="History",
                markup=False,
            )

    def _theme_changed(self, theme: Theme) -> None:
        if self.save_settings and theme.name != self.settings.ui.theme:
            self.settings.ui.theme = theme.name
            self._save({"ui": {"theme": theme.name}}, quiet=True)

    def on_resize(self, event: events.Resize) -> None:
        # The event's size, not self.size: the screen may not have been resized yet.
        self._layout_panes(event.size.width)

    def _layout_panes(self, width: int | None = None) -> None:
        count = max(1, len(self.panes))
        width = width or self.size.width or 160
        columns = 1 if count == 1 else 2 if count <= 4 else 3 if count <= 9 else 4
        if count == 3 and width >= 140:
            columns = 3  # one row of three reads better than two and a gap
        if width < 100:
            columns = min(columns, 2)
        if width < 60:
            columns = 1
        grid = self.query_one("#members", Grid)
        grid.styles.grid_size_columns = 1 if grid.has_class("-zoomed") else columns
        self.query_one("#main").set_class(width < 110, "-narrow")

    # -- runs ------------------------------------------------------------------------------

    @on(PromptBar.Submitted)
    def _on_submit(self, event: PromptBar.Submitted) -> None:
        self.submit(event.question)

    def submit(self, question: str) -> None:
        """Start a new run of the whole panel for `question`."""
        if not question.strip():
            self.notify("Type a question first.", severity="warning")
            return
        if not self._follow_up_armed:
            self.session.follow_up([])  # a new question starts a new thread
        self._follow_up_armed = False
        self.viewing = None
        self._start(question.strip(), rerun_seats=None)

    def _start(self, question: str, rerun_seats: set[int] | None) -> None:
        try:
            prepared = self.session.prepare(question)
        except ValueError as err:
            self.notify(str(err), severity="error", markup=False)
            return
        reuse = {} if rerun_seats is None else self.session.reuse_for(prepared, rerun_seats)
        # The old run's results stay in the session; its in-flight calls are cancelled by the
        # exclusive worker below, and its late events are ignored (they belong to another run).
        if self.current_run is not None:
            self.session.last_result = self.current_run.result
        self.session.last = prepared
        show: ev.EventSink = lambda event: self._on_engine_event(run, event)  # noqa: E731
        run = start_run(
            self.settings,
            prepared.request,
            self.providers,
            [show],
            store=self.store,
            reuse=reuse,
            clock=self.clock,
        )
        self.current_run = run
        panes = self._panes_for_seats()
        self.run_panes = [panes[seat] for seat in prepared.seat_of_member]
        for seat, pane in enumerate(panes):
            pane.reset(self.session.member(seat))
            if seat in prepared.skipped_seats:
                pane.skip(prepared.skipped_seats[seat].reason)
        self.tracker.reset(prepared.request.mode, prepared.request.max_rounds)
        self.synthesis.reset(prepared.request.mode is Mode.CONSULT)
        self.run_worker(self._execute(run), group="run", exclusive=True, exit_on_error=False, name="run")

    async def _execute(self, run: Run) -> None:
        try:
            result = await run.execute()
        except asyncio.CancelledError:
            raise
        if run is self.current_run:
            self.session.last_result = result

    def _panes_for_seats(self) -> list[ModelPane]:
        """One pane per seat. After a recorded run is shown, the panel may differ from its panes
        (a model it used has left the catalog): then the panes are made anew from the seats."""
        panes = self.panes
        aliases = [spec.model for spec in self.session.seats]
        if [pane.member.alias for pane in panes] != aliases:
            grid = self.query_one("#members", Grid)
            grid.remove_children()
            panes = self._make_panes()
            grid.mount(*panes)
            self.call_after_refresh(self._layout_panes)
        return panes

    @property
    def prepared(self) -> PreparedRun | None:
        """The request (and seat mapping) of the run on screen, live or opened from history."""
        return self.session.last

    @property
    def running(self) -> bool:
        return self.current_run is not None and self.current_run.phase not in ("done",)

    def _rerun_seats(self, seats: set[int], what: str) -> None:
        if self.prepared is None:
            self.notify("Nothing has run yet: type a question and press Enter.", severity="warning")
            return
        if not seats:
            self.notify(f"No {what} to rerun.", severity="information")
            return
        run = self.current_run
        if run is not None and self.running and run.phase == "positions":
            indices = [i for i, seat in enumerate(self.prepared.seat_of_member) if seat in seats]
            if indices and run.replace_members(indices):
                return
        self._start(self.prepared.request.question, rerun_seats=seats)

    def _on_engine_event(self, run: Run, event: ev.Event) -> None:
        if run is self.current_run:
            self._apply(event, run.request)

    def _apply(self, event: ev.Event, request: RunRequest) -> None:
        self.run_display.apply(event, request, self.run_panes)
        if isinstance(event, ev.RunFinished | ev.RunFailed | ev.RunCancelled):
            self.session.last_result = event.result

    def flush_now(self) -> None:
        """Write every pane's buffered text and move the running clocks (the 4 Hz tick)."""
        self.run_display.flush(self.run_panes)

    # -- actions ---------------------------------------------------------------------------

    def focused_seat(self) -> int | None:
        widget = self.focused
        while widget is not None and not isinstance(widget, ModelPane):
            widget = widget.parent  # type: ignore[assignment]
        if isinstance(widget, ModelPane):
            panes = self.panes
            return panes.index(widget) if widget in panes else None
        return None

    def _need_seat(self) -> int | None:
        seat = self.focused_seat()
        if seat is None:
            self.notify("Focus a member's pane first (Tab moves between panes).", severity="warning")
        return seat

    def action_rerun(self) -> None:
        question = self.query_one(PromptBar).text.strip() or (
            self.prepared.request.question if self.prepared else ""
        )
        self.submit(question)

    def action_rerun_failed(self) -> None:
        live = self.current_run.result if self.running and self.current_run is not None else None
        self._rerun_seats(self.session.failed_seats(live), "failed members")

    def action_rerun_member(self) -> None:
        seat = self._need_seat()
        if seat is not None:
            if self.prepared is not None and seat not in self.prepared.seat_of_member:
                self.notify("That member was not in the last run; press Ctrl+R to run the panel.")
                return
            self._rerun_seats({seat}, "member")

    def action_resynthesize(self) -> None:
        if self.prepared is None:
            self.notify("Nothing to re-synthesize yet.", severity="warning")
            return
        if self.running and self.current_run is not None and self.current_run.phase == "positions":
            self.notify("The members are still answering; the synthesis follows them.", severity="warning")
            return
        self._start(self.prepared.request.question, rerun_seats=set())

    def action_cancel(self) -> None:
        if self.running and self.current_run is not None:
            self.current_run.cancel()
        else:
            self.notify("No run in progress.", severity="information")

    def action_cycle_stance(self) -> None:
        seat = self._need_seat()
        if seat is not None:
            stance = self.session.cycle_stance(seat)
            self.panes[seat].set_stance(stance)
            self.notify(f"{self.session.seats[seat].model} will argue {stance.value} next run.", markup=False)

    def action_add_member(self) -> None:
        from tui.dashboard.screens.picker import CatalogEntry, MemberPicker  # screens load when first opened

        catalog = self.session.catalog
        entries = []
        for name, model in self.settings.models.items():
            provider = catalog.provider(model)
            entries.append(
                CatalogEntry(
                    name,
                    model.provider,
                    model.id,
                    model.input_price,
                    model.output_price,
                    catalog.key_status(model),
                    provider.api_key_env,
                    provider.kind == "demo",
                )
            )
        self.push_screen(MemberPicker(entries), callback=self._add_member)

    def _add_member(self, alias: str | None) -> None:
        if not alias:
            return
        seat = self.session.add(alias)
        pane = ModelPane(self.session.member(seat), clock=self.clock)
        self.query_one("#members", Grid).mount(pane)
        self.call_after_refresh(self._layout_panes)
        pane.focus()
        self.notify(f"Added {alias}; it joins the next run.", markup=False)

    def action_remove_member(self) -> None:
        seat = self._need_seat()
        if seat is None:
            return
        if len(self.session.seats) == 1:
            self.notify("The panel needs at least one member.", severity="warning")
            return
        spec = self.session.remove(seat)
        pane = self.panes[seat]
        pane.remove()
        self.call_after_refresh(self._layout_panes)
        self.notify(f"Removed {spec.model} from the panel.", markup=False)

    def action_zoom(self) -> None:
        grid = self.query_one("#members", Grid)
        main = self.query_one("#main")
        if main.has_class("-zoomed"):
            main.remove_class("-zoomed", "-zoom-member", "-zoom-synthesis")
            grid.remove_class("-zoomed")
            for widget in self.query(".-zoom"):
                widget.remove_class("-zoom")
        else:
            target = self.focused
            while target is not None and not isinstance(target, ModelPane | SynthesisPane):
                target = target.parent  # type: ignore[assignment]
            if target is None:
                self.notify("Focus a pane to zoom it.", severity="warning")
                return
            target.add_class("-zoom")
            main.add_class("-zoomed", "-zoom-member" if isinstance(target, ModelPane) else "-zoom-synthesis")
            grid.add_class("-zoomed")
        self._layout_panes()

    def action_toggle_mode(self) -> None:
        mode = self.session.toggle_mode()
        if not self.running:
            self.tracker.reset(mode, self.settings.run.max_rounds)
        self.notify(f"Next run: {mode.value}.", markup=False)

    def action_save_panel(self) -> None:
        self._save({"panel": {"members": self.session.panel_for_config()}}, quiet=False)

    def _save(self, changes: dict[str, dict[str, object]], *, quiet: bool) -> Path | None:
        from tui.config.user_file import update_user_config

        try:
            path = update_user_config(changes)
        except (UserConfigError, OSError) as err:
            self.notify(str(err), title="Could not save", severity="error", markup=False)
            return None
        if not quiet:
            self.notify(f"Saved to {path}", markup=False)
        return path

    def action_pick_theme(self) -> None:
        self.search_themes()

    def action_help(self) -> None:
        from tui.dashboard.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.key_rows()))

    def key_rows(self) -> list[tuple[str, str, str, str]]:
        return keys.key_rows(self.settings.ui.keymap, self.get_key_display)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, _key, description, tooltip, _id, _anywhere in keys.KEYS:
            yield SystemCommand(description, tooltip, getattr(self, f"action_{action}"))

    # -- history ---------------------------------------------------------------------------

    def action_history(self) -> None:
        if self.store is None:
            self.notify("Run history is turned off ([store] enabled = false).", severity="warning")
            return
        from tui.dashboard.screens.history import HistoryScreen

        self.push_screen(HistoryScreen(self.store), callback=self._open_run)

    def _open_run(self, run_id: str | None) -> None:
        if not run_id or self.store is None:
            return
        if self.running:
            self.notify(
                "A run is in progress: cancel it (Ctrl+G) or let it finish first.", severity="warning"
            )
            return
        self.show_result(self.store.load(run_id))

    def show_result(self, result: RunResult) -> None:
        """Show a recorded run, read-only: its panel, answers, votes and synthesis as they were."""
        from tui.history.replay import replay_request
        from tui.session import PreparedRun

        missing = self.session.adopt(result)
        if missing:
            self.notify(
                f"{', '.join(missing)} no longer in the catalog: a rerun of this run leaves it out.",
                severity="warning",
                markup=False,
            )
        grid = self.query_one("#members", Grid)
        grid.remove_children()
        panes = [ModelPane(member, clock=self.clock) for member in result.members]
        grid.mount(*panes)
        self.viewing = result
        self.current_run = None
        self.session.last = PreparedRun(replay_request(result), list(range(len(result.members))), {})
        self.session.last_result = result
        self.run_panes = panes
        self.query_one(PromptBar).load_text(result.question)
        self.tracker.reset(result.mode, result.max_rounds)
        self.synthesis.reset(result.mode is Mode.CONSULT)
        self.call_after_refresh(self._replay, result)

    def _replay(self, result: RunResult) -> None:
        from tui.history.replay import replay_events, replay_request

        request = replay_request(result)
        for event in replay_events(result):
            self._apply(event, request)
        self.flush_now()
        self._layout_panes()
        when = result.started_at.strftime("%Y-%m-%d %H:%M")
        self.notify(
            f"Run {result.run_id} from {when}, read-only. "
            "Ctrl+R reruns it, F3 asks a follow-up, F5 exports it.",
            title="History",
            markup=False,
        )

    def _shown_result(self) -> RunResult | None:
        return self.viewing or self.session.last_result

    def action_follow_up(self) -> None:
        result = self._shown_result()
        if result is None or result.status is RunStatus.RUNNING:
            self.notify("Finish or open a run first: a follow-up builds on one.", severity="warning")
            return
        from tui.history.replay import prior_turns

        try:
            thread = follow_up_thread(self.store, result.run_id, self.settings.run.follow_up_depth)
        except UsageError:  # no history, or this run was not recorded: it alone is the context
            thread = prior_turns([result])
        self.session.follow_up(thread)
        self._follow_up_armed = True
        prompt = self.query_one(PromptBar)
        prompt.load_text("")
        prompt.placeholder = f"Follow-up to: {' '.join(result.question.split())[:80]}  (Enter sends)"
        prompt.focus()
        self.notify("Type the follow-up; the panel gets the earlier question, answer and open objections.")

    def action_export(self) -> None:
        result = self._shown_result()
        if result is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        from tui.render.export import export_run

        try:
            markdown, data = export_run(result, paths.exports_dir())
        except OSError as err:
            self.notify(f"Could not export: {err}", severity="error", markup=False)
            return
        self.notify(f"Exported to {markdown} and {data.name}", title="Export", markup=False)

    async def on_unmount(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if self.store is not None:
            self.store.close()
