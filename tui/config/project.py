"""A project's own configuration file (`.quorum.toml`): what it may set by itself, and trusting it.

A project file arrives with a repository, often someone else's (a clone, a pull). Read without a
word it could send the user's questions and keys elsewhere: a provider whose `base_url` is the
author's server and whose `api_key_env` is `OPENAI_API_KEY`, or a variable that holds another
secret; a familiar alias pointed at a costlier model; a higher budget; the history written into
the repository; instructions slipped into every member's prompt. So a project file the user has
not trusted may set only what shapes a question, never where it goes or what it may cost:

- `[context]`, the asking team's context (shown on the dashboard and in every report);
- `[panel]` (members, preferred, size, demo_members) from the catalog the user's own files
  define, with no more seats than the user's own panel and no custom stance prompts;
- `[run]` settings, its limits (rounds, budget, answer tokens, deadline, instances, follow-up
  depth) only at or below the user's own;
- `[demo]` and `ui.theme`.

Anything else (`[providers]`, `[models]`, `[store]`, `[prompts]`, `[ui.keymap]`, a stance
prompt) stops Quorum with a message naming the file and key, until the user trusts the file with
`quorum config trust`, which records its path and the SHA-256 of its content in
`trusted-projects.toml` beside the user config (never a layer of the configuration, so a project
cannot vouch for itself). A trusted file is a full layer, like `--config`, for as long as its
content stays the same; once it changes, it is untrusted again. A project file owned by another
user (planted in a shared folder such as /tmp) is not read at all unless trusted.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w

from tui.config import paths
from tui.config.schema import PanelSettings, RunSettings
from tui.config.user_file import write_atomically
from tui.errors import ConfigError

KeyPath = tuple[str, ...]

NO_PROJECT_ENV = "QUORUM_NO_PROJECT"
"""Set (to anything but 0 or an empty value) to ignore project files, as `--no-project` does."""

RUN_LIMITS = (
    "max_rounds",
    "token_budget",
    "max_answer_tokens",
    "call_deadline_s",
    "max_instances_per_combination",
    "follow_up_depth",
)
"""The `[run]` settings that bound what a run may spend: a project may lower them, not raise them."""

_REFUSED: dict[str, str] = {
    "providers": "a provider's base_url and api_key_env decide where your questions and keys are sent",
    "models": "a catalog entry decides which model an alias runs and what it costs",
    "store": "it decides where your run history is written",
    "prompts": "the base prompt is what every member is told before anything else",
    "cache": "it decides which earlier answers are served in place of asking the panel",
    "embedders": "an embedder's provider decides where your questions are sent to be compared",
}


class Trust(StrEnum):
    """Whether the user trusts a project file as it is now."""

    TRUSTED = "trusted"
    CHANGED = "changed"
    """Trusted once, but its content has changed since."""
    UNTRUSTED = "untrusted"


def project_wanted(no_project: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """Whether project files are read: not with `--no-project`, nor with $QUORUM_NO_PROJECT set."""
    setting = (os.environ if environ is None else environ).get(NO_PROJECT_ENV, "")
    return not no_project and setting.strip() in ("", "0")


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def foreign_owner(path: Path) -> int | None:
    """The owner's user id when the file is not the user's own (None when it is, or on a system
    without user ids)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return None
    try:
        owner = path.stat().st_uid
    except OSError:
        return None  # reading it will say what is wrong
    return owner if owner != getuid() else None


# --------------------------------------------------------------------------------------------
# Trust


def _trusted_entries() -> list[dict[str, str]]:
    """The records of `trusted-projects.toml` (path, sha256), or none when it does not exist."""
    file = paths.trusted_projects_file()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read the trusted project files: {err}", file=file) from err
    entries = data.get("trusted", [])
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str)
        for e in entries
    ):
        raise ConfigError(
            "each [[trusted]] entry holds a path and a sha256 (`quorum config trust` writes them)",
            file=file,
            key="trusted",
        )
    return [{"path": e["path"], "sha256": e["sha256"]} for e in entries]


def _where(path: Path) -> str:
    """How a trusted file is named: its folder's physical path, then its own name (a link named
    `.quorum.toml` is trusted as that link, not as whatever it points to)."""
    return str(path.absolute().parent.resolve() / path.name)


def trust_of(path: Path, raw: bytes) -> Trust:
    """Whether the user trusts the project file at `path` whose content is `raw`."""
    where = _where(path)
    recorded = [e["sha256"] for e in _trusted_entries() if e["path"] == where]
    if not recorded:
        return Trust.UNTRUSTED
    return Trust.TRUSTED if digest(raw) in recorded else Trust.CHANGED


