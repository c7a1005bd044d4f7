"""The start-up floor: a bare Textual app with an input, three statics and a footer.

`bench_dashboard.py` starts it as a fresh process in a pseudo-terminal, interleaved with the
dashboard (`python -m tui`), and times both the same way: from process start until the last row of
the first frame has reached the terminal.

    python benchmarks/bare_app.py
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Input, Static


class BareApp(App[None]):
    """What every Textual app pays to show a prompt, some text and its keys: nothing else."""

    BINDINGS = [("ctrl+q", "quit", "Quit"), ("f1", "help", "Help"), ("f2", "history", "History")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Ask the panel a question")
        yield Static("round tracker")
        yield Static("members")
        yield Static("synthesis")
        yield Footer()


if __name__ == "__main__":
    BareApp().run()
