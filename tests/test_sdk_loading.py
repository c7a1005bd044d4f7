"""The provider SDKs load off the event loop: a first call never stalls the other members.

Importing `anthropic` takes a second or more; done on the event loop, it froze every stream and
the dashboard with it, and other members' deadlines fired on time they never had. Here the SDK is
a fake whose import waits for the test's word: were it imported on the loop's thread, the loop
could never give that word (the test would time out on the import and then fail).
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import importlib.util
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tui.engine.provider import ChatMessage, ChatRequest, Finished, Provider, StreamEvent, TextDelta, Usage
from tui.providers.anthropic_messages import AnthropicProvider
from tui.providers.openai_compat import OpenAICompatProvider

IMPORT_WAIT_S = 5.0


class SlowSDK(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A stand-in for an SDK whose import takes as long as the test wants, and notes its thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = threading.Event()
        self.release = threading.Event()
        self.import_threads: list[int] = []
        self.client_threads: list[int] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname == self.name else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        self.import_threads.append(threading.get_ident())
        self.started.set()
        self.release.wait(IMPORT_WAIT_S)  # on the loop's thread, this is where the loop would freeze
        for error in ("APIError", "APIStatusError", "APIConnectionError"):
            setattr(module, error, type(error, (Exception,), {}))
        module.omit = object()  # type: ignore[attr-defined]  # what a field left out is
        sdk = self

        class Client:
            def __init__(self, **options: Any) -> None:
                sdk.client_threads.append(threading.get_ident())
                self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.openai_create))
                self.messages = SimpleNamespace(create=self.anthropic_create)

            async def openai_create(self, **request: Any) -> AsyncIterator[Any]:
                return _aiter(
                    SimpleNamespace(
                        usage=None,
                        choices=[SimpleNamespace(delta=SimpleNamespace(content="hi"), finish_reason="stop")],
                    ),
                    SimpleNamespace(usage=SimpleNamespace(prompt_tokens=3, completion_tokens=1), choices=[]),
                )

            async def anthropic_create(self, **request: Any) -> AsyncIterator[Any]:
                usage = SimpleNamespace(input_tokens=3, output_tokens=0)
                return _aiter(
                    SimpleNamespace(type="message_start", message=SimpleNamespace(usage=usage)),
                    SimpleNamespace(
                        type="content_block_delta", delta=SimpleNamespace(type="text_delta", text="hi")
                    ),
                    SimpleNamespace(
                        type="message_delta",
                        delta=SimpleNamespace(stop_reason="end_turn"),
                        usage=SimpleNamespace(input_tokens=None, output_tokens=1),  # as the SDK parses it
                    ),
                    SimpleNamespace(type="message_stop"),
                )

            async def close(self) -> None:
                return None

        module.AsyncOpenAI = module.AsyncAnthropic = Client  # type: ignore[attr-defined]


async def _aiter(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def make(kind: str) -> Provider:
    if kind == "openai":
        return OpenAICompatProvider("openai", base_url="http://127.0.0.1:9/v1", api_key="x", api_key_env="K")
    return AnthropicProvider("anthropic", base_url="http://127.0.0.1:9", api_key="x", api_key_env="K")


def chat() -> ChatRequest:
    return ChatRequest(
        model_id="m1",
        system="You are terse.",
        messages=(ChatMessage("user", "Say hi"),),
        max_output_tokens=50,
        alias="m1",
    )


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


@pytest.fixture(params=["openai", "anthropic"])
def slow_sdk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowSDK]:
    sdk = SlowSDK(request.param)
    real = sys.modules.pop(sdk.name, None)
    monkeypatch.setattr(sys, "meta_path", [sdk, *sys.meta_path])
    yield sdk
    sdk.release.set()
    # The real SDK (if it was loaded) comes back, and the fake never outlives the test.
    if real is None:
        sys.modules.pop(sdk.name, None)
    else:
        sys.modules[sdk.name] = real


async def test_the_sdk_is_imported_and_its_client_made_off_the_event_loop(slow_sdk: SlowSDK) -> None:
    loop_thread = threading.get_ident()
    provider = make(slow_sdk.name)  # the pool makes adapters on the loop: this must not import
    # Two members' first calls at once: both wait for the one import, neither on the loop.
    calls = [asyncio.create_task(collect(provider.stream(chat()))) for _ in range(2)]
    started = await asyncio.to_thread(slow_sdk.started.wait, IMPORT_WAIT_S)
    assert started, "the SDK import never started"
    # The import is under way in another thread, and the loop keeps turning meanwhile.
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5 and not any(call.done() for call in calls)
    slow_sdk.release.set()
    for call in calls:
        events = await asyncio.wait_for(call, 10)
        assert TextDelta("hi") in events and any(isinstance(e, Finished) for e in events)
        assert any(isinstance(e, Usage) for e in events)
    assert len(slow_sdk.import_threads) == 1 and loop_thread not in slow_sdk.import_threads
    assert len(slow_sdk.client_threads) == 1 and loop_thread not in slow_sdk.client_threads
    await provider.aclose()


async def test_a_call_cancelled_while_the_sdk_loads_does_not_spoil_the_next(slow_sdk: SlowSDK) -> None:
    """A deadline firing during the import cancels that call only; the load itself goes on."""
    provider = make(slow_sdk.name)
    first = asyncio.create_task(collect(provider.stream(chat())))
    assert await asyncio.to_thread(slow_sdk.started.wait, IMPORT_WAIT_S)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    slow_sdk.release.set()
    events = await asyncio.wait_for(collect(provider.stream(chat())), 10)
    assert TextDelta("hi") in events
    await provider.aclose()


async def test_closing_a_provider_whose_sdk_is_still_loading(slow_sdk: SlowSDK) -> None:
    provider = make(slow_sdk.name)
    assert await asyncio.to_thread(slow_sdk.started.wait, IMPORT_WAIT_S)
    closing = asyncio.create_task(provider.aclose())
    await asyncio.sleep(0)
    slow_sdk.release.set()
    await asyncio.wait_for(closing, 10)


def test_making_an_adapter_imports_nothing_heavy_on_the_calling_thread() -> None:
    """The pool imports the adapter modules and makes adapters on the loop: neither may load an SDK
    or httpx2 there (what the loading thread imports, the loop must never wait on)."""
    code = (
        "import sys, threading\n"
        "from tui.providers.openai_compat import OpenAICompatProvider\n"
        "from tui.providers.anthropic_messages import AnthropicProvider\n"
        "heavy = ('openai', 'anthropic', 'httpx2', 'tui.providers.errors')\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
        "real_import = __import__\n"
        "def watch(name, *args, **kwargs):\n"
        "    if name.split('.')[0] in ('openai', 'anthropic', 'httpx2'):\n"
        "        assert threading.current_thread() is not threading.main_thread(), name\n"
        "    return real_import(name, *args, **kwargs)\n"
        "import builtins\n"
        "builtins.__import__ = watch\n"
        "made = [OpenAICompatProvider('o', base_url='http://127.0.0.1:9/v1', api_key='x', api_key_env='K'),\n"
        "        AnthropicProvider('a', base_url='http://127.0.0.1:9', api_key='x', api_key_env='K')]\n"
        "import asyncio\n"
        "for provider in made:\n"
        "    asyncio.run(provider.aclose())  # waits for its SDK to load (in its thread), then closes\n"
        "assert 'openai' in sys.modules and 'anthropic' in sys.modules\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


async def test_the_dashboard_pool_warms_the_panel_before_the_first_question(
    slow_sdk: SlowSDK, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    """`ProviderPool.warm` starts each panel provider's SDK loading at once (the dashboard calls
    it after its first frame), so the first question does not wait for the import; a provider
    whose key is not set is skipped, left for its call to report."""
    from tui.config.loading import load_settings
    from tui.engine.types import Member
    from tui.pool import ProviderPool

    kind = slow_sdk.name
    present, absent = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")[:: 1 if kind == "openai" else -1]
    monkeypatch.setenv(present, "sk-warm-0001")
    monkeypatch.delenv(absent, raising=False)
    pool = ProviderPool(load_settings())
    other = "anthropic" if kind == "openai" else "openai"
    members = [
        Member(alias="a", model_id="m", provider=kind),
        Member(alias="b", model_id="m", provider=other),
    ]
    pool.warm(members)  # no error for the provider without a key
    assert await asyncio.to_thread(slow_sdk.started.wait, IMPORT_WAIT_S), "the SDK did not start loading"
    assert threading.get_ident() not in slow_sdk.import_threads
    slow_sdk.release.set()
    await pool.aclose()