def set_trust(path: Path, raw: bytes | None) -> Path:
    """Trust the project file at `path` as its content `raw` is now, or (`raw` None) trust it no
    longer. Returns the file the trust is recorded in (the user's only: 0600)."""
    where = _where(path)
    entries = [e for e in _trusted_entries() if e["path"] != where]
    if raw is not None:
        entries.append({"path": where, "sha256": digest(raw)})
    file = paths.trusted_projects_file()
    text = (
        "# Project files you trust (`quorum config trust`), each by its path and the SHA-256 of its\n"
        "# content: a file that changes is untrusted again.\n"
    ) + tomli_w.dumps({"trusted": entries})
    file.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(file, text.encode("utf-8"))
    return file


# --------------------------------------------------------------------------------------------
# What an untrusted project file may set


def _value(data: Mapping[str, Any], table: str, key: str, default: Any) -> Any:
    section = data.get(table)
    return section.get(key, default) if isinstance(section, Mapping) else default


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _seats(beneath: Mapping[str, Any]) -> int:
    """How many seats the user's own panel has: its members, else the default panel's size."""
    members = _value(beneath, "panel", "members", [])
    if isinstance(members, list) and members:
        return len(members)
    size = _value(beneath, "panel", "size", PanelSettings.model_fields["size"].default)
    return int(size) if _number(size) else PanelSettings.model_fields["size"].default


def untrusted_problems(data: Mapping[str, Any], beneath: Mapping[str, Any]) -> list[tuple[KeyPath, str]]:
    """(key path, reason) for everything an untrusted project file sets that it may not: a table
    it may not touch, a stance prompt, a keymap, or a limit above the user's own (`beneath`: the
    layers under the project, merged). Values of the wrong type are left to the schema's check."""
    problems: list[tuple[KeyPath, str]] = []
    for table, why in _REFUSED.items():
        if table in data:
            problems.append(((table,), f"a project file may not set [{table}]: {why}"))
    ui = data.get("ui")
    if isinstance(ui, Mapping) and "keymap" in ui:
        problems.append((("ui", "keymap"), "a project file may not remap your keys"))
    panel = data.get("panel")
    if isinstance(panel, Mapping):
        for name in ("members", "demo_members"):
            entries = panel.get(name)
            if isinstance(entries, list) and any(
                isinstance(e, Mapping) and e.get("stance_prompt") for e in entries
            ):
                problems.append(
                    (
                        ("panel", name),
                        "a project file may not give a member a stance prompt: it replaces what that "
                        "member is told",
                    )
                )
        seats = _seats(beneath)
        members = panel.get("members")
        if isinstance(members, list) and len(members) > seats:
            problems.append(
                (
                    ("panel", "members"),
                    f"a project file's panel may not have more seats than yours ({len(members)} > {seats}): "
                    "every seat is paid for",
                )
            )
        size = panel.get("size")
        if isinstance(size, int | float) and not isinstance(size, bool) and size > seats:
            problems.append(
                (("panel", "size"), f"a project file may lower panel.size, not raise it ({size} > {seats})")
            )
    run = data.get("run")
    if isinstance(run, Mapping):
        for key in RUN_LIMITS:
            value = run.get(key)
            yours = _value(beneath, "run", key, RunSettings.model_fields[key].default)
            if _number(value) and _number(yours) and value > yours:
                problems.append(
                    (
                        ("run", key),
                        f"a project file may lower run.{key}, not raise it ({value} is above your {yours})",
                    )
                )
    return problems


def untrusted_error(path: Path, trust: Trust, problems: Sequence[tuple[KeyPath, str]]) -> ConfigError:
    """The error for the first thing an untrusted project file may not set: what, why, and the
    two ways on (move it to your own config, or trust the file as it is)."""
    key, reason = problems[0]
    changed = " It has changed since you trusted it." if trust is Trust.CHANGED else ""
    return ConfigError(
        f"{reason}.{changed} Put it in your own config, or, once you have read the file, trust it as it "
        f"is now: quorum config trust {path} (or ignore project files: --no-project)",
        file=path,
        key=".".join(key),
    )


def foreign_error(path: Path, owner: int, trust: Trust) -> ConfigError:
    changed = " It has changed since you trusted it." if trust is Trust.CHANGED else ""
    return ConfigError(
        f"this project file belongs to another user (uid {owner}), not you, so it is not read.{changed} "
        f"Trust it if you mean to use it (quorum config trust {path}), or ignore project files "
        "(--no-project)",
        file=path,
    )
