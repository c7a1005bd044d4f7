"""Where Quorum's files live: the shipped defaults and datasets, the user's config, log and data
folders, and the project file (`.quorum.toml`) of the directory Quorum runs in.

The one place that asks platformdirs, so tests (and users) can move everything with the XDG
variables or `QUORUM_HOME`.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "quorum"
HISTORY_FILE_NAME = "history.sqlite3"
PROJECT_FILE_NAME = ".quorum.toml"
TRUSTED_PROJECTS_FILE_NAME = "trusted-projects.toml"
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


def trusted_projects_file() -> Path:
    """The project files the user trusts (`quorum config trust`), beside the user config and never
    one of the configuration's layers: a project file cannot vouch for itself."""
    return user_config_dir() / TRUSTED_PROJECTS_FILE_NAME


def find_project_file(start: Path | None = None) -> Path | None:
    """The project file nearest `start` (default: the working directory): `.quorum.toml` there or
    in a folder above it. The search stops at the repository's root (a folder holding `.git`,
    a folder or a worktree's file), at the home directory, or at the filesystem's root, each
    searched itself; a file above the repository is not the project's. None when there is none,
    or when the working directory is gone."""
    try:
        # Physical paths both: the working directory is one already, a $HOME may be a link.
        folder = (start or Path.cwd()).resolve()
    except OSError:  # the working directory was deleted under us
        return None
    home = _home()
    while True:
        candidate = folder / PROJECT_FILE_NAME
        if candidate.exists() or candidate.is_symlink():  # a dangling link is reported, not skipped
            return candidate
        if (folder / ".git").exists() or folder == home or folder.parent == folder:
            return None
        folder = folder.parent


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):  # no HOME and no passwd entry (a bare container)
        return None


def user_log_dir() -> Path:
    return _home_override("log") or Path(platformdirs.user_log_dir(APP_NAME))


def user_data_dir() -> Path:
    return _home_override("data") or Path(platformdirs.user_data_dir(APP_NAME))


def shipped_dir(kind: str) -> Path:
    """The shipped `config/`, `themes/` or `data/` (the built-in datasets) folder, in a wheel
    install or a source checkout."""
    installed = _PACKAGE_DIR / "_shipped" / kind
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / kind


def history_file(configured: str = "") -> Path:
    """The history database: `[store] path` when set, else `history.sqlite3` in the data folder."""
    return Path(configured).expanduser() if configured else user_data_dir() / HISTORY_FILE_NAME


def evals_dir() -> Path:
    """Where `quorum eval` keeps its per-item logs unless `--log` names one."""
    return user_data_dir() / "evals"


def exports_dir() -> Path:
    """Where F5 writes a run's Markdown and JSON."""
    return user_data_dir() / "exports"
