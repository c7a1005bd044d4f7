"""The member picker: a fuzzy search over the catalog, showing provider, price and key status."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.config.catalog import CatalogEntry


class MemberPicker(ModalScreen[str | None]):
    """Type to filter, Enter to add the highlighted model, Escape to close."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="picker.close", tooltip="Close without adding"),
        Binding("down", "cursor_down", show=False),
        Binding("up", "cursor_up", show=False),
    ]

    def __init__(self, entries: list[CatalogEntry]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static(Text("Add a member", style="bold"), id="picker-title")
            yield Input(placeholder="type to filter: alias, provider or model id", id="picker-input")
            yield OptionList(id="picker-options")
            yield Static(Text("Enter adds · Esc closes · key: whether its API key is set", style="dim"))

    def on_mount(self) -> None:
        self.border_title = "Add a member"
        self._fill("")
        self.query_one(Input).focus()

    def _label(self, entry: CatalogEntry, highlighted: Text) -> Text:
        label = Text.assemble(highlighted, " " * max(1, 18 - len(entry.alias)))
        label.append(f"{entry.provider:<11}", style="dim")
        label.append(f"{f'${entry.input_price:.2f}/${entry.output_price:.2f}':<14} per M  ", style="dim")
        colour = "magenta" if entry.demo else {"set": "green", "missing": "red"}.get(entry.key, "dim")
        label.append(entry.key_words, style=colour)
        return label

    def _fill(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        matcher = Matcher(query) if query else None
        scored: list[tuple[float, CatalogEntry, Text]] = []
        for entry in self.entries:
            score = matcher.match(entry.search_text) if matcher is not None else 1.0
            if score > 0:
                scored.append((-score, entry, Text(entry.alias, style="bold")))
        scored.sort(key=lambda item: item[0])
        options.add_options([Option(self._label(entry, text), id=entry.alias) for _, entry, text in scored])
        if scored:
            options.highlighted = 0

    @on(Input.Changed)
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value.strip())

    @on(Input.Submitted)
    def _submit(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            option = options.get_option_at_index(options.highlighted)
            self.dismiss(option.id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cursor_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()
