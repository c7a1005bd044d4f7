"""The prompt bar: a multi-line question box. Enter submits; Ctrl+J (or Shift+Enter) starts a new line."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea


class PromptBar(TextArea):
    """Enter sends the question: it is the one submit key every terminal (and tmux) delivers as is.
    A new line is Ctrl+J, which terminals send as a line feed, or Shift+Enter where the terminal
    reports it."""

    DEFAULT_CSS = """
    PromptBar { height: auto; min-height: 3; max-height: 8; }
    """

    @dataclass
    class Submitted(Message):
        prompt_bar: PromptBar
        question: str

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self.placeholder = "Ask the panel…  (Enter sends · Ctrl+J new line · F1 help)"

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text.strip()))
            return
        if event.key in ("ctrl+j", "shift+enter"):
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self.replace("\n", start, end)
            return
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self.screen.focus_next()
            return
        await super()._on_key(event)
