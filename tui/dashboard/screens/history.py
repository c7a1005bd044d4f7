"""The history screen: every recorded run, newest first, filtered as you type. A run still being
recorded (by this dashboard or another process) says so, and opens followed live; a run a coding
agent asked for (`quorum mcp`) is marked [mcp]."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from tui.engine.types import Outcome, RunStatus
from tui.history.store import RunStore, RunSummary
from tui.render.formatting import cost, literal
from tui.render.words import counted, listed_question, outcome_word, run_word

# Rows are added a page at a time, the next page when the cursor nears the end: filling a table
# costs about half a millisecond a row, and the screen must open at once however long the history.
# The first page is only as many rows as the terminal has lines (the most the table can show):
# measuring and drawing the rows is most of what the screen's first paint costs. The filter
# reaches every run (SQLite does the searching).
PAGE = 100
OUTCOME_STYLES = {
    Outcome.UNANIMOUS: "bold green",
    Outcome.MAJORITY: "bold yellow",
    Outcome.CURATOR_OVERRIDE: "bold dark_orange",
}
ENDED_BADLY = (RunStatus.ERROR, RunStatus.INTERRUPTED, RunStatus.CANCELLED)


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
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="history-count")

    def on_mount(self) -> None:
        self.store.interrupt_gone()  # a run whose process has died since is not "running" any more
        table = self.query_one(DataTable)
        table.add_columns("when", "question", "panel", "outcome", "cost")
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, text: str) -> None:
        self.filter_text = text
        self.runs = []
        self.query_one(DataTable).clear()
        self._more(min(PAGE, max(1, self.app.size.height)))

    def _more(self, limit: int = PAGE) -> None:
        page = self.store.list_runs(limit=limit, text=self.filter_text, offset=len(self.runs))
        self.runs += page
        self.exhausted = len(page) < limit
        table = self.query_one(DataTable)
        for run in page:
            label = outcome_word(run.outcome) if run.outcome else run_word(run.status)
            if run.outcome is not None:
                style = OUTCOME_STYLES[run.outcome]
            elif run.status is RunStatus.RUNNING:
                label, style = f"● {label}", "bold cyan"  # Enter follows it live
            else:
                style = "red" if run.status in ENDED_BADLY else "dim"
            question = listed_question(
                run.question,
                follow_up=run.parent_run_id is not None,
                origin=run.origin,
                cache_of=run.cache_of,
            )
            table.add_row(
                run.created_at[:16].replace("T", " "),
                Text(literal(question[:70] + ("…" if len(question) > 70 else ""))),
                Text(literal(run.panel[:40])),
                Text(str(label), style=style),
                cost(run.cost_usd),
                key=run.id,
            )
        total = self.store.count()
        text = self.filter_text
        more = "" if self.exhausted else "+"
        if not text:
            shown = f"{len(self.runs)}{more} of {counted(total, 'run')}"
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
        table = self.query_one(DataTable)
        if self.runs:
            self.dismiss(self.runs[max(0, table.cursor_row)].id)

    @on(DataTable.RowHighlighted)
    def _near_the_end(self, event: DataTable.RowHighlighted) -> None:
        if not self.exhausted and event.cursor_row >= len(self.runs) - max(1, min(10, PAGE // 2)):
            self._more()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        self.dismiss(str(event.row_key.value))

    def on_key(self, event: object) -> None:
        from textual import events

        if isinstance(event, events.Key) and event.key in ("down", "up") and self.query_one(Input).has_focus:
            table = self.query_one(DataTable)
            table.action_cursor_down() if event.key == "down" else table.action_cursor_up()
            event.stop()
