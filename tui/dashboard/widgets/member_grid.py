"""The member panes, one per seat of the panel, in as many columns as the panel's size and the width
suit; and the keys that edit the panel from the focused member's pane: its stance (`t`), removing
it (`d`) and undoing either (`u`). Adding a member (Ctrl+N) is the app's key, from anywhere: the
member picker's choice comes here (`add_member`).

The panel itself is the session's. A removal and a stance change can be undone, newest first: a
key pressed by mistake never costs a member.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import BindingType
from textual.containers import Grid
from textual.widget import Widget

from tui.config.keymap import Where
from tui.config.schema import MemberSpec
from tui.dashboard.keys import KeyNames, bindings
from tui.dashboard.widgets.member_pane import ModelPane
from tui.engine.names import member_names
from tui.engine.types import Member, Stance
from tui.session import Session


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


@dataclass(frozen=True)
class PanelEdit:
    """One edit of the panel, as `u` puts it back: the seat as it was, and for a removal its pane
    (whose run state comes back with it, while that run is the one on screen)."""

    seat: int
    spec: MemberSpec
    removed: ModelPane | None = None


class MemberGrid(Grid):
    """Holds a `ModelPane` per seat of the session's panel; the app tells it when the width changes."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(Where.MEMBERS)

    def __init__(
        self,
        session: Session,
        *,
        key_names: KeyNames,
        clock: Callable[[], float] = time.perf_counter,
        id: str | None = None,
    ) -> None:
        super().__init__(*(ModelPane(member, clock=clock) for member in session.members()), id=id)
        self.session = session
        self.key_names = key_names
        self.clock = clock
        # On a small screen one pane is shown at a time, full width: the seat of that one.
        self.compact = False
        self.current = 0
        self.run_panes: list[ModelPane] = []
        """The panes of the run on screen, in its panel order (set by whoever shows a run)."""
        self._edits: list[PanelEdit] = []  # what `u` undoes, newest last

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

    def _insert(self, seat: int, member: Member) -> ModelPane:
        """A pane for `member` at `seat` (a new member at the end, or a removed one put back)."""
        panes = self.panes
        pane = ModelPane(member, clock=self.clock)
        pane.joins_next_run = bool(self.run_panes)  # a run is on screen, and it is not part of it
        if seat < len(panes):
            self.mount(pane, before=panes[seat])
        else:
            self.mount(pane)
        self.call_after_refresh(self.relayout)
        return pane

    def seat_of(self, widget: Widget | None) -> int | None:
        """The seat of the pane holding `widget` (the focused one, say), or None."""
        while widget is not None and not isinstance(widget, ModelPane):
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        panes = self.panes
        return panes.index(widget) if isinstance(widget, ModelPane) and widget in panes else None

    def need_seat(self) -> int | None:
        """The focused member's seat, or None after telling the user to focus one."""
        seat = self.seat_of(self.screen.focused)
        if seat is None:
            self.notify("Focus a member's pane first (Tab moves between panes).", severity="warning")
        return seat

    def relayout(self, width: int | None = None) -> None:
        """Set the column count for the panes there are now; one column while a pane is zoomed,
        or on a small screen, where only the `current` pane is shown."""
        width = width or self.app.size.width or 160
        panes = self.panes
        columns = 1 if self.compact or self.has_class("-zoomed") else columns_for(max(1, len(panes)), width)
        self.styles.grid_size_columns = columns
        for many in (3, 4):  # the grid's share of the width (app.tcss)
            self.set_class(columns == many, f"-columns-{many}")
        self.current = max(0, min(self.current, len(panes) - 1))
        for seat, pane in enumerate(panes):
            pane.set_class(seat == self.current, "-current")
        # Seats of one alias are told apart by stance (and seat number): a seat came or went.
        for pane, name in zip(panes, member_names([pane.member for pane in panes]), strict=True):
            pane.rename(name)

    # -- editing the panel ------------------------------------------------------------------

    def forget_edits(self) -> None:
        """The panel is another one now (a recorded run's): its edits can no longer be undone."""
        self._edits.clear()

    def action_cycle_stance(self) -> None:
        seat = self.need_seat()
        if seat is not None:
            self._edits.append(PanelEdit(seat, self.session.seats[seat]))
            stance = self.session.cycle_stance(seat)
            self.panes[seat].set_stance(stance)
            self.notify(
                f"{self.session.seats[seat].model} will argue {stance.value} next run "
                f"({self.key_names.shown('undo')} undoes).",
                markup=False,
            )

    def add_member(self, choice: tuple[str, Stance] | None) -> None:
        """Ctrl+N's choice in the member picker (the app's key, from anywhere) joins the panel."""
        if not choice:
            return
        alias, stance = choice
        seat = self.session.add(alias, stance)
        self._insert(seat, self.session.member(seat)).focus()
        self.notify(f"Added {alias} ({stance.value}); it joins the next run.", markup=False)

    def action_remove_member(self) -> None:
        seat = self.need_seat()
        if seat is None:
            return
        if len(self.session.seats) == 1:
            self.notify("The panel needs at least one member.", severity="warning")
            return
        panes = self.panes
        pane, neighbour = panes[seat], panes[seat + 1 if seat + 1 < len(panes) else seat - 1]
        spec = self.session.remove(seat)
        self._edits.append(PanelEdit(seat, spec, removed=pane))
        pane.remove()
        self.call_after_refresh(self.relayout)
        neighbour.focus()  # the keys stay on the panel (u undoes), not in the prompt
        self.notify(f"Removed {spec.model} — {self.key_names.shown('undo')} to undo.", markup=False)

    def action_undo(self) -> None:
        """Put back the last member removed, at its seat, or the last stance changed."""
        if not self._edits:
            self.notify("Nothing to undo: no member was removed and no stance changed.", markup=False)
            return
        edit = self._edits.pop()
        seats = self.session.seats
        if edit.removed is None:
            seats[edit.seat] = edit.spec
            self.panes[edit.seat].set_stance(edit.spec.stance)
            self.notify(
                f"{edit.spec.model} will argue {edit.spec.stance.value} next run, as before.", markup=False
            )
            return
        seat = min(edit.seat, len(seats))
        seats.insert(seat, edit.spec)
        pane = self._insert(seat, self.session.member(seat))
        if edit.removed in self.run_panes:  # its run is still on screen: so are its answer and state
            pane.take_over(edit.removed)
            self.run_panes[self.run_panes.index(edit.removed)] = pane
        pane.focus()
        self.notify(f"{edit.spec.model} is back on the panel.", markup=False)
