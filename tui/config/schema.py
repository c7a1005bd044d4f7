"""The settings' schema: what a configuration may say, validated with pydantic.

Every table forbids unknown keys (a typo is an error, not a silently ignored setting), and keys
are only ever named, never written: `api_key_env` holds the NAME of an environment variable.
Loading the layers is `tui.config.loading`'s job; the model catalog is `tui.config.catalog`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tui.engine.context import MAX_CONTEXT_CHARS, ContextValue, TeamContext
from tui.engine.prompts import DEFAULT_BASE_PROMPT, validate_base_prompt
from tui.engine.stance import normalize_stance
from tui.engine.types import Mode, Stance
from tui.errors import PromptError, StanceError, UsageError, carries_url_credentials, looks_like_key
from tui.files import NUL_IN_PATH
from tui.providers import kinds

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTEXT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Control characters that are not whitespace (whitespace is normalized to one space): a context
# is shown on screens and sent to models, and has no use for escape sequences or NULs.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_SECRET_KEYS = {"api_key", "apikey", "key", "token", "secret", "password", "authorization"}


class _Strict(BaseModel):
    # A value that fails validation may be a key written in the wrong place: never quote it.
    # TOML writes `nan` and `inf`; no setting has a use for them (`call_deadline_s = inf` is no
    # deadline at all), so every float refuses them alike, before its own bounds are checked.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, allow_inf_nan=False)


DEFAULT_RETRIES = 2
"""Quorum's own retries of a refused call when a provider reached directly sets none."""


