"""A word-wrapped text view built for streaming: appends re-wrap only the paragraph that changed.

Model text arrives a few words at a time. Re-rendering a whole `Static` per flush costs a full
re-wrap of everything said so far; this Line-API view keeps the wrapped lines of finished
paragraphs and re-wraps only the open one, so a flush costs about as much as the text it adds.
Text is always literal: control characters are shown as `\\xNN` and nothing is parsed as markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.render.formatting import literal

TAB = "    "
_WORD = re.compile(r"\S+\s*|\s+")


def wrap_spans(text: str, width: int, start: int = 0) -> list[tuple[int, int]]:
    """Greedy word wrap of `text[start:]` to `width` cells, as (start, end) offsets into `text`.

    Words longer than a line are folded. Greedy on purpose: text appended later can only change
    the last line, which is what lets a stream re-wrap just that line.
    """
    width = max(1, width)
    spans: list[tuple[int, int]] = []
    line_start, used = start, 0
    for match in _WORD.finditer(text, start):
        word = match.group()
        visible = cell_len(word.rstrip(" "))
        if used and used + visible > width:
            spans.append((line_start, match.start()))
            line_start, used = match.start(), 0
        while visible > width:  # fold a word wider than the line
            cut = line_start + _fit(word, width)
            spans.append((line_start, cut))
            word = text[cut : match.end()]
            line_start, visible = cut, cell_len(word.rstrip(" "))
        used += cell_len(word)
    spans.append((line_start, len(text)))
    return spans


def _fit(word: str, width: int) -> int:
    """How many characters of `word` fit in `width` cells (at least one)."""
    total = 0
    for index, char in enumerate(word):
        total += cell_len(char)
        if total > width:
            return max(1, index)
    return len(word)


@dataclass
class _Paragraph:
    text: str
    style: str  # "" for body text, else a component class name
    closed: bool


class StreamView(ScrollView, can_focus=False):
    """Literal text, appended in pieces, wrapped to the widget's width, following the bottom."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "stream-view--heading",
        "stream-view--note",
        "stream-view--warning",
        "stream-view--error",
    }

    DEFAULT_CSS = """
    StreamView {
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
        overflow-x: hidden;
    }
    StreamView > .stream-view--heading { text-style: bold; color: $text-muted; }
    StreamView > .stream-view--note { color: $text-muted; text-style: italic; }
    StreamView > .stream-view--warning { color: $warning; text-style: bold; }
    StreamView > .stream-view--error { color: $error; text-style: bold; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._paragraphs: list[_Paragraph] = []
        self._lines: list[Strip] = []
        self._starts: list[int] = []  # first line index of each paragraph
        self._last_line_offsets: list[int] = []  # where each paragraph's last line starts
        self._wrap_width = 0
        self._base_style: Style | None = None
        self._pending: list[str] = []

    # -- content ---------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """Everything shown, headings included, as plain text."""
        return "\n".join(p.text for p in self._paragraphs)

    def clear(self) -> None:
        self._pending.clear()
        self._paragraphs.clear()
        self._lines.clear()
        self._starts.clear()
        self._last_line_offsets.clear()
        self._update_size()
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def append(self, text: str) -> None:
        """Add streamed text to the open paragraph (newlines start new ones)."""
        if not text:
            return
        pieces = literal(text).replace("\t", TAB).split("\n")
        dirty = len(self._paragraphs)
        last = self._paragraphs[-1] if self._paragraphs else None
        if last is not None and not last.closed and not last.style:
            last.text += pieces[0]
            dirty -= 1
        else:
            self._paragraphs.append(_Paragraph(pieces[0], "", False))
        for piece in pieces[1:]:
            self._paragraphs[-1].closed = True
            self._paragraphs.append(_Paragraph(piece, "", False))
        self._rewrap_from(dirty)

    def add_block(self, text: str, style: str = "heading") -> None:
        """A line of its own (a heading, a note, an error) between streamed sections."""
        if self._paragraphs:
            self._paragraphs[-1].closed = True
        dirty = len(self._paragraphs)
        for piece in literal(text).split("\n"):
            self._paragraphs.append(_Paragraph(piece, f"stream-view--{style}", True))
        self._rewrap_from(dirty)

    def buffer(self, text: str) -> None:
        """Hold streamed text until the next `flush` (the app flushes a few times a second)."""
        self._pending.append(text)

    def flush(self) -> bool:
        """Append the held text in one go; True if there was any. Before the view is on screen
        the text keeps waiting: wrapping needs a width."""
        if not self._pending or not self.is_mounted:
            return False
        pending = "".join(self._pending)
        self._pending.clear()
        self.append(pending)
        return True

    def set_text(self, text: str) -> None:
        self.clear()
        self.append(text)

    # -- wrapping --------------------------------------------------------------------------

    def _rewrap_from(self, first: int) -> None:
        follow = self._near_bottom()
        width = self._content_width()
        if width != self._wrap_width:
            self._wrap_width, first = width, 0
        if (
            first < len(self._starts)
            and first == len(self._paragraphs) - 1
            and first == len(self._starts) - 1
        ):
            # Only the open paragraph grew: greedy wrapping never changes its earlier lines, so
            # re-wrap from the start of its last line (what a streamed token costs).
            self._extend_last(width)
        else:
            cut = self._starts[first] if first < len(self._starts) else len(self._lines)
            del self._lines[cut:]
            del self._starts[first:]
            del self._last_line_offsets[first:]
            for paragraph in self._paragraphs[first:]:
                self._starts.append(len(self._lines))
                strips, last_offset = self._wrap(paragraph, width, 0)
                self._lines.extend(strips)
                self._last_line_offsets.append(last_offset)
        self._update_size()
        self.refresh()
        if follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    def _extend_last(self, width: int) -> None:
        paragraph = self._paragraphs[-1]
        offset = self._last_line_offsets[-1]
        del self._lines[-1]
        strips, last_offset = self._wrap(paragraph, width, offset)
        self._lines.extend(strips)
        self._last_line_offsets[-1] = last_offset

    def _wrap(self, paragraph: _Paragraph, width: int, start: int) -> tuple[list[Strip], int]:
        """Strips for `paragraph.text[start:]`, and the offset where the last of them begins."""
        style: Style | None = self.get_component_rich_style(paragraph.style) if paragraph.style else None
        spans = wrap_spans(paragraph.text, width, start)
        strips = [Strip([Segment(paragraph.text[a:b].rstrip(" "), style)]) for a, b in spans]
        return strips, spans[-1][0]

    def _content_width(self) -> int:
        # Always leave the scrollbar's column free, so wrapping does not change when it appears.
        width = self.size.width or 40
        return max(1, width - self.styles.scrollbar_size_vertical)

    def _update_size(self) -> None:
        new = Size(self._wrap_width, len(self._lines))
        old = self.virtual_size
        if new == old:
            return
        height = self.size.height
        if height and (old.height > height) == (new.height > height):
            # The scrollbar neither appears nor goes away: only our own lines changed, so skip the
            # screen-wide layout that setting `virtual_size` would trigger (the costliest part
            # of streaming), and move the scrollbar's thumb by hand.
            self.set_reactive(StreamView.virtual_size, new)
            if self.show_vertical_scrollbar:
                bar = self.vertical_scrollbar
                bar.window_virtual_size = new.height
                bar.window_size = height
                bar.refresh()
        else:
            self.virtual_size = new

    def _near_bottom(self) -> bool:
        # Follow the stream only when the reader has not scrolled up to read (oterm's rule).
        return self.scroll_y >= self.max_scroll_y - 2

    def on_resize(self) -> None:
        if self._content_width() != self._wrap_width and self._paragraphs:
            self._rewrap_from(0)

    # -- Line API --------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # `rich_style` walks the ancestors' styles: work it out once per paint, not once per line.
        self._base_style = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self._base_style or self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._lines[index].apply_style(base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)
