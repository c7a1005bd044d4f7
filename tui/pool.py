"""The configured providers, connected on first use, for every front end.

`ProviderPool` keeps one connection (one provider adapter, one SDK client, with its queue and
what its models take) per configured provider for the whole process, and `remote_embedder` makes the cache's `[embedders]` entries. The engine itself touches
no file, database or network.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tui.config.schema import ProviderConfig, Settings
from tui.engine.connection import Connection
from tui.engine.embedding import Embedder
from tui.engine.provider import ErrorKind, Provider, ProviderError
from tui.engine.types import Member

if TYPE_CHECKING:  # the adapters (and httpx2) load only when a real provider is first used
    from tui.providers.sdk_adapter import ClientOptions


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
            connection = Connection.limited(self._make(name, config), config.max_concurrency)
            self._connections[name] = connection
        return connection

    def named(self, name: str) -> Provider:
        """The adapter of the provider configured as `name` (see `connection`)."""
        return self.connection(name).provider

    def _make(self, name: str, config: ProviderConfig) -> Provider:
        if config.kind == "demo":
            from tui.providers.demo import DemoProvider

            return DemoProvider(speed=self._settings.demo.speed)
        base_url = (
            self._environ.get(config.base_url_env) if config.base_url_env else None
        ) or config.base_url
        if config.api_key_env:
            api_key = self._environ.get(config.api_key_env, "")
            if not api_key:
                raise ProviderError(
                    ErrorKind.MISSING_KEY,
                    f"{config.api_key_env} is not set: export it with your {name} key, or pick another "
                    "model (`quorum models` shows which keys are set)",
                )
        else:
            api_key = "not-needed"  # local servers (Ollama, vLLM) take any key
        common: ClientOptions = {
            "api_key": api_key,
            "api_key_env": config.api_key_env or "",
            # The engine retries (and says so on the member's pane); a silent SDK retry would
            # leave the pane "waiting" through every Retry-After.
            "max_retries": 0,
            "read_timeout_s": config.read_timeout_s,
            "gateway": config.gateway_name,
        }
        if config.kind == "anthropic":
            from tui.providers.anthropic_messages import AnthropicProvider

            return AnthropicProvider(name, base_url=base_url or "https://api.anthropic.com", **common)
        from tui.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(
            name,
            base_url=base_url or "https://api.openai.com/v1",
            max_tokens_param=config.max_tokens_param,
            **common,
        )

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


def remote_embedder(settings: Settings, name: str) -> Embedder:
    """The cache's `[embedders]` entry `name` on its OpenAI-compatible provider, keyed from the
    environment as a chat call is (an `EmbeddingError` names the variable when the key is not set)."""
    from tui.providers.openai_embeddings import EmbeddingError, OpenAIEmbedder

    config = settings.embedders[name]
    provider = settings.providers[config.provider]
    base_url = (os.environ.get(provider.base_url_env) if provider.base_url_env else None) or provider.base_url
    api_key = "not-needed"  # a local server (Ollama, vLLM) takes any key
    if provider.api_key_env:
        api_key = os.environ.get(provider.api_key_env, "")
        if not api_key:
            raise EmbeddingError(f"{provider.api_key_env} is not set: the {name} embedder cannot be used")
    return OpenAIEmbedder(
        provider=config.provider,
        model_id=config.id,
        base_url=base_url or "https://api.openai.com/v1",
        api_key=api_key,
        timeout_s=min(provider.read_timeout_s, 30.0),
    )
