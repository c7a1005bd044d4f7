"""The kinds of provider a config may name (`kind = "..."`): a table of factories, open to plugins.

Three are built in: `openai` (OpenAI-compatible chat completions), `anthropic` (Anthropic's Messages
API) and `demo` (the offline members). A separate package adds a kind by declaring an entry point
in the group `quorum.providers`: the entry point's name is the kind, and its object a
`ProviderKind` (how to make the adapter, and which vote forms it sends), as llm's and Harlequin's
plugins add models and adapters:

    [project.entry-points."quorum.providers"]
    echo = "quorum_echo:echo"

Start-up pays nothing for this: the installed plugins are looked for only when a config names a
kind that is not built in, and a plugin's module is imported only when its kind is first needed.
A plugin that cannot be loaded (its import fails, or its object is no `ProviderKind`) stops
nothing: its kind stays known, said once in the log, and each member of a provider of that kind
fails with one line naming the plugin, while the others answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui.engine.provider import ErrorKind, Provider, ProviderError
from tui.engine.types import VoteForm

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from tui.providers.sdk_adapter import ClientOptions

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "quorum.providers"


@dataclass(frozen=True, slots=True)
class ProviderSetup:
    """What a kind's factory is given to make the adapter of one configured provider: its settings,
    with its key and address already read from the environment."""

    name: str
    """The provider's name in the config (`[providers.NAME]`): how messages name it."""
    base_url: str | None
    """Where it is: `base_url_env`'s value when that is set, else `base_url`; None: the kind's own."""
    api_key: str
    """The key `api_key_env` names, or "not-needed" for a provider that names none (a local server
    takes any key; the SDKs want one)."""
    api_key_env: str
    """The variable that holds the key ("" for none): what a refused key's message tells to check.
    Only a key from a variable is a secret to keep out of messages."""
    gateway: str = ""
    """"litellm" or "gateway" when the provider is a gateway in front of others; "" otherwise."""
    read_timeout_s: float = 60.0
    """The longest silence between bytes before a call gives up."""
    max_tokens_param: str = "max_tokens"
    """Which request field carries the output limit (OpenAI-compatible servers)."""
    demo_speed: float = 1.0
    """`[demo] speed`: how fast simulated members write (the demo's pace)."""


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """One kind of provider: how to make its adapter, and what a vote may be asked of it in."""

    make: Callable[[ProviderSetup], Provider]
    """Makes the adapter, on the event loop's thread: quick, loading no SDK there (see
    `tui.providers.sdk_adapter`). A key not set is the pool's to say, before this is called."""
    vote_forms: tuple[VoteForm, ...] = (VoteForm.TEXT,)
    """The vote forms its adapter sends (`ChatRequest.structured`), strongest first: a model's
    `structured_output = "auto"` asks in the first. A kind that sends none asks in text."""
    called: str = ""
    """How a message names a provider of this kind ("an OpenAI-compatible"); "" for `the KIND`."""


def _client_options(setup: ProviderSetup) -> ClientOptions:
    return {
        "api_key": setup.api_key,
        "api_key_env": setup.api_key_env,
        # The engine retries (and says so on the member's pane); a silent SDK retry would leave
        # the pane "waiting" through every Retry-After.
        "max_retries": 0,
        "read_timeout_s": setup.read_timeout_s,
        "gateway": setup.gateway,
    }


def _openai(setup: ProviderSetup) -> Provider:
    from tui.providers.openai_compat import DEFAULT_BASE_URL, OpenAICompatProvider

    return OpenAICompatProvider(
        setup.name,
        base_url=setup.base_url or DEFAULT_BASE_URL,
        max_tokens_param=setup.max_tokens_param,
        **_client_options(setup),
    )


def _anthropic(setup: ProviderSetup) -> Provider:
    from tui.providers.anthropic_messages import DEFAULT_BASE_URL, AnthropicProvider

    return AnthropicProvider(
        setup.name, base_url=setup.base_url or DEFAULT_BASE_URL, **_client_options(setup)
    )


