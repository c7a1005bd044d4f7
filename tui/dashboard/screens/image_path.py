"""Attaching an image from inside the dashboard (the palette's "Attach an image"): a path, read and
checked at once, so a path that is not an image is said here, where it can be corrected."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.engine.types import Image
from tui.errors import QuorumError
from tui.render.formatting import literal

PLACEHOLDER = "path to a PNG, JPEG, WebP or GIF image (~ is your home)"
HINT = "Enter attaches · Esc closes · sent with the next questions to the vision-capable members"


class ImagePathScreen(ModalScreen[Image | None]):
    """Type a path and press Enter: the image is attached (the screen closes with it), or why it
    cannot be is shown under the path and the screen stays. Escape closes without attaching."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="image.close", tooltip="Close without attaching")
    ]

    def __init__(self, attach: Callable[[str], Image]) -> None:
        super().__init__()
        self.attach = attach  # reads and checks the image; raises QuorumError saying why not

    def compose(self) -> ComposeResult:
        with Vertical(id="image-box"):
            yield Input(placeholder=PLACEHOLDER, id="image-path")
            yield Static(id="image-error")
            yield Static(Text(HINT, style="dim"))

    def on_mount(self) -> None:
        self.query_one("#image-box").border_title = "Attach an image"
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        try:
            image = self.attach(path)
        except QuorumError as err:
            # The path is shown as typed or pasted, a control character in it (a NUL) made visible.
            self.query_one("#image-error", Static).update(Text(literal(str(err)), style="bold red"))
            return
        self.dismiss(image)
