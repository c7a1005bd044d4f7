"""One provider adapter (one SDK client) per configured provider, made on first use and reused."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tui.config.schema import ProviderConfig, Settings
from tui.engine.provider import ErrorKind, Provider, ProviderError
from tui.engine.types import Member
from tui.providers.demo import DemoProvider

if TYPE_CHECKING:  # the adapters (and httpx2) load only when a real provider is first used
    from tui.providers.sdk_adapter import ClientOptions


class ProviderPool:
    """Hands the orchestrator the adapter for a member's provider."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self._settings = settings
        self._environ = os.environ if environ is None else environ
        self._providers: dict[str, Provider] = {}

    def __call__(self, member: Member) -> Provider:
        provider = self._providers.get(member.provider)
        if provider is None:
            provider = self._make(member.provider, self._settings.providers[member.provider])
            self._providers[member.provider] = provider
        return provider

    def _make(self, name: str, config: ProviderConfig) -> Provider:
        if config.kind == "demo":
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

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
