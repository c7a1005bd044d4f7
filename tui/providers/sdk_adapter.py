"""What the two SDK-backed adapters share: naming for error messages, timeouts, one reused client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, NotRequired, TypedDict

import httpx2

from tui.engine.provider import ChatRequest, StreamEvent
from tui.providers.errors import CallContext

# Connecting should be quick everywhere; the read timeout (silence between bytes) is per provider.
CONNECT_TIMEOUT_S = 10.0


class ClientOptions(TypedDict):
    """The client settings both SDK adapters take, as the pool hands them over."""

    api_key: str
    api_key_env: str
    max_retries: NotRequired[int]
    read_timeout_s: NotRequired[float]


class SDKAdapter:
    """Base of `OpenAICompatProvider` and `AnthropicProvider`.

    A subclass imports its SDK in its constructor (lazily: the SDKs cost real start-up time and
    the demo never needs them), hands its async client class here, and implements `_stream`.
    """

    is_demo = False

    def __init__(
        self,
        name: str,
        client_class: Callable[..., Any],
        *,
        base_url: str,
        api_key: str,
        api_key_env: str,
        max_retries: int = 2,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.api_key_env = api_key_env
        self._secrets = (api_key,) if api_key_env else ()  # a keyless local server's is no secret
        self._client: Any = client_class(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=httpx2.Timeout(read_timeout_s, connect=CONNECT_TIMEOUT_S),
        )

    def context(self, request: ChatRequest) -> CallContext:
        return CallContext(
            self.name, request.model_id, request.alias, self.api_key_env, self.base_url, self._secrets
        )

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    async def aclose(self) -> None:
        await self._client.close()
