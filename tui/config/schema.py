"""The settings' schema: what a configuration may say, validated with pydantic.

Every table forbids unknown keys (a typo is an error, not a silently ignored setting), and keys
are only ever named, never written: `api_key_env` holds the NAME of an environment variable.
Loading the layers is `tui.config.loading`'s job; the model catalog is `tui.config.catalog`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tui.engine.prompts import DEFAULT_BASE_PROMPT, validate_base_prompt
from tui.engine.stance import normalize_stance
from tui.engine.types import Mode, Stance
from tui.errors import PromptError, StanceError, UsageError, looks_like_key

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEYS = {"api_key", "apikey", "key", "token", "secret", "password", "authorization"}


class _Strict(BaseModel):
    # A value that fails validation may be a key written in the wrong place: never quote it.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


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
    def _env_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and (not _ENV_NAME.match(value) or looks_like_key(value)):
            raise ValueError(
                f"{info.field_name} must be the NAME of an environment variable (like OPENAI_API_KEY), "
                "not a key; the value is not shown"
            )
        return value or None


StructuredOutputSetting = Literal["auto", "json_schema", "json_object", "tool", "text"]

# The vote forms each provider kind can send (`auto` picks the first).
STRUCTURED_FORMS: dict[str, tuple[str, ...]] = {
    "openai": ("json_schema", "json_object", "text"),
    "anthropic": ("tool", "text"),
    "demo": ("text", "json_schema", "json_object", "tool"),
}


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


class UISettings(_Strict):
    theme: str = "quorum-dark"
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id -> keys, e.g. rerun = "ctrl+r"."""


class Settings(_Strict):
    # The models the user's own files (or flags) define, or whose provider they define: a model
    # that needs no key (a local server) is available for the default panel only when configured.
    _own_models: frozenset[str] = PrivateAttr(default_factory=frozenset)

    run: RunSettings = Field(default_factory=RunSettings)
    panel: PanelSettings = Field(default_factory=PanelSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    prompts: PromptSettings = Field(default_factory=PromptSettings)
    ui: UISettings = Field(default_factory=UISettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)

    @property
    def own_models(self) -> frozenset[str]:
        """The models the user's own configuration defines (or whose provider it defines)."""
        return self._own_models

    def mark_own(self, names: set[str] | frozenset[str]) -> None:
        self._own_models = frozenset(names)

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
            kind = self.providers[model.provider].kind
            allowed = STRUCTURED_FORMS[kind]
            if model.structured_output not in ("auto", *allowed):
                words = {"openai": "an OpenAI-compatible", "anthropic": "an Anthropic", "demo": "the demo"}
                raise ValueError(
                    f"models.{name}.structured_output: {model.structured_output!r} cannot be asked of "
                    f"{words[kind]} provider ({model.provider}); use auto, {', '.join(allowed)}"
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
