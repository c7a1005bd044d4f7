"""The dashboard's keys: one table (`tui.config.keymap`, where the config checks a keymap against it)
that makes the bindings of each widget that holds keys, the help screen and the palette."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType

from tui.config.keymap import FIXED_KEYS, KEYS, Key, Where

# Shown in the footer; the rest are in the help screen (F1) and the command palette.
FOOTER = ("rerun", "rerun_failed", "cancel", "add_member", "history", "help")


def bindings(where: Where) -> list[BindingType]:
    """The bindings of the widget `where` names (the user's keymap is Textual's to apply)."""
    return [
        Binding(
            key.key,
            key.action,
            key.description,
            id=key.id,
            tooltip=key.tooltip,
            priority=key.anywhere,
            show=key.action in FOOTER,
        )
        for key in KEYS
        if key.where is where
    ]


@dataclass(frozen=True)
class HelpRow:
    """A line of the help: a key as the user has it mapped, and whether it can be remapped."""

    keys: str
    """Its keys as Textual shows them (`^r`, `delete, d`)."""
    key: Key
    fixed: bool = False
    """Textual's own (the palette, quit): not remappable."""


class KeyNames:
    """The dashboard's keys as the user has them (their keymap applied), named as Textual shows
    them: for the help, and for the notices and hints that name a key."""

    def __init__(self, keymap: Mapping[str, str], display: Callable[[Binding], str]) -> None:
        self.keymap = keymap
        self.display = display
        self._by_id = {key.id: key for key in (*KEYS, *FIXED_KEYS)}

    def _keys(self, binding_id: str) -> list[str]:
        key = self._by_id[binding_id]
        return [k.strip() for k in self.keymap.get(binding_id, key.key).split(",") if k.strip()]

    def shown(self, binding_id: str) -> str:
        """Every key of `binding_id`, as the help lists them: `delete, d`."""
        return ", ".join(self.display(Binding(key, "")) for key in self._keys(binding_id))

    def first(self, binding_id: str) -> str:
        """The first key of `binding_id`, as a notice names it: `u`, `F9`."""
        shown = self.display(Binding(self._keys(binding_id)[0], ""))
        return shown.upper() if re.fullmatch(r"f\d+", shown) else shown  # F7, as people write it

    def help_rows(self) -> list[HelpRow]:
        """Every key, in the table's order, then Textual's own."""
        rows = [HelpRow(self.shown(key.id), key) for key in KEYS]
        return rows + [HelpRow(self.shown(key.id), key, fixed=True) for key in FIXED_KEYS]
