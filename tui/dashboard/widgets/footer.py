"""The footer: Textual's, with the keys shown there; on a small screen Help comes first, so that
a narrow one (a phone's 41 columns) cuts the other keys, never the one that lists them all."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    """Each key a tap (a click) presses, as Textual's footer does: a phone has no F-keys."""

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        if self.compact:  # stable: the others keep their order after it
            keys.sort(key=lambda widget: not (isinstance(widget, FooterKey) and widget.action == "help"))
        yield from keys

    def watch_compact(self) -> None:
        self.refresh(recompose=True)
