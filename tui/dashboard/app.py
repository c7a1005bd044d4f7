"""The Quorum dashboard: a prompt bar, the round tracker, one pane per member and the synthesis.

`QuorumApp` lays the widgets out and holds the objects that do the work, each in its own module:
- `runs.RunControl`: asking the panel (the cache first), rerunning, cancelling, exporting;
- `following.Following`: opening recorded runs, following those other processes record, watch mode;
- `run_display.RunDisplay`: the run on screen, live or recorded, on the widgets;
- `next_question.NextQuestion`: what the next question is asked with, and the prompt's chips.

Keys live with what they act on: the member grid edits the panel (`widgets.member_grid`), the pane
area zooms and moves between panes (`widgets.pane_area`). The keys that work from anywhere are the
app's, because only the app's priority bindings reach every focus and every screen on top; each
hands its work to the object it belongs to. One table (`tui.config.keymap`) makes them all, the
help and the palette.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.color import ColorParseError
from textual.css.errors import StylesheetError
from textual.dom import DOMNode
from textual.screen import Screen

from tui.cache import warm_embedder
from tui.config.catalog import secret_values
from tui.config.keymap import KEYS, Where
from tui.config.schema import Settings
from tui.dashboard.crash import crash_report
from tui.dashboard.following import Following
from tui.dashboard.keys import KeyNames, bindings
from tui.dashboard.next_question import NextQuestion
from tui.dashboard.run_display import RunDisplay
from tui.dashboard.runs import RunControl
from tui.dashboard.themes import DEFAULT_THEME, register_themes, theme_variable_defaults
from tui.dashboard.widgets.footer import KeysFooter
from tui.dashboard.widgets.member_grid import MemberGrid
from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.pane_area import PaneArea
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.dashboard.widgets.round_tracker import RoundTracker
from tui.dashboard.widgets.synthesis_pane import SynthesisPane
from tui.engine.orchestrator import ProviderLookup
from tui.engine.types import RunResult
from tui.engine.validators import warm_validators
from tui.errors import StoreError, UserConfigError
from tui.history.recorder import CLOSING_WAIT_S
from tui.history.store import RunStore
from tui.pool import ProviderPool
from tui.session import Session, open_store

log = logging.getLogger(__name__)

# Text is flushed to the screen this often while streaming: frames, not tokens, are the budget.
FLUSH_INTERVAL_S = 0.25
# After a toast's time is up, when the screen is painted again (Textual removes it at its time).
TOAST_REPAINT_AFTER_S = 0.2
# The prompt's Up key reaches this many of the history's questions (and all of this session's).
RECALLED_QUESTIONS = 200


class QuorumApp(App[None]):
    """The dashboard. Build it with `QuorumApp(settings, session)`; tests inject providers and a
    clock. `watch`: `quorum watch`, which opens `watch_run` first."""

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere (benchmarks) find it too
    TITLE = "Quorum"
    BINDINGS = bindings(Where.APP)

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
        self.settings, self.session = settings, session
        self.initial_question = question
        self.start_at_once = start and bool(question.strip())
        self._pool = ProviderPool(settings) if providers is None else None
        self.providers: ProviderLookup = providers or self._pool  # type: ignore[assignment]
        self.clock, self.flush_interval = clock, flush_interval
        self.save_settings, self.cursor_blink = save_settings, cursor_blink
        self.watch_mode, self.watch_run = watch, watch_run  # as started: `following` keeps watching
        self.store: RunStore | None = None
        # Themes are registered and chosen before the first frame: switching theme after mount
        # would restyle every widget a second time.
        self._theme_errors = register_themes(self, settings.ui.theme)
        self.key_names = KeyNames(settings.ui.keymap, self.get_key_display)

    def compose(self) -> ComposeResult:
        # Held, not queried: a modal screen on top must not hide them from the app's keys, and
        # events and the flush clock reach them many times a second.
        self.prompt_bar = PromptBar(self.initial_question, id="prompt")
        self.prompt_bar.cursor_blink = self.cursor_blink
        self.prompt_bar.recall.earlier = self._earlier_questions
        self.tracker = RoundTracker(id="tracker")
        self.pane_area = PaneArea(self.session, clock=self.clock, key_names=self.key_names, id="main")
        yield self.prompt_bar
        yield self.tracker
        yield self.pane_area
        yield KeysFooter()

    def on_mount(self) -> None:
        self._report_theme_errors()
        self.theme_changed_signal.subscribe(self, lambda theme: self.theme_chosen(theme.name))
        self._open_store()
        settings, session, store = self.settings, self.session, self.store
        self.next_question = NextQuestion(self, settings, session, store, self.prompt_bar, self.tracker)
        self.run_display = RunDisplay(
            self, settings, session, store, prompt=self.prompt_bar, tracker=self.tracker,
            pane_area=self.pane_area, next_question=self.next_question, key_names=self.key_names,
        )  # fmt: skip
        self.following = Following(
            self, session, store, self.run_display, self.tracker,
            clock=self.clock, watching=self.watch_mode, watch_run=self.watch_run,
        )  # fmt: skip
        self.runs = RunControl(
            self, settings, session, store, self.providers, clock=self.clock, display=self.run_display,
            following=self.following, next_question=self.next_question, prompt=self.prompt_bar,
        )  # fmt: skip
        if settings.ui.keymap:
            self.set_keymap(settings.ui.keymap)
        self.tracker.reset(session.mode, session.rounds_for(session.mode))
        self.synthesis.reset(session.mode)
        self.next_question.refresh_chips()  # images given on the command line show before the first question
        self.relayout()
        # Toasts after the first frame: they are not what the user should wait for.
        for note in session.notes:
            self.call_after_refresh(self.notify, note, title="Panel", markup=False)
        if self._saved_demo_panel_in_use():
            self._notify_later(
                "Your saved panel is the demo panel ([panel] members): runs use its simulated members, "
                f"though a provider key is set. {self._panel_keys()}.",
                title="Panel",
                severity="warning",
            )
        if self.flush_interval:
            self.set_interval(self.flush_interval, self.flush_now, name="flush")
        self.prompt_bar.focus()
        if self.start_at_once:
            self.call_after_refresh(self.runs.submit, self.initial_question)
        if self.following.watching:
            self.call_after_refresh(self.following.start_watching)
        self.call_after_refresh(self.tune_gc)  # again: the widgets built for the first frame stay too
        if self._pool is not None:  # after the first frame, the panel's SDKs start loading
            self.call_after_refresh(self._pool.warm, session.members())
        self.call_after_refresh(warm_embedder, settings)  # the cache's embedder, while the user types
        self.call_after_refresh(warm_validators)  # the engine's, or the first run's start builds them

    async def on_unmount(self) -> None:
        if hasattr(self, "following"):  # none if the layout failed before the app was mounted
            self.following.stop()  # no last tick may read the history once it is closed
        if self._pool is not None:
            await self._pool.aclose()
        if self.store is not None:
            self.store.close(wait_s=CLOSING_WAIT_S)

    @staticmethod
    def tune_gc() -> None:
        """Keep the collector's full passes from stalling the stream (measured: 100+ ms every second).

        Everything built at start-up lives as long as the app, so it is frozen out of the
        collector's scans, and the young generation is collected less often: streaming makes
        many short-lived strips, and each full pass otherwise walks the whole widget tree. The
        flush tick collects the young generation itself (`RunDisplay.flush`), between frames.
        """
        gc.freeze()  # no collection first: a full pass costs ~40 ms, and start-up leaves little garbage
        gc.set_threshold(20_000, 50, 100)  # as every `quorum` command starts (tui.cli)

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

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's toast, and the whole screen painted again once it is gone. A toast that comes
        while a pane scrolls as it streams can be left on the terminal when it expires (Textual
        paints the cells under it only when its layout saw it come; seen at 80x24 with the first
        question asked under the startup toasts): the repaint leaves nothing of it behind."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        try:
            shown = bool(self.screen.query("ToastRack"))  # no rack: toasts are not shown (a test's app)
        except ScreenStackError:  # no screen yet, or none left
            shown = False
        if not shown:
            return
        shown_for = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        self.set_timer(shown_for + TOAST_REPAINT_AFTER_S, self._repaint_after_toast)

    def _repaint_after_toast(self) -> None:
        self.refresh(repaint=True)

    def _notify_later(self, message: str, *, title: str, severity: Any = "information") -> None:
        self.call_after_refresh(self.notify, message, title=title, severity=severity, markup=False)

    def _earlier_questions(self) -> list[str]:
        """The history's questions, oldest first, for the prompt's Up key."""
        if self.store is None:
            return []
        try:
            return [run.question for run in reversed(self.store.list_runs(limit=RECALLED_QUESTIONS))]
        except StoreError:
            return []

    # -- what is on screen -------------------------------------------------------------------

    @property
    def grid(self) -> MemberGrid:
        return self.pane_area.grid

    @property
    def panes(self) -> list[ModelPane]:
        return self.grid.panes

    @property
    def synthesis(self) -> SynthesisPane:
        return self.pane_area.synthesis

    @property
    def shown_result(self) -> RunResult | None:
        """The run on screen, live or opened from the history (kept by the session, never here)."""
        return self.session.shown.result if self.session.shown is not None else None

    @property
    def running(self) -> bool:
        return self.session.shown is not None and self.session.shown.live

    def on_resize(self, event: events.Resize) -> None:
        # The event's size, not self.size: the screen may not have been resized yet.
        self.relayout(event.size.width, event.size.height)

    def relayout(self, width: int | None = None, height: int | None = None) -> None:
        width = width or self.size.width or 160
        height = height or self.size.height or 50
        self.pane_area.relayout(width, height)
        compact = self.pane_area.compact
        if self.tracker.compact != compact:
            self.tracker.compact = compact
            self.tracker.refresh_view()
        footer = self.screen_stack[0].query_one(KeysFooter)  # a resize may come while a screen is on top
        footer.compact = compact
        footer.show_command_palette = not compact  # Ctrl+P still works; F1 Help must fit instead

    def flush_now(self) -> None:
        """Write every pane's buffered text and move the running clocks (the 4 Hz tick)."""
        self.run_display.flush()

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

    # -- the keys that work from anywhere, and the palette -----------------------------------

    def submit(self, question: str, *, fresh: bool = False) -> None:
        """Ask the panel `question`, as Enter in the prompt does (the cache first, unless `fresh`)."""
        self.runs.submit(question, fresh=fresh)

    @on(PromptBar.Submitted)
    def _submitted(self, event: PromptBar.Submitted) -> None:
        self.runs.submit(event.question)

    @on(PromptBar.FollowUpDropped)
    def _follow_up_dropped(self) -> None:
        self.next_question.drop_follow_up()

    def action_rerun(self) -> None:
        self.runs.rerun()

    def action_run_fresh(self) -> None:
        """The question in the prompt (or on screen) asked of the panel, not served from the cache."""
        self.runs.rerun()

    def action_rerun_failed(self) -> None:
        self.runs.rerun_failed()

    def action_rerun_member(self) -> None:
        if (seat := self.grid.need_seat()) is not None:
            self.runs.rerun_member(seat)

    def action_resynthesize(self) -> None:
        self.runs.resynthesize()

    def action_cancel(self) -> None:
        self.runs.cancel()

    def action_export(self) -> None:
        self.runs.export()

    def action_history(self) -> None:
        self.following.open_history()

    def action_follow_up(self) -> None:
        if not self.following.waits_for_followed_run("A follow-up"):
            self.next_question.ask_follow_up()

    def action_show_context(self) -> None:
        self.next_question.show_context()

    def action_toggle_mode(self) -> None:
        self.next_question.toggle_mode()

    def action_add_member(self) -> None:
        from tui.dashboard.screens.picker import MemberPicker  # screens load when first opened

        self.push_screen(MemberPicker(self.session.catalog.entries()), callback=self.grid.add_member)

    def action_toggle_synthesis(self) -> None:
        self.pane_area.toggle_synthesis()

    def action_save_panel(self) -> None:
        path = self.save_user_config({"panel": {"members": self.session.panel_for_config()}}, quiet=True)
        if path is None:
            return
        if all(member.demo for member in self.session.members()):
            self.notify(
                f"Saved the offline demo panel to {path}: every run will use its simulated members, "
                f"even with a provider key set. {self._panel_keys()}.",
                title="Panel",
                severity="warning",
                markup=False,
                timeout=10,
            )
        else:
            self.notify(f"Saved to {path}", markup=False)

    def _panel_keys(self) -> str:
        names = self.key_names
        return f"{names.first('add_member')} adds real members, {names.first('save_panel')} saves the panel"

    def _saved_demo_panel_in_use(self) -> bool:
        """The panel saved in the user's config is all demo members, and the runs use it though a
        real model could answer now (its key is set): a panel saved before the key was."""
        catalog, saved = self.session.catalog, self.settings.panel.members
        if not saved or not all(catalog.member(spec).demo for spec in saved):
            return False
        uses_it = [spec.model for spec in self.session.seats] == [spec.model for spec in saved]
        return uses_it and any(catalog.is_available(name) for name in self.settings.models)

    def action_pick_theme(self) -> None:
        self.search_themes()

    def action_help(self) -> None:
        from tui.dashboard.screens.help import HelpScreen  # screens load when first opened

        self.push_screen(HelpScreen(self.key_names.help_rows()))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        # Every key's action, run by the widget it is bound on (as if the key was pressed there).
        owners: dict[Where, DOMNode] = {
            Where.APP: self,
            Where.MEMBERS: self.grid,
            Where.PANES: self.pane_area,
        }
        for key in KEYS:
            action = getattr(owners[key.where], f"action_{key.action}")
            yield SystemCommand(key.description, key.tooltip, action)
        yield from self.next_question.commands()

    # -- themes, the user's config, and a crash ---------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Per theme: Textual's own themes get the colours of the Quorum theme of their kind.
        return theme_variable_defaults(self.current_theme, self.available_themes)

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

    def search_themes(self) -> None:
        """Ctrl+T and the palette's Theme: Quorum's themes first, then the user's, then Textual's."""
        from tui.dashboard.screens.theme_picker import theme_palette

        self.push_screen(theme_palette())

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

    def _fatal_error(self) -> None:
        """A crash's report on the terminal (`crash_report`: redacted, no locals); the traceback
        goes to the log too. Textual calls this while it handles the exception, so the traceback
        is the one being handled."""
        log.error("the dashboard stopped on an unexpected error", exc_info=True)
        report = crash_report(secret_values(self.settings))
        self.bell()
        self.panic(report)
