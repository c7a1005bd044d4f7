"""`quorum` in a process of its own whose demo members wait to answer until the test lets them: a
run another process records, held running for exactly as long as a test needs it.

`python -m tests.held_run ANSWERING QUORUM-ARGUMENTS...` runs `quorum QUORUM-ARGUMENTS...`. The
demo models named in ANSWERING (their ids, comma-separated: `bolt`; empty for none) answer at once;
every other demo call waits until the process gets SIGUSR1 (`release`). With a fast demo panel, a
run is then running for as long as the test holds it and ends as soon as it lets it go.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def start(answering: Iterable[str], *arguments: str, **popen: Any) -> subprocess.Popen[Any]:
    """`quorum ARGUMENTS` held, in a child process (`popen` as for `subprocess.Popen`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.held_run", ",".join(answering), *arguments],
        cwd=ROOT,
        env=popen.pop("env", os.environ.copy()),
        **popen,
    )


def release(child: subprocess.Popen[Any]) -> None:
    """Let every held demo call of `child` answer."""
    child.send_signal(signal.SIGUSR1)


class _Hold:
    """Set by SIGUSR1, whenever it comes: before the first held call, or while calls wait."""

    def __init__(self) -> None:
        self.released = False
        self.waiting: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def release(self, *_: object) -> None:
        self.released = True
        if self.loop is not None and self.waiting is not None:
            self.loop.call_soon_threadsafe(self.waiting.set)

    async def wait(self) -> None:
        if self.released:
            return
        if self.waiting is None:
            self.loop, self.waiting = asyncio.get_running_loop(), asyncio.Event()
        await self.waiting.wait()


def _hold(answering: set[str]) -> None:
    from tui.engine.provider import ChatRequest, StreamEvent
    from tui.providers.demo import DemoProvider

    hold = _Hold()
    signal.signal(signal.SIGUSR1, hold.release)
    answer = DemoProvider._stream

    async def held(provider: DemoProvider, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if request.model_id.partition("?")[0] not in answering:
            await hold.wait()
        async for event in answer(provider, request):
            yield event

    DemoProvider._stream = held  # type: ignore[method-assign, assignment]


if __name__ == "__main__":
    _hold(set(filter(None, sys.argv[1].split(","))))
    from tui.cli.main import main

    sys.exit(main(sys.argv[2:]))
