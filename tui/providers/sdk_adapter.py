"""What the two SDK-backed adapters share: naming for error messages, timeouts, one reused client.

The SDKs load in a thread of their own. Importing `anthropic` takes a second or more, `openai`
half a second, and the event loop the engine and the dashboard share must not stop for it: a
stopped loop reads as a slow first token on every other member, and fires their deadlines. So
an adapter starts loading its SDK (and `httpx2`, and making its client) in a thread when it is
made, and a call awaits that load; nothing on the loop's thread imports an SDK, or waits on the
lock of a module another thread is importing.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar, NotRequired, TypedDict, TypeVar

from tui.engine.provider import ChatRequest, StreamEvent

if TYPE_CHECKING:  # loaded with the SDK, off the event loop
    from tui.providers.errors import CallContext

T = TypeVar("T")

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

    A subclass names its SDK (`sdk`), makes its client (`_new_client`, in the loading thread)
    and implements `_stream`, which starts with `await self._ready()`. The SDKs load only when a
    real provider is first used: they cost real start-up time and the demo never needs them.
    """

    is_demo = False
    sdk: ClassVar[str]  # the SDK's module

    def __init__(
        self,
        name: str,
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
        options: dict[str, Any] = {"api_key": api_key, "base_url": base_url, "max_retries": max_retries}
        self._loading = in_thread(lambda: self._load(options, read_timeout_s), f"load {self.sdk}")

    def _load(self, options: dict[str, Any], read_timeout_s: float) -> tuple[Any, Any]:
        """In the loading thread: the SDK module, and a client of it ready for its first call."""
        sdk = importlib.import_module(self.sdk)
        import httpx2

        import tui.providers.errors  # noqa: F401 -- what `_stream` and `context` use, loaded here too

        timeout = httpx2.Timeout(read_timeout_s, connect=CONNECT_TIMEOUT_S)
        return sdk, self._new_client(sdk, timeout=timeout, **options)

    def _new_client(self, sdk: Any, **options: Any) -> Any:
        """The SDK's async client (called in the loading thread)."""
        raise NotImplementedError

    async def _ready(self) -> tuple[Any, Any]:
        """The SDK module and the client, waiting (without blocking the loop) until they are loaded."""
        if not self._loading.done():
            await asyncio.wrap_future(self._loading)
        return self._loading.result()

    def context(self, request: ChatRequest) -> CallContext:
        from tui.providers.errors import CallContext  # loaded by `_load`: a look-up, no import

        return CallContext(
            self.name, request.model_id, request.alias, self.api_key_env, self.base_url, self._secrets
        )

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    async def aclose(self) -> None:
        await asyncio.wait([asyncio.wrap_future(self._loading)])  # a load under way ends first
        if self._loading.exception() is None:
            _sdk, client = self._loading.result()
            await client.close()


def in_thread(work: Callable[[], T], name: str) -> Future[T]:
    """Run `work` in a daemon thread of its own; its result (or error) in a future, for every caller."""
    future: Future[T] = Future()
    # Running from the start, so it cannot be cancelled: a call whose deadline fires while it
    # waits for the load must not cancel the load for the calls after it.
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as err:  # every caller that waits gets it
            future.set_exception(err)

    threading.Thread(target=run, name=f"quorum {name}", daemon=True).start()
    return future
