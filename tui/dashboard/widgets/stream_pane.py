"""What a member's pane and the synthesis pane share: an info block over a streamed-text body."""

from __future__ import annotations

from abc import abstractmethod

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from tui.dashboard.widgets.info_lines import InfoLines
from tui.dashboard.widgets.stream_view import StreamView


class StreamPane(Vertical, can_focus=True):
    """A focusable pane: `info_text()` is drawn on top, streamed text below it.

    Text is buffered (`buffer`) and written in batches (`flush`), so a token never costs a
    repaint; the app's clock flushes a few times a second.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._ready = False  # set once the children exist
        # Made here, not in compose: streamed text can reach it (and wait in its buffer) at once,
        # and the run's events can reach the info block while the pane is being taken down.
        self._info = InfoLines(classes="pane-info")
        self._body = StreamView(classes="pane-body")

    def compose(self) -> ComposeResult:
        yield self._info
        yield self._body

    def on_mount(self) -> None:
        self._ready = True
        self.refresh_info()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        # The info block's text carries the styles it was made with (the stance badge, the
        # status): a new theme has it made again, or it would keep the old theme's colours.
        if self._ready:
            self.call_later(self.refresh_info)

    def on_unmount(self) -> None:
        # A removed member's pane may still get its run's events: they change its state, not the screen.
        self._ready = False

    @property
    def body(self) -> StreamView:
        return self._body

    def buffer(self, text: str) -> None:
        self._body.buffer(text)

    def flush(self) -> bool:
        return self._body.flush()

    @abstractmethod
    def info_text(self) -> Text:
        """The info block: each kind of pane (a member's, the synthesis) says its own."""

    def refresh_info(self) -> None:
        # A pane being removed loses its children before its own unmount: between the two, an
        # event of its run must not look for an info block that is gone (it once failed the run).
        if self._ready and self._info.is_attached:
            self._info.show(self.info_text())
