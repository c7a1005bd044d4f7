"""A word-wrapped text view built for streaming, and for answers of any length.

Model text arrives a few words at a time. Re-rendering a whole `Static` per flush costs a full
re-wrap of everything said so far; this Line-API view keeps where each line starts and re-wraps
only the open paragraph's last line, so a flush costs about as much as the text it adds.

However much text arrives at once (a megabyte in one flush, a long answer opened from the
history), the view never holds the event loop for long — the engine shares it, and a stalled
loop fails other members by their deadlines. Wrapping is linear in the text (no re-measuring
what is left of a long word after every cut), a layout step wraps at most `LAYOUT_SLICE`
characters and the rest follows over later turns of the loop, and a line becomes a `Strip` only
when it is drawn: only the visible lines are ever rendered.

Text is always literal: control characters are shown as `\\xNN` and nothing is parsed as markup.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from tui.dashboard.widgets.row_scrollbar import RowScrollBar
from tui.dashboard.widgets.rows import filled_row
from tui.render.formatting import literal

TAB = "    "
_WORD = re.compile(r"\S+\s*|\s+")
# A line also ends after this many characters, however few cells they fill (combining marks):
# drawing a line costs its length in characters, so no line may grow without bound.
LINE_CHARS = 1024
# Characters wrapped per layout step. A step takes a few milliseconds; a longer text is laid out
# over several turns of the event loop, so no answer, however long, holds the loop for long.
LAYOUT_SLICE = 16_384
# What starting a paragraph costs a step, in characters' worth: many short paragraphs add up too.
PARAGRAPH_COST = 64


def wrap_spans(text: str, width: int, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Greedy word wrap of `text[start:end]` to `width` cells, as (start, end) offsets into `text`.

    Words longer than a line are folded. Greedy on purpose: text appended later (or wrapped later,
    past `end`) can only change the last line, which is what lets a stream re-wrap just that line
    and a long text be wrapped a slice at a time. Linear in the length wrapped: each character is
    measured at most twice, however long its word.
    """
    width = max(1, width)
    end = len(text) if end is None else end
    cap = max(LINE_CHARS, width)
    spans: list[tuple[int, int]] = []
    line_start, used = start, 0
    for match in _WORD.finditer(text, start, end):
        word_start, word_end = match.span()
        bare = match.group().rstrip(" ")
        bare_end = word_start + len(bare)
        visible = cell_len(bare)
        if used and (used + visible > width or bare_end - line_start > cap):
            spans.append((line_start, word_start))
            line_start, used = word_start, 0
        if visible > width or bare_end - line_start > cap:
            line_start, used = _fold(text, bare, spans, line_start, word_start, width, cap)
        else:
            used += visible
        if bare_end < word_end:
            used += word_end - bare_end  # the spaces after the word
    spans.append((line_start, end))
    return spans


def _fold(
    text: str, word: str, spans: list[tuple[int, int]], line_start: int, word_start: int, width: int, cap: int
) -> tuple[int, int]:
    """Cut `word` (at `word_start` in `text`), too long for one line, into lines added to `spans`;
    returns the start and the width in cells of the last line, left open for what follows."""
    word_end = word_start + len(word)
    if line_start == word_start and word.isascii() and word.isprintable():
        # One cell a character: a cut every `width` characters, the rest on the open line.
        starts = [line_start, *range(word_start + width, word_end, width)]
        spans.extend(itertools.pairwise(starts))
        return starts[-1], word_end - starts[-1]
    used = 0
    for index, char in enumerate(word, word_start):
        size = cell_len(char)
        if index > line_start and (used + size > width or index - line_start >= cap):
            spans.append((line_start, index))
            line_start, used = index, 0
        used += size
    return line_start, used


