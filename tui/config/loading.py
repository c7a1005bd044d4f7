"""Loading the configuration: the shipped defaults, the user's file, `--config`, then command-line flags.

Each layer is a TOML file; tables merge key by key and later layers win (arrays are replaced,
not appended). The merged result is validated once with pydantic (`extra="forbid"`), and any
problem is reported as a `ConfigError` naming the file that set the bad value, the key path and
the reason, before anything runs.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tui.config import paths
from tui.config.references import reference_problems
from tui.config.schema import Settings
from tui.config.tables import merge
from tui.errors import ConfigError, looks_like_key

CONFIG_ENV = "QUORUM_CONFIG"
SHIPPED_FILES = ("settings.toml", "models.toml")


@dataclass(frozen=True)
class Layer:
    path: Path
    data: dict[str, Any]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as err:
        raise ConfigError("file not found", file=path) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}", file=path) from err
    except OSError as err:
        raise ConfigError(f"cannot read it: {err.strerror or err}", file=path) from err


def config_layers(explicit: Path | str | None = None) -> list[Layer]:
    """Shipped defaults, then the user's file (if any), then `--config` / $QUORUM_CONFIG."""
    layers = [Layer(paths.shipped_dir("config") / name, {}) for name in SHIPPED_FILES]
    user_file = paths.user_config_file()
    candidates: list[Path] = [user_file] if user_file.is_file() else []
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen:
        candidates.append(Path(chosen).expanduser())
    layers += [Layer(path, {}) for path in candidates]
    return [Layer(layer.path, _read_toml(layer.path)) for layer in layers]


def _sets(data: Mapping[str, Any], loc: Sequence[str | int]) -> bool:
    """Whether `data` holds a value at the key path `loc`."""
    node: Any = data
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    return True


def _origin(layers: Sequence[Layer], loc: Sequence[str | int]) -> Path | None:
    """The last layer that sets the key path `loc` (or else its nearest parent): where to look."""
    for depth in range(len(loc), 0, -1):
        for layer in reversed(layers):
            if _sets(layer.data, loc[:depth]):
                return layer.path
    return layers[-1].path if layers else None


def _quotable(value: Any) -> bool:
    """Whether a bad value may be quoted back: a number, or a short string not shaped like a key
    (a key written in the wrong place must not end up on the screen or in a CI log)."""
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and len(value) <= 32 and not looks_like_key(value)


def load_settings(explicit: Path | str | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read, merge and validate every layer; `overrides` (from flags) win over all files."""
    layers = config_layers(explicit)
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge(merged, layer.data)
    if overrides:
        merged = merge(merged, overrides)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as err:
        first = err.errors()[0]
        loc: list[str | int] = [part for part in first["loc"] if isinstance(part, str | int)]
        message = first["msg"].removeprefix("Value error, ")
        key = ".".join(str(part) for part in loc)
        if first["type"] == "extra_forbidden":
            message = f"unknown setting {loc[-1]!r}" if loc else "unknown setting"
        elif first["type"] not in ("missing", "value_error", "assertion_error") and _quotable(
            first.get("input")
        ):
            message += f" (got {first['input']!r})"
        if not key and message.startswith("models."):
            key, _, message = message.partition(": ")
            loc = list(key.split("."))
        from_flags = bool(overrides) and _sets(overrides or {}, loc)
        raise ConfigError(
            message, file="command line" if from_flags else _origin(layers, loc), key=key
        ) from None
    for path, reason in reference_problems(settings):  # names that must exist: models, keymap ids
        from_flags = bool(overrides) and _sets(overrides or {}, path)
        raise ConfigError(
            reason, file="command line" if from_flags else _origin(layers, path), key=".".join(path)
        )
    own = [layer.data for layer in layers[len(SHIPPED_FILES) :]] + ([dict(overrides)] if overrides else [])
    settings.mark_own(_own_models(settings, own))
    return settings


def _own_models(settings: Settings, own: Sequence[Mapping[str, Any]]) -> set[str]:
    """The models the user's own layers define, or whose provider they define (`[providers.ollama]
    base_url = ...` configures the shipped local models): a local server counts as available for
    the default panel only once it is configured."""
    models = {name for data in own for name in (data.get("models") or {})}
    providers = {name for data in own for name in (data.get("providers") or {})}
    return {name for name, model in settings.models.items() if name in models or model.provider in providers}


def setting_origin(loc: Sequence[str | int], explicit: Path | str | None = None) -> Path | None:
    """The file that sets the key path `loc` (the last layer that does), for a check made after
    loading, such as `quorum config validate`'s of the theme."""
    return _origin(config_layers(explicit), loc)
