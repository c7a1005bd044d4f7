"""The start-up floors: a bare Textual app with an input, three statics and a footer.

`bench_dashboard.py` starts it as a fresh process in a pseudo-terminal, interleaved with the
dashboard (`python -m tui`), and times both the same way: from process start until the last row of
the first frame has reached the terminal.

    python benchmarks/bare_app.py               # the bare app: the issue's floor
    python benchmarks/bare_app.py --pydantic    # first, one small strict pydantic model validated
    python benchmarks/bare_app.py --settings    # first, Quorum's own settings read and validated

The two others are what the specification asks of every start-up before anything is drawn: the
configuration "validated with pydantic; a bad file stops the program before anything starts".
`--pydantic` is the least that can cost (pydantic imported, one model built and one validation);
`--settings` is what Quorum's settings cost (pydantic, the settings and engine models, the files
read, the catalog), as every `quorum` command pays it, with pydantic's plugin search turned off
as `tui.cli` turns it off.
"""

from __future__ import annotations

import os
import sys

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


def validate_one_model() -> None:
    """The least a pydantic-validated configuration costs: one strict model, one validation."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as `tui.cli` sets it
    from pydantic import BaseModel, ConfigDict

    class UISettings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        theme: str = "quorum-dark"

    UISettings.model_validate({"theme": "nord"})


def read_quorum_settings() -> None:
    """Quorum's settings, read and validated as the dashboard reads them (`--no-project`)."""
    import tui.cli  # noqa: F401 - the process settings every `quorum` command starts with
    from tui.config.loading import load_settings

    load_settings(None, {}, project=False)


if __name__ == "__main__":
    if "--pydantic" in sys.argv[1:]:
        validate_one_model()
    if "--settings" in sys.argv[1:]:
        read_quorum_settings()
    BareApp().run()
