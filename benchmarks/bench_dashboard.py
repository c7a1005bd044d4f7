"""The dashboard under load: CPU, event-loop lag and time to first frame.

Drives the real app headless with 8 members each streaming 100 tokens/s for 10 s (a scripted
provider: no network), and prints:

    cpu      share of one core used by the process while streaming (target <= 35%)
    lag      worst event-loop lag seen by a 10 ms heartbeat while streaming (target <= 100 ms)
    first    time from process start to the first frame, measured in a fresh process (target <= 0.6 s)

    python benchmarks/bench_dashboard.py [--members 8] [--rate 100] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.config.loading import load_settings  # noqa: E402
from tui.config.schema import parse_member  # noqa: E402
from tui.dashboard.app import QuorumApp  # noqa: E402
from tui.engine.provider import ChatRequest, Finished, StreamEvent, TextDelta, Usage  # noqa: E402
from tui.engine.types import Member  # noqa: E402
from tui.session import Session  # noqa: E402

WORDS = [
    "the",
    "plan",
    "holds",
    "if",
    "the",
    "queue",
    "drains",
    "before",
    "the",
    "window",
    "closes",
    "and",
    "the",
    "rollback",
    "is",
    "tested",
]


class SteadyProvider:
    """Streams one word every 1/rate seconds for `seconds`, then answers votes at once."""

    name = "bench"
    is_demo = False

    def __init__(self, rate: float, seconds: float) -> None:
        self.rate, self.seconds = rate, seconds

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if request.phase != "position":
            yield TextDelta("VERDICT: ACCEPT\n")
        else:
            count = int(self.rate * self.seconds)
            started = time.perf_counter()
            for index in range(count):
                yield TextDelta(WORDS[index % len(WORDS)] + " ")
                # Pace against the start time so the rate holds however long each yield takes.
                delay = started + (index + 1) / self.rate - time.perf_counter()
                await asyncio.sleep(max(0.0, delay))
        yield Usage(100, 100)
        yield Finished("stop")


async def measure_streaming(members: int, rate: float, seconds: float) -> tuple[float, float]:
    aliases = [f"m{index}" for index in range(members)]
    settings = load_settings(
        overrides={
            "providers": {"bench": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": {
                a: {"provider": "bench", "id": a, "context_window": 100000, "max_output": 4000}
                for a in [*aliases, "synth"]
            },
            "run": {"max_rounds": 1},
        }
    )
    provider = SteadyProvider(rate, seconds)
    session = Session(settings, seats=[parse_member(a) for a in aliases], synthesizer="synth")

    def lookup(member: Member) -> SteadyProvider:
        return provider

    app = QuorumApp(settings, session, providers=lookup, save_settings=False)
    lags: list[float] = []
    moments: list[float] = []
    wall0 = time.perf_counter()
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        await pilot.pause()
        stop = asyncio.Event()

        async def heartbeat() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - before - 0.01)
                moments.append(time.perf_counter() - wall0)

        beat = asyncio.create_task(heartbeat())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        moments.clear()
        app.submit("Benchmark question")
        await asyncio.sleep(seconds)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        stop.set()
        await beat
        await app.workers.wait_for_complete()
        streamed = sum(len(p.body.text) for p in app.panes)
        assert streamed > members * rate * seconds * 2, "the panes did not receive the stream"
    if os.environ.get("BENCH_VERBOSE"):
        worst = sorted(zip(lags, moments, strict=True), reverse=True)[:8]
        print("worst lags (ms @ s):", ", ".join(f"{lag * 1000:.0f}@{at:.2f}" for lag, at in worst))
        p99 = sorted(lags)[len(lags) * 99 // 100]
        print(f"median lag {statistics.median(lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    return cpu, max(lags)


FIRST_FRAME = """
import os, sys, time
from tui.dashboard.app import QuorumApp
from tui.session import Session
from tui.config.loading import load_settings

class Probe(QuorumApp):
    def on_mount(self) -> None:
        # Textual calls the app's own on_mount after this one: calling it here too would
        # mount everything twice and inflate the figure.
        self.call_after_refresh(self._report)

    def _report(self) -> None:
        started = float(os.environ["BENCH_STARTED"])
        print(f"{time.time() - started:.4f}", flush=True)
        self.exit()

settings = load_settings()
Probe(settings, Session(settings), save_settings=False).run(headless=True, size=(160, 50))
"""


def first_frame_seconds(repeat: int) -> float:
    """Median launch-to-first-frame of `repeat` fresh processes, after one warm-up launch.

    Bytecode caching is allowed (as after any `pip install`, which compiles it): a shell that
    sets PYTHONDONTWRITEBYTECODE would otherwise time the compiler, not the app.
    """
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for attempt in range(repeat + 1):
        env = {**base_env, "BENCH_STARTED": repr(time.time())}
        done = subprocess.run(
            [sys.executable, "-c", FIRST_FRAME], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        if attempt:  # the first launch writes the bytecode caches
            times.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="tokens per second per member")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5, help="first-frame launches (median)")
    args = parser.parse_args()
    # A scratch home: the run is recorded (the history store is part of what is measured), but
    # never into the user's own history.
    os.environ["QUORUM_HOME"] = tempfile.mkdtemp(prefix="quorum-bench-dashboard-")
    cpu, lag = asyncio.run(measure_streaming(args.members, args.rate, args.seconds))
    first = first_frame_seconds(args.repeat)
    print(f"{args.members} members x {args.rate:g} tokens/s for {args.seconds:g} s, 160x50, headless")
    print(f"cpu    {cpu * 100:5.1f} % of one core   (target <= 35 %)")
    print(f"lag    {lag * 1000:5.1f} ms worst        (target <= 100 ms)")
    print(f"first  {first:5.2f} s to first frame  (target <= 0.6 s, median of {args.repeat})")


if __name__ == "__main__":
    main()
