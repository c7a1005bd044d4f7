"""A row of a Line-API view, built as it is drawn.

The views that draw their own rows (the streamed text, a pane's info block, F2's run list) know
each row's pieces and how many cells they take, so a row is those pieces and the blank after them:
no `Strip.apply_style` or `crop_extend` pass over it, which were most of what drawing a row cost
(measured with 16 panes streaming).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip


def filled_row(segments: list[Segment], length: int, width: int, blank: Style) -> Strip:
    """A row `width` cells wide: `segments` (`length` cells, already in their final styles), then
    blank cells in `blank` up to `width`; cut at `width` if the pieces are wider."""
    if length > width:
        return Strip(segments, length).crop(0, width)
    if length < width:
        segments.append(Segment(" " * (width - length), blank))
    return Strip(segments, width)
