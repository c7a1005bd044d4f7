"""A pane's info block: a few lines of styled text, each cut to the width, repainted line by line.

A pane's info changes a few times a second while its call runs (the clock, the running token
estimate), one or two of its lines at a time. A `Static` re-renders all of its text through
Textual's general content pipeline on every change; this view keeps each line as Rich `Text`,
repaints only the lines whose text changed, and turns a line into a `Strip` once per change
(measured: a quarter of the cost per line, and half the lines).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


class InfoLines(Widget):
    """Lines of `Text` that never wrap: one too wide for the view ends in an ellipsis."""

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}  # the lines drawn at the current width and styles
        self._base: Style | None = None  # the view's own style, once worked out

    @property
    def text(self) -> str:
        """What the block says, as plain text (a line each)."""
        return "\n".join(line.plain for line in self._lines)

    def show(self, text: Text) -> None:
        """Show `text` (its lines split at newlines), repainting only the lines that changed."""
        lines = list(text.split("\n", allow_blank=True))
        if text.plain.endswith("\n"):
            lines = lines[:-1]  # a trailing newline ends the last line, it does not start one
        width = self.size.width
        for y in range(max(len(lines), len(self._lines))):
            old = self._lines[y] if y < len(self._lines) else None
            new = lines[y] if y < len(lines) else None
            if old != new:
                self._strips.pop(y, None)
                if width:
                    self.refresh(Region(0, y, width, 1))
        self._lines = lines

    def on_resize(self) -> None:
        self._strips.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # a new theme, or an ancestor restyled: the base style changed
        self._base = None

    def render_line(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is None:
            strip = self._strips[y] = self._draw(y)
        return strip

    def _draw(self, y: int) -> Strip:
        width = self.size.width
        base = self._base
        if base is None:  # `rich_style` walks the ancestors' styles: once, until they change
            base = self._base = self.rich_style
        if y >= len(self._lines) or not width:
            return Strip.blank(width, base)
        line = self._lines[y]
        if cell_len(line.plain) > width:
            line = line.copy()
            line.truncate(width, overflow="ellipsis")
        runs = _runs(line)
        if runs is None:  # overlapping or named styles: Rich's own split (the console resolves names)
            segments = [segment for segment in line.render(self.app.console) if segment.text]
            return Strip(segments).apply_style(base).crop_extend(0, width, base)
        # Each run over the view's style, as `Strip.apply_style` makes it, then the blank after it.
        segments = [Segment(text, base + style if style else base) for text, style in runs]
        length = cell_len(line.plain)
        if length < width:
            segments.append(Segment(" " * (width - length), base))
        return Strip(segments, width)


def _runs(line: Text) -> list[tuple[str, Style | None]] | None:
    """`line` as runs of one style each, when its spans are styles that follow one another without
    overlapping (as `Text.append` makes them); None otherwise."""
    if line.style:
        return None
    plain, at = line.plain, 0
    runs: list[tuple[str, Style | None]] = []
    for start, end, style in line.spans:
        if start < at or not isinstance(style, Style):
            return None
        if start > at:
            runs.append((plain[at:start], None))
        if end > start:
            runs.append((plain[start:end], style))
            at = end
    if at < len(plain):
        runs.append((plain[at:], None))
    return runs
