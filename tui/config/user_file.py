"""Write the settings a user changes in the dashboard (theme, panel...) back to their config file.

The file is edited in place with tomlkit: the keys a change sets are set where they stand, a new
table goes at the end, and everything else — comments, spacing, inline tables, the order of keys
and tables, keys Quorum does not know — stays byte for byte as the user wrote it. The file is
written again atomically (a temporary file in the same folder, then `os.replace`), so a crash never
leaves half a file. A file that is not valid TOML is never overwritten: `UserConfigError` says which
file and why, and the user fixes it by hand.

tomlkit loads only when a change is written, never as Quorum starts.

Independent of Textual, so the CLI and the tests can use it too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from tui.config import paths
from tui.errors import UserConfigError


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once (a new file is readable by the user only; an
    existing one keeps its permissions): a crash leaves the old file or the new, never half."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def update_user_config(changes: Mapping[str, Mapping[str, Any]], path: Path | None = None) -> Path:
    """Merge `changes` into the user's config file (default `paths.user_config_file()`).

    `changes` maps a table to the keys to set in it, e.g. `{"ui": {"theme": "quorum-light"}}` or
    `{"panel": {"members": ["gpt:for", "claude:against"]}}`. Tables nested in the values merge
    the same way (`{"ui": {"keymap": {"rerun": "ctrl+r"}}}` keeps the other bindings); lists and
    other values replace what was there; a value of None removes the key. Everything else in the
    file is kept as it was written (see the module docstring). Parent folders are created. A
    symlinked file is written through to its target; an existing file keeps its permissions, and a
    new one is readable by the user only.

    Returns the path written. Raises `UserConfigError` when the existing file is not valid TOML,
    when a change would replace a non-table with a table, or when the file cannot be written; the
    existing file is then left untouched.
    """
    import tomlkit  # only here: what it costs to import is paid when a change is saved

    path = paths.user_config_file() if path is None else path
    target = path.resolve() if path.is_symlink() else path
    text = ""
    try:
        text = target.read_bytes().decode("utf-8")
    except FileNotFoundError:
        pass
    except UnicodeDecodeError as err:
        raise UserConfigError(path, f"it is not UTF-8 text ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise UserConfigError(path, f"cannot read it: {err.strerror or err}") from err
    try:
        tomllib.loads(text)  # the loader's reading, and its words for what is wrong
    except tomllib.TOMLDecodeError as err:
        raise UserConfigError(path, f"it is not valid TOML ({err}); fix or remove it first") from err
    document = tomlkit.parse(text)

    for table, values in changes.items():
        if not isinstance(values, Mapping):
            raise TypeError(f"changes[{table!r}] must be a mapping of keys to set, not {values!r}")
        if table in document and not isinstance(document[table], MutableMapping):
            raise UserConfigError(
                path, f"{table!r} is a value, not a table, so {dict(values)!r} cannot go in it"
            )
    try:
        _set(document, changes)
        data = tomlkit.dumps(document).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise UserConfigError(path, f"a change cannot be written as TOML: {err}") from err

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
    except OSError as err:
        raise UserConfigError(path, f"cannot write it: {err.strerror or err}") from err
    return path


def _set(table: MutableMapping[str, Any], changes: Mapping[str, Any]) -> None:
    """`changes` merged into a tomlkit table in place, as `tui.config.tables.merge` merges: tables
    key by key, None deletes, anything else replaces. A table that is not there yet is made, at
    the end of the one it goes in, inline inside an inline one (a key that holds another value
    is replaced by it)."""
    import tomlkit
    from tomlkit.items import InlineTable

    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        elif isinstance(value, Mapping):
            if not isinstance(table.get(key), MutableMapping):
                table[key] = tomlkit.inline_table() if isinstance(table, InlineTable) else tomlkit.table()
            _set(table[key], value)
        else:
            table[key] = value
