"""A pane's info block: a few lines of styled text, each cut to the width, repainted line by line.

A pane's info changes a few times a second while its call runs (the clock, the running token
estimate), one or two of its lines at a time. A `Static` re-renders all of its text through
Textual's general content pipeline on every change; this view keeps each line as its runs of one
style each, repaints only the lines whose runs changed, and turns a line into a `Strip` once per
change (measured: a quarter of the cost per line, and half the lines). The runs come from the
text's spans in one pass: Rich's own split of the text into lines, and of a line into segments,
were most of what remained (measured with 16 panes streaming).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui.dashboard.widgets.rows import filled_row

Run = tuple[str, Style | None]
"""Text of one style (None: the view's own)."""


class InfoLines(Widget):
    """Lines of styled text that never wrap: one too wide for the view ends in an ellipsis."""

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._lines: list[tuple[Run, ...]] = []
        self._strips: dict[int, Strip] = {}  # the lines drawn at `_drawn_width` and the current styles
        self._drawn_width = 0
        self._base: Style | None = None  # the view's own style, once worked out

    @property
    def text(self) -> str:
        """What the block says, as plain text (a line each)."""
        return "\n".join("".join(text for text, _ in line) for line in self._lines)

    def show(self, text: Text) -> None:
        """Show `text` (its lines split at newlines), repainting only the lines that changed."""
        lines = _line_runs(text)
        if lines is None:  # overlapping or named styles: Rich's own split (the console resolves names)
            console = self.app.console
            lines = [
                tuple((segment.text, segment.style) for segment in line.render(console) if segment.text)
                for line in text.split("\n", allow_blank=True)
            ]
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

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # a new theme, or an ancestor restyled: the base style changed
        self._base = None

    def render_line(self, y: int) -> Strip:
        # Checked here, not on the resize event: a grid that reflows draws its panes at their new
        # width before that event comes, and a line drawn then would keep the old width's cut.
        if self.size.width != self._drawn_width:
            self._strips.clear()
            self._drawn_width = self.size.width
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
        runs = self._lines[y]
        length = sum(cell_len(text) for text, _ in runs)
        if length > width:  # cut by cells, as Rich cuts a line (the ellipsis keeps the last style)
            line = Text.assemble(*((text, style or "") for text, style in runs), no_wrap=True)
            line.truncate(width, overflow="ellipsis")
            cut = _line_runs(line)
            assert cut is not None  # (assembled: runs that follow one another)
            runs, length = cut[0], cell_len(line.plain)
        # Each run over the view's style, as `Strip.apply_style` makes it, then the blank after it.
        segments = [Segment(text, base + style if style else base) for text, style in runs]
        return filled_row(segments, length, width, base)


def _line_runs(text: Text) -> list[tuple[Run, ...]] | None:
    """`text`'s lines, each as its runs of one style, when its spans are styles that follow one
    another without overlapping (as `Text.append` makes them); None otherwise."""
    if text.style:
        return None
    plain = text.plain
    lines: list[tuple[Run, ...]] = []
    line: list[Run] = []
    at = 0

    def run(end: int, style: Style | None) -> None:
        # plain[at:end] in one style, across as many lines as it has newlines
        nonlocal line
        first, *more = plain[at:end].split("\n")
        if first:
            line.append((first, style))
        for piece in more:
            lines.append(tuple(line))
            line = [(piece, style)] if piece else []

    for start, end, style in text.spans:
        if start < at or not isinstance(style, Style):
            return None
        if start > at:
            run(start, None)
            at = start
        if end > start:
            run(end, style)
            at = end
    run(len(plain), None)
    lines.append(tuple(line))
    return lines