class ProviderConfig(_Strict):
    """How to reach one provider."""

    kind: str
    """Wire protocol: `openai` (OpenAI-compatible chat completions), `anthropic` (Anthropic's
    Messages API), `demo` (the offline members), or a kind an installed plugin adds."""
    base_url: str | None = None
    """Endpoint; None means the SDK's default."""
    base_url_env: str | None = None
    """An environment variable that, when set, overrides base_url (OPENAI_BASE_URL, ANTHROPIC_BASE_URL)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key. Keys are never written in a file."""
    max_retries: int | None = Field(default=None, ge=0, le=10)
    """Retries of a call refused with 429, 5xx or a lost connection (before any text), within the
    call's deadline. Quorum makes them itself, honouring Retry-After, and shows each on the pane.
    Unset: 2, or 0 for a gateway, which retries itself (one layer of retries, not two multiplied)."""
    gateway: bool | Literal["litellm"] = False
    """The provider is a gateway in front of other providers (a LiteLLM proxy: `"litellm"`, or
    `true` for another): its errors are read as the gateway's or the provider's behind it, its
    advice names both keys, and Quorum leaves retrying to it unless `max_retries` is set."""
    read_timeout_s: float = Field(default=60.0, gt=0)
    """Longest silence between bytes before the SDK gives up."""
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    """Which request field carries the output limit (OpenAI's newer models want max_completion_tokens)."""
    max_concurrency: int | None = Field(default=None, ge=1, strict=True)
    """How many calls this provider is sent at once; unset, as many as a run makes. A local server
    that answers one request at a time (llama.cpp's llama-server by default, Ollama on a small
    machine) wants 1: Quorum then keeps the other calls in its own queue, first come, first served,
    shared by every run in the process, and a call's deadline, latency and time to first token start
    when it is sent, not while it waits (the pane says `queued`, and how long it waited)."""

    @property
    def retries(self) -> int:
        """How often Quorum itself retries a refused call: `max_retries`, else 2 (0 for a gateway)."""
        if self.max_retries is not None:
            return self.max_retries
        return 0 if self.gateway else DEFAULT_RETRIES

    @property
    def gateway_name(self) -> str:
        """The gateway's make: "litellm", "gateway" (another), or "" for a provider reached directly."""
        if self.gateway is True:
            return "gateway"
        return self.gateway or ""

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

    @field_validator("base_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        # `https://user:key@host` is a key written in a file, and the SDK would send it as Basic
        # auth beside the Bearer key, which servers answer with a confusing refusal.
        if value and carries_url_credentials(value):
            raise ValueError(
                "base_url may not carry a user name or key (user:key@host); put the key in an "
                "environment variable and name that variable with api_key_env; the value is not shown"
            )
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in kinds.KINDS:
            known = [repr(name) for name in kinds.KINDS.names()]
            raise ValueError(
                f"Input should be {', '.join(known[:-1])} or {known[-1]} (got {value!r}); a plugin "
                f"adds a kind through the {kinds.ENTRY_POINT_GROUP!r} entry points"
            )
        return value

    @field_validator("api_key_env", "base_url_env")
    @classmethod
    def _env_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and (not _ENV_NAME.match(value) or looks_like_key(value)):
            raise ValueError(
                f"{info.field_name} must be the NAME of an environment variable (like OPENAI_API_KEY), "
                "not a key; the value is not shown"
            )
        return value or None


StructuredOutputSetting = Literal["auto", "json_schema", "json_object", "tool", "text"]


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
    structured_output: StructuredOutputSetting = "auto"
    """How this model's votes are asked for: `auto` (by provider kind: `json_schema` for an
    OpenAI-compatible server, `tool` for Anthropic, `text` for the demo), `json_schema` (OpenAI's
    strict response_format), `json_object` (with the schema: llama.cpp's server), `tool` (a
    forced tool call: Anthropic) or `text` (the VERDICT line). A server that refuses a form is
    asked once in the next weaker one, and that is remembered for the rest of the process."""
    vision: bool = False
    """The model takes images: a question's images (`--image`) are sent to it. A model without it
    is asked from the text alone, and the run says so."""
    description: str = ""


class RunSettings(_Strict):
    mode: Mode = Mode.DELIBERATE
    max_rounds: int = Field(default=3, ge=1, le=10)
    majority_threshold: float = Field(default=0.5, ge=0.0, lt=1.0)
    """A majority needs accepts strictly above this share of the members asked to vote."""
    quorum: float = Field(default=0.5, ge=0.5, le=1.0)
    """A round decides only when more than this share of the panel's seats cast a valid vote (or
    every seat did; 1.0 asks for all of them); below it the run ends with no quorum."""
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
    """Your panel, used as it is, every member (Ctrl+S in the dashboard saves it here); empty
    means the default panel."""
    preferred: list[str] = Field(default_factory=list)
    """The default panel's models, in order of preference (those available are used)."""
    size: int = Field(default=3, ge=1, le=16)
    """The default panel's seats: for, against, neutral, ... over the available models in turn."""
    demo_members: list[MemberSpec] = Field(default_factory=list)
    """The panel when no model is available: offline, simulated, labelled demo."""

    @field_validator("members", "demo_members", mode="before")
    @classmethod
    def _members(cls, value: Any) -> Any:
        if isinstance(value, list):
            try:
                return [parse_member(item) if isinstance(item, str) else item for item in value]
            except UsageError as err:
                raise ValueError(str(err)) from None  # pydantic names the file and key
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
    lock_wait_s: float = Field(default=300.0, gt=0)
    """How long a write to the history waits for another process holding it locked (a `sqlite3`
    shell, a backup) before the run is reported as not recorded."""

    @field_validator("path")
    @classmethod
    def _nameable(cls, value: str) -> str:
        if "\x00" in value:  # TOML can write one (\u0000); no file name holds one
            raise ValueError(NUL_IN_PATH)
        return value


class EmbedderConfig(_Strict):
    """An embedding model on an OpenAI-compatible provider's `/embeddings` endpoint, for the cache."""

    provider: str
    """A configured provider of kind `openai` (OpenAI, Ollama, vLLM, LM Studio ...)."""
    id: str = Field(min_length=1)
    """The provider's model id, e.g. `text-embedding-3-small`, `nomic-embed-text`."""


class CacheSettings(_Strict):
    """When a question is answered from an earlier run instead of asking the panel again."""

    enabled: bool = True
    """Look for an earlier run that answers the question before asking the panel."""
    threshold: float = Field(default=0.92, ge=0.5, le=1.0)
    """How similar (cosine of the question embeddings) a differently worded question must be to be
    served; it must also pass the hit check. An exact match needs no embedder."""
    max_age_days: float = Field(default=30.0, gt=0)
    """An earlier run older than this is not served (answers age: versions, prices, advice)."""
    match_panel: bool = True
    """Serve only a run answered by the same panel (models, stances, synthesizers): another panel
    was asked for another set of opinions. False serves any panel's answer."""
    embedder: str = "static"
    """What compares differently worded questions: `static` (offline: wordllama's shipped word
    vectors, no download), the name of an `[embedders]` entry (an `/embeddings` endpoint), or ""
    for exact matches only."""


class UISettings(_Strict):
    theme: str = "quorum-dark"
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id -> keys, e.g. rerun = "ctrl+r"."""


def _kind(value: Any) -> str:
    """What a TOML value is, in words (for saying what a value should have been instead)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "a table"
    return "a list" if isinstance(value, list) else "a date or time"


def _context_value(value: Any) -> Any:
    """A `[context]` entry's value as the engine takes it, or a ValueError that says what it is
    instead (a value is never quoted: it may be a key written in the wrong place)."""
    texts = value if isinstance(value, list) else [value]
    wrong = [item for item in texts if not isinstance(item, str)]
    if wrong:
        got = f"a list holding {_kind(wrong[0])}" if isinstance(value, list) else _kind(value)
        raise ValueError(f"a context entry is a string or a list of strings, not {got}")
    for item in texts:
        if _CONTROL.search(item):
            raise ValueError("a context entry may not hold control characters (escape sequences, NUL)")
        if any(looks_like_key(word) for word in item.split()):
            raise ValueError(
                "this looks like it holds an API key or token (not shown): the context is sent to every "
                "model and recorded, and keys never go in a config file"
            )
    return value


def _team_size(value: Any) -> Any:
    """A team size: a whole number of people (a string of digits counts as one), or a text such as
    "4-6" or "two squads"."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"team_size is a number of people, 1 or more (got {value})")
        return value
    if isinstance(value, float):
        raise ValueError(f'team_size is a whole number of people, or a text like "4-6" (got {value})')
    value = _context_value(value)
    if isinstance(value, str) and value.strip().isdecimal():
        return _team_size(int(value.strip()))
    return value


ContextEntry = Annotated[str | list[str], BeforeValidator(_context_value)]


class ContextSettings(BaseModel):
    """The asking team's context (`[context]`, usually a project's `.quorum.toml`): sent to every
    member with the question, shown on the dashboard, recorded with each run. The entries below
    are the ones every team is asked about; any other key with a string or a list of strings is
    taken too (`compliance = ["SOC 2"]`). Keys are lowercase words (`team_size`)."""

    # Other keys are allowed, validated as `ContextEntry`s; a failing value is never quoted.
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)
    __pydantic_extra__: dict[str, ContextEntry]

    language: ContextEntry | None = None
    """The languages the team writes, e.g. "Python" or ["Python", "TypeScript"]."""
    frameworks: ContextEntry | None = None
    """The frameworks and libraries the work is built on, e.g. ["FastAPI", "SQLAlchemy"]."""
    team_size: Annotated[int | str | list[str], BeforeValidator(_team_size)] | None = None
    """How many people: a number (4) or a text ("4-6")."""
    security_level: ContextEntry | None = None
    """How much security matters, in the team's words: "high", "regulated (PCI DSS)"."""
    stack: ContextEntry | None = None
    """The existing stack the answer has to fit: ["Postgres 16", "Redis", "Kubernetes"]."""
    notes: ContextEntry | None = None
    """Anything else the panel should know, as a text or a list of texts."""

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in data:
                if not _CONTEXT_KEY.match(str(key)):
                    shown = str(key) if len(str(key)) <= 40 and not _CONTROL.search(str(key)) else "(a key)"
                    raise ValueError(
                        f"context key {shown!r}: a key is a lowercase word of letters, digits and _ "
                        "(like team_size), at most 40 characters"
                    )
        return data

    @model_validator(mode="after")
    def _size(self) -> ContextSettings:
        context = self.team_context()
        size = len(context.canonical_json()) if context is not None else 0
        if size > MAX_CONTEXT_CHARS:
            raise ValueError(
                f"the context is {size:,} characters, more than {MAX_CONTEXT_CHARS:,}: it is sent to every "
                "member with every question and draft, so keep it to what the panel needs (shorten notes)"
            )
        return self

    def team_context(self) -> TeamContext | None:
        """The context these settings describe, normalized; None when they say nothing."""
        entries: dict[str, ContextValue] = {
            key: value for key, value in self.model_dump(exclude_none=True).items() if value is not None
        }
        return TeamContext.of(entries)


