"""Write the settings a user changes in the dashboard (theme, panel...) back to their config file.

The file is read with tomllib, the changes are merged in, and the whole document is written again
with tomli-w, atomically (a temporary file in the same folder, then `os.replace`), so a crash never
leaves half a file. Everything the changes do not touch is kept: other keys, other tables.

tomli-w cannot keep comments (or the file's layout). So when the file holds a comment, it is first
copied to `config.toml.bak` beside it, on every write that would lose one; the first such write
therefore keeps the user's commented original there. A file that is not valid TOML is never
overwritten: `UserConfigError` says which file and why, and the user fixes it by hand.

Independent of Textual, so the CLI and the tests can use it too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from tui.config import paths
from tui.config.tables import merge
from tui.errors import UserConfigError


def backup_path(path: Path) -> Path:
    """Where the commented original is kept: `config.toml` -> `config.toml.bak`."""
    return path.with_name(path.name + ".bak")


def has_comment(text: str) -> bool:
    """Whether a TOML document holds a comment: a `#` outside every kind of string."""
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "#":
            return True
        if char in "\"'":
            multi = text.startswith(char * 3, i)
            end = char * 3 if multi else char
            i += len(end)
            while i < n:
                if char == '"' and text[i] == "\\":
                    i += 2
                    continue
                if text.startswith(end, i):
                    i += len(end)
                    # A multi-line string may end with up to two extra quotes: """a"""" is 'a"'.
                    while multi and i < n and text[i] == char:
                        i += 1
                    break
                if not multi and text[i] == "\n":
                    break  # invalid TOML anyway; the parser has already said so
                i += 1
            continue
        i += 1
    return False


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
    other values replace what was there; a value of None removes the key. Parent folders are
    created. If the existing file holds a comment it is first copied to `config.toml.bak` (see the
    module docstring). A symlinked file is written through to its target; an existing file keeps
    its permissions, and a new one is readable by the user only.

    Returns the path written. Raises `UserConfigError` when the existing file is not valid TOML,
    when a change would replace a non-table with a table, or when the file cannot be written; the
    existing file is then left untouched.
    """
    path = paths.user_config_file() if path is None else path
    target = path.resolve() if path.is_symlink() else path
    current: dict[str, Any] = {}
    text: str | None = None
    try:
        text = target.read_bytes().decode("utf-8")
    except FileNotFoundError:
        pass
    except UnicodeDecodeError as err:
        raise UserConfigError(path, f"it is not UTF-8 text ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise UserConfigError(path, f"cannot read it: {err.strerror or err}") from err
    if text is not None:
        try:
            current = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise UserConfigError(path, f"it is not valid TOML ({err}); fix or remove it first") from err

    for table, values in changes.items():
        if not isinstance(values, Mapping):
            raise TypeError(f"changes[{table!r}] must be a mapping of keys to set, not {values!r}")
        if table in current and not isinstance(current[table], dict):
            raise UserConfigError(
                path, f"{table!r} is a value, not a table, so {dict(values)!r} cannot go in it"
            )
    merged = merge(current, changes)
    try:
        data = tomli_w.dumps(merged).encode("utf-8")
    except TypeError as err:
        raise UserConfigError(path, f"a change cannot be written as TOML: {err}") from err

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if text is not None and has_comment(text):
            shutil.copyfile(target, backup_path(target))
        write_atomically(target, data)
    except OSError as err:
        raise UserConfigError(path, f"cannot write it: {err.strerror or err}") from err
    return path
