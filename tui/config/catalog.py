"""The model catalog: aliases, which keys are set, and the panel a run starts with."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tui.config.schema import MemberSpec, ModelConfig, ProviderConfig, Settings
from tui.engine.types import Member, Stance, VoteForm
from tui.errors import UnknownModelError, hide_key_shapes, hide_values
from tui.providers import kinds

KeyStatus = Literal["set", "missing", "not needed"]


def provider_key_status(provider: ProviderConfig, environ: Mapping[str, str]) -> KeyStatus:
    """Whether a provider's key is set in `environ`, missing, or not needed (the demo, a local
    server with no `api_key_env`)."""
    if provider.kind == "demo" or not provider.api_key_env:
        return "not needed"
    return "set" if environ.get(provider.api_key_env) else "missing"


def key_values(names: Iterable[object], environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The keys the environment variables of these names hold (those set; a name that is not a
    string, from a file not yet validated, is passed over)."""
    environ = os.environ if environ is None else environ
    return tuple(sorted({environ[name] for name in names if isinstance(name, str) and environ.get(name)}))


def secret_values(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The keys in the environment variables the configured providers name (`api_key_env`):
    what no message may show and no file may hold."""
    return key_values((p.api_key_env for p in settings.providers.values()), environ)


@dataclass(frozen=True)
class CatalogEntry:
    """One model of the catalog as `quorum models` and the dashboard's picker list it."""

    alias: str
    aliases: tuple[str, ...]
    provider: str
    model_id: str
    context_window: int
    input_price: float
    output_price: float
    key: KeyStatus
    key_env: str | None
    demo: bool
    vision: bool = False

    @property
    def key_words(self) -> str:
        """Whether this model can be used now: `key set (OPENAI_API_KEY)`, `no key: …`, `demo, offline`."""
        if self.demo:
            return "demo, offline"
        return {"set": f"key set ({self.key_env})", "missing": f"no key: {self.key_env}"}.get(
            self.key, "no key needed"
        )

    @property
    def search_text(self) -> str:
        return " ".join((self.alias, *self.aliases, self.provider, self.model_id))


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
            # What was given may be a key given in the wrong place (`-m "$OPENAI_API_KEY"`).
            shown = hide_key_shapes(hide_values(alias, secret_values(self.settings, self.environ)))
            raise UnknownModelError(f"unknown model {shown!r}{hint} (`quorum models` lists them all)")
        return name, self.settings.models[name]

    def provider(self, model: ModelConfig) -> ProviderConfig:
        return self.settings.providers[model.provider]

    def entries(self) -> list[CatalogEntry]:
        """Every model, in catalog order, with its price and whether its key is set."""
        return [
            CatalogEntry(
                alias=name,
                aliases=tuple(model.aliases),
                provider=model.provider,
                model_id=model.id,
                context_window=model.context_window,
                input_price=model.input_price,
                output_price=model.output_price,
                key=self.key_status(model),
                key_env=self.provider(model).api_key_env,
                demo=self.provider(model).kind == "demo",
                vision=model.vision,
            )
            for name, model in self.settings.models.items()
        ]

    def key_status(self, model: ModelConfig) -> KeyStatus:
        return provider_key_status(self.provider(model), self.environ)

    def is_usable(self, model: ModelConfig) -> bool:
        return self.key_status(model) != "missing"

    def is_available(self, name: str) -> bool:
        """Whether the default panel may seat this model: a real model (not the demo) whose key is
        set, or one that needs no key (a local server) that the user's own configuration names."""
        model = self.settings.models[name]
        if self.provider(model).kind == "demo":
            return False
        status = self.key_status(model)
        return status == "set" or (status == "not needed" and name in self.settings.own_models)

    def vote_form(self, model: ModelConfig) -> VoteForm:
        """How `model`'s votes are asked first: its `structured_output`, or for `auto` its
        provider kind's strongest form (json_schema, tool; text for the demo)."""
        if model.structured_output == "auto":
            return kinds.KINDS.get(self.provider(model).kind).vote_forms[0]
        return VoteForm(model.structured_output)

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
            retries=self.provider(model).retries,
            vote_form=self.vote_form(model),
            vision=model.vision,
            provider_kind=self.provider(model).kind,
        )


@dataclass(frozen=True)
class Panel:
    members: list[Member]
    synthesizers: list[Member]
    notes: list[str]


DEFAULT_STANCES = (Stance.FOR, Stance.AGAINST, Stance.NEUTRAL)


def choose_panel(
    catalog: Catalog, requested: Iterable[MemberSpec] = (), synthesizer: str | None = None
) -> Panel:
    """The run's members and synthesizer chain.

    Asked-for members (`-m`) are used as asked, and so is the user's own panel (`[panel] members`,
    what Ctrl+S saves), every member of it: a missing key then fails that member, with the
    variable named (and a note says so now). Otherwise the default panel (`default_panel`).
    """
    settings = catalog.settings
    notes: list[str] = []
    specs = list(requested)
    if not specs and settings.panel.members:
        specs = list(settings.panel.members)
        for spec in specs:
            name, model = catalog.resolve(spec.model)
            if catalog.key_status(model) == "missing":
                variable = catalog.provider(model).api_key_env
                notes.append(f"{name} (your [panel] members) needs {variable}, not set: it will fail")
    if not specs:
        specs, notes = default_panel(catalog)
    members = [catalog.member(spec) for spec in specs]
    return Panel(members, synthesizer_chain(catalog, members, synthesizer), notes)


def default_panel(catalog: Catalog) -> tuple[list[MemberSpec], list[str]]:
    """The panel when none is asked for, and notes about it: `[panel] size` seats (3) taking the
    stances for, against, neutral in turn over the available models — the `[panel] preferred`
    ones, then those the user configured (a local server counts), or, when neither is, any model
    whose key is set — each seat the next model, so one model alone sits once per stance. With
    no model available, the offline demo panel."""
    settings = catalog.settings
    preferred = [catalog.resolve(alias)[0] for alias in settings.panel.preferred]
    own = [name for name in settings.models if name in settings.own_models]
    models = [name for name in dict.fromkeys(preferred + own) if catalog.is_available(name)]
    if not models:
        models = [name for name in settings.models if catalog.is_available(name)]
    if not models:
        note = "no provider key is set and no local server is configured: running the offline demo panel"
        return list(settings.panel.demo_members), [note + " (simulated answers)"]
    size = settings.panel.size
    specs = [MemberSpec(model=models[i % len(models)], stance=DEFAULT_STANCES[i % 3]) for i in range(size)]
    notes = []
    if len(models) < size:
        used = ", ".join(models)
        notes.append(
            f"default panel: {size} seats over the {len(models)} available model"
            f"{'s' if len(models) > 1 else ''} ({used}), stances for, against, neutral"
        )
    return specs, notes


def synthesizer_chain(
    catalog: Catalog,
    members: Sequence[Member],
    synthesizer: str | None = None,
    fallbacks: Sequence[str] | None = None,
) -> list[Member]:
    """The synthesizer (the one asked for, the configured one, or the first member), then the
    fallbacks (those asked for, or the configured ones), then the panel's other models; fallbacks
    without a key are left out."""
    settings = catalog.settings
    chain: list[str] = []
    first = synthesizer or settings.run.synthesizer
    if first:
        chain.append(first)
    elif members:
        chain.append(members[0].alias)
    chain += list(settings.run.synthesizer_fallbacks if fallbacks is None else fallbacks)
    chain += [m.alias for m in members]
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
