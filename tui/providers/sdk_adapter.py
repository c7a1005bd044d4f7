"""What the two SDK-backed adapters share: naming for error messages, timeouts, one reused client.

The SDKs load in a thread of their own. Importing `anthropic` takes a second or more, `openai`
half a second, and the event loop the engine and the dashboard share must not stop for it: a
stopped loop reads as a slow first token on every other member, and fires their deadlines. So
an adapter starts loading its SDK (and `httpx2`, and making its client) in a thread when it is
made, and a call awaits that load; nothing on the loop's thread imports an SDK, or waits on the
lock of a module another thread is importing.

The SDKs' types are named for the type checker only (under `TYPE_CHECKING`): an adapter is generic
in its client's type, and imports the SDK's module in its calls once the load is done, when that
import is a look-up of a module already loaded.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Generic, NotRequired, Protocol, TypedDict, TypeVar

from tui.engine.provider import ChatRequest, ErrorKind, ProviderError, StreamEvent

if TYPE_CHECKING:  # loaded with the SDK, off the event loop
    import httpx2

    from tui.providers.errors import CallContext

T = TypeVar("T")


class SDKClient(Protocol):
    """What every SDK's async client is here: a connection pool to close."""

    async def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=SDKClient)


class Listed(Protocol):
    """A model as an SDK's listing pages give it."""

    id: str


class SDKErrors(Protocol):
    """What both SDKs raise, as their modules name it: a refusal with an HTTP status, a connection
    that failed, and the base of every error the SDK raises."""

    @property
    def APIStatusError(self) -> type[Exception]: ...
    @property
    def APIConnectionError(self) -> type[Exception]: ...
    @property
    def APIError(self) -> type[Exception]: ...


# Connecting should be quick everywhere; the read timeout (silence between bytes) is per provider.
CONNECT_TIMEOUT_S = 10.0

MAX_LISTED_MODELS = 100_000
"""A model listing is read up to this many ids: a server that pages on forever cannot keep a
listing going (OpenRouter, the longest real one, lists a few hundred)."""


class ClientOptions(TypedDict):
    """The client settings both SDK adapters take, as the pool hands them over."""

    api_key: str
    api_key_env: str
    max_retries: NotRequired[int]
    read_timeout_s: NotRequired[float]
    gateway: NotRequired[str]
    """"litellm" or "gateway" when the provider is a gateway in front of others (see
    `tui.providers.gateway`); "" or absent for a provider reached directly."""


class SDKAdapter(ABC, Generic[ClientT]):
    """Base of `OpenAICompatProvider` and `AnthropicProvider`.

    A subclass names its SDK (`sdk`), makes its client (`_new_client`, in the loading thread),
    pages through its models (`_listing`) and implements `_stream`, which starts with
    `await self._ready()`. The SDKs load only when a real provider is first used: they cost real
    start-up time and the demo never needs them.
    """

    is_demo = False
    sdk: str  # the SDK's module, as the loading thread is named

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str,
        api_key_env: str,
        max_retries: int = 2,
        read_timeout_s: float = 60.0,
        gateway: str = "",
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.gateway = gateway
        self._secrets = (api_key,) if api_key_env else ()  # a keyless local server's is no secret
        self._loading = in_thread(
            lambda: self._load(api_key, max_retries, read_timeout_s), f"load {self.sdk}"
        )

    def _load(self, api_key: str, max_retries: int, read_timeout_s: float) -> ClientT:
        """In the loading thread: a client of the SDK (imported here) ready for its first call."""
        import httpx2

        import tui.providers.errors  # noqa: F401 -- what `_stream` and `context` use, loaded here too

        timeout = httpx2.Timeout(read_timeout_s, connect=CONNECT_TIMEOUT_S)
        return self._new_client(api_key=api_key, max_retries=max_retries, timeout=timeout)

    @abstractmethod
    def _new_client(self, *, api_key: str, max_retries: int, timeout: httpx2.Timeout) -> ClientT:
        """The SDK's async client for `self.base_url` (called in the loading thread)."""

    @abstractmethod
    def _listing(self, client: ClientT) -> AsyncIterable[Listed]:
        """The server's models, page after page, through the SDK."""

    @abstractmethod
    def _errors(self) -> SDKErrors:
        """The SDK's module, for its errors (a look-up once the SDK is loaded)."""

    async def _ready(self) -> ClientT:
        """The client, waiting (without blocking the loop) until the SDK and it are loaded."""
        if not self._loading.done():
            await asyncio.wrap_future(self._loading)
        return self._loading.result()

    async def ready(self) -> None:
        """Wait, without blocking the loop, until the SDK and the client are loaded: a caller that
        times the server (`quorum doctor`) starts its clock after this, not during an import."""
        await self._ready()

    async def list_models(self) -> list[str] | None:
        """The ids of the models the server lists (GET /models, through the SDK; at most
        `MAX_LISTED_MODELS`), or None when it does not list models (HTTP 404, 405 or 501: many
        OpenAI-compatible servers and proxies leave the endpoint out, and can still chat).

        Raises `ProviderError`: `AUTH` for a refused key (401), `CONNECTION` or `TIMEOUT` for a
        server out of reach (saying why: refused, DNS, TLS), `MALFORMED` for an answer that is not
        a model list, and otherwise what the status says (a 403 is a key that may not list models).
        Everything the server says is redacted of the key before it is in a message.
        """
        client = await self._ready()
        import httpx2

        from tui.providers.errors import CallContext, listing_refused, unreachable

        sdk = self._errors()
        ctx = CallContext(self.name, "", "", self.api_key_env, self.base_url, self._secrets, self.gateway)
        ids: list[str] = []
        try:
            async for model in self._listing(client):
                model_id = getattr(model, "id", None)
                if isinstance(model_id, str):
                    ids.append(model_id)
                if len(ids) >= MAX_LISTED_MODELS:
                    break
        except sdk.APIStatusError as err:
            status = getattr(err, "status_code", 0)
            if status in (404, 405, 501):
                return None
            error_type, message = _error_words(getattr(err, "body", None), getattr(err, "message", ""))
            raise listing_refused(ctx, status, message, error_type) from err
        except (sdk.APIConnectionError, httpx2.TransportError) as err:
            raise unreachable(ctx, err) from err
        except (sdk.APIError, ValueError, TypeError, AttributeError, KeyError) as err:
            # Not a model list: HTML from a proxy, JSON of another shape (the SDK parses leniently).
            raise ProviderError(
                ErrorKind.MALFORMED,
                f"{self.name} answered the model listing with something else ({type(err).__name__})",
            ) from err
        return ids

    def context(self, request: ChatRequest) -> CallContext:
        from tui.providers.errors import CallContext  # loaded by `_load`: a look-up, no import

        return CallContext(
            self.name,
            request.model_id,
            request.alias,
            self.api_key_env,
            self.base_url,
            self._secrets,
            self.gateway,
        )

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    @abstractmethod
    def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The answer's events, through the SDK's streaming call (each adapter speaks its wire)."""

    async def aclose(self) -> None:
        await asyncio.wait([asyncio.wrap_future(self._loading)])  # a load under way ends first
        if self._loading.exception() is None:
            await self._loading.result().close()


def _error_words(body: object, fallback: str) -> tuple[str, str]:
    """(type, message) of an error body in either provider's shape: OpenAI's `{"error": {"message",
    "type", "code"}}`, Anthropic's `{"type": "error", "error": {"type", "message"}}`."""
    inner = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return "", str(fallback or "")
    return str(inner.get("type") or inner.get("code") or ""), str(inner.get("message") or fallback or "")


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
