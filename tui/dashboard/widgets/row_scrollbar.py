"""Textual's vertical scrollbar, drawn straight from its rows, and only when its look changes.

A streaming pane's scrollbar is told of a new size with nearly every flush (the thumb shrinks as
the text grows). Textual repaints a scrollbar on every such change, as a Rich renderable
rendered through a console. This one asks the same renderer for the same segments, makes each
row a `Strip`, and skips a repaint that would draw the rows already on screen: the thumb moves in
eighths of a cell, and most flushes change the numbers, not the look (measured: the eight
scrollbars of a streaming panel cost a third of what they did). It looks and behaves as
Textual's does — same thumb, colours and mouse handling: it is Textual's `ScrollBar`, only its
drawing is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from math import ceil
from typing import Any, Self

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip


class RowScrollBar(ScrollBar):
    """A vertical `ScrollBar` whose rows are made from `ScrollBarRender.render_bar` directly."""

    def __init__(self, *, thickness: int = 1) -> None:
        super().__init__(vertical=True, name="vertical", thickness=thickness)
        self._painted: _Look | None = None  # what is on screen
        # This paint's look, worked out on its first new row (False: not yet; None: Textual draws).
        self._paint_look: _Look | bool | None = False
        self._look_changed = False  # told of a change, not yet compared with what is painted
        self._restyled = False  # the colours may have changed since the last paint
        self._base = Style()

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        only_repaint = repaint and not (regions or layout or recompose)
        if only_repaint and self._painted is not None and self.is_mounted:
            # A new size or position: whether the rows change is decided once the flush that
            # set them is over (it sets several, one at a time), when the bar is next idle.
            self._look_changed = True
            self.check_idle()
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyled = True  # its view's styles, or a theme: the next paint works the colours out
        self.refresh()

    def on_idle(self) -> None:
        # Runs before Textual's own idle handler, which hands a repaint to the screen.
        if self._look_changed:
            self._look_changed = False
            painted = self._painted
            if painted is None or self._restyled or painted.state != self._state():
                super().refresh()  # the colours may differ: the paint works the look out again
                return
            # Only the numbers changed (the usual case, as text streams in): the painted colours
            # hold, so the renderer's colours are not worked out again (measured: most of a check).
            moved = replace(painted, **self._numbers())
            if moved.rows() != painted.rows():
                super().refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint_look = False
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        # Called only for the rows a paint needs (the others are kept from the last one).
        look = self._paint_look
        if look is False:
            look = self._paint_look = self._look()
            self._base = self.rich_style  # under the rows, as Textual's drawing has it
        self._restyled = False
        if not isinstance(look, _Look):
            self._painted = None
            return super().render_line(y)
        self._painted = look
        rows = look.rows()
        if y >= len(rows):
            return Strip.blank(look.width, self._base)
        return Strip([rows[y]], look.width).apply_style(self._base)

    def _look(self) -> _Look | None:
        """What the bar shows, as Textual's renderer would draw it; None where it cannot tell."""
        width, height = self.size
        if self.parent is None or not self.is_attached or not width or not height:
            return None
        bar = self.render()  # the renderer as Textual sets it up: geometry and colours
        if not isinstance(bar, ScrollBarRender) or not isinstance(bar.style, Style):
            return None
        back, color = bar.style.bgcolor, bar.style.color
        if back is None or color is None:
            return None
        numbers = self._numbers()
        if (numbers["virtual_size"], numbers["window_size"], numbers["position"]) != (
            bar.virtual_size,
            bar.window_size,
            bar.position,
        ):
            return None  # (Textual sizes its bar another way than `_numbers` expects: let it draw)
        return _Look(back=back, color=color, renderer=type(bar), state=self._state(), **numbers)

    def _numbers(self) -> dict[str, Any]:
        """The bar's geometry, as `ScrollBar._render_bar` gives it to the renderer."""
        width, height = self.size
        window_size = self.window_size if self.window_size < self.window_virtual_size else 0
        return {
            "width": width,
            "height": height,
            "virtual_size": ceil(self.window_virtual_size),
            "window_size": ceil(window_size),
            "position": self.position,
        }

    def _state(self) -> tuple[bool, bool]:
        """Grabbed, hovered: each draws in its own colours."""
        return (bool(self.grabbed), bool(self.mouse_over))


@dataclass(frozen=True)
class _Look:
    width: int
    height: int
    virtual_size: float
    window_size: float
    position: float
    back: Color
    color: Color
    renderer: type[ScrollBarRender]
    state: tuple[bool, bool]  # grabbed, hovered (when the colours were worked out)

    @lru_cache(maxsize=32)  # noqa: B019 - a few looks, kept while their bars live
    def rows(self) -> list[Segment]:
        rows = self.renderer.render_bar(
            size=self.height,
            virtual_size=self.virtual_size,
            window_size=self.window_size,
            position=self.position,
            thickness=self.width,
            vertical=True,
            back_color=self.back,
            bar_color=self.color,
        ).segments
        return rows
