"""A project's own configuration file (`.quorum.toml`): what it may set by itself, and trusting it.

A project file arrives with a repository, often someone else's (a clone, a pull). Read without a
word it could send the user's questions and keys elsewhere: a provider whose `base_url` is the
author's server and whose `api_key_env` is `OPENAI_API_KEY`, or a variable that holds another
secret; a familiar alias pointed at a costlier model; a higher budget; a lower bar for a
majority; the history written into the repository; instructions slipped into every member's
prompt. So a project file the user has not trusted may only make a run stricter or cheaper, and
say what shapes the question. `UNTRUSTED_RULES` gives every setting its direction:

- free: `[context]`, the panel's models and stances (from the catalog the user's own files
  define, no more seats than the user's own panel), the synthesizer chain, the demo's seed and
  `ui.theme`;
- lower only (a cost): rounds, budget, answer tokens, call deadline, instances, follow-up depth,
  panel size, and the mode (`consult` is cheaper than `deliberate`);
- raise only (a bar): the majority threshold, the quorum, the demo's speed;
- refused: `[providers]`, `[models]`, `[store]`, `[prompts]`, `[cache]`, `[embedders]`,
  `[ui.keymap]`, a stance prompt.

A setting with no rule is refused too (a test walks the schema so that none is forgotten).
Anything refused stops Quorum with a message naming the file, the key and the user's own value,
until the user trusts the file with `quorum config trust`, which records its path and the SHA-256
of its content in `trusted-projects.toml` beside the user config (never a layer of the
configuration, so a project cannot vouch for itself). A trusted file is a full layer, like
`--config`, for as long as its content stays the same; once it changes, it is untrusted again. A
project file owned by another user (planted in a shared folder such as /tmp) is not read at all
unless trusted.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel

from tui.config import paths
from tui.config.schema import PanelSettings, Settings
from tui.config.user_file import write_atomically
from tui.errors import ConfigError

KeyPath = tuple[str, ...]

NO_PROJECT_ENV = "QUORUM_NO_PROJECT"
"""Set (to anything but 0 or an empty value) to ignore project files, as `--no-project` does."""


class Direction(StrEnum):
    """What an untrusted project file may do with a setting."""

    FREE = "free"
    """Set it: it shapes the question, not where it goes or what a run may cost."""
    LOWER = "lower"
    """Lower it, or keep yours: it bounds what a run may spend."""
    RAISE = "raise"
    """Raise it, or keep yours: it is a bar a run must clear."""
    REFUSED = "refused"
    """Not at all: it decides where questions and keys go, what is told or kept, or what it costs."""


@dataclass(frozen=True)
class Rule:
    direction: Direction
    why: str
    """Why the direction is what it is, in words the refusal quotes."""
    whole: bool = False
    """The rule covers every key beneath it (a table whose keys are the user's to name)."""
    order: tuple[str, ...] = ()
    """For a setting whose values are words: the words, cheapest or strictest first."""


_FREE, _LOWER, _RAISE, _REFUSED = Direction.FREE, Direction.LOWER, Direction.RAISE, Direction.REFUSED
_SEAT = "every seat is paid for"
_STANCE_PROMPT = "a stance prompt replaces what that member is told"

UNTRUSTED_RULES: dict[KeyPath, Rule] = {
    ("run", "mode"): Rule(
        _LOWER,
        "deliberating costs rounds of drafts and votes that consulting does not",
        order=("consult", "deliberate"),
    ),
    ("run", "max_rounds"): Rule(_LOWER, "each round is another draft and another vote from every member"),
    ("run", "majority_threshold"): Rule(_RAISE, "below yours, fewer accepts make a majority"),
    ("run", "quorum"): Rule(_RAISE, "below yours, fewer of the panel's votes may decide a run"),
    ("run", "max_instances_per_combination"): Rule(_LOWER, _SEAT),
    ("run", "call_deadline_s"): Rule(
        _LOWER, "a call may run (and be paid for) this long before it is given up"
    ),
    ("run", "max_answer_tokens"): Rule(_LOWER, "every call may write this many tokens, each paid for"),
    ("run", "token_budget"): Rule(_LOWER, "it bounds what a run may spend"),
    ("run", "synthesizer"): Rule(_FREE, "a model of your own catalog, as a panel member is"),
    ("run", "synthesizer_fallbacks"): Rule(_FREE, "models of your own catalog, asked only if one fails"),
    ("run", "follow_up_depth"): Rule(_LOWER, "each earlier run it carries is sent again with every call"),
    ("panel", "members"): Rule(_FREE, "models of your own catalog, no more seats than yours"),
    ("panel", "members", "model"): Rule(_FREE, "a model of your own catalog"),
    ("panel", "members", "stance"): Rule(_FREE, "for, against or neutral: the shipped stance templates"),
    ("panel", "members", "stance_prompt"): Rule(_REFUSED, _STANCE_PROMPT),
    ("panel", "preferred"): Rule(_FREE, "the order of your own catalog's models"),
    ("panel", "size"): Rule(_LOWER, _SEAT),
    ("panel", "demo_members"): Rule(_FREE, "offline, simulated members"),
    ("panel", "demo_members", "model"): Rule(_FREE, "a model of your own catalog"),
    ("panel", "demo_members", "stance"): Rule(_FREE, "for, against or neutral: the shipped stance templates"),
    ("panel", "demo_members", "stance_prompt"): Rule(_REFUSED, _STANCE_PROMPT),
    ("demo", "speed"): Rule(_RAISE, "a slower demo only keeps you waiting"),
    ("demo", "seed"): Rule(_FREE, "which simulated answers the offline demo gives"),
    ("ui", "theme"): Rule(_FREE, "colours"),
    ("ui", "keymap"): Rule(_REFUSED, "it would remap your keys"),
    ("context",): Rule(_FREE, "the asking team's own words, sent fenced as theirs", whole=True),
    ("prompts",): Rule(
        _REFUSED, "the base prompt is what every member is told before anything else", whole=True
    ),
    ("providers",): Rule(
        _REFUSED,
        "a provider's base_url and api_key_env decide where your questions and keys are sent",
        whole=True,
    ),
    ("models",): Rule(
        _REFUSED, "a catalog entry decides which model an alias runs and what it costs", whole=True
    ),
    ("store",): Rule(_REFUSED, "it decides whether and where your run history is written", whole=True),
    ("cache",): Rule(
        _REFUSED, "it decides which earlier answers are served in place of asking the panel", whole=True
    ),
    ("embedders",): Rule(
        _REFUSED, "an embedder's provider decides where your questions are sent to be compared", whole=True
    ),
}
"""Every setting an untrusted project file can reach, with what it may do with it. A setting with
no rule here (nor a `whole` one above it) is refused: a new setting is closed until given one."""


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


def _table_model(annotation: Any) -> type[BaseModel] | None:
    """The settings table a field holds (itself, or each entry of a list of them), or None for a
    value: a number, a word, a list of words, or a table of entries the user names (`providers`,
    `keymap`) or of open keys (`[context]`)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [_table_model(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return found[0] if len(found) == 1 else None
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation) or (None,)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None if annotation.model_config.get("extra") == "allow" else annotation
    return None


def setting_paths(model: type[BaseModel] = Settings, under: KeyPath = ()) -> list[KeyPath]:
    """Every key path of the settings down to its values: each table's keys, a list of tables
    and each of its entries' keys (`panel.members`, `panel.members.stance_prompt`), and a table
    of entries the user names as one path (`providers`, `context`)."""
    found: list[KeyPath] = []
    for name, field in model.model_fields.items():
        path = (*under, name)
        table = _table_model(field.annotation)
        if table is None or typing.get_origin(field.annotation) is list:
            found.append(path)
        if table is not None:
            found += setting_paths(table, path)
    return found


def rule_for(path: KeyPath) -> Rule | None:
    """The rule for a key path: its own, or a `whole` one over it; None when it has none."""
    rule = UNTRUSTED_RULES.get(path)
    if rule is not None:
        return rule
    for depth in range(len(path) - 1, 0, -1):
        above = UNTRUSTED_RULES.get(path[:depth])
        if above is not None and above.whole:
            return above
    return None


def _set_in(
    data: Mapping[str, Any], model: type[BaseModel], under: KeyPath = ()
) -> Iterator[tuple[KeyPath, Any]]:
    """(key path, value) for everything `data` sets, down to the paths `setting_paths` names. A
    key the settings do not have is left out: the schema's check calls it an unknown setting."""
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        path = (*under, key)
        table = _table_model(field.annotation)
        rule = UNTRUSTED_RULES.get(path)
        if table is None or (rule is not None and rule.whole):
            yield path, value
        elif isinstance(value, Mapping):
            yield from _set_in(value, table, path)
        elif isinstance(value, list):
            yield path, value
            for entry in value:
                if isinstance(entry, Mapping):
                    yield from _set_in(entry, table, path)
        else:
            yield path, value  # the wrong type: the schema's check says so


def _at(data: Mapping[str, Any], path: KeyPath) -> tuple[bool, Any]:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _default(path: KeyPath) -> Any:
    """The shipped schema's default for a key path."""
    model: type[BaseModel] | None = Settings
    field = None
    for part in path:
        if model is None or part not in model.model_fields:
            return None
        field = model.model_fields[part]
        model = _table_model(field.annotation)
    return field.get_default(call_default_factory=True) if field is not None else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _seats(beneath: Mapping[str, Any]) -> int:
    """How many seats the user's own panel has: its members, else the default panel's size."""
    found, members = _at(beneath, ("panel", "members"))
    if found and isinstance(members, list) and members:
        return len(members)
    found, size = _at(beneath, ("panel", "size"))
    return int(size) if found and _number(size) else PanelSettings.model_fields["size"].default


def _yours(path: KeyPath, beneath: Mapping[str, Any]) -> Any:
    """The user's own value of a setting: their layers' (`beneath`, merged), else the default."""
    if path == ("panel", "size"):
        return _seats(beneath)
    found, value = _at(beneath, path)
    return value if found else _default(path)


def _beyond(path: KeyPath, value: Any, rule: Rule, yours: Any) -> str | None:
    """Why `value` goes the wrong way from `yours` under `rule`, or None when it does not (or
    is not of a kind to compare: the schema's check judges its type)."""
    key = ".".join(path)
    if rule.order:
        if value not in rule.order or yours not in rule.order:
            return None
        rank, own = rule.order.index(value), rule.order.index(yours)
        if (rank > own) if rule.direction is Direction.LOWER else (rank < own):
            allowed = rule.order[: own + 1] if rule.direction is Direction.LOWER else rule.order[own:]
            words = " or ".join(repr(word) for word in allowed)
            than = "costs more than" if rule.direction is Direction.LOWER else "is looser than"
            return (
                f"a project file may set {key} to {words}, not {value!r} (it {than} your {yours!r}): "
                f"{rule.why}"
            )
        return None
    if not _number(value) or yours is None:
        return None  # no limit of yours (no token budget) is one a project could pass
    if not _number(yours):
        return None
    if rule.direction is Direction.LOWER and value > yours:
        return f"a project file may lower {key}, not raise it ({value} is above your {yours}): {rule.why}"
    if rule.direction is Direction.RAISE and value < yours:
        return f"a project file may raise {key}, not lower it ({value} is below your {yours}): {rule.why}"
    return None


def untrusted_problems(data: Mapping[str, Any], beneath: Mapping[str, Any]) -> list[tuple[KeyPath, str]]:
    """(key path, reason) for everything an untrusted project file sets that it may not, by
    `UNTRUSTED_RULES`: a setting refused or without a rule, a limit above the user's own or a
    bar below it (`beneath`: the layers under the project, merged), or a panel with more seats
    than theirs. Values of the wrong type are left to the schema's check."""
    problems: dict[KeyPath, str] = {}
    for path, value in _set_in(data, Settings):
        rule = rule_for(path)
        key = ".".join(path)
        if rule is None:
            why = (
                f"a project file may not set {key}: it is not among the settings a file you have not "
                "trusted may change"
            )
        elif rule.direction is Direction.REFUSED:
            where = f"[{key}]" if rule.whole else key
            why = f"a project file may not set {where}: {rule.why}"
        elif rule.direction is Direction.FREE:
            continue
        else:
            beyond = _beyond(path, value, rule, _yours(path, beneath))
            if beyond is None:
                continue
            why = beyond
        problems.setdefault(path, why)
    members = _at(data, ("panel", "members"))[1]
    seats = _seats(beneath)
    if isinstance(members, list) and len(members) > seats:
        problems.setdefault(
            ("panel", "members"),
            f"a project file's panel may not have more seats than yours ({len(members)} > {seats}): {_SEAT}",
        )
    return list(problems.items())


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
