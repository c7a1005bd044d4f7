"""Where Quorum's files live: the shipped defaults and the user's config, log and data folders.

The one place that asks platformdirs, so tests (and users) can move everything with the XDG
variables or `QUORUM_HOME`.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "quorum"
HISTORY_FILE_NAME = "history.sqlite3"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `tui` package


def _home_override(kind: str) -> Path | None:
    # QUORUM_HOME puts config, logs and data under one folder: handy for trials and for tests
    # that drive the CLI as a subprocess.
    home = os.environ.get("QUORUM_HOME")
    return Path(home) / kind if home else None


def user_config_dir() -> Path:
    return _home_override("config") or Path(platformdirs.user_config_dir(APP_NAME))


def user_config_file() -> Path:
    return user_config_dir() / "config.toml"


def user_themes_dir() -> Path:
    """The user's own themes (`*.toml`), beside the user config."""
    return user_config_dir() / "themes"


def user_log_dir() -> Path:
    return _home_override("log") or Path(platformdirs.user_log_dir(APP_NAME))


def user_data_dir() -> Path:
    return _home_override("data") or Path(platformdirs.user_data_dir(APP_NAME))


def shipped_dir(kind: str) -> Path:
    """The shipped `config/` or `themes/` folder, in a wheel install or a source checkout."""
    installed = _PACKAGE_DIR / "_shipped" / kind
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / kind


def history_file(configured: str = "") -> Path:
    """The history database: `[store] path` when set, else `history.sqlite3` in the data folder."""
    return Path(configured).expanduser() if configured else user_data_dir() / HISTORY_FILE_NAME


def exports_dir() -> Path:
    """Where F5 writes a run's Markdown and JSON."""
    return user_data_dir() / "exports"
