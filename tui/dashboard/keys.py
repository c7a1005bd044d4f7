"""The dashboard's keys: one table (`tui.config.keymap`, where the config checks a keymap against it)
that makes the bindings, the help screen and the palette."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.binding import Binding, BindingType

from tui.config.keymap import FIXED_KEYS, KEYS

__all__ = ["FOOTER", "KEYS", "bindings", "key_rows"]

# Shown in the footer; the rest are in the help screen (F1) and the command palette.
FOOTER = ("rerun", "rerun_failed", "cancel", "add_member", "history", "help")


def bindings() -> list[BindingType]:
    return [
        Binding(
            key, action, description, id=binding_id, tooltip=tooltip, priority=anywhere, show=action in FOOTER
        )
        for action, key, description, tooltip, binding_id, anywhere in KEYS
    ]


def key_rows(keymap: Mapping[str, str], display: Callable[[Binding], str]) -> list[tuple[str, str, str, str]]:
    """(keys, description, tooltip, id) for every binding, with the user's keymap applied."""
    rows = []
    for _action, key, description, tooltip, binding_id, anywhere in KEYS:
        keys = keymap.get(binding_id, key)
        shown = ", ".join(display(Binding(k.strip(), "")) for k in keys.split(","))
        rows.append((("● " if anywhere else "  ") + shown, description, tooltip, binding_id))
    for description, tooltip, binding_id in (
        ("Command palette", "Every action by name", "command_palette"),
        ("Quit", "", "quit"),
    ):  # Textual's own: fixed, not remappable
        rows.append((f"● {display(Binding(FIXED_KEYS[binding_id], ''))}", description, tooltip, binding_id))
    return rows
