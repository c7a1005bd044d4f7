"""The dashboard's keys that edit the panel and the view: stance, add, remove, undo, mode, save,
theme.

Built on the dashboard's core (`DashboardCore`); the panel itself is the session's. A removal and
a stance change can be undone (`u`), newest first: a key pressed by mistake never costs a member.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.config.schema import MemberSpec
from tui.dashboard.core import DashboardCore
from tui.dashboard.widgets.member_pane import ModelPane
from tui.engine.types import Stance


@dataclass(frozen=True)
class PanelEdit:
    """One edit of the panel, as `u` puts it back: the seat as it was, and for a removal its pane
    (whose run state comes back with it, while that run is the one on screen)."""

    seat: int
    spec: MemberSpec
    removed: ModelPane | None = None


class PanelActions(DashboardCore):
    def action_cycle_stance(self) -> None:
        seat = self.need_seat()
        if seat is not None:
            self.panel_undo.append(PanelEdit(seat, self.session.seats[seat]))
            stance = self.session.cycle_stance(seat)
            self.panes[seat].set_stance(stance)
            self.notify(
                f"{self.session.seats[seat].model} will argue {stance.value} next run "
                f"({self.key_names.shown('undo')} undoes).",
                markup=False,
            )

    def action_add_member(self) -> None:
        from tui.dashboard.screens.picker import MemberPicker  # screens load when first opened

        self.push_screen(MemberPicker(self.session.catalog.entries()), callback=self.add_member)

    def add_member(self, choice: tuple[str, Stance] | None) -> None:
        if not choice:
            return
        alias, stance = choice
        seat = self.session.add(alias, stance)
        self.grid.add(self.session.member(seat)).focus()
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
        self.panel_undo.append(PanelEdit(seat, spec, removed=pane))
        self.grid.remove_seat(seat)
        neighbour.focus()  # the keys stay on the panel (u undoes), not in the prompt
        self.notify(f"Removed {spec.model} — {self.key_names.shown('undo')} to undo.", markup=False)

    def action_undo(self) -> None:
        """Put back the last member removed, at its seat, or the last stance changed."""
        if not self.panel_undo:
            self.notify("Nothing to undo: no member was removed and no stance changed.", markup=False)
            return
        edit: PanelEdit = self.panel_undo.pop()
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
        pane = self.grid.insert(seat, self.session.member(seat))
        if edit.removed in self.run_panes:  # its run is still on screen: so are its answer and state
            pane.take_over(edit.removed)
            self.run_panes[self.run_panes.index(edit.removed)] = pane
        pane.focus()
        self.notify(f"{edit.spec.model} is back on the panel.", markup=False)

    def action_toggle_mode(self) -> None:
        mode = self.session.toggle_mode()
        if self.shown is None:  # nothing on screen: the tracker shows what the next run will be
            self.tracker.reset(mode, self.session.max_rounds)
        self.refresh_chips()  # else the prompt's chip says it; the tracker stays the run's on screen
        # A flag the new mode ignores (--rounds in consult) is said, as `quorum run` says it.
        self.notify(" ".join([f"Next run: {mode.value}.", *self.session.unused_options()]), markup=False)

    def action_save_panel(self) -> None:
        self.save_user_config({"panel": {"members": self.session.panel_for_config()}}, quiet=False)

    def action_pick_theme(self) -> None:
        self.search_themes()

    def search_themes(self) -> None:
        """Ctrl+T and the palette's Theme: Quorum's themes first, then the user's, then Textual's."""
        from tui.dashboard.screens.theme_picker import theme_palette

        self.push_screen(theme_palette())
