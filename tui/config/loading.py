"""Loading the configuration: the shipped defaults, the user's file, the project's `.quorum.toml`,
`--config`, then command-line flags.

Each layer is a TOML file; tables merge key by key and later layers win (arrays are replaced,
not appended). The merged result is validated once with pydantic (`extra="forbid"`), and any
problem is reported as a `ConfigError` naming the file that set the bad value, the key path and
the reason, before anything runs. A project file the user has not trusted is held to what
`tui.config.project` lets it set, checked against the layers beneath it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tui.config import paths
from tui.config.catalog import key_values
from tui.config.project import (
    Trust,
    foreign_error,
    foreign_owner,
    project_wanted,
    trust_of,
    untrusted_error,
    untrusted_problems,
)
from tui.config.references import reference_problems
from tui.config.schema import Settings
from tui.config.tables import merge
from tui.errors import ConfigError, hide_values, looks_like_key
from tui.files import FileMissing, FileRefused, FileTooBig, read_limited

CONFIG_ENV = "QUORUM_CONFIG"
MAX_CONFIG_BYTES = 1_000_000
"""A config or theme file holding more is not one (the shipped settings and catalog are 9 KB)."""
SHIPPED_FILES = ("settings.toml", "models.toml")


class LayerKind(StrEnum):
    SHIPPED = "shipped"
    USER = "user"
    PROJECT = "project"
    EXPLICIT = "--config"


@dataclass(frozen=True)
class Layer:
    path: Path
    data: dict[str, Any]
    kind: LayerKind = LayerKind.EXPLICIT
    trust: Trust = Trust.TRUSTED
    """A project file's: whether the user trusts it as it is (every other layer is the user's own)."""


def _read_bytes(path: Path) -> bytes:
    try:
        return read_limited(path, MAX_CONFIG_BYTES)
    except FileMissing:
        raise ConfigError("file not found", file=path) from None
    except FileTooBig as err:
        raise ConfigError(f"{err.reason} for a config file", file=path) from None
    except FileRefused as err:
        raise ConfigError(err.reason, file=path) from None


def parse_toml(path: Path, raw: bytes) -> dict[str, Any]:
    """The TOML document `raw` read from `path`, or a `ConfigError` naming the file and why."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (bad byte at offset {err.start})", file=path) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}", file=path) from err


def _read_toml(path: Path) -> dict[str, Any]:
    return parse_toml(path, _read_bytes(path))


def project_layer(start: Path | None = None) -> Layer | None:
    """The project file found from `start` (default: the working directory) upward, read, with
    whether the user trusts it; None when there is none. A file another user owns is refused
    unless trusted (`ConfigError`)."""
    path = paths.find_project_file(start)
    if path is None:
        return None
    raw = _read_bytes(path)
    trust = trust_of(path, raw)
    owner = foreign_owner(path)
    if owner is not None and trust is not Trust.TRUSTED:
        raise foreign_error(path, owner, trust)
    return Layer(path, parse_toml(path, raw), LayerKind.PROJECT, trust)


def config_layers(explicit: Path | str | None = None, *, project: bool = True) -> list[Layer]:
    """Shipped defaults, then the user's file (if any), then the project's `.quorum.toml` (if
    any, and `project` and $QUORUM_NO_PROJECT allow it), then `--config` / $QUORUM_CONFIG."""
    layers = [
        Layer(path, _read_toml(path), LayerKind.SHIPPED)
        for path in (paths.shipped_dir("config") / name for name in SHIPPED_FILES)
    ]
    user_file = paths.user_config_file()
    if user_file.is_file():
        layers.append(Layer(user_file, _read_toml(user_file), LayerKind.USER))
    if project_wanted(not project):
        found = project_layer()
        if found is not None:
            layers.append(found)
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen:
        path = Path(chosen).expanduser()
        layers.append(Layer(path, _read_toml(path), LayerKind.EXPLICIT))
    return layers


def _check_project(layers: Sequence[Layer]) -> None:
    """Refuse what an untrusted project file may not set, naming the file and the key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer.kind is LayerKind.PROJECT and layer.trust is not Trust.TRUSTED:
            problems = untrusted_problems(layer.data, merged)
            if problems:
                raise untrusted_error(layer.path, layer.trust, problems)
        merged = merge(merged, layer.data)


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


def load_settings(
    explicit: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    project: bool = True,
) -> Settings:
    """Read, merge and validate every layer; `overrides` (from flags) win over all files.
    `project=False` (`--no-project`) leaves the project's `.quorum.toml` out."""
    layers = config_layers(explicit, project=project)
    _check_project(layers)
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
            hide_values(message, _keys_named(merged)),
            file="command line" if from_flags else _origin(layers, loc),
            key=key,
        ) from None
    for path, reason in reference_problems(settings):  # names that must exist: models, keymap ids
        from_flags = bool(overrides) and _sets(overrides or {}, path)
        raise ConfigError(
            hide_values(reason, _keys_named(merged)),
            file="command line" if from_flags else _origin(layers, path),
            key=".".join(path),
        )
    own = [layer.data for layer in layers if layer.kind is not LayerKind.SHIPPED]
    settings.mark_own(_own_models(settings, [*own, *([dict(overrides)] if overrides else [])]))
    settings.mark_context_files([layer.path for layer in layers if layer.data.get("context")])
    return settings


def _keys_named(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys in the variables the providers of the merged layers name: a value quoted back in
    an error (an alias that is no model, a word that is no mode) may be one of them, given in the
    wrong place."""
    providers = data.get("providers")
    entries = providers.values() if isinstance(providers, Mapping) else ()
    return key_values(entry.get("api_key_env") for entry in entries if isinstance(entry, Mapping))


def _own_models(settings: Settings, own: Sequence[Mapping[str, Any]]) -> set[str]:
    """The models the user's own layers define, or whose provider they define (`[providers.ollama]
    base_url = ...` configures the shipped local models): a local server counts as available for
    the default panel only once it is configured."""
    models = {name for data in own for name in (data.get("models") or {})}
    providers = {name for data in own for name in (data.get("providers") or {})}
    return {name for name, model in settings.models.items() if name in models or model.provider in providers}


def setting_origin(
    loc: Sequence[str | int], explicit: Path | str | None = None, *, project: bool = True
) -> Path | None:
    """The file that sets the key path `loc` (the last layer that does), for a check made after
    loading, such as `quorum config validate`'s of the theme."""
    return _origin(config_layers(explicit, project=project), loc)
