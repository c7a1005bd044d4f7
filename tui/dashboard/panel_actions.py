"""The dashboard's keys that edit the panel and the view: stance, add, remove, zoom, mode, save, theme.

Built on the dashboard's core (`DashboardCore`); the panel itself is the session's.
"""

from __future__ import annotations

from tui.dashboard.core import DashboardCore
from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.synthesis_pane import SynthesisPane


class PanelActions(DashboardCore):
    def action_cycle_stance(self) -> None:
        seat = self.need_seat()
        if seat is not None:
            stance = self.session.cycle_stance(seat)
            self.panes[seat].set_stance(stance)
            self.notify(f"{self.session.seats[seat].model} will argue {stance.value} next run.", markup=False)

    def action_add_member(self) -> None:
        from tui.dashboard.screens.picker import MemberPicker  # screens load when first opened

        self.push_screen(MemberPicker(self.session.catalog.entries()), callback=self.add_member)

    def add_member(self, alias: str | None) -> None:
        if not alias:
            return
        seat = self.session.add(alias)
        self.grid.add(self.session.member(seat)).focus()
        self.notify(f"Added {alias}; it joins the next run.", markup=False)

    def action_remove_member(self) -> None:
        seat = self.need_seat()
        if seat is None:
            return
        if len(self.session.seats) == 1:
            self.notify("The panel needs at least one member.", severity="warning")
            return
        spec = self.session.remove(seat)
        self.grid.remove_seat(seat)
        self.notify(f"Removed {spec.model} from the panel.", markup=False)

    def action_zoom(self) -> None:
        main = self.query_one("#main")
        if main.has_class("-zoomed"):
            main.remove_class("-zoomed", "-zoom-member", "-zoom-synthesis")
            self.grid.remove_class("-zoomed")
            for widget in self.query(".-zoom"):
                widget.remove_class("-zoom")
        else:
            target = self.focused
            while target is not None and not isinstance(target, ModelPane | SynthesisPane):
                target = target.parent  # type: ignore[assignment]
            if target is None:
                self.notify("Focus a pane to zoom it.", severity="warning")
                return
            target.add_class("-zoom")
            main.add_class("-zoomed", "-zoom-member" if isinstance(target, ModelPane) else "-zoom-synthesis")
            self.grid.add_class("-zoomed")
        self.relayout()

    def action_toggle_mode(self) -> None:
        mode = self.session.toggle_mode()
        if not self.running:
            self.tracker.reset(mode, self.session.max_rounds)
        self.notify(f"Next run: {mode.value}.", markup=False)

    def action_save_panel(self) -> None:
        self.save_user_config({"panel": {"members": self.session.panel_for_config()}}, quiet=False)

    def action_pick_theme(self) -> None:
        self.search_themes()
