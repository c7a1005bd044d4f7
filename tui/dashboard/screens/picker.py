"""The member picker: a fuzzy search over the catalog, showing provider, price and key status, and
the stance the new member will argue (Tab changes it; `alias:against` as on the command line)."""

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
from tui.engine.stance import STANCE_SYNONYMS
from tui.engine.types import Stance

STANCES = [Stance.NEUTRAL, Stance.FOR, Stance.AGAINST]
STANCE_STYLES = {
    Stance.FOR: "bold reverse green",
    Stance.AGAINST: "bold reverse red",
    Stance.NEUTRAL: "bold reverse",
}


class MemberPicker(ModalScreen[tuple[str, Stance] | None]):
    """Type to filter, Tab to choose the stance, Enter to add the highlighted model, Escape to close."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="picker.close", tooltip="Close without adding"),
        Binding(
            "tab", "next_stance", "Stance", id="picker.stance", tooltip="The stance the new member argues"
        ),
        Binding("shift+tab", "next_stance(-1)", show=False),
        Binding("down", "cursor_down", show=False),
        Binding("up", "cursor_up", show=False),
    ]

    def __init__(self, entries: list[CatalogEntry], stance: Stance = Stance.NEUTRAL) -> None:
        super().__init__()
        self.entries = entries
        self.stance = stance

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static(id="picker-title")
            yield Input(
                placeholder="type to filter: alias, provider or model id (alias:against sets the stance)",
                id="picker-input",
            )
            yield OptionList(id="picker-options")
            yield Static(
                Text("Enter adds · Tab: stance · Esc closes · key: whether its API key is set", style="dim")
            )

    def on_mount(self) -> None:
        self.border_title = "Add a member"
        self._show_stance()
        self._fill("")
        self.query_one(Input).focus()

    def _show_stance(self) -> None:
        title = Text.assemble(
            ("Add a member arguing ", "bold"), (f" {self.stance.value.upper()} ", STANCE_STYLES[self.stance])
        )
        title.append("  Tab changes it", style="dim")
        self.query_one("#picker-title", Static).update(title)

    def action_next_stance(self, step: int = 1) -> None:
        self.stance = STANCES[(STANCES.index(self.stance) + step) % len(STANCES)]
        self._show_stance()

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
        query, colon, word = event.value.strip().rpartition(":")
        if colon and word.strip().lower() in STANCE_SYNONYMS:  # `alias:stance`, as `-m` takes it
            self.stance = STANCE_SYNONYMS[word.strip().lower()]
            self._show_stance()
        self._fill(query.strip() if colon else word.strip())

    def _choose(self, alias: str | None) -> None:
        if alias is not None:
            self.dismiss((alias, self.stance))

    @on(Input.Submitted)
    def _submit(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self._choose(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id)

    def action_cursor_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()
