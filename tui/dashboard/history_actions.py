"""The dashboard's keys for recorded runs: F2 opens one from the history, F3 asks a follow-up to the
run on screen, F5 exports it.

Built on the dashboard's core (`DashboardCore`). Whichever run is on screen —
live or opened from the history — is `session.shown`; these keys act on exactly that run.
"""

from __future__ import annotations

from tui.config import paths
from tui.config.catalog import secret_values
from tui.dashboard.core import DashboardCore
from tui.dashboard.widgets.member_pane import ModelPane
from tui.engine import events as ev
from tui.engine.types import Mode, PriorTurn, RunResult, RunStatus
from tui.errors import UsageError
from tui.history.replay import follow_up_thread, prior_turns, replay_events
from tui.render.cache import cache_line
from tui.render.report import asked_brief


class HistoryActions(DashboardCore):
    def action_history(self) -> None:
        if self.store is None:
            self.notify("Run history is turned off ([store] enabled = false).", severity="warning")
            return
        from tui.dashboard.screens.history import HistoryScreen

        self.push_screen(HistoryScreen(self.store), callback=self.open_recorded_run)

    def open_recorded_run(self, run_id: str | None) -> None:
        if not run_id or self.store is None:
            return
        if self.running:
            self.notify(
                "A run is in progress: cancel it (Ctrl+G) or let it finish first.", severity="warning"
            )
            return
        self.show_result(self.store.load(run_id))

    def show_result(self, result: RunResult, events: list[ev.Event] | None = None) -> None:
        """Show a recorded run, read-only: its panel, answers, votes and synthesis as they were.
        `events` are what shows it: its whole replay by default, or a follower's first poll of a
        run still being recorded."""
        thread: list[PriorTurn] = []
        if result.parent_run_id is not None:
            try:  # the context it followed up on: a rerun of it is a follow-up too
                thread = follow_up_thread(self.store, result.parent_run_id, self.settings.run.follow_up_depth)
            except UsageError:
                thread = []
        for note in self.session.adopt(result, thread):
            self.notify(note, severity="warning", markup=False, timeout=10)
        reused = self._cleared_panes_for(result)
        self.run_panes = reused if reused is not None else self.grid.replace(result.members)
        self.prompt_bar.show_question(result.question)
        self.follow_up_armed = False  # a follow-up asked for before belongs to the run that was on screen
        self.panel_undo.clear()  # the panel is the recorded run's now
        self.refresh_chips()
        self.tracker.reset(result.mode, result.max_rounds)
        self.synthesis.reset(result.mode is Mode.CONSULT)
        served = cache_line(result.cache, self.key_for("fresh")) if result.cache.hit else None
        if served is not None:  # first, above the answer it explains
            self.synthesis.note(served, "heading")
        replay = replay_events(result) if events is None else events
        if reused is not None:  # the panes are ready: the first frame shows the run, not empty panes
            self._replay(result, replay)
        else:  # new panes draw their parts on their first refresh
            self.call_after_refresh(self._replay, result, replay)

    def _cleared_panes_for(self, result: RunResult) -> list[ModelPane] | None:
        """The panes on screen, cleared, when they seat a recorded run's panel (a cache hit, a
        rerun opened from F2); None when it needs panes of its own. Mounting panes anew costs a
        frame's worth of styling and layout that showing the same panel again need not pay."""
        panes = self.grid.panes
        if [pane.member for pane in panes] != list(result.members):
            return None
        for pane, member in zip(panes, result.members, strict=True):
            pane.reset(member)  # a stance change pending for the next run goes with the old panel
        return panes

    def _replay(self, result: RunResult, events: list[ev.Event]) -> None:
        if self.shown_result is not result:
            return  # another run took the screen before this one was drawn
        assert self.prepared is not None
        for event in events:
            self._apply(event, self.prepared.request)
        self.flush_now()
        self.relayout()
        self.result_shown(result)

    def result_shown(self, result: RunResult) -> None:
        """A recorded run is on screen: say which, and what the keys do with it."""
        if result.cache.hit:
            self.notify(
                f"{cache_line(result.cache, self.key_for('fresh'))}.",
                title="Cache hit",
                markup=False,
                timeout=10,
            )
            return
        when = result.started_at.strftime("%Y-%m-%d %H:%M")
        asked = asked_brief(result.asked) if result.asked is not None else ""
        self.notify(
            f"Run {result.run_id} from {when}, read-only{f'; asked with {asked}' if asked else ''}. "
            "Ctrl+R reruns it, F3 asks a follow-up, F5 exports it.",
            title="History",
            markup=False,
        )

    def action_follow_up(self) -> None:
        if self.waits_for_followed_run("A follow-up"):
            return
        result = self.shown_result
        if result is None or result.status is RunStatus.RUNNING:
            self.notify("Finish or open a run first: a follow-up builds on one.", severity="warning")
            return
        try:
            thread = follow_up_thread(self.store, result.run_id, self.settings.run.follow_up_depth)
        except UsageError:  # no history, or this run was not recorded: it alone is the context
            thread = prior_turns([result])
        self.arm_follow_up(thread)
        prompt = self.prompt_bar
        if prompt.text.strip() == result.question.strip():
            prompt.load_text("")  # the question on show is not the follow-up; what the user wrote stays
        prompt.focus()
        self.notify(
            "Type the follow-up; the panel gets the earlier question, answer and open objections. "
            "Escape makes it a new question.",
            markup=False,
        )

    def action_export(self) -> None:
        result = self.shown_result
        if result is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        from tui.render.export import export_run

        try:
            markdown, data = export_run(result, paths.exports_dir(), secret_values(self.settings))
        except OSError as err:
            self.notify(f"Could not export: {err}", severity="error", markup=False)
            return
        self.notify(f"Exported to {markdown} and {data.name}", title="Export", markup=False)
