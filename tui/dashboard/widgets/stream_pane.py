"""What a member's pane and the synthesis pane share: an info block over a streamed-text body."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.dashboard.widgets.stream_view import StreamView


class StreamPane(Vertical, can_focus=True):
    """A focusable pane: `info_text()` is drawn on top, streamed text below it.

    Text is buffered (`buffer`) and written in batches (`flush`), so a token never costs a
    repaint; the app's clock flushes a few times a second.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._ready = False  # set once the children exist
        # Made here, not in compose: streamed text can reach it (and wait in its buffer) at once.
        self._body = StreamView(classes="pane-body")

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-info")
        yield self._body

    def on_mount(self) -> None:
        self._ready = True
        self.refresh_info()

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

    def info_text(self) -> Text:
        raise NotImplementedError

    def refresh_info(self) -> None:
        if self._ready:
            self.query_one(".pane-info", Static).update(self.info_text(), layout=False)
