"""The history screen: every recorded run, newest first, filtered as you type. A run still being
recorded (by this dashboard or another process) says so, and opens followed live; a run a coding
agent asked for (`quorum mcp`) is marked [mcp]."""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.dashboard.widgets.run_list import ListedRun, RunList
from tui.engine.types import Outcome, RunStatus
from tui.history.store import RunStore, RunSummary
from tui.render.formatting import cost, literal
from tui.render.words import OUTCOME_SHORT_WORDS, counted, listed_question, outcome_word, run_word

# Rows are fetched a page at a time, the next page when the cursor nears the end: the screen
# must open at once however long the history. The first page is only as many rows as the
# terminal has lines (more than the list can show). The filter reaches every run (SQLite does
# the searching).
PAGE = 100
# While open, the list is read again this often: runs that start or end meanwhile (the dashboard's
# own, or another process's) show as they do. Only while at most this many runs are loaded: a
# reader paging through older runs is not moved (each read is ~2 ms for 200 runs, on the loop).
REFRESH_S = 1.0
REFRESHED_AT_MOST = 2 * PAGE
# The outcome's colour: a `RunList` component class (app.tcss colours them with the theme's).
OUTCOME_STYLES = {
    Outcome.UNANIMOUS: "unanimous",
    Outcome.MAJORITY: "majority",
    Outcome.CURATOR_OVERRIDE: "curator",
    Outcome.PLURALITY: "majority",  # a vote's answer given by the most seats, not by more than half
    Outcome.NO_QUORUM: "failed",  # not a decision
    Outcome.RANKED: "majority",  # a council's chairman wrote from a ranking
}
ENDED_BADLY = (RunStatus.ERROR, RunStatus.INTERRUPTED, RunStatus.CANCELLED)
# Keys the filter passes on to the list (the filter keeps the rest, Home and End included).
LIST_KEYS = {
    "up": RunList.action_cursor_up,
    "down": RunList.action_cursor_down,
    "pageup": RunList.action_page_up,
    "pagedown": RunList.action_page_down,
}


def listed_run(run: RunSummary) -> ListedRun:
    """`run` as a line of the list: literal, single-line text (markup in a question is shown, never
    parsed; control characters are escaped), its outcome or status in words and colour."""
    label = outcome_word(run.outcome) if run.outcome else run_word(run.status)
    if run.outcome is not None:
        style = OUTCOME_STYLES[run.outcome]
    elif run.status is RunStatus.RUNNING:
        label, style = f"● {label}", "running"  # Enter follows it live
    else:
        style = "failed" if run.status in ENDED_BADLY else "muted"
    question = listed_question(
        run.question,
        follow_up=run.parent_run_id is not None,
        origin=run.origin,
        cache_of=run.cache_of,
        mode=run.mode,
    )
    return ListedRun(
        run_id=run.id,
        when=literal(run.created_at[:16].replace("T", " ")),
        question=literal(question),
        panel=literal(" ".join(run.panel.split())),
        outcome=label,
        outcome_style=style,
        cost=cost(run.cost_usd),
        outcome_short=OUTCOME_SHORT_WORDS.get(run.outcome, "") if run.outcome else "",
    )


class HistoryScreen(ModalScreen[str | None]):
    """Enter opens the highlighted run in the dashboard; Escape closes."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="history.close", tooltip="Close the history")]

    def __init__(self, store: RunStore) -> None:
        super().__init__()
        self.store = store
        self.runs: list[RunSummary] = []
        self.filter_text = ""
        self.exhausted = False

    def compose(self) -> ComposeResult:
        with Vertical(id="history-box"):
            yield Static(Text("History", style="bold"), id="history-title")
            yield Input(placeholder="filter by question or panel", id="history-filter")
            yield RunList(id="history-table", near_end_margin=max(1, min(10, PAGE // 2)))
            yield Static(id="history-count")

    def on_mount(self) -> None:
        self.store.interrupt_gone()  # a run whose process has died since is not "running" any more
        self._fill("")
        self.query_one(Input).focus()
        self.set_interval(REFRESH_S, self.refresh_runs, name="history refresh")

    @property
    def run_list(self) -> RunList:
        return self.query_one(RunList)

    def _fill(self, text: str) -> None:
        self.filter_text = text
        self.runs = []
        self.runs = self._page(self._first_page_size())
        self.run_list.set_rows([listed_run(run) for run in self.runs])
        self._count()

    def refresh_runs(self) -> None:
        """Read the listed runs again: new ones at the top, statuses and outcomes as they are now;
        the cursor stays on the run it was on."""
        if len(self.runs) > REFRESHED_AT_MOST:
            return
        limit = max(len(self.runs), self._first_page_size())
        fresh = self.store.list_runs(limit=limit, text=self.filter_text)
        rows = [listed_run(run) for run in fresh]
        if rows != self.run_list.rows:
            self.runs, self.exhausted = fresh, len(fresh) < limit
            self.run_list.update_rows(rows)  # (Enter must open the run the reader chose, not a newer one)
            self._count()

    def _first_page_size(self) -> int:
        return min(PAGE, max(1, self.app.size.height))  # as many runs as the terminal has lines

    def _more(self) -> None:
        page = self._page(PAGE)
        self.runs += page
        self.run_list.add_rows([listed_run(run) for run in page])
        self._count()

    def _page(self, limit: int) -> list[RunSummary]:
        page = self.store.list_runs(limit=limit, text=self.filter_text, offset=len(self.runs))
        self.exhausted = len(page) < limit
        return page

    def _count(self) -> None:
        more = "" if self.exhausted else "+"
        if not self.filter_text:
            shown = f"{len(self.runs)}{more} of {counted(self.store.count(), 'run')}"
        else:
            one = len(self.runs) == 1 and not more
            shown = f"{len(self.runs)}{more} matching run{'' if one else 's'}"
        self.query_one("#history-count", Static).update(
            Text(f"{shown} · Enter opens · Esc closes", style="dim")
        )

    @on(Input.Changed)
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value.strip())

    @on(Input.Submitted)
    def _open_highlighted(self) -> None:
        self.run_list.action_select()

    @on(RunList.Selected)
    def _open(self, event: RunList.Selected) -> None:
        self.dismiss(event.run_id)

    @on(RunList.NearEnd)
    def _near_the_end(self) -> None:
        if not self.exhausted and self.run_list.near_end:
            self._more()

    def on_key(self, event: events.Key) -> None:
        action = LIST_KEYS.get(event.key)
        if action is not None and self.query_one(Input).has_focus:
            action(self.run_list)
            event.stop()