class Settings(_Strict):
    # The models the user's own files (or flags) define, or whose provider they define: a model
    # that needs no key (a local server) is available for the default panel only when configured.
    _own_models: frozenset[str] = PrivateAttr(default_factory=frozenset)
    # The files that set `[context]` entries, for saying where the context in force comes from.
    _context_files: tuple[Path, ...] = PrivateAttr(default=())

    run: RunSettings = Field(default_factory=RunSettings)
    panel: PanelSettings = Field(default_factory=PanelSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    prompts: PromptSettings = Field(default_factory=PromptSettings)
    ui: UISettings = Field(default_factory=UISettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    embedders: dict[str, EmbedderConfig] = Field(default_factory=dict)
    context: ContextSettings = Field(default_factory=ContextSettings)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cache_embedder(self) -> Settings:
        for entry_name, entry in self.embedders.items():
            provider = self.providers.get(entry.provider)
            if provider is None or provider.kind != "openai":
                raise ValueError(
                    f"[embedders.{entry_name}] provider = {entry.provider!r}: name a configured provider of "
                    "kind openai (an OpenAI-compatible server with /embeddings)"
                )
        name = self.cache.embedder
        if name not in ("", "static") and name not in self.embedders:
            known = ", ".join(f'"{n}"' for n in ["static", *self.embedders])
            raise ValueError(
                f'[cache] embedder = "{name}": use {known} (an [embedders] entry), or "" (exact matches only)'
            )
        return self

    @property
    def own_models(self) -> frozenset[str]:
        """The models the user's own configuration defines (or whose provider it defines)."""
        return self._own_models

    def mark_own(self, names: set[str] | frozenset[str]) -> None:
        self._own_models = frozenset(names)

    @property
    def context_files(self) -> tuple[Path, ...]:
        """The configuration files that set the context's entries (a project's `.quorum.toml`,
        most often), in layer order."""
        return self._context_files

    def mark_context_files(self, files: Sequence[Path]) -> None:
        self._context_files = tuple(files)

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
            kind_name = self.providers[model.provider].kind
            kind = kinds.KINDS.get(kind_name)
            allowed = [form.value for form in kind.vote_forms]
            if model.structured_output not in ("auto", *allowed):
                raise ValueError(
                    f"models.{name}.structured_output: {model.structured_output!r} cannot be asked of "
                    f"{kind.called or 'the ' + kind_name} provider ({model.provider}); "
                    f"use auto, {', '.join(allowed)}"
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
