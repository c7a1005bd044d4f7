"""The key for the asking team's context: F4 shows it in full, and from there a recorded run's
context can give way to the project's (`p`).

Built on the dashboard's core (`DashboardCore`). The context in force is the session's (the
configuration's, or a recorded run's once one is opened); the prompt's chip says which.
"""

from __future__ import annotations

from tui.dashboard.core import DashboardCore


class ContextActions(DashboardCore):
    def action_show_context(self) -> None:
        from tui.dashboard.screens.context import ContextScreen

        session = self.session
        screen = ContextScreen(
            session.context,
            recorded_by=session.context_from,
            project=session.project_context,
            files=self.settings.context_files,
        )
        self.push_screen(screen, callback=self._context_chosen)

    def _context_chosen(self, use_project: bool | None) -> None:
        if not use_project:
            return
        self.session.use_project_context()
        self.refresh_chips()
        self.notify("The next runs are asked with the project's context.", markup=False)
