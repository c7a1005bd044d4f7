"""Merging TOML tables: how a configuration layer, or a change the user saves, goes over another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: tables merge key by key, any other value replaces (arrays are
    replaced, not appended), and None deletes the key. Neither argument is changed."""
    merged = dict(base)
    for key, value in over.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            current = merged.get(key)
            merged[key] = merge(current if isinstance(current, Mapping) else {}, value)
        else:
            merged[key] = value
    return merged
