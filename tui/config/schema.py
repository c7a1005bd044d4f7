"""Configuration: the shipped defaults, the user's file, `--config`, then command-line flags.

Each layer is a TOML file; tables merge key by key and later layers win (arrays are replaced,
not appended). The merged result is validated once with pydantic (`extra="forbid"`), and any
problem is reported as a `ConfigError` naming the file that set the bad value, the key path and
the reason, before anything runs.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tui.config import paths
from tui.engine.prompts import DEFAULT_BASE_PROMPT, validate_base_prompt
from tui.engine.stance import normalize_stance
from tui.engine.types import Member, Mode, Stance
from tui.errors import ConfigError, PromptError, StanceError, UnknownModelError, UsageError

CONFIG_ENV = "QUORUM_CONFIG"
SHIPPED_FILES = ("settings.toml", "models.toml")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEYS = {"api_key", "apikey", "key", "token", "secret", "password", "authorization"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderConfig(_Strict):
    """How to reach one provider."""

    kind: Literal["openai", "anthropic", "demo"]
    """Wire protocol: OpenAI-compatible chat completions, Anthropic messages, or the offline demo."""
    base_url: str | None = None
    """Endpoint; None means the SDK's default."""
    base_url_env: str | None = None
    """An environment variable that, when set, overrides base_url (OPENAI_BASE_URL, ANTHROPIC_BASE_URL)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key. Keys are never written in a file."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """Retries of a call refused with 429, 5xx or a lost connection (before any text), within the
    call's deadline. Quorum makes them itself, honouring Retry-After, and shows each on the pane."""
    read_timeout_s: float = Field(default=60.0, gt=0)
    """Longest silence between bytes before the SDK gives up."""
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """Which request field carries the output limit (OpenAI's newer models want max_completion_tokens)."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_raw_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in data:
                if str(key).lower() in _SECRET_KEYS:
                    raise ValueError(
                        f"a raw key ({key!r}) may not be written in a config file; put the key in an "
                        "environment variable and name that variable with api_key_env"
                    )
        return data

    @field_validator("api_key_env", "base_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not _ENV_NAME.match(value):
            raise ValueError(
                "must be the NAME of an environment variable (like OPENAI_API_KEY), not a key or value"
            )
        return value or None


class ModelConfig(_Strict):
    """One catalog entry."""

    provider: str
    id: str
    """The provider's model id."""
    aliases: list[str] = Field(default_factory=list)
    """Other names for this model (the table's name is always one)."""
    context_window: int = Field(gt=0)
    max_output: int = Field(gt=0)
    """The model's own output limit."""
    input_price: float = Field(default=0.0, ge=0)
    """USD per million input tokens."""
    output_price: float = Field(default=0.0, ge=0)
    """USD per million output tokens."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sent only when set: some reasoning models refuse any temperature."""
    deadline_s: float | None = Field(default=None, gt=0)
    """Overrides run.call_deadline_s for this model."""
    description: str = ""