def _demo(setup: ProviderSetup) -> Provider:
    from tui.providers.demo import DemoProvider

    return DemoProvider(speed=setup.demo_speed)


ALL_FORMS = (VoteForm.TEXT, VoteForm.JSON_SCHEMA, VoteForm.JSON_OBJECT, VoteForm.TOOL)
"""Every vote form, text first (the demo's, which votes in text unless a model asks otherwise)."""

BUILT_IN: Mapping[str, ProviderKind] = {
    "openai": ProviderKind(
        _openai, (VoteForm.JSON_SCHEMA, VoteForm.JSON_OBJECT, VoteForm.TEXT), "an OpenAI-compatible"
    ),
    "anthropic": ProviderKind(_anthropic, (VoteForm.TOOL, VoteForm.TEXT), "an Anthropic"),
    "demo": ProviderKind(_demo, ALL_FORMS, "the demo"),
}


def _installed() -> Iterable[EntryPoint]:
    """The entry points of the installed plugins (reading every installed package's metadata:
    done once, and only when a kind that is not built in is asked about)."""
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


class Kinds:
    """The table of kinds: the built-in ones, then the installed plugins', each loaded on first use."""

    def __init__(
        self,
        built_in: Mapping[str, ProviderKind] = BUILT_IN,
        installed: Callable[[], Iterable[EntryPoint]] = _installed,
    ) -> None:
        self._built_in = built_in
        self._installed = installed
        self._plugins: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, ProviderKind] = {}

    def _plugin_entries(self) -> dict[str, EntryPoint]:
        if self._plugins is None:
            found: dict[str, EntryPoint] = {}
            for entry in self._installed():
                if entry.name in self._built_in or entry.name in found:
                    log.warning(
                        "plugin %s: provider kind %r is taken already; this one is not used",
                        _plugin_name(entry),
                        entry.name,
                    )
                    continue
                found[entry.name] = entry
            self._plugins = found
        return self._plugins

    def names(self) -> list[str]:
        """Every kind a config may name: the built-in ones, then the plugins' (none imported)."""
        return [*self._built_in, *sorted(self._plugin_entries())]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._built_in or name in self._plugin_entries())

    def get(self, name: str) -> ProviderKind:
        """The kind `name`, its plugin loaded now if it is one (`KeyError` for no such kind)."""
        kind = self._built_in.get(name) or self._loaded.get(name)
        if kind is None:
            kind = self._loaded[name] = _load(self._plugin_entries()[name])
        return kind


def _load(entry: EntryPoint) -> ProviderKind:
    """The kind a plugin's entry point declares; for one that cannot be loaded, a kind whose every
    adapter fails with one line naming the plugin (it is said in the log too, once)."""
    try:
        kind = entry.load()
        if not isinstance(kind, ProviderKind):
            raise TypeError(f"{entry.value} is a {type(kind).__name__}, not a ProviderKind")
        if not kind.vote_forms or not all(isinstance(form, VoteForm) for form in kind.vote_forms):
            raise TypeError(f"{entry.value}: vote_forms must be VoteForm values, strongest first")
    except Exception as err:  # a plugin's bug must cost its own members, not Quorum
        why = (
            f"the {entry.name!r} provider kind's plugin ({_plugin_name(entry)}) could not be loaded: "
            f"{type(err).__name__}: {next(iter(str(err).splitlines()), '')}"
        )
        log.warning("%s", why)

        def broken(setup: ProviderSetup) -> Provider:
            raise ProviderError(ErrorKind.INTERNAL, why)

        # Every form allowed: the config's check of a model's `structured_output` waits for a
        # plugin that loads; until then its members fail, saying why.
        return ProviderKind(broken, ALL_FORMS)
    return kind


def _plugin_name(entry: EntryPoint) -> str:
    """The distribution that declares `entry`, with its version, or the entry point's own value."""
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else entry.value


KINDS = Kinds()
"""The kinds this process knows: what the config accepts and the pool makes adapters of."""