@dataclass
class _Paragraph:
    text: str
    style: str  # "" for body text, else a component class name
    closed: bool
    # Its layout at the view's wrap width: where each line starts, and how far it is wrapped
    # (`text[:done]`; the last line may still grow). Filled in by the view as it lays out.
    breaks: list[int] = field(default_factory=list)
    done: int = 0


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
        overflow-x: hidden;
        /* Always there, on a track the colour of the pane: a scrollbar that appears as the text
           outgrows the view would lay out the whole screen again, once per pane (measured: a
           30-55 ms stall each, the worst of a run's stream). Only the thumb shows. */
        overflow-y: scroll;
        scrollbar-background: transparent;
        scrollbar-background-hover: transparent;
        scrollbar-background-active: transparent;
    }
    StreamView > .stream-view--heading { text-style: bold; color: $text-muted; }
    StreamView > .stream-view--note { color: $text-muted; text-style: italic; }
    StreamView > .stream-view--warning { color: $warning; text-style: bold; }
    StreamView > .stream-view--error { color: $error; text-style: bold; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._paragraphs: list[_Paragraph] = []
        # The layout: paragraphs[:_laid] have lines (the last of them perhaps not all yet);
        # `_starts[i]` is the index of paragraph i's first line.
        self._laid = 0
        self._starts: list[int] = []
        self._line_count = 0
        self._wrap_width = 0
        self._base_style: Style | None = None
        # Lines already made into strips, by line index, at the width they were drawn at (a new
        # style clears them): a streaming view scrolls by a line or two a flush and draws the same
        # lines again at new rows. Only the last line of the open paragraph ever changes.
        self._drawn: dict[int, Strip] = {}
        self._drawn_width = 0
        self._styles: dict[str, Style] = {}
        self._pending: list[str] = []
        self._follow = True  # keep the newest line in view; off while the reader has scrolled up
        self._end_queued = False
        self._laying_out_later = False

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        """Textual's vertical scrollbar, made as Textual makes it, drawing its rows directly
        (`RowScrollBar`: a streaming pane repaints it with nearly every flush)."""
        if self._vertical_scrollbar is None:
            bar = self._vertical_scrollbar = RowScrollBar(thickness=self.scrollbar_size_vertical)
            bar.display = False
            self.app._start_widget(self, bar)
        return self._vertical_scrollbar

    # -- content ---------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """Everything shown, headings included, as plain text."""
        return "\n".join(p.text for p in self._paragraphs)

    @property
    def settled(self) -> bool:
        """Whether every line is laid out and the view has caught up with the end it follows."""
        return not self.laying_out and not self._end_queued

    @property
    def laying_out(self) -> bool:
        """Whether some of the text is still waiting for its lines (a long text takes a few turns)."""
        if self._laid < len(self._paragraphs):
            return True
        last = self._paragraphs[-1] if self._paragraphs else None
        return last is not None and last.done < len(last.text)

    def plain_lines(self) -> list[str]:
        """The text of every line laid out so far, as drawn."""
        return [self._line(index)[0] for index in range(self._line_count)]

    def clear(self) -> None:
        self._pending.clear()
        self._paragraphs.clear()
        self._reset_layout()
        self._follow = True
        self._update_size()
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def append(self, text: str) -> None:
        """Add streamed text to the open paragraph (newlines start new ones)."""
        if not text:
            return
        pieces = literal(text).replace("\t", TAB).split("\n")
        last = self._paragraphs[-1] if self._paragraphs else None
        if last is not None and not last.closed and not last.style:
            last.text += pieces[0]
        else:
            self._paragraphs.append(_Paragraph(pieces[0], "", False))
        for piece in pieces[1:]:
            self._paragraphs[-1].closed = True
            self._paragraphs.append(_Paragraph(piece, "", False))
        self._lay_out()

    def add_block(self, text: str, style: str = "heading") -> None:
        """A line of its own (a heading, a note, an error) between streamed sections."""
        if self._paragraphs:
            self._paragraphs[-1].closed = True
        for piece in literal(text).split("\n"):
            self._paragraphs.append(_Paragraph(piece, f"stream-view--{style}", True))
        self._lay_out()

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

    def take_over(self, other: StreamView) -> None:
        """Show what `other` shows, and what it still holds back (a removed pane, restored)."""
        self.clear()
        self._paragraphs = [_Paragraph(p.text, p.style, p.closed) for p in other._paragraphs]
        self._pending = list(other._pending)
        self._lay_out()

    # -- layout ----------------------------------------------------------------------------

    def _reset_layout(self) -> None:
        self._drawn.clear()
        self._laid = 0
        self._starts.clear()
        self._line_count = 0

    def _lay_out(self) -> None:
        """One bounded layout step now (a streamed token shows at once), the rest on later turns."""
        width = self._content_width()
        if width != self._wrap_width:
            self._wrap_width = width
            self._reset_layout()
        self._step()
        if self.laying_out and not self._laying_out_later and self.is_mounted:
            self._laying_out_later = True
            self.run_worker(self._lay_out_rest(), name="stream-view layout", group="stream-view")

    async def _lay_out_rest(self) -> None:
        try:
            while self.laying_out:
                await asyncio.sleep(0)  # let the engine, the other panes and the keys have a turn
                self._step()
        finally:
            self._laying_out_later = False

    def _step(self) -> None:
        self._wrap_some(LAYOUT_SLICE)
        sized = self._update_size()
        self.refresh()
        self._keep_end_in_view(now=sized)

    def _keep_end_in_view(self, *, now: bool = False) -> None:
        """Follow the newest line. `now`: the view's sizes are known already (only its own lines
        changed), so it scrolls in the same frame as the text it shows; scrolling after the next
        refresh would draw every flush twice (measured: half the frames while streaming)."""
        if not self._follow:
            return
        if now and not self._end_queued:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        elif not self._end_queued:
            self._end_queued = True
            self.call_after_refresh(self._scroll_to_end)

    def _wrap_some(self, budget: int) -> None:
        """Wrap up to about `budget` characters more, continuing where the layout stopped."""
        width = self._wrap_width
        paragraphs = self._paragraphs
        while budget > 0:
            if self._laid and paragraphs[self._laid - 1].done < len(paragraphs[self._laid - 1].text):
                paragraph = paragraphs[self._laid - 1]  # the open paragraph grew, or is half done
            elif self._laid < len(paragraphs):
                paragraph = paragraphs[self._laid]
                paragraph.breaks, paragraph.done = [0], 0
                self._starts.append(self._line_count)
                self._laid += 1
                self._line_count += 1
                budget -= PARAGRAPH_COST
            else:
                return
            # Greedy wrapping never changes the lines before the last: resume from its start.
            self._forget_drawn(self._line_count - 1)
            resume = paragraph.breaks[-1]
            end = min(len(paragraph.text), paragraph.done + max(budget, 0))
            spans = wrap_spans(paragraph.text, width, resume, end)
            self._line_count += len(spans) - 1
            paragraph.breaks[-1:] = [start for start, _ in spans]
            paragraph.done = end
            budget -= end - resume

    def _line(self, index: int) -> tuple[str, str]:
        """Line `index` (laid out already): its text as drawn and its paragraph's style class."""
        number = bisect_right(self._starts, index) - 1
        paragraph = self._paragraphs[number]
        breaks = paragraph.breaks
        row = index - self._starts[number]
        end = breaks[row + 1] if row + 1 < len(breaks) else paragraph.done
        return paragraph.text[breaks[row] : end].rstrip(" "), paragraph.style

    def _content_width(self) -> int:
        # Always leave the scrollbar's column free, so wrapping does not change when it appears.
        width = self.size.width or 40
        return max(1, width - self.styles.scrollbar_size_vertical)

    def _update_size(self) -> bool:
        """Set the virtual size to the lines laid out; True if the view's sizes are known now
        (False: a layout must run first, as when the scrollbar appears or the view has no size)."""
        new = Size(self._wrap_width, self._line_count)
        old = self.virtual_size
        height = self.size.height
        if new == old:
            return bool(height)
        always = self.styles.overflow_y == "scroll"  # (as styled: the bar is there from the start)
        if height and (always or (old.height > height) == (new.height > height)):
            # The scrollbar neither appears nor goes away: only our own lines changed, so skip the
            # screen-wide layout that setting `virtual_size` would trigger (the costliest part
            # of streaming), and move the scrollbar's thumb by hand.
            self.set_reactive(StreamView.virtual_size, new)
            if self.show_vertical_scrollbar:
                bar = self.vertical_scrollbar
                bar.window_virtual_size = new.height
                bar.window_size = height
                bar.refresh()
            return True
        self.virtual_size = new
        return False

    def _scroll_to_end(self) -> None:
        self._end_queued = False
        if self._follow:
            self.scroll_end(animate=False, x_axis=False)  # at the next refresh: sizes known by then

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Follow the stream only when the reader has not scrolled up to read (oterm's rule). Only a
        # move up stops following: Textual also sets scroll_y when it clamps it to a new size, and
        # a clamp seen before the new text's size would otherwise read as the reader leaving.
        if new_value >= self.max_scroll_y - 2:
            self._follow = True
        elif new_value < old_value:
            self._follow = False

    def on_resize(self) -> None:
        if self._paragraphs and (self._content_width() != self._wrap_width or self.laying_out):
            self._lay_out()
        else:
            # A pane made shorter (the grid relaid out) has its end further down: follow it there.
            self._keep_end_in_view()

    # -- Line API --------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None  # a new theme, or an ancestor restyled: work the styles out again
        self._styles.clear()
        self._drawn.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        width, height = self.size
        if width != self._drawn_width:
            self._drawn.clear()
            self._drawn_width = width
        elif len(self._drawn) > 4 * max(height, 16):
            # Lines scrolled past are dropped; those on screen now are kept, so a repaint of the
            # same view draws nothing however many lines streamed by since the last trim.
            top = self.scroll_offset.y
            self._drawn = {i: strip for i, strip in self._drawn.items() if top <= i < top + height}
        return super().render_lines(crop)

    def _forget_drawn(self, first: int) -> None:
        """Lines from `first` on may change: draw them again when they are next shown."""
        for index in [index for index in self._drawn if index >= first]:
            del self._drawn[index]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        if scroll_x == 0 and (strip := self._drawn.get(index)) is not None:
            return strip
        strip = self._draw(index, scroll_x)
        if scroll_x == 0:
            self._drawn[index] = strip
        return strip

    def _draw(self, index: int, scroll_x: int) -> Strip:
        width = self.size.width
        base = self._base_style
        if base is None:  # `rich_style` walks the ancestors' styles: once, until they change
            base = self._base_style = self.rich_style
        if index >= self._line_count:
            return Strip.blank(width, base)
        text, name = self._line(index)
        style = self._styles.get(name)
        if style is None:  # the paragraph's style over the view's, as `Strip.apply_style` makes it
            style = self._styles[name] = base + self.get_component_rich_style(name) if name else base
        if scroll_x:  # scrolled sideways
            return Strip([Segment(text, style)]).crop_extend(scroll_x, scroll_x + width, base)
        return filled_row([Segment(text, style)] if text else [], cell_len(text), width, base)
