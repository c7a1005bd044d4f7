"""The dashboard's keys as data, and the check of a `[ui.keymap]` against them.

Textual-free on purpose: the configuration checks a keymap when it loads (an unknown id, or a
key that two actions would share, stops Quorum naming the file and the key), and
`tui.dashboard.keys` makes the bindings, the help screen and the palette from the same table.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Where(StrEnum):
    """The widget whose `BINDINGS` hold a key, and whose `action_<name>` it runs. Textual looks for
    a key's binding from the focused widget up to the app, so a key bound on a widget works while
    the focus is within it; the app's keys work from any focus that does not take the key itself
    (the prompt takes the letters), and its priority ones even from there (see `Key.anywhere`)."""

    APP = "app"
    """The app: runs, the views and the screens on top of the dashboard."""
    MEMBERS = "members"
    """The member grid: while a member's pane has the focus, on that member."""
    PANES = "panes"
    """The panes (the members' and the synthesis): while one of them has the focus."""


@dataclass(frozen=True)
class Key:
    """One key of the dashboard: what it does, its default keys, and where it is bound."""

    action: str
    """The action it runs: `action_<action>` of the widget it is bound on (`where`)."""
    key: str
    """Its default keys, comma-separated (`delete,d`), as Textual names them."""
    description: str
    """Its name in the footer, the help and the command palette."""
    tooltip: str
    """What it does, in a sentence: the help and the palette say it."""
    id: str
    """The name `[ui.keymap]` remaps it by."""
    anywhere: bool = False
    """It works from any focus, the prompt and the screens on top included: a priority binding
    of the app, tried before the focused widget sees the key (marked ● in the help)."""
    where: Where = Where.APP


KEYS: tuple[Key, ...] = (
    Key(
        "rerun",
        "ctrl+r",
        "Rerun",
        "Ask the whole panel the question in the prompt (or the one on screen), not the cache",
        "rerun",
        anywhere=True,
    ),
    Key(
        "rerun_failed",
        "ctrl+f",
        "Rerun failed",
        "Rerun only the members whose answer failed",
        "rerun_failed",
        anywhere=True,
    ),
    # The run keys that are letters are the app's, not priority: from any pane, and typed in the prompt.
    Key(
        "rerun_member",
        "r",
        "Rerun member",
        "Rerun the focused member and redo what depends on it",
        "rerun_member",
    ),
    Key(
        "resynthesize",
        "s",
        "Re-synthesize",
        "Keep every answer and redo the synthesis and votes",
        "resynthesize",
    ),
    Key("cancel", "ctrl+g", "Cancel", "Stop the run; everything that arrived stays", "cancel", anywhere=True),
    Key(
        "cycle_stance",
        "t",
        "Stance",
        "Cycle the focused member's stance for the next run",
        "cycle_stance",
        where=Where.MEMBERS,
    ),
    Key(
        "add_member",
        "ctrl+n",
        "Add member",
        "Pick a model from the catalog to add to the panel",
        "add_member",
        anywhere=True,
    ),
    Key(
        "remove_member",
        "delete,d",
        "Remove",
        "Remove the focused member from the panel",
        "remove_member",
        where=Where.MEMBERS,
    ),
    Key(
        "undo",
        "u",
        "Undo",
        "Put back the member last removed, at its seat (or the stance last changed)",
        "undo",
        where=Where.MEMBERS,
    ),
    Key("zoom", "z", "Zoom", "Show the focused pane alone (again to go back)", "zoom", where=Where.PANES),
    Key(
        "next_pane",
        "right",
        "Next pane",
        "On a small screen: show the next member (after the last, the synthesis)",
        "next_pane",
        where=Where.PANES,
    ),
    Key(
        "previous_pane",
        "left",
        "Previous pane",
        "On a small screen: show the previous member",
        "previous_pane",
        where=Where.PANES,
    ),
    Key(
        "toggle_synthesis",
        "f8",
        "Synthesis",
        "On a small screen: show the synthesis in place of the members (again to go back)",
        "toggle_synthesis",
        anywhere=True,
    ),
    Key(
        "toggle_mode",
        "ctrl+o",
        "Mode",
        "The next run's mode, in turn: deliberate, consult, vote, debate, council",
        "toggle_mode",
        anywhere=True,
    ),
    Key(
        "save_panel",
        "ctrl+s",
        "Save panel",
        "Write the panel to the user config",
        "save_panel",
        anywhere=True,
    ),
    Key(
        "pick_theme",
        "ctrl+t",
        "Theme",
        "Choose a theme (saved to the user config)",
        "pick_theme",
        anywhere=True,
    ),
    Key(
        "history",
        "f2",
        "History",
        "Open a recorded run (read-only; rerun it or follow up)",
        "history",
        anywhere=True,
    ),
    Key(
        "follow_up",
        "f3",
        "Follow-up",
        "Ask a follow-up to the run on screen (it becomes the context)",
        "follow_up",
        anywhere=True,
    ),
    Key(
        "show_context",
        "f4",
        "Context",
        "Show the asking team's context, sent to every member with every question",
        "context",
        anywhere=True,
    ),
    Key("export", "f5", "Export", "Write the run on screen as Markdown and JSON", "export", anywhere=True),
    Key(
        "run_fresh",
        "f9",
        "Ask fresh",
        "Ask the panel the question in the prompt, even if an earlier run answers it (the cache)",
        "fresh",
        anywhere=True,
    ),
    Key("help", "f1,question_mark", "Help", "List every key", "help", anywhere=True),
)
"""Every key of the dashboard but those of its screens on top (`SCREEN_KEY_IDS`), in the help's order."""

