"""The help screen: every key the dashboard answers to, as currently mapped."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.dashboard.keys import HelpRow


class HelpScreen(ModalScreen[None]):
    """Lists each binding's keys, what it does and its id (the name to remap it by in [ui.keymap])."""

    BINDINGS = [
        Binding(
            "escape,q,f1,question_mark", "dismiss", "Close help", id="help.close", tooltip="Close this screen"
        )
    ]

    def __init__(self, rows: Iterable[HelpRow]) -> None:
        super().__init__()
        self.rows = list(rows)

    def compose(self) -> ComposeResult:
        table = Table(expand=True, show_edge=False, box=None, pad_edge=False)
        table.add_column("keys", style="bold", no_wrap=True)
        table.add_column("does")
        table.add_column(Text("id, for [ui.keymap]"), style="dim", no_wrap=True)
        for row in self.rows:
            key = row.key
            does = f"{key.description}: {key.tooltip}" if key.tooltip else key.description
            # Textual's own keys (the palette, quit) cannot be remapped: no id to remap them by.
            remap = Text("fixed", style="italic") if row.fixed else Text(key.id)
            table.add_row(Text(("● " if key.anywhere else "  ") + row.keys), Text(does), remap)
        with VerticalScroll(id="help-body"):
            yield Static(Text("Quorum keys", style="bold"), id="help-title")
            yield Static(table)
            yield Static(
                Text(
                    "Keys marked ● work from anywhere; the others act on the focused pane "
                    "(Tab / Shift+Tab move between panes, Escape leaves the prompt). "
                    "Every action is also in the command palette (Ctrl+P). Remap keys in the user "
                    'config under [ui.keymap], e.g. rerun = "f6".',
                    style="dim",
                ),
                id="help-footer",
            )
