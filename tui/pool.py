"""The configured providers, connected on first use, for every front end.

`ProviderPool` keeps one connection (one provider adapter, one SDK client, with its queue and what
its models take) per configured provider for the whole process, made by its kind's factory (see
`tui.providers.kinds`), and makes the cache's `[embedders]` entries. A provider's key and address
are read from the environment in one place, `resolve`, for chat calls and embeddings alike. The
engine itself touches no file, database or network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tui.config.catalog import provider_key_status
from tui.config.schema import Settings
from tui.engine.connection import Connection
from tui.engine.provider import ErrorKind, Provider, ProviderError
from tui.engine.types import Member
from tui.errors import redact
from tui.providers import kinds
from tui.providers.kinds import ProviderSetup

if TYPE_CHECKING:  # the embedder's SDK loads only when a remote embedder is first used
    from tui.providers.openai_embeddings import OpenAIEmbedder

log = logging.getLogger(__name__)


class MissingKey(ProviderError):
    """A provider's key is not set: `variable` names the environment variable that should hold it."""

    def __init__(self, variable: str, provider: str) -> None:
        super().__init__(
            ErrorKind.MISSING_KEY,
            f"{variable} is not set: export it with your {provider} key, or pick another model "
            "(`quorum models` shows which keys are set)",
        )
        self.variable = variable


def resolve(settings: Settings, name: str, environ: Mapping[str, str]) -> ProviderSetup:
    """The provider configured as `name`, its key and address read from `environ`: the address
    from `base_url_env` when that is set there, else `base_url` (None: the kind's own); the key
    from `api_key_env` (`MissingKey` naming the variable when it is not set), or "not-needed" for a
    provider that names none (a local server) and the demo."""
    config = settings.providers[name]
    base_url = (environ.get(config.base_url_env) if config.base_url_env else None) or config.base_url
    status = provider_key_status(config, environ)
    if status == "missing":
        raise MissingKey(config.api_key_env or "", name)
    return ProviderSetup(
        name=name,
        base_url=base_url,
        api_key=environ[config.api_key_env] if status == "set" and config.api_key_env else "not-needed",
        api_key_env=config.api_key_env or "",
        gateway=config.gateway_name,
        read_timeout_s=config.read_timeout_s,
        max_tokens_param=config.max_tokens_param,
        demo_speed=settings.demo.speed,
    )


class ProviderPool:
    """Hands the orchestrator the connection to a member's provider: one per configured provider,
    made on first use, with the provider's limit on calls in flight (`max_concurrency`) if it has
    one and what its models have been found to take (see `tui.engine.connection`)."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self._settings = settings
        self._environ = os.environ if environ is None else environ
        self._connections: dict[str, Connection] = {}

    def __call__(self, member: Member) -> Connection:
        return self.connection(member.provider)

    def connection(self, name: str) -> Connection:
        """The connection to the provider configured as `name`, made on first use (a key not set
        is a `ProviderError` naming its variable)."""
        connection = self._connections.get(name)
        if connection is None:
            config = self._settings.providers[name]
            # With the adapter, not a run: every run of this process shares the server's limit.
            connection = Connection.limited(self._make(name), config.max_concurrency)
            self._connections[name] = connection
        return connection

    def named(self, name: str) -> Provider:
        """The adapter of the provider configured as `name` (see `connection`)."""
        return self.connection(name).provider

    def _make(self, name: str) -> Provider:
        kind_name = self._settings.providers[name].kind
        setup = resolve(self._settings, name, self._environ)
        try:
            return kinds.KINDS.get(kind_name).make(setup)
        except ProviderError:
            raise
        except Exception as err:  # a plugin's bug must cost its own members, not Quorum
            log.exception("making the %s adapter (kind %r) failed", name, kind_name)
            why = f"{name}: its {kind_name!r} provider kind could not make an adapter"
            secrets = (setup.api_key,) if setup.api_key_env else ()
            raise ProviderError(
                ErrorKind.INTERNAL, redact(f"{why}: {type(err).__name__}: {err}", secrets)
            ) from err

    def embedder(self, name: str) -> OpenAIEmbedder:
        """The cache's `[embedders]` entry `name`, keyed from this pool's environment."""
        return remote_embedder(self._settings, name, self._environ)

    def warm(self, members: Iterable[Member]) -> None:
        """Make the adapters `members` will use now, so their SDKs load (in a thread of their own)
        while the user types, not while the first question waits. A provider that cannot be made
        (a key not set) is left for its call to report."""
        for member in members:
            try:
                self(member)
            except ProviderError:
                continue

    async def aclose(self) -> None:
        for connection in self._connections.values():
            await connection.provider.aclose()
        self._connections.clear()


def remote_embedder(
    settings: Settings, name: str, environ: Mapping[str, str] | None = None
) -> OpenAIEmbedder:
    """The cache's `[embedders]` entry `name` on its OpenAI-compatible provider, keyed from
    `environ` (the process's by default) as a chat call is: an `EmbeddingError` names the variable
    when the key is not set."""
    from tui.providers.openai_embeddings import EmbeddingError, OpenAIEmbedder

    config = settings.embedders[name]
    try:
        setup = resolve(settings, config.provider, os.environ if environ is None else environ)
    except MissingKey as err:
        raise EmbeddingError(f"{err.variable} is not set: the {name} embedder cannot be used") from None
    return OpenAIEmbedder(
        provider=config.provider,
        model_id=config.id,
        base_url=setup.base_url,
        api_key=setup.api_key,
        timeout_s=min(setup.read_timeout_s, 30.0),
    )
