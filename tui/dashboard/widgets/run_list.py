"""The history screen's list of runs: one line a run, drawn only where it shows.

A `DataTable` measures every cell to size its columns and renders each cell through Rich: for
F2's first page that was most of the screen's first paint (profiled: about 4 ms a row drawn,
26 ms measuring the columns). This Line-API view knows its columns from its own width (no
measuring), takes its rows as literal text (a question is never parsed as markup) and makes a
strip only for the rows on screen, with the styles worked out once per paint.

The cursor row is highlighted; Enter or a click on a row posts `RunList.Selected`, and the
cursor (or the view, scrolled) coming within `near_end_margin` rows of the last row posts
`RunList.NearEnd`, so the screen can fetch the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.dashboard.widgets.rows import filled_row

GAP = 2  # cells between two columns
ELLIPSIS = "…"
# Below this many cells for the question, the list gives up columns (cost, then when) for it.
QUESTION_MIN = 16
# The panel column is shown only when the question keeps at least this many cells beside it.
QUESTION_BESIDE_PANEL = 30
PANEL_MIN, PANEL_MAX = 12, 32
WIDE = 100  # from this width on, the full date and the longest outcome ("curator decision")


@dataclass(frozen=True)
class ListedRun:
    """One run as a line of the list: its cells as literal, single-line text (the caller makes
    them so: control characters escaped, whitespace folded) and the component class (without
    its `run-list--` prefix) its outcome is coloured with."""

    run_id: str
    when: str  # "2026-11-20 09:12"; a narrow list shows its end ("11-20 09:12")
    question: str
    panel: str
    outcome: str
    outcome_style: str
    cost: str
    outcome_short: str = ""  # the outcome where its column is too narrow for it ("": cut it)


@dataclass(frozen=True)
class Columns:
    """Widths in cells; 0 for a column left out (the question always has one)."""

    when: int
    question: int
    panel: int
    outcome: int
    cost: int

    def widths(self) -> list[int]:
        return [self.when, self.question, self.panel, self.outcome, self.cost]


def column_widths(width: int) -> Columns:
    """The columns for a list `width` cells wide: fixed widths for the date, the outcome and the
    cost; the rest to the question and, when there is room for both, a third of it to the panel.
    Too narrow for all, the cost goes first, then the date."""
    wide = width >= WIDE
    when, outcome, cost = (16 if wide else 11), (16 if wide else 11), 8

    def question_room() -> int:
        return width - sum(w + GAP for w in (when, outcome, cost) if w)

    if question_room() < QUESTION_MIN:
        cost = 0
    if question_room() < QUESTION_MIN:
        when = 0
    rest = question_room()
    panel = min(PANEL_MAX, (rest - GAP) // 3)
    if panel < PANEL_MIN or rest - GAP - panel < QUESTION_BESIDE_PANEL:
        panel = 0
    question = max(1, rest - (panel + GAP if panel else 0))
    return Columns(when=when, question=question, panel=panel, outcome=outcome, cost=cost)


def fit(text: str, width: int, *, right: bool = False) -> str:
    """`text` in exactly `width` cells: padded, or cut by cells with an ellipsis at the end (a
    wide character is never split: the cell it would have half filled is a space)."""
    if width <= 0:
        return ""
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + ELLIPSIS
    padding = " " * (width - size)
    return padding + text if right else text + padding


def _outcome_in(row: ListedRun, width: int) -> str:
    """The row's outcome in words that fit `width` cells, if it has shorter ones."""
    if row.outcome_short and cell_len(row.outcome) > width:
        return row.outcome_short
    return row.outcome


HEADINGS = ListedRun("", "when", "question", "panel", "outcome", "", "cost")


