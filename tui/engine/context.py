"""The asking team's context: what a `[context]` table says about the team that asks the question.

Language, frameworks, team size, security level, existing stack, notes and any other entries the
team adds: every member receives them with the question, the run records them, and two runs'
contexts compare exactly through one canonical form and its SHA-256 (`canonical_json`,
`sha256`), whatever order the keys were written in and however their values were spaced.

Whitespace is normalized when a context is made (every run of spaces, tabs and newlines becomes
one space, ends trimmed, empty values dropped), so the one form a context has is the form that
is sent, shown, recorded and hashed: there is no second, "raw" copy to disagree with it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

ContextValue = str | int | list[str]
"""An entry's value: a text, a list of texts, or a whole number (a team size)."""

MAX_CONTEXT_CHARS = 4000
"""The longest a context may be, in characters of its canonical JSON: it is sent to every member
with every question (and every draft and vote), so it is kept to about a thousand tokens."""

KNOWN_KEYS = ("language", "frameworks", "team_size", "security_level", "stack", "notes")
"""The entries every team is asked about, in the order they are shown; others follow by name."""


def normalized(text: str) -> str:
    """`text` with every run of whitespace (newlines too) as one space, and no space at either end."""
    return " ".join(text.split())


def _normalized_value(value: Any) -> Any:
    if isinstance(value, str):
        return normalized(value)
    if isinstance(value, list):
        items = [normalized(item) if isinstance(item, str) else item for item in value]
        return [item for item in items if item != ""]
    return value


def _is_empty(value: Any) -> bool:
    return isinstance(value, str | list) and not value


class TeamContext(BaseModel):
    """The asking team's context, normalized: keys sorted, values whitespace-normalized, no empty
    entries. Its JSON is `{"entries": {...}, "sha256": "..."}`; the hash is derived, never stored
    apart from the entries (a given one is ignored and made again)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    entries: dict[str, ContextValue] = Field(
        description="What the team says about itself: language, frameworks, team_size, security_level, "
        "stack, notes, and any other entries, by key (sorted)."
    )

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("entries"), dict):
            entries = {key: _normalized_value(value) for key, value in data["entries"].items()}
            kept = {key: entries[key] for key in sorted(entries) if not _is_empty(entries[key])}
            data = {key: value for key, value in data.items() if key != "sha256"} | {"entries": kept}
        return data

    @classmethod
    def of(cls, entries: dict[str, Any]) -> TeamContext | None:
        """The context these entries make, or None when they say nothing (none, or all empty)."""
        context = cls(entries=entries)
        return context if context.entries else None

    def canonical_json(self) -> str:
        """The one text that stands for this context: its entries as compact JSON, keys sorted,
        non-ASCII characters as themselves. Equal contexts have equal canonical forms."""
        return json.dumps(self.entries, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @computed_field(description="SHA-256 of the canonical JSON of the entries, in hex.")  # type: ignore[prop-decorator]
    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def ordered(self) -> list[tuple[str, ContextValue]]:
        """The entries in the order people read them: the known ones first, then the rest by key."""
        known = [(key, self.entries[key]) for key in KNOWN_KEYS if key in self.entries]
        return known + [(key, value) for key, value in self.entries.items() if key not in KNOWN_KEYS]


def value_text(value: ContextValue) -> str:
    """An entry's value as one line of text: a list's items joined with commas."""
    return ", ".join(value) if isinstance(value, list) else str(value)
