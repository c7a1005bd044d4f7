"""The dashboard's keys: one table that makes the bindings, the help screen and the palette."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.binding import Binding, BindingType

# (action, key, description, tooltip, id, works from anywhere)
KEYS: list[tuple[str, str, str, str, str, bool]] = [
    ("rerun", "ctrl+r", "Rerun", "Run the question again with the whole panel", "rerun", True),
    (
        "rerun_failed",
        "ctrl+f",
        "Rerun failed",
        "Rerun only the members whose answer failed",
        "rerun_failed",
        True,
    ),
    (
        "rerun_member",
        "r",
        "Rerun member",
        "Rerun the focused member and redo what depends on it",
        "rerun_member",
        False,
    ),
    (
        "resynthesize",
        "s",
        "Re-synthesize",
        "Keep every answer and redo the synthesis and votes",
        "resynthesize",
        False,
    ),
    ("cancel", "ctrl+g", "Cancel", "Stop the run; everything that arrived stays", "cancel", True),
    (
        "cycle_stance",
        "t",
        "Stance",
        "Cycle the focused member's stance for the next run",
        "cycle_stance",
        False,
    ),
    (
        "add_member",
        "ctrl+n",
        "Add member",
        "Pick a model from the catalog to add to the panel",
        "add_member",
        True,
    ),
    (
        "remove_member",
        "delete,d",
        "Remove",
        "Remove the focused member from the panel",
        "remove_member",
        False,
    ),
    ("zoom", "z", "Zoom", "Show the focused pane alone (again to go back)", "zoom", False),
    (
        "toggle_mode",
        "ctrl+o",
        "Mode",
        "Switch between deliberate and consult for the next run",
        "toggle_mode",
        True,
    ),
    ("save_panel", "ctrl+s", "Save panel", "Write the panel to the user config", "save_panel", True),
    ("pick_theme", "ctrl+t", "Theme", "Choose a theme (saved to the user config)", "pick_theme", True),
    ("history", "f2", "History", "Open a recorded run (read-only; rerun it or follow up)", "history", True),
    (
        "follow_up",
        "f3",
        "Follow-up",
        "Ask a follow-up to the run on screen (it becomes the context)",
        "follow_up",
        True,
    ),
    ("export", "f5", "Export", "Write the run on screen as Markdown and JSON", "export", True),
    ("help", "f1,question_mark", "Help", "List every key", "help", True),
]

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
    for key, description, tooltip, binding_id in (
        ("ctrl+p", "Command palette", "Every action by name", "command_palette"),
        ("ctrl+q", "Quit", "", "quit"),
    ):
        rows.append((f"● {display(Binding(key, ''))}", description, tooltip, binding_id))
    return rows
