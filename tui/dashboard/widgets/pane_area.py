"""The panes: the members' grid and the synthesis, side by side (or one above the other on a narrow
screen), and on a small screen one pane at a time, full size, under a strip that names them all.

Its keys act on the focused pane: `z` zooms it; on a small screen the arrows and Tab go from member
to member and on to the synthesis, and F8 (the app's key, from anywhere) flips to the synthesis
and back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import events, on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal

from tui.config.keymap import Where
from tui.dashboard.keys import KeyNames, bindings
from tui.dashboard.widgets.member_grid import MemberGrid
from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.member_strip import MemberStrip
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.dashboard.widgets.synthesis_pane import SynthesisPane
from tui.session import Session

# Below either, a terminal is small: one pane at a time, full size, and a strip to move between them.
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30
# Below this width the synthesis goes under the members instead of beside them.
NARROW_WIDTH = 110


class PaneArea(Horizontal):
    """The strip, the `MemberGrid` of the session's panel and the `SynthesisPane`; the app tells it
    the terminal's size."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings(Where.PANES),
        # From a pane on a small screen, Tab goes on through the panes not on screen (see below).
        Binding("tab", "focus_next_pane", show=False),
        Binding("shift+tab", "focus_previous_pane", show=False),
    ]

    def __init__(self, session: Session, *, clock: Callable[[], float], key_names: KeyNames, id: str) -> None:
        self.strip = MemberStrip(id="strip")
        self.grid = MemberGrid(session, key_names=key_names, clock=clock, id="members")
        self.synthesis = SynthesisPane(id="synthesis")
        # Made here, not in `compose`: the app holds them from its first frame.
        super().__init__(self.strip, self.grid, self.synthesis, id=id)
        self.key_names = key_names

    @property
    def compact(self) -> bool:
        """A small terminal: one pane at a time (see `relayout`)."""
        return self.grid.compact

    @property
    def synthesis_shown(self) -> bool:
        """On a small screen, the synthesis is the pane on screen (instead of a member)."""
        return self.has_class("-synthesis-view")

    def relayout(self, width: int, height: int) -> None:
        """Lay the panes out for a terminal `width` by `height` cells."""
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        self.set_class(width < NARROW_WIDTH, "-narrow")
        self.set_class(compact, "-compact")
        self.grid.compact = compact
        self.grid.relayout(width)
        self.refresh_strip()

    def refresh_layout(self) -> None:
        """The grid's columns and names for the panes there are now, and the strip."""
        self.grid.relayout()
        self.refresh_strip()

    def refresh_strip(self) -> None:
        """The small screen's strip: every member's status, and which pane is on screen."""
        if not self.compact or not self.app.is_running:  # the clock may tick while the app closes
            return
        names = self.key_names
        # In the prompt the arrows move the text cursor: the strip says how to reach the panes.
        arrows = f"{names.shown('previous_pane')}/{names.shown('next_pane')}"
        if isinstance(self.screen.focused, PromptBar):
            arrows = "tab"
        hint = f"{arrows} · {names.shown('toggle_synthesis')}"
        entries = [(pane.shown_name or pane.member.alias, pane.status) for pane in self.grid.panes]
        self.strip.show(entries, self._shown_index(), hint)

    # -- one pane at a time -----------------------------------------------------------------

    def _shown_index(self) -> int:
        """The pane on screen: a member's seat, or the number of seats for the synthesis."""
        return len(self.grid.panes) if self.synthesis_shown else self.grid.current

    def show_pane(self, index: int) -> None:
        """Put a member's pane (a seat) or the synthesis (the number of seats) on screen, focused."""
        panes = self.grid.panes
        index %= len(panes) + 1
        self._put_on_screen(index)
        target = self.synthesis if index == len(panes) else panes[index]
        self.call_after_refresh(target.focus)  # once it is displayed: a hidden widget takes no focus

    def _put_on_screen(self, index: int) -> None:
        synthesis = index == len(self.grid.panes)
        self.set_class(synthesis, "-synthesis-view")
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
            self._put_on_screen(len(self.grid.panes))

    @on(MemberStrip.Chosen)
    def _show_the_tapped_pane(self, event: MemberStrip.Chosen) -> None:
        self.show_pane(event.index)

    @on(events.DescendantBlur)
    def _focus_left(self) -> None:
        self.refresh_strip()  # the focus went to the prompt: the hint says how to come back

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

    def toggle_synthesis(self) -> None:
        """F8: on a small screen, the synthesis in place of the member on screen, and back; on a
        large one, the focus on the synthesis."""
        if not self.compact:
            self.synthesis.focus()
        elif self.synthesis_shown:
            self.show_pane(self.grid.current)
        else:
            self.show_pane(len(self.grid.panes))

    def action_focus_next_pane(self) -> None:
        # From a member, Tab goes on through the members not on screen; after the synthesis, as usual.
        if self.compact and not self.synthesis_shown:
            self.show_pane(self._shown_index() + 1)
        else:
            self.screen.focus_next()

    def action_focus_previous_pane(self) -> None:
        if self.compact and self._shown_index() > 0:
            self.show_pane(self._shown_index() - 1)
        else:
            self.screen.focus_previous()

    # -- zoom -------------------------------------------------------------------------------

    def action_zoom(self) -> None:
        """The focused pane alone, or all of them again."""
        if self.has_class("-zoomed"):
            self.remove_class("-zoomed", "-zoom-member", "-zoom-synthesis")
            self.grid.remove_class("-zoomed")
            for widget in self.query(".-zoom"):
                widget.remove_class("-zoom")
        else:
            target = self.screen.focused
            while target is not None and not isinstance(target, ModelPane | SynthesisPane):
                target = target.parent  # type: ignore[assignment]
            if target is None:
                self.notify("Focus a pane to zoom it.", severity="warning")
                return
            target.add_class("-zoom")
            self.add_class("-zoomed", "-zoom-member" if isinstance(target, ModelPane) else "-zoom-synthesis")
            self.grid.add_class("-zoomed")
        self.refresh_layout()