class RunSettings(_Strict):
    mode: Mode = Mode.DELIBERATE
    max_rounds: int = Field(default=3, ge=1, le=10)
    majority_threshold: float = Field(default=0.5, ge=0.0, lt=1.0)
    """A majority needs accepts strictly above this share of the valid votes."""
    max_instances_per_combination: int = Field(default=2, ge=1)
    """How many members may share one (model, stance) pair; the rest are skipped."""
    call_deadline_s: float = Field(default=180.0, gt=0)
    """Total time one call may take, on top of the SDKs' between-bytes timeouts."""
    max_answer_tokens: int = Field(default=8000, gt=0)
    """Output limit asked of every call (capped by the model's own)."""
    token_budget: int | None = Field(default=None, gt=0)
    """When the next phase would pass this many tokens in total, the curator decides at once."""
    synthesizer: str | None = None
    """Alias of the synthesizer (and curator); empty means the panel's first member."""
    synthesizer_fallbacks: list[str] = Field(default_factory=list)
    """Tried in order when the synthesizer fails; the panel's other models follow them."""
    follow_up_depth: int = Field(default=2, ge=1, le=10)
    """How many earlier runs of a thread a follow-up carries as context (the parent is 1)."""

    @field_validator("synthesizer", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None


class MemberSpec(_Strict):
    model: str
    stance: Stance = Stance.NEUTRAL
    stance_prompt: str | None = None

    @field_validator("stance", mode="before")
    @classmethod
    def _stance(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return normalize_stance(value)
            except StanceError as err:
                raise ValueError(str(err)) from err
        return value


def parse_member(spec: str | Mapping[str, Any] | MemberSpec) -> MemberSpec:
    """`ALIAS[:STANCE]` or a table {model, stance, stance_prompt} as a MemberSpec."""
    if isinstance(spec, MemberSpec):
        return spec
    if isinstance(spec, Mapping):
        try:
            return MemberSpec.model_validate(spec)
        except ValidationError as err:
            problem = err.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise UsageError(
                f"member {where or 'entry'}: {problem['msg'].removeprefix('Value error, ')}"
            ) from None
    alias, sep, stance = spec.strip().rpartition(":")
    if not sep:
        alias, stance = stance, "neutral"
    if not alias:
        raise UsageError(f"{spec!r}: expected ALIAS or ALIAS:STANCE")
    try:
        return MemberSpec(model=alias, stance=normalize_stance(stance))
    except StanceError as err:
        raise UsageError(f"{spec!r}: {err}") from err


class PanelSettings(_Strict):
    members: list[MemberSpec] = Field(default_factory=list)
    """Preferred members, in order; those whose provider key is set are used, up to `size`."""
    size: int = Field(default=3, ge=1, le=16)
    demo_members: list[MemberSpec] = Field(default_factory=list)
    """The panel when no member's key is set: offline, simulated, labelled demo."""

    @field_validator("members", "demo_members", mode="before")
    @classmethod
    def _members(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [parse_member(item) if isinstance(item, str) else item for item in value]
        return value


class DemoSettings(_Strict):
    speed: float = Field(default=1.0, gt=0)
    """Multiplies the demo's pacing: 2 is twice as fast."""
    seed: int = 0


class PromptSettings(_Strict):
    base: str = DEFAULT_BASE_PROMPT
    """The members' system prompt; holds exactly one {stance_prompt} placeholder."""

    @field_validator("base")
    @classmethod
    def _placeholder(cls, value: str) -> str:
        try:
            return validate_base_prompt(value)
        except PromptError as err:
            raise ValueError(str(err)) from err


class StoreSettings(_Strict):
    enabled: bool = True
    """Record every run in the history database."""
    path: str = ""
    """The database file; empty means `history.sqlite3` in the user data folder."""


class UISettings(_Strict):
    theme: str = "quorum-dark"
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id -> keys, e.g. rerun = "ctrl+r"."""


class Settings(_Strict):
    run: RunSettings = Field(default_factory=RunSettings)
    panel: PanelSettings = Field(default_factory=PanelSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    prompts: PromptSettings = Field(default_factory=PromptSettings)
    ui: UISettings = Field(default_factory=UISettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cross_check(self) -> Settings:
        seen: dict[str, str] = {}
        for name, model in self.models.items():
            if model.provider not in self.providers:
                raise ValueError(
                    f"models.{name}.provider: unknown provider {model.provider!r} "
                    f"(known: {', '.join(sorted(self.providers))})"
                )
            if model.temperature is not None and self.providers[model.provider].kind == "anthropic":
                raise ValueError(
                    f"models.{name}.temperature: Anthropic's Messages API (SDK 2.x) takes no temperature; "
                    "remove it"
                )
            for alias in (name, *model.aliases):
                if ":" in alias:
                    raise ValueError(
                        f"models.{name}: alias {alias!r} may not contain ':' (it separates the stance)"
                    )
                key = alias.lower()
                if key in seen and seen[key] != name:
                    raise ValueError(f"models.{name}: alias {alias!r} is already used by models.{seen[key]}")
                seen[key] = name
        return self


# --------------------------------------------------------------------------------------------
# Loading


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


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


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


def load_settings(explicit: Path | str | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read, merge and validate every layer; `overrides` (from flags) win over all files."""
    layers = config_layers(explicit)
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, layer.data)
    if overrides:
        merged = _merge(merged, overrides)
    try:
        return Settings.model_validate(merged)
    except ValidationError as err:
        first = err.errors()[0]
        loc: list[str | int] = [part for part in first["loc"] if isinstance(part, str | int)]
        message = first["msg"].removeprefix("Value error, ")
        key = ".".join(str(part) for part in loc)
        if first["type"] == "extra_forbidden":
            message = f"unknown setting {loc[-1]!r}" if loc else "unknown setting"
        elif "input" in first and first["type"] not in ("missing", "value_error", "assertion_error"):
            message += f" (got {first['input']!r})"
        if not key and message.startswith("models."):
            key, _, message = message.partition(": ")
            loc = list(key.split("."))
        from_flags = bool(overrides) and _sets(overrides or {}, loc)
        raise ConfigError(
            message, file="command line" if from_flags else _origin(layers, loc), key=key
        ) from None


# --------------------------------------------------------------------------------------------
# Catalog and panel


class Catalog:
    """Case-insensitive alias lookup over the configured models and providers."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self._by_alias: dict[str, str] = {}
        for name, model in settings.models.items():
            for alias in (name, *model.aliases):
                self._by_alias[alias.lower()] = name

    def aliases(self) -> set[str]:
        """Every known alias, lower-cased."""
        return set(self._by_alias)

    def resolve(self, alias: str) -> tuple[str, ModelConfig]:
        name = self._by_alias.get(alias.strip().lower())
        if name is None:
            close = difflib.get_close_matches(alias.lower(), list(self._by_alias), n=3, cutoff=0.5)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise UnknownModelError(f"unknown model {alias!r}{hint} (`quorum models` lists them all)")
        return name, self.settings.models[name]

    def provider(self, model: ModelConfig) -> ProviderConfig:
        return self.settings.providers[model.provider]

    def key_status(self, model: ModelConfig) -> Literal["set", "missing", "not needed"]:
        provider = self.provider(model)
        if provider.kind == "demo" or not provider.api_key_env:
            return "not needed"
        return "set" if self.environ.get(provider.api_key_env) else "missing"

    def is_usable(self, model: ModelConfig) -> bool:
        return self.key_status(model) != "missing"

    def member(self, spec: MemberSpec) -> Member:
        name, model = self.resolve(spec.model)
        run = self.settings.run
        return Member(
            alias=name,
            model_id=model.id,
            provider=model.provider,
            stance=spec.stance,
            stance_prompt=spec.stance_prompt,
            demo=self.provider(model).kind == "demo",
            context_window=model.context_window,
            max_output_tokens=min(model.max_output, run.max_answer_tokens),
            input_price=model.input_price,
            output_price=model.output_price,
            temperature=model.temperature,
            deadline_s=model.deadline_s or run.call_deadline_s,
            retries=self.provider(model).max_retries,
        )


@dataclass(frozen=True)
class Panel:
    members: list[Member]
    synthesizers: list[Member]
    notes: list[str]


def choose_panel(
    catalog: Catalog, requested: Iterable[MemberSpec] = (), synthesizer: str | None = None
) -> Panel:
    """The run's members and synthesizer chain.

    Asked-for members are used as asked (a missing key then fails that member, with the variable
    named). Otherwise the configured preference list is filtered to models whose key is set; when
    none is, the demo panel runs, and the notes say so.
    """
    settings = catalog.settings
    notes: list[str] = []
    specs = list(requested)
    if not specs:
        usable = [s for s in settings.panel.members if catalog.is_usable(catalog.resolve(s.model)[1])]
        specs = usable[: settings.panel.size]
        if not specs:
            specs = list(settings.panel.demo_members)
            notes.append("no provider key is set: running the offline demo panel (simulated answers)")
    members = [catalog.member(spec) for spec in specs]
    return Panel(members, synthesizer_chain(catalog, members, synthesizer), notes)


def synthesizer_chain(
    catalog: Catalog, members: Sequence[Member], synthesizer: str | None = None
) -> list[Member]:
    """The synthesizer (the one asked for, the configured one, or the first member), then the
    configured fallbacks, then the panel's other models; fallbacks without a key are left out."""
    settings = catalog.settings
    chain: list[str] = []
    first = synthesizer or settings.run.synthesizer
    if first:
        chain.append(first)
    elif members:
        chain.append(members[0].alias)
    chain += settings.run.synthesizer_fallbacks + [m.alias for m in members]
    synthesizers: list[Member] = []
    seen: set[str] = set()
    for alias in chain:
        name, model = catalog.resolve(alias)
        if name in seen:
            continue
        seen.add(name)
        if not catalog.is_usable(model) and synthesizers:
            continue  # a fallback without a key would only add a failure
        synthesizers.append(catalog.member(MemberSpec(model=name)))
    return synthesizers
