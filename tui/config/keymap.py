"""The dashboard's keys as data, and the check of a `[ui.keymap]` against them.

Textual-free on purpose: the configuration checks a keymap when it loads (an unknown id, or a
key that two actions would share, stops Quorum naming the file and the key), and
`tui.dashboard.keys` makes the bindings, the help screen and the palette from the same table.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping

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
    (
        "undo",
        "u",
        "Undo",
        "Put back the member last removed, at its seat (or the stance last changed)",
        "undo",
        False,
    ),
    ("zoom", "z", "Zoom", "Show the focused pane alone (again to go back)", "zoom", False),
    (
        "next_pane",
        "right",
        "Next pane",
        "On a small screen: show the next member (after the last, the synthesis)",
        "next_pane",
        False,
    ),
    (
        "previous_pane",
        "left",
        "Previous pane",
        "On a small screen: show the previous member",
        "previous_pane",
        False,
    ),
    (
        "toggle_synthesis",
        "f8",
        "Synthesis",
        "On a small screen: show the synthesis in place of the members (again to go back)",
        "toggle_synthesis",
        True,
    ),
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
    (
        "show_context",
        "f4",
        "Context",
        "Show the asking team's context, sent to every member with every question",
        "context",
        True,
    ),
    ("export", "f5", "Export", "Write the run on screen as Markdown and JSON", "export", True),
    (
        "run_fresh",
        "f9",
        "Ask fresh",
        "Ask the panel the question in the prompt, even if an earlier run answers it (the cache)",
        "fresh",
        True,
    ),
    ("help", "f1,question_mark", "Help", "List every key", "help", True),
]

FIXED_KEYS: dict[str, str] = {"command_palette": "ctrl+p", "quit": "ctrl+q"}
"""Textual's own keys at the app's level: listed in the help, taken, and not remappable."""

SCREEN_KEY_IDS = (
    "help.close",
    "history.close",
    "picker.close",
    "picker.stance",
    "context.close",
    "context.use_project",
)
"""The ids of the keys of the dashboard's own screens: remappable too."""

# Textual names a one-character key by its Unicode name ("?" is "question_mark"); these few are shorter.
_KEY_NAME_REPLACEMENTS = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def _key_name(key: str) -> str:
    """A key as Textual names it once bound: `?` is `question_mark`, `f6` stays `f6`."""
    key = key.strip()
    if len(key) == 1 and not key.isalnum():
        try:
            name = unicodedata.name(key).lower().replace("-", "_").replace(" ", "_")
        except ValueError:
            return key
        return _KEY_NAME_REPLACEMENTS.get(name, name)
    return key


def _keys(text: str) -> list[str]:
    return [key.strip() for key in text.split(",") if key.strip()]


def keymap_problems(keymap: Mapping[str, str]) -> list[tuple[str, str]]:
    """(binding id, reason) for each entry of a `[ui.keymap]` the dashboard could not honour: an
    id it does not have, no key, or a key another action has (Textual would silently take it
    from that action). Empty when the keymap is fine."""
    ids = [binding_id for *_, binding_id, _anywhere in KEYS]
    known = [*ids, *SCREEN_KEY_IDS]
    problems: list[tuple[str, str]] = []
    for binding_id, keys in keymap.items():
        if binding_id in FIXED_KEYS:
            problems.append((binding_id, "Ctrl+P (command palette) and Ctrl+Q (quit) cannot be remapped"))
        elif binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append((binding_id, f"unknown key id {binding_id!r}{hint} (F1 lists every id)"))
        elif not _keys(keys):
            problems.append((binding_id, 'no key given (write one like "f6" or "ctrl+e")'))
    # The keys the app-level bindings end up with, in table order: a key held twice is a clash,
    # and the blame goes to the keymap entry that made it (defaults never clash).
    holder = {_key_name(key): (binding_id, key) for binding_id, key in FIXED_KEYS.items()}
    for *_, default, _description, _tooltip, binding_id, _anywhere in KEYS:
        remapped = bool(_keys(keymap.get(binding_id, "")))
        for key in _keys(keymap[binding_id] if remapped else default):
            other, other_key = holder.setdefault(_key_name(key), (binding_id, key))
            if other == binding_id:
                continue
            culprit, written, taken_from = (
                (binding_id, key, other) if remapped else (other, other_key, binding_id)
            )
            also = "" if taken_from in FIXED_KEYS else f", or remap {taken_from} too"
            problems.append(
                (culprit, f"{written!r} is already the key of {taken_from}; choose another key{also}")
            )
    return problems
