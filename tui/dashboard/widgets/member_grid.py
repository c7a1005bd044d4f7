"""The member panes, one per seat, in as many columns as the panel's size and the width suit."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual.containers import Grid
from textual.widget import Widget

from tui.dashboard.widgets.member_pane import ModelPane
from tui.engine.names import member_names
from tui.engine.types import Member


def columns_for(count: int, width: int) -> int:
    """How many columns `count` panes get in a terminal `width` cells wide."""
    columns = 1 if count <= 1 else 2 if count <= 4 else 3 if count <= 9 else 4
    if count == 3 and width >= 140:
        columns = 3  # one row of three reads better than two and a gap
    if width < 100:
        columns = min(columns, 2)
    if width < 60:
        columns = 1
    return columns


class MemberGrid(Grid):
    """Holds a `ModelPane` per seat; the app tells it when the seats or the width change."""

    def __init__(
        self,
        members: Sequence[Member],
        *,
        clock: Callable[[], float] = time.perf_counter,
        id: str | None = None,
    ) -> None:
        super().__init__(*(ModelPane(member, clock=clock) for member in members), id=id)
        self.clock = clock
        # On a small screen one pane is shown at a time, full width: the seat of that one.
        self.compact = False
        self.current = 0

    @property
    def panes(self) -> list[ModelPane]:
        return list(self.query_children(ModelPane))

    def replace(self, members: Sequence[Member]) -> list[ModelPane]:
        """New panes for `members` (a recorded run's panel, or seats that no longer match)."""
        self.remove_children()
        panes = [ModelPane(member, clock=self.clock) for member in members]
        self.mount(*panes)
        self.call_after_refresh(self.relayout)
        return panes

    def add(self, member: Member) -> ModelPane:
        pane = ModelPane(member, clock=self.clock)
        self.mount(pane)
        self.call_after_refresh(self.relayout)
        return pane

    def insert(self, seat: int, member: Member) -> ModelPane:
        """A pane for `member` at `seat` (a removed member put back where it sat)."""
        panes = self.panes
        pane = ModelPane(member, clock=self.clock)
        if seat < len(panes):
            self.mount(pane, before=panes[seat])
        else:
            self.mount(pane)
        self.call_after_refresh(self.relayout)
        return pane

    def remove_seat(self, seat: int) -> None:
        self.panes[seat].remove()
        self.call_after_refresh(self.relayout)

    def seat_of(self, widget: Widget | None) -> int | None:
        """The seat of the pane holding `widget` (the focused one, say), or None."""
        while widget is not None and not isinstance(widget, ModelPane):
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        panes = self.panes
        return panes.index(widget) if isinstance(widget, ModelPane) and widget in panes else None

    def relayout(self, width: int | None = None) -> None:
        """Set the column count for the panes there are now; one column while a pane is zoomed,
        or on a small screen, where only the `current` pane is shown."""
        width = width or self.app.size.width or 160
        panes = self.panes
        columns = columns_for(max(1, len(panes)), width)
        self.styles.grid_size_columns = 1 if self.compact or self.has_class("-zoomed") else columns
        self.current = max(0, min(self.current, len(panes) - 1))
        for seat, pane in enumerate(panes):
            pane.set_class(seat == self.current, "-current")
        # Seats of one alias are told apart by stance (and seat number): a seat came or went.
        for pane, name in zip(panes, member_names([pane.member for pane in panes]), strict=True):
            pane.rename(name)
