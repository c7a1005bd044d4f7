"""The context screen: the asking team's context in full (F4), as every member receives it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.engine.context import TeamContext
from tui.render.context import context_chip, context_entries


class ContextScreen(ModalScreen[bool]):
    """Every entry of the context the next run is asked with, its hash and where it comes from.
    When that is a recorded run's context and not the project's, it says so and `p` takes the
    project's back: the screen is dismissed with True."""

    BINDINGS = [
        Binding("escape,q,f4", "dismiss(False)", "Close", id="context.close", tooltip="Close this screen"),
        Binding(
            "p",
            "use_project",
            "Use the project's",
            id="context.use_project",
            tooltip="Ask the next runs with the project's context instead of the recorded run's",
        ),
    ]

    def __init__(
        self,
        context: TeamContext | None,
        *,
        recorded_by: str | None,
        project: TeamContext | None,
        files: Sequence[Path],
    ) -> None:
        super().__init__()
        self.context, self.recorded_by, self.project, self.files = context, recorded_by, project, files

    @property
    def differs(self) -> bool:
        """The context shown is a recorded run's, not the one the configuration gives now."""
        return self.recorded_by is not None and self.context != self.project

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="context-body"):
            yield Static(Text("The asking team's context", style="bold"), id="context-title")
            yield Static(self._entries(), id="context-entries")
            yield Static(self._where(), id="context-footer")

    def _entries(self) -> Table | Text:
        if self.context is None:
            return Text(
                "No context: every member gets the question alone. A project describes its team in a "
                "[context] table of its .quorum.toml: language, frameworks, team_size, security_level, "
                "stack, notes, or any other key with a text or a list of texts."
            )
        table = Table(expand=True, show_edge=False, box=None, pad_edge=False, show_header=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("value", ratio=1)
        for name, value in context_entries(self.context):
            table.add_row(Text(name), Text(value))  # Text: the team's words are never markup
        return table

    def _where(self) -> Text:
        lines = []
        if self.context is not None:
            lines.append(
                f"Sent to every member with every question, fenced as the team's own words. "
                f"sha256 {self.context.sha256[:12]}"
            )
        if self.differs:
            now = f"({context_chip(self.project)})" if self.project is not None else "(none)"
            lines.append(
                f"This is the context run {self.recorded_by} was asked with: its rerun and follow-ups are "
                f"asked with it too. The context here now is another {now}: p asks the next runs with "
                "that one."
            )
        elif self.files:
            lines.append("From " + ", ".join(str(path) for path in self.files))
        lines.append("Escape closes.")
        return Text("\n".join(lines), style="dim")

    def action_use_project(self) -> None:
        if self.differs:
            self.dismiss(True)
        else:
            self.notify("This is the project's context already.", markup=False)
