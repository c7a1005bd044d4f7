"""On a small screen, one line that stands for the panes not shown: each member's alias and status
mark, then the synthesis; the one on screen is highlighted, and a tap (a click) on one shows it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from tui.render.formatting import literal
from tui.render.words import CALL_MARKS, CallState


class MemberStrip(Static):
    """`alpha ✓  beta ●  gamma ○  Synthesis   ←/→ F6`: what the arrows move between."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"member-strip--current", "member-strip--muted"}

    class Chosen(Message):
        """An entry was tapped: a member's index, or the number of members for the synthesis."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, int]] = []  # each entry on the line: its cells and its index

    def show(self, members: Sequence[tuple[str, CallState]], current: int, hint: str) -> None:
        """`members` as (alias, status); `current` is a member's index, or len(members) for the
        synthesis. The strip starts late enough that the current entry is always on it."""
        style = self.get_component_rich_style
        entries = [f" {literal(alias)} {CALL_MARKS[status]} " for alias, status in members]
        entries.append(" Synthesis ")
        width = max(1, self.size.width or self.app.size.width - 2)
        first = 0
        while first < current and sum(len(e) for e in entries[first : current + 1]) + 1 > width:
            first += 1
        text = Text(no_wrap=True, overflow="ellipsis")
        if first:
            text.append("…", style("member-strip--muted"))
        self._spans = []
        for index in range(first, len(entries)):
            at = cell_len(text.plain)
            text.append(entries[index], style("member-strip--current") if index == current else "")
            self._spans.append((at, at + cell_len(entries[index]), index))
        text.append(f"  {hint}", style("member-strip--muted"))
        self.update(text, layout=False)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for start, end, index in self._spans:
            if start <= offset.x < end:
                self.post_message(self.Chosen(index))
                return