FIXED_KEYS: tuple[Key, ...] = (
    Key(
        "command_palette",
        "ctrl+p",
        "Command palette",
        "Every action by name",
        "command_palette",
        anywhere=True,
    ),
    Key("quit", "ctrl+q", "Quit", "", "quit", anywhere=True),
)
"""Textual's own keys at the app's level: listed in the help, taken, and not remappable."""
_FIXED_IDS = {key.id for key in FIXED_KEYS}

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
    known = [*(key.id for key in KEYS), *SCREEN_KEY_IDS]
    problems: list[tuple[str, str]] = []
    for binding_id, keys in keymap.items():
        if binding_id in _FIXED_IDS:
            problems.append((binding_id, "Ctrl+P (command palette) and Ctrl+Q (quit) cannot be remapped"))
        elif binding_id not in known:
            close = difflib.get_close_matches(binding_id, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append((binding_id, f"unknown key id {binding_id!r}{hint} (F1 lists every id)"))
        elif not _keys(keys):
            problems.append((binding_id, 'no key given (write one like "f6" or "ctrl+e")'))
    # The keys the bindings end up with, in table order: a key held twice is a clash wherever the
    # two are bound (a widget's binding hides the app's from the focus within it, and the app's
    # priority binding takes the key before the widget sees it), and the blame goes to the keymap
    # entry that made it (defaults never clash).
    holder = {_key_name(fixed.key): (fixed.id, fixed.key) for fixed in FIXED_KEYS}
    for entry in KEYS:
        binding_id = entry.id
        remapped = bool(_keys(keymap.get(binding_id, "")))
        for key in _keys(keymap[binding_id] if remapped else entry.key):
            other, other_key = holder.setdefault(_key_name(key), (binding_id, key))
            if other == binding_id:
                continue
            culprit, written, taken_from = (
                (binding_id, key, other) if remapped else (other, other_key, binding_id)
            )
            also = "" if taken_from in _FIXED_IDS else f", or remap {taken_from} too"
            problems.append(
                (culprit, f"{written!r} is already the key of {taken_from}; choose another key{also}")
            )
    return problems
