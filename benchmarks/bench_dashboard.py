"""The dashboard under load: CPU, event-loop lag and time to first frame.

Drives the real app headless with 8 members each streaming 100 tokens/s for 10 s (a scripted
provider: no network), and prints:

    cpu      share of one core used by the process while streaming (target <= 35%)
    lag      worst event-loop lag seen by a 10 ms heartbeat while streaming (target <= 100 ms)
    first    time from process start to the first frame, measured in a fresh process (target <= 0.6 s)

One answer must never freeze the dashboard (the engine shares its event loop: a frozen loop fails
other members by their deadlines). The same load again, each case's worst lag (target <= 100 ms):

    huge     one pane also receives a 1 MB answer (`--huge-kb`), streamed in 8 kB pieces: without
             whitespace (one endless word), then ordinary prose; from the member's first token
             until the run has ended and every pane has laid out its text
    sdk      the first call of each SDK (openai, anthropic) in a fresh process, so the SDK is
             imported then: the last member answers through the real SDK from a local wire
             server while the other seven stream; over the whole run (with that member's time to
             first token, SDK import included, and the slowest of the other members')
    history  opening each of those two runs from the history, until every pane has laid out
             its text

    python benchmarks/bench_dashboard.py [--members 8] [--rate 100] [--seconds 10] [--huge-kb 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.config.loading import load_settings  # noqa: E402
from tui.config.schema import parse_member  # noqa: E402
from tui.dashboard.app import QuorumApp  # noqa: E402
from tui.engine.provider import ChatRequest, Finished, Provider, StreamEvent, TextDelta, Usage  # noqa: E402
from tui.engine.types import CallStatus, Member, RunResult  # noqa: E402
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


HUGE_PIECE = 8192  # characters per delta of the huge answer
HUGE_PIECES_PER_S = 50  # 400 kB/s: a megabyte in 2.5 s


def huge_answer(size: int, whitespace: bool) -> str:
    if not whitespace:
        return "x" * size
    prose = " ".join(WORDS) + ". "
    paragraph = prose * 8 + "\n\n"
    return (paragraph * (size // len(paragraph) + 1))[:size]


class SteadyProvider:
    """Streams one word every 1/rate seconds for `seconds`, then answers votes at once.

    With `huge`, the member `huge_model` answers that text instead, in `HUGE_PIECE` pieces; with
    `first_token_s`, every answer starts after that long (as over a network)."""

    name = "bench"
    is_demo = False

    def __init__(
        self, rate: float, seconds: float, huge: str = "", huge_model: str = "m0", first_token_s: float = 0.0
    ) -> None:
        self.rate, self.seconds = rate, seconds
        self.huge, self.huge_model = huge, huge_model
        self.first_token_s = first_token_s

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if self.first_token_s:
            await asyncio.sleep(self.first_token_s)
        if request.phase != "position":
            yield TextDelta("VERDICT: ACCEPT\n")
        elif self.huge and request.model_id == self.huge_model:
            started = time.perf_counter()
            for index, at in enumerate(range(0, len(self.huge), HUGE_PIECE)):
                yield TextDelta(self.huge[at : at + HUGE_PIECE])
                delay = started + (index + 1) / HUGE_PIECES_PER_S - time.perf_counter()
                await asyncio.sleep(max(0.0, delay))
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


class Heartbeat:
    """A 10 ms heartbeat on the event loop: how late each beat woke is the loop's lag."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.moments: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.started = time.perf_counter()

    def start(self) -> Heartbeat:
        self.lags.clear()
        self.moments.clear()
        self._stop.clear()
        self.started = time.perf_counter()
        self._task = asyncio.create_task(self._beat())
        return self

    async def _beat(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - before - 0.01)
            self.moments.append(time.perf_counter() - self.started)

    async def stop(self, label: str = "") -> float:
        self._stop.set()
        assert self._task is not None
        await self._task
        if os.environ.get("BENCH_VERBOSE") and self.lags:
            worst = sorted(zip(self.lags, self.moments, strict=True), reverse=True)[:8]
            lags = ", ".join(f"{lag * 1000:.0f}@{at:.2f}" for lag, at in worst)
            print(f"{label} worst lags (ms @ s): {lags}")
            p99 = sorted(self.lags)[len(self.lags) * 99 // 100]
            print(f"{label} median lag {statistics.median(self.lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        return max(self.lags)


@dataclass
class Measured:
    cpu: float  # share of one core while streaming
    lag: float  # worst lag, seconds
    failed: list[str]  # members whose answer did not come through
    laid_out_s: float = 0.0  # from submit until every pane had laid out its text
    run_id: str = ""
    first_s: float = 0.0  # the SDK member's time to first token
    others_first_s: float = 0.0  # the slowest other member's
    history: Measured | None = None  # opening this run from the history


def bench_settings(aliases: list[str], providers: dict[str, Any] | None = None, **models: Any) -> Any:
    return load_settings(
        overrides={
            "providers": {
                "bench": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
                **(providers or {}),
            },
            "models": {
                a: {"provider": "bench", "id": a, "context_window": 1_000_000, "max_output": 4000}
                for a in [*aliases, "synth"]
            }
            | models,
            "run": {"max_rounds": 1},
        }
    )


def failed_members(result: RunResult | None) -> list[str]:
    if result is None:
        return ["(no run)"]
    return [
        call.alias if call is not None else "?"
        for call in result.positions
        if call is None or call.status is not CallStatus.SUCCESS
    ]


async def all_laid_out(app: QuorumApp) -> None:
    while any(pane.body.laying_out for pane in [*app.panes, app.synthesis]):
        await asyncio.sleep(0.005)


async def measure_streaming(
    members: int,
    rate: float,
    seconds: float,
    huge: str = "",
    lookup: Callable[[Member], Provider] | None = None,
    settings: Any = None,
) -> Measured:
    """The load; with `huge`, lag is measured from submit until every pane has laid out its text."""
    aliases = [f"m{index}" for index in range(members)]
    settings = settings or bench_settings(aliases)
    provider = SteadyProvider(rate, seconds, huge)
    session = Session(settings, seats=[parse_member(a) for a in aliases], synthesizer="synth")

    def steady(member: Member) -> Provider:
        return provider

    app = QuorumApp(settings, session, providers=lookup or steady, save_settings=False)
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        await pilot.pause()
        beat = Heartbeat().start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        app.submit("Benchmark question")
        await asyncio.sleep(seconds)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        if huge or lookup:
            await app.workers.wait_for_complete()
            await all_laid_out(app)
        laid_out = time.perf_counter() - wall0
        lag = await beat.stop("streaming")
        await app.workers.wait_for_complete()
        streamed = sum(len(p.body.text) for p in app.panes)
        assert streamed > members * rate * seconds * 2, "the panes did not receive the stream"
        result = app.shown_result
        measured = Measured(cpu, lag, failed_members(result), laid_out, result.run_id if result else "")
        if result is not None and lookup is not None:
            *others, first = result.positions  # the SDK's member sits last
            measured.first_s = ((first.ttft_ms or 0) if first else 0) / 1000
            measured.others_first_s = max((c.ttft_ms or 0) / 1000 for c in others if c is not None)
        if huge and measured.run_id:
            measured.history = await measure_history(app, measured.run_id)
    return measured


async def measure_history(app: QuorumApp, run_id: str) -> Measured:
    """Open the run just recorded (with its huge answer) from the history, as F2 would."""
    replayed = asyncio.Event()
    shown = app.result_shown  # called once the replay (after the next refresh) has filled the panes

    def shown_and_tell(result: RunResult) -> None:
        shown(result)
        replayed.set()

    app.result_shown = shown_and_tell  # type: ignore[method-assign]
    beat = Heartbeat().start()
    started = time.perf_counter()
    app.open_recorded_run(run_id)
    await replayed.wait()
    await all_laid_out(app)
    laid_out = time.perf_counter() - started
    await asyncio.sleep(0.05)  # a few more beats, for what the last layout step left behind
    lag = await beat.stop("history")
    result = app.shown_result
    assert result is not None and result.run_id == run_id and result.positions[0] is not None
    assert len(app.panes[0].body.text) >= len(result.positions[0].content)
    return Measured(0.0, lag, [], laid_out)


SDK_ANSWER = " ".join(WORDS * 13)  # about 200 words


def first_sdk_call(kind: str, members: int, rate: float, seconds: float) -> Measured:
    """In this (fresh) process: the load, with the last member answering through `kind`'s real SDK
    (last, so the other members' calls have started when the SDK is first needed)."""
    from tests.wire_server import Scenario, WireServer
    from tui.runtime import ProviderPool

    assert kind not in sys.modules, "the SDK must not be loaded yet"
    with WireServer() as server:
        server.default_scenario = Scenario(text=SDK_ANSWER, chunk_count=100, between_chunks_s=0.02)
        base_url = server.openai_base_url if kind == "openai" else server.anthropic_base_url
        aliases = [f"m{index}" for index in range(members)]
        settings = bench_settings(
            aliases,
            {"wire": {"kind": kind, "base_url": base_url}},
            **{aliases[-1]: {"provider": "wire", "id": "sdk", "context_window": 100_000, "max_output": 4000}},
        )
        pool = ProviderPool(settings)
        steady = SteadyProvider(rate, seconds, first_token_s=0.3)

        def lookup(member: Member) -> Provider:
            return pool(member) if member.provider == "wire" else steady

        async def run() -> Measured:
            try:
                return await measure_streaming(members, rate, seconds, lookup=lookup, settings=settings)
            finally:
                await pool.aclose()

        return asyncio.run(run())


def first_sdk_call_in_fresh_process(kind: str, members: int, rate: float, seconds: float) -> Measured:
    done = subprocess.run(
        [
            *(sys.executable, __file__, "--sdk-child", kind),
            *("--members", str(members), "--rate", str(rate), "--seconds", str(seconds)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the {kind} first-call run failed:\n{done.stderr[-3000:]}")
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


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


def verdict(lag: float) -> str:
    return "ok" if lag <= 0.1 else "OVER"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="tokens per second per member")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5, help="first-frame launches (median)")
    parser.add_argument("--huge-kb", type=int, default=1000, help="size of the huge answer, in kB")
    parser.add_argument(
        "--cases",
        default="load,huge,sdk,first",
        help="which to run, of load, huge (with history), sdk, first (comma-separated)",
    )
    parser.add_argument("--sdk-child", choices=["openai", "anthropic"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    # A scratch home: the run is recorded (the history store is part of what is measured), but
    # never into the user's own history.
    os.environ["QUORUM_HOME"] = tempfile.mkdtemp(prefix="quorum-bench-dashboard-")
    if args.sdk_child:
        measured = first_sdk_call(args.sdk_child, args.members, args.rate, args.seconds)
        print(json.dumps(measured.__dict__))
        return
    cases = set(args.cases.split(","))
    print(f"{args.members} members x {args.rate:g} tokens/s for {args.seconds:g} s, 160x50, headless")
    if "load" in cases:
        load = asyncio.run(measure_streaming(args.members, args.rate, args.seconds))
        print(f"cpu    {load.cpu * 100:5.1f} % of one core   (target <= 35 %)")
        print(f"lag    {load.lag * 1000:5.1f} ms worst        (target <= 100 ms)")
    if "huge" in cases:
        size = args.huge_kb * 1000
        for whitespace, what in ((False, "without whitespace"), (True, "of ordinary prose")):
            text = huge_answer(size, whitespace)
            huge = asyncio.run(measure_streaming(args.members, args.rate, args.seconds, text))
            failed = ", ".join(huge.failed) or "none"
            print(
                f"huge   {huge.lag * 1000:5.1f} ms worst lag   {args.huge_kb} kB answer {what}; "
                f"all laid out {huge.laid_out_s:.1f} s after submit; members failed: {failed}  "
                f"[{verdict(huge.lag)}]"
            )
            history = huge.history
            assert history is not None
            print(
                f"history {history.lag * 1000:4.1f} ms worst lag   opening that run from the history; "
                f"all laid out in {history.laid_out_s:.2f} s  [{verdict(history.lag)}]"
            )
    if "sdk" in cases:
        for kind in ("openai", "anthropic"):
            sdk = first_sdk_call_in_fresh_process(kind, args.members, args.rate, min(args.seconds, 5.0))
            failed = ", ".join(sdk.failed) or "none"
            print(
                f"sdk    {sdk.lag * 1000:5.1f} ms worst lag   first {kind} call: its first token "
                f"{sdk.first_s:.2f} s, others' {sdk.others_first_s:.2f} s; members failed: {failed}  "
                f"[{verdict(sdk.lag)}]"
            )
    if "first" in cases:
        first = first_frame_seconds(args.repeat)
        print(f"first  {first:5.2f} s to first frame  (target <= 0.6 s, median of {args.repeat})")


if __name__ == "__main__":
    main()