class RunList(ScrollView, can_focus=True):
    """The runs, newest first, one a line under a header line, with a cursor row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Open", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-list--header",
        "run-list--cursor",
        "run-list--stripe",
        "run-list--unanimous",
        "run-list--majority",
        "run-list--curator",
        "run-list--running",
        "run-list--failed",
        "run-list--muted",
    }

    DEFAULT_CSS = """
    RunList {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        /* Always there (a track the colour of the list when there is nothing to scroll): a
           scrollbar appearing once the rows are known would lay out and paint the screen again
           right after its first paint. */
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        scrollbar-background: transparent;
        scrollbar-background-hover: transparent;
        scrollbar-background-active: transparent;
    }
    RunList > .run-list--header { text-style: bold; background: $panel; color: $foreground; }
    RunList > .run-list--stripe { background: $surface-lighten-1 50%; }
    RunList:dark > .run-list--stripe { background: $surface-darken-1 40%; }
    RunList > .run-list--cursor { background: $block-cursor-blurred-background; }
    RunList:focus > .run-list--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    RunList > .run-list--muted { color: $text-muted; }
    """

    class Selected(Message):
        """A run was chosen (Enter, or a click on its row)."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class NearEnd(Message):
        """The cursor or the view is near the last row: time for the next page, if any."""

    def __init__(self, *, id: str | None = None, near_end_margin: int = 10) -> None:
        super().__init__(id=id)
        self._rows: list[ListedRun] = []
        self._cursor = 0
        self.near_end_margin = near_end_margin
        # Worked out once per paint (`rich_style` walks every ancestor's styles).
        self._paint: dict[str, Style] = {}
        self._columns = column_widths(0)

    # -- rows and cursor -----------------------------------------------------------------

    @property
    def rows(self) -> list[ListedRun]:
        """The rows listed, in order (a copy)."""
        return list(self._rows)

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def cursor(self) -> int:
        """The highlighted row's index (0 when the list is empty)."""
        return self._cursor

    @property
    def highlighted(self) -> ListedRun | None:
        return self._rows[self._cursor] if self._rows else None

    @property
    def near_end(self) -> bool:
        """Whether the cursor, or the last row in view once the list is scrolled, is within
        `near_end_margin` rows of the end. (Unscrolled, only the cursor counts: the first page
        is as many rows as the terminal has lines, more than the view holds.)"""
        last_in_view = int(self.scroll_y) + self._rows_in_view() - 1 if self.scroll_y else 0
        return max(self._cursor, last_in_view) >= len(self._rows) - max(1, self.near_end_margin)

    def set_rows(self, rows: list[ListedRun]) -> None:
        """List `rows` instead, the cursor on the first."""
        self._rows = list(rows)
        self._cursor = 0
        self._resize()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def update_rows(self, rows: list[ListedRun]) -> None:
        """List `rows` in place of those shown, read again (new runs at the top, statuses that
        changed): the cursor stays on its run (on the first row if that run is gone), and the rows
        the reader looks at stay where they are, unless the list is at its top, where new runs show."""
        chosen = self.highlighted
        same = (i for i, row in enumerate(rows) if chosen is not None and row.run_id == chosen.run_id)
        at = next(same, 0)
        shift = at - self._cursor
        self._rows = list(rows)
        self._cursor = at
        self._resize()
        if shift and self.scroll_y:
            self.scroll_to(y=self.scroll_y + shift, animate=False, immediate=True)
        self._cursor_into_view()
        self.refresh()

    def add_rows(self, rows: list[ListedRun]) -> None:
        """Add `rows` after the last."""
        self._rows += rows
        self._resize()
        self.refresh()

    def move_cursor(self, to: int) -> None:
        """Highlight row `to` (kept within the list) and scroll it into view."""
        if not self._rows:
            return
        to = max(0, min(len(self._rows) - 1, to))
        if to != self._cursor:
            self._cursor = to
            self.refresh()
        self._cursor_into_view()
        if self.near_end:
            self.post_message(self.NearEnd())

    def _cursor_into_view(self) -> None:
        """Scroll as little as shows the cursor's row."""
        to, top, shown = self._cursor, int(self.scroll_y), self._rows_in_view()
        if to < top:
            self.scroll_to(y=to, animate=False, immediate=True)
        elif to >= top + shown:
            self.scroll_to(y=to - shown + 1, animate=False, immediate=True)

    def _rows_in_view(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # the header takes a line

    def _resize(self) -> None:
        # One line more than the rows, for the header: the last row can scroll up into view.
        self.virtual_size = Size(0, len(self._rows) + 1)

    # -- keys and mouse ------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - self._rows_in_view())

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + self._rows_in_view())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_select(self) -> None:
        if (row := self.highlighted) is not None:
            self.post_message(self.Selected(row.run_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return  # the header
        index = int(self.scroll_y) + offset.y - 1
        if index < len(self._rows):
            event.stop()
            self.move_cursor(index)
            self.action_select()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value > old_value and self.near_end:
            self.post_message(self.NearEnd())  # scrolled (the wheel, the scrollbar) to the end

    # -- Line API --------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        base = self.rich_style
        partial = {
            name: self.get_component_rich_style(f"run-list--{name}", partial=True) for name in _OUTCOMES
        }
        self._paint = {
            "": base,
            "header": self.get_component_rich_style("run-list--header"),
            "cursor": self.get_component_rich_style("run-list--cursor"),
            "stripe": self.get_component_rich_style("run-list--stripe"),
            **{f"outcome-{name}": style for name, style in partial.items()},
        }
        self._columns = column_widths(self.scrollable_content_region.width)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        paint = self._paint or {"": self.rich_style}
        if y == 0:
            return self._strip(HEADINGS, paint.get("header", paint[""]), None, width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, paint[""])
        row = self._rows[index]
        outcome = paint.get(f"outcome-{row.outcome_style}")
        if index == self._cursor:
            line = paint.get("cursor", paint[""])
            if self.has_focus:
                outcome = None  # the focused cursor's own colours, readable on it
        else:
            line = paint.get("stripe", paint[""]) if index % 2 else paint[""]
        return self._strip(row, line, outcome, width)

    def _strip(self, row: ListedRun, line: Style, outcome: Style | None, width: int) -> Strip:
        columns = self._columns
        when = row.when[-columns.when :] if columns.when and len(row.when) > columns.when else row.when
        cells = [
            (fit(when, columns.when), None),
            (fit(row.question, columns.question), None),
            (fit(row.panel, columns.panel), None),
            (fit(_outcome_in(row, columns.outcome), columns.outcome), outcome),
            (fit(row.cost, columns.cost, right=True), None),
        ]
        segments: list[Segment] = []
        gap = Segment(" " * GAP, line)
        for (text, style), column_width in zip(cells, columns.widths(), strict=True):
            if not column_width:
                continue
            if segments:
                segments.append(gap)
            segments.append(Segment(text, line + style if style else line))
        used = sum(w for w in columns.widths() if w) + GAP * (sum(1 for w in columns.widths() if w) - 1)
        return filled_row(segments, used, width, line)


_OUTCOMES = ("unanimous", "majority", "curator", "running", "failed", "muted")
