"""The keys that move between panes on a small screen, where one pane is shown at a time: the
arrows and Tab go from member to member and on to the synthesis; F8 flips to the synthesis and back.

Built on the dashboard's core (`DashboardCore`), which decides when a screen is small (`relayout`).
"""

from __future__ import annotations

from textual import events, on

from tui.dashboard.core import DashboardCore


class CompactActions(DashboardCore):
    def _shown_index(self) -> int:
        """The pane on screen: a member's seat, or the number of seats for the synthesis."""
        return len(self.panes) if self.synthesis_shown else self.grid.current

    def _in_a_pane(self) -> bool:
        return self.focused_seat() is not None or self.synthesis.has_focus_within

    def show_pane(self, index: int) -> None:
        """Put a member's pane (a seat) or the synthesis (`len(self.panes)`) on screen, focused."""
        panes = self.panes
        index %= len(panes) + 1
        self._put_on_screen(index)
        target = self.synthesis if index == len(panes) else panes[index]
        self.call_after_refresh(target.focus)  # once it is displayed: a hidden widget takes no focus

    def _put_on_screen(self, index: int) -> None:
        synthesis = index == len(self.panes)
        self.dashboard_screen.query_one("#main").set_class(synthesis, "-synthesis-view")
        if not synthesis:
            self.grid.current = index
            self.grid.relayout()
        self.refresh_strip()

    @on(events.DescendantFocus)
    def _show_the_focused_pane(self, event: events.DescendantFocus) -> None:
        """A pane focused some other way (a click, a new member, a key of another screen) is put
        on screen, so the focus is never on a pane the small screen hides."""
        if not self.compact:
            return
        self.refresh_strip()  # its hint depends on where the focus is
        seat = self.grid.seat_of(event.widget)
        if seat is not None and (seat != self.grid.current or self.synthesis_shown):
            self._put_on_screen(seat)
        elif seat is None and not self.synthesis_shown and self.synthesis in event.widget.ancestors_with_self:
            self._put_on_screen(len(self.panes))

    def action_next_pane(self) -> None:
        if self.compact:
            self.show_pane(self._shown_index() + 1)
        else:
            self.screen.focus_next()

    def action_previous_pane(self) -> None:
        if self.compact:
            self.show_pane(self._shown_index() - 1)
        else:
            self.screen.focus_previous()

    def action_toggle_synthesis(self) -> None:
        if not self.compact:
            self.synthesis.focus()
        elif self.synthesis_shown:
            self.show_pane(self.grid.current)
        else:
            self.show_pane(len(self.panes))

    def action_focus_next(self) -> None:
        # From a pane, Tab goes on through the panes not on screen; after the synthesis, as usual.
        if self.compact and self._in_a_pane() and not self.synthesis_shown:
            self.show_pane(self._shown_index() + 1)
        else:
            super().action_focus_next()

    def action_focus_previous(self) -> None:
        if self.compact and self._in_a_pane() and self._shown_index() > 0:
            self.show_pane(self._shown_index() - 1)
        else:
            super().action_focus_previous()
