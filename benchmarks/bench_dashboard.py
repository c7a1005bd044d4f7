"""The dashboard under load: CPU, event-loop lag and time to first frame.

Drives the real app headless with 8 members each streaming 100 tokens/s for 10 s (a scripted
provider: no network), and prints:

    cpu      share of one core used by the process while streaming (targets: <= 2x the floor's,
             <= 20 % of a core; 16 members < 35 %), from the moment the question is sent, once
             what the dashboard loads after its first frame (SDKs, the cache's embedder) is loaded
    lag      worst event-loop lag seen by a 10 ms heartbeat while streaming (target <= 50 ms)
    first    time from process start to the first frame, in a fresh process (target <= 1.3x bare)

Each figure beside its floor, measured in the same run (the machine is shared: absolute times are
noise, ratios are the targets). Every streaming figure is the median of `--stream-repeat` runs, each
in a fresh process, the dashboard's and the floor's interleaved; start-up is the median of
`--repeat` launches of each, interleaved:

    floor    a minimal Textual app that receives the same deltas into one `textual.widgets.Log`
             per member, flushed at the dashboard's rate (`FLUSH_INTERVAL_S`): the cheapest way to
             show the same text (a Log does not wrap; the dashboard's panes do)
    bare     a bare Textual app (`bare_app.py`: an input, three statics and a footer), started as
             the dashboard is: a fresh process in a pseudo-terminal of 160x50, timed from process
             start until the last row of its first frame has reached the terminal; beside it the
             same app started after the least a pydantic-validated configuration costs (one strict
             model validated) and after Quorum's own settings: the specification has the settings
             validated with pydantic before anything starts, so these two are what any first frame
             of Quorum's pays before it draws (pydantic_vs_bare, settings_vs_bare, and the
             dashboard against the second: first_frame_vs_settings)

With `--json`, the last line printed is one JSON object: cpu_share, floor_cpu_share (and their
ratio cpu_vs_floor), cpu_share_16 and floor_cpu_share_16 (16 members), worst_lag_ms,
first_frame_s, bare_first_frame_s (and first_frame_vs_bare), and with `--cases ...,memory,f2` the
long-session memory and the history screen's first paint:

    memory   `--runs` (50) runs one after another in one dashboard session, 8 members answering
             about 2 KB each (and a draft and votes), a new question each time; after a full
             collection, after run 1 and after the last: resident memory (/proc/self/statm, in a
             fresh process without tracing: mem_growth, target < 1.2), Python's memory as
             tracemalloc traces it (a second fresh process: mem_traced_growth), and the widgets,
             running timers and workers left (widgets_/timers_/workers_first and _last: equal).
             BENCH_VERBOSE=1 prints each run's figures and tracemalloc's biggest growths
    f2       F2 with `--history-runs` (10,000) runs in the history: from the key to the history
             screen's first paint, beside pushing an empty modal screen (the dashboard showing
             through, as under the history) in the same app, interleaved, median of `--repeat`
             (f2_first_paint_ms, empty_screen_first_paint_ms, f2_vs_empty: target <= 1.5)

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
    python benchmarks/bench_dashboard.py --json      # load, load16, first: the issue's targets
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
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.ask import Ask  # noqa: E402
from tui.config.loading import load_settings  # noqa: E402
from tui.config.schema import parse_member  # noqa: E402
from tui.dashboard.app import QuorumApp  # noqa: E402
from tui.engine.connection import Connection  # noqa: E402
from tui.engine.provider import ChatRequest, Finished, StreamEvent, TextDelta, Usage  # noqa: E402
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


def start_up_done() -> None:
    """Wait for what the dashboard loads in the background after its first frame (the panel's
    SDKs, the cache's embedder), as a question typed by hand starts after it: the stream is
    measured, not the loading (which `first` and `sdk` measure)."""
    for thread in threading.enumerate():
        if thread.name.startswith("quorum "):
            thread.join()


async def all_laid_out(app: QuorumApp) -> None:
    while any(pane.body.laying_out for pane in [*app.panes, app.synthesis]):
        await asyncio.sleep(0.005)


async def measure_streaming(
    members: int,
    rate: float,
    seconds: float,
    huge: str = "",
    lookup: Callable[[Member], Connection] | None = None,
    settings: Any = None,
) -> Measured:
    """The load; with `huge`, lag is measured from submit until every pane has laid out its text."""
    aliases = [f"m{index}" for index in range(members)]
    settings = settings or bench_settings(aliases)
    provider = SteadyProvider(rate, seconds, huge)
    session = Session(settings, Ask(members=tuple(parse_member(a) for a in aliases), synthesizer="synth"))

    connection = Connection(provider)

    def steady(member: Member) -> Connection:
        return connection

    app = QuorumApp(settings, session, providers=lookup or steady, save_settings=False)
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        await pilot.pause()
        if not lookup:  # (the SDK case measures a first call that overlaps its SDK's loading)
            await asyncio.to_thread(start_up_done)
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
    shown = app.run_display.announce  # called once the replay (after the next refresh) has filled the panes

    def shown_and_tell(result: RunResult) -> None:
        shown(result)
        replayed.set()

    app.run_display.announce = shown_and_tell  # type: ignore[method-assign]
    beat = Heartbeat().start()
    started = time.perf_counter()
    app.following.open_recorded_run(run_id)
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
    from tui.pool import ProviderPool

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
        steady = Connection(SteadyProvider(rate, seconds, first_token_s=0.3))

        def lookup(member: Member) -> Connection:
            return pool(member) if member.provider == "wire" else steady

        async def run() -> Measured:
            try:
                return await measure_streaming(members, rate, seconds, lookup=lookup, settings=settings)
            finally:
                await pool.aclose()

        return asyncio.run(run())


def in_fresh_process(
    what: str, arguments: list[str], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run this script again with `arguments` (a `--…-child` case) in a fresh process, and return
    the JSON object its output ends with; `what` names the case if it fails."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the {what} failed:\n{done.stderr[-3000:]}")
    if os.environ.get("BENCH_VERBOSE"):
        print(done.stdout)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def load_arguments(members: int, rate: float, seconds: float) -> list[str]:
    return ["--members", str(members), "--rate", str(rate), "--seconds", str(seconds)]


def first_sdk_call_in_fresh_process(kind: str, members: int, rate: float, seconds: float) -> Measured:
    arguments = ["--sdk-child", kind, *load_arguments(members, rate, seconds)]
    return Measured(**in_fresh_process(f"{kind} first-call run", arguments, timeout=120))


async def measure_floor(members: int, rate: float, seconds: float) -> Measured:
    """The floor: the same deltas (the same provider, paced the same) into one plain `Log` per
    member, flushed every `FLUSH_INTERVAL_S` as the dashboard flushes; no engine, no history.

    A `Log` is the cheapest of Textual's two log widgets here: with BENCH_FLOOR=richlog the floor
    is a `RichLog(wrap=True)` per member instead, which wraps as the dashboard does and costs
    more (measured: ~60 % against the Log's ~45 % of a core on the same loaded machine). With
    BENCH_FLOOR=none the deltas are received and never drawn: what the stream itself costs (the
    scripted members, the event loop and the heartbeat), under any dashboard's figure."""
    from textual.app import App, ComposeResult
    from textual.containers import Grid
    from textual.widgets import Log, RichLog

    from tui.dashboard.app import FLUSH_INTERVAL_S

    rich_log = os.environ.get("BENCH_FLOOR") == "richlog"
    drawn = os.environ.get("BENCH_FLOOR") != "none"
    from tui.dashboard.widgets.member_grid import columns_for

    class FloorApp(App[None]):
        CSS = "Grid { grid-gutter: 0; } Log { height: 1fr; border: round $primary; }"

        def __init__(self) -> None:
            super().__init__()
            self.pending: list[list[str]] = [[] for _ in range(members)]

        def compose(self) -> ComposeResult:
            with Grid() as grid:
                grid.styles.grid_size_columns = columns_for(members, 160)
                for _ in range(members):
                    yield RichLog(wrap=True) if rich_log else Log()

        def on_mount(self) -> None:
            self.logs: list[Any] = list(self.query(RichLog if rich_log else Log))
            self.set_interval(FLUSH_INTERVAL_S, self.flush)

        def flush(self) -> None:
            if not drawn:
                return
            for log, pending in zip(self.logs, self.pending, strict=True):
                if pending:
                    log.write("".join(pending))
                    pending.clear()

    provider = SteadyProvider(rate, seconds)

    async def feed(app: FloorApp, index: int) -> None:
        request = ChatRequest(model_id=f"m{index}", system="", messages=(), max_output_tokens=4000)
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                app.pending[index].append(event.text)

    app = FloorApp()
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        await pilot.pause()
        beat = Heartbeat().start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        feeds = [asyncio.create_task(feed(app, index)) for index in range(members)]
        await asyncio.sleep(seconds)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        lag = await beat.stop("floor")
        await asyncio.gather(*feeds)
        app.flush()
        if drawn:
            streamed = sum(len(line.text if rich_log else line) for log in app.logs for line in log.lines)
        else:
            streamed = sum(len(text) for pending in app.pending for text in pending)
        assert streamed > members * rate * seconds * 2, "the logs did not receive the stream"
    return Measured(cpu, lag, [])


def streaming_in_fresh_process(which: str, members: int, rate: float, seconds: float) -> Measured:
    """One streaming measurement (`dashboard` or `floor`) in a fresh process: neither inherits
    the other's heap, imports or collector settings (the dashboard tunes the collector)."""
    arguments = ["--stream-child", which, *load_arguments(members, rate, seconds)]
    return Measured(**in_fresh_process(f"{which} streaming run", arguments, timeout=seconds * 3 + 120))


@dataclass
class Streaming:
    """Medians of interleaved runs: the dashboard's and the floor's, each in a fresh process."""

    cpu: float
    floor_cpu: float
    lag: float
    floor_lag: float
    cpus: list[float]
    floor_cpus: list[float]


def streaming_against_floor(members: int, rate: float, seconds: float, repeat: int) -> Streaming:
    dashboard: list[Measured] = []
    floor: list[Measured] = []
    for _ in range(repeat):
        dashboard.append(streaming_in_fresh_process("dashboard", members, rate, seconds))
        floor.append(streaming_in_fresh_process("floor", members, rate, seconds))
    failed = {name for m in dashboard for name in m.failed}
    assert not failed, f"members failed while streaming: {sorted(failed)}"
    return Streaming(
        cpu=statistics.median(m.cpu for m in dashboard),
        floor_cpu=statistics.median(m.cpu for m in floor),
        lag=statistics.median(m.lag for m in dashboard),
        floor_lag=statistics.median(m.lag for m in floor),
        cpus=[m.cpu for m in dashboard],
        floor_cpus=[m.cpu for m in floor],
    )


ANSWER = (" ".join(WORDS) + ". ") * 24  # about 2 KB


class QuickProvider:
    """Answers every call at once with `ANSWER` (positions) or an accepting vote, in 16 deltas: a
    session of many runs, without waiting for a stream."""

    name = "bench"
    is_demo = False

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        text = ANSWER if request.phase in ("position", "draft") else "VERDICT: ACCEPT\n"
        step = max(1, len(text) // 16)
        for at in range(0, len(text), step):
            yield TextDelta(text[at : at + step])
            await asyncio.sleep(0)
        yield Usage(500, 500)
        yield Finished("stop")


@dataclass
class Leftovers:
    """What a dashboard holds after a run has ended: the figures that must not grow run by run."""

    rss_bytes: int
    traced_bytes: int
    widgets: int
    timers: int
    workers: int


def leftovers(app: QuorumApp) -> Leftovers:
    """Measured after a full collection: resident memory (/proc/self/statm), the Python memory
    tracemalloc traces, the widgets of every screen, the timers still running and the workers."""
    import gc
    import tracemalloc

    gc.collect()
    with open("/proc/self/statm", encoding="ascii") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    nodes = [node for screen in app.screen_stack for node in screen.walk_children(with_self=True)]
    timers = sum(
        1
        for pump in [app, *nodes]
        for timer in list(pump._timers)
        if timer._task is not None and not timer._task.done()
    )
    return Leftovers(rss, tracemalloc.get_traced_memory()[0], len(nodes), timers, len(app.workers))


async def measure_memory(members: int, runs: int) -> dict[str, Any]:
    """`runs` runs one after the other in one dashboard session, each of `members` members
    answering about 2 KB (and a draft, and votes), recorded in the history as usual; what the
    dashboard holds after the first run and after the last (see `leftovers`)."""
    import tracemalloc

    aliases = [f"m{index}" for index in range(members)]
    settings = bench_settings(aliases)
    session = Session(settings, Ask(members=tuple(parse_member(a) for a in aliases), synthesizer="synth"))
    connection = Connection(QuickProvider())
    app = QuorumApp(settings, session, providers=lambda _m: connection, save_settings=False)
    frames = int(os.environ.get("BENCH_FRAMES", "1"))  # 0: no tracing (RSS only), 10+: a deeper diff
    if frames:
        tracemalloc.start(frames)
    after: list[Leftovers] = []
    snapshots: list[Any] = []
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        await pilot.pause()
        for number in range(1, runs + 1):
            # A new question each time, asked of the panel (not served from the cache).
            app.submit(f"Benchmark question number {number}: should we ship it?", fresh=True)
            await app.workers.wait_for_complete()
            assert app.shown_result is not None and not failed_members(app.shown_result)
            await asyncio.sleep(app.flush_interval or 0)  # the clock's next tick draws the end
            await pilot.pause()
            if os.environ.get("BENCH_VERBOSE"):
                now = leftovers(app)
                print(
                    f"run {number}: rss {now.rss_bytes / 1e6:.1f} MB, traced {now.traced_bytes / 1e6:.2f} MB"
                )
            if number in (1, runs):
                after.append(leftovers(app))
                if os.environ.get("BENCH_VERBOSE") and frames:
                    snapshots.append(tracemalloc.take_snapshot())
    tracemalloc.stop()
    if len(snapshots) == 2:
        grown = snapshots[1].compare_to(snapshots[0], "traceback")
        for stat in grown[:12]:
            print(stat)
            for line in stat.traceback.format()[-8:]:
                print("   ", line)
    first, last = after
    return {
        "mem_rss_first_mb": round(first.rss_bytes / 1e6, 1),
        "mem_rss_last_mb": round(last.rss_bytes / 1e6, 1),
        "mem_traced_first_mb": round(first.traced_bytes / 1e6, 2),
        "mem_traced_last_mb": round(last.traced_bytes / 1e6, 2),
        "mem_growth": round(last.rss_bytes / first.rss_bytes, 3),
        "mem_traced_growth": round(last.traced_bytes / first.traced_bytes, 3) if frames else None,
        "widgets_first": first.widgets,
        "widgets_last": last.widgets,
        "timers_first": first.timers,
        "timers_last": last.timers,
        "workers_first": first.workers,
        "workers_last": last.workers,
    }


def memory_in_fresh_process(members: int, runs: int, frames: int) -> dict[str, Any]:
    """`measure_memory` in a fresh process; `frames` of traceback traced by tracemalloc, or 0
    for none (tracemalloc's own tables grow resident memory by tens of MB: RSS is measured
    untraced)."""
    arguments = ["--memory-child", str(runs), "--members", str(members)]
    env = os.environ | {"BENCH_FRAMES": str(frames)}
    return in_fresh_process("long-session run", arguments, timeout=1200, env=env)


def long_session(members: int, runs: int) -> dict[str, Any]:
    """Resident memory and what is left behind, untraced; then Python's memory, traced."""
    untraced = memory_in_fresh_process(members, runs, 0)
    traced = memory_in_fresh_process(members, runs, 1)
    return {k: v for k, v in untraced.items() if "traced" not in k} | {
        k: v for k, v in traced.items() if "traced" in k
    }


def fill_history(path: Path, runs: int) -> None:
    """A history of `runs` finished runs (3 members, a short answer each)."""
    from history_fill import record_finished_runs

    from tui.history.store import RunStore

    aliases = ["m0", "m1", "m2"]
    settings = bench_settings(aliases)
    session = Session(settings, Ask(members=tuple(parse_member(a) for a in aliases), synthesizer="synth"))
    store = RunStore(path)
    try:
        record_finished_runs(
            store, session, lambda n: f"Should we move job queue {n} to Postgres (SKIP LOCKED)?", runs
        )
    finally:
        store.close()


async def measure_f2(runs: int, repeat: int) -> tuple[list[float], list[float]]:
    """F2 with a history of `runs` runs: seconds from the key until the history screen's first
    paint, beside pushing an empty modal screen in the same app (the floor: the same dashboard
    showing through), interleaved, `repeat` times each."""
    from textual.screen import ModalScreen

    from tui.dashboard.screens.history import HistoryScreen

    folder = Path(tempfile.mkdtemp(prefix="quorum-bench-f2-"))
    fill_history(folder / "history.sqlite3", runs)
    aliases = ["m0", "m1", "m2"]
    settings = bench_settings(aliases)
    settings.store.path = str(folder / "history.sqlite3")
    session = Session(settings, Ask(members=tuple(parse_member(a) for a in aliases), synthesizer="synth"))
    connection = Connection(SteadyProvider(1, 1))
    app = QuorumApp(settings, session, providers=lambda _m: connection, save_settings=False)
    painted = asyncio.Event()
    display = app._display

    def display_and_tell(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is None or screen is not app.screen or len(app.screen_stack) == 1:
            return
        # The history's first paint is the first one with rows: what the user waits for.
        if not isinstance(screen, HistoryScreen) or screen.run_list.row_count:
            painted.set()

    app._display = display_and_tell  # type: ignore[method-assign]
    history: list[float] = []
    empty: list[float] = []
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        await pilot.pause()
        assert app.store is not None and app.store.count() == runs

        async def first_paint(open_it: Callable[[], Any]) -> float:
            painted.clear()
            started = time.perf_counter()
            opened = open_it()
            if asyncio.iscoroutine(opened):
                await opened
            await painted.wait()
            elapsed = time.perf_counter() - started
            await pilot.pause()
            app.pop_screen()
            await pilot.pause()
            return elapsed

        for _ in range(repeat):
            # The key alone, as the floor's push is not awaited either: `pilot.press` also waits
            # until the app has settled after it, which is not the first paint.
            history.append(await first_paint(lambda: app.simulate_key("f2")))
            empty.append(await first_paint(lambda: app.push_screen(ModalScreen())))
    return history, empty


ROWS, COLUMNS = 50, 160
DASHBOARD_COMMAND = (sys.executable, "-m", "tui", "--no-project")
BARE_COMMAND = (sys.executable, str(ROOT / "benchmarks" / "bare_app.py"))
FIRST_FRAME_COMMANDS = {
    "dashboard": DASHBOARD_COMMAND,
    "bare": BARE_COMMAND,
    "pydantic": (*BARE_COMMAND, "--pydantic"),
    "settings": (*BARE_COMMAND, "--settings"),
}
"""What `first` launches, interleaved: the dashboard, the bare app, and the bare app after the
least a pydantic-validated configuration costs and after Quorum's own settings (`bare_app.py`)."""


def first_frame_in_terminal(command: tuple[str, ...], home: str, timeout: float = 30.0) -> float:
    """Seconds from starting `command` in a fresh 160x50 pseudo-terminal until the last row of its
    first frame has been written to the terminal — what a user waits for, with no hook in the app.

    Textual draws a full frame row by row, moving the cursor to each row, and then puts the cursor
    where it belongs: once the move to the last row and a cursor move after it have arrived, the
    first frame is on the terminal.
    """
    import fcntl
    import pty
    import re
    import select
    import signal
    import struct
    import termios

    last_row = f"\x1b[{ROWS};1H".encode()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    # Bytecode caching is allowed (as after any `pip install`, which compiles it); the user's own
    # config and history are not read (a scratch QUORUM_HOME), nor a project's (--no-project).
    env = {
        k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("TEXTUAL")
    }
    env |= {"QUORUM_HOME": home, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, cwd=home, env=env, start_new_session=True
    )
    os.close(slave)
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                seen += os.read(master, 1 << 16)
            except OSError:  # the child has gone: it never drew a frame
                break
            at = seen.find(last_row)
            if at >= 0 and re.compile(rb"\x1b\[\d+;\d+H").search(seen, at + len(last_row)):
                return time.perf_counter() - started
        raise RuntimeError(f"no first frame from {command}: {seen[-2000:]!r}")
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        os.close(master)


def first_frames(repeat: int) -> dict[str, list[float]]:
    """`repeat` launches of each of `FIRST_FRAME_COMMANDS`, interleaved, after one warm-up launch
    of each (it writes the bytecode caches): each one's seconds to its first frame."""
    home = tempfile.mkdtemp(prefix="quorum-bench-first-frame-")
    launches: dict[str, list[float]] = {name: [] for name in FIRST_FRAME_COMMANDS}
    for attempt in range(repeat + 1):
        for name, command in FIRST_FRAME_COMMANDS.items():
            took = first_frame_in_terminal(command, home)
            if attempt:
                launches[name].append(took)
    return launches


def verdict(lag: float) -> str:
    return "ok" if lag <= 0.1 else "OVER"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0, help="tokens per second per member")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5, help="first-frame launches of each (median)")
    parser.add_argument(
        "--stream-repeat", type=int, default=3, help="streaming runs of the dashboard and the floor (median)"
    )
    parser.add_argument("--huge-kb", type=int, default=1000, help="size of the huge answer, in kB")
    parser.add_argument(
        "--cases",
        help="which to run, of load, load16 (16 members), huge (with history), sdk, first, memory, f2 "
        "(comma-separated; default load,huge,sdk,first, or load,load16,first with --json)",
    )
    parser.add_argument("--json", action="store_true", help="end with one line of JSON: the figures")
    parser.add_argument("--sdk-child", choices=["openai", "anthropic"], help=argparse.SUPPRESS)
    parser.add_argument("--stream-child", choices=["dashboard", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, metavar="RUNS", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=50, help="runs in the long session (memory)")
    parser.add_argument("--history-runs", type=int, default=10_000, help="runs in the history (f2)")
    args = parser.parse_args()
    # A scratch home: the run is recorded (the history store is part of what is measured), but
    # never into the user's own history.
    os.environ["QUORUM_HOME"] = tempfile.mkdtemp(prefix="quorum-bench-dashboard-")
    if args.sdk_child:
        measured = first_sdk_call(args.sdk_child, args.members, args.rate, args.seconds)
        print(json.dumps(measured.__dict__))
        return
    if args.memory_child:
        print(json.dumps(asyncio.run(measure_memory(args.members, args.memory_child))))
        return
    if args.stream_child:
        measure = measure_streaming if args.stream_child == "dashboard" else measure_floor
        measured = asyncio.run(measure(args.members, args.rate, args.seconds))
        print(json.dumps(measured.__dict__))
        return
    cases = set((args.cases or ("load,load16,first" if args.json else "load,huge,sdk,first")).split(","))
    figures: dict[str, Any] = {}
    print(f"{args.members} members x {args.rate:g} tokens/s for {args.seconds:g} s, 160x50, headless")
    if "load" in cases:
        load = streaming_against_floor(args.members, args.rate, args.seconds, args.stream_repeat)
        figures |= {
            "cpu_share": round(load.cpu, 4),
            "floor_cpu_share": round(load.floor_cpu, 4),
            "cpu_vs_floor": round(load.cpu / load.floor_cpu, 2),
            "worst_lag_ms": round(load.lag * 1000, 1),
            "floor_worst_lag_ms": round(load.floor_lag * 1000, 1),
        }
        runs = f"median of {args.stream_repeat}, each a fresh process"
        print(
            f"cpu    {load.cpu * 100:5.1f} % of one core   floor {load.floor_cpu * 100:.1f} %: "
            f"{load.cpu / load.floor_cpu:.2f}x  (targets <= 2x, <= 20 %; {runs})"
        )
        print(f"         runs {percents(load.cpus)}; floor {percents(load.floor_cpus)}")
        print(
            f"lag    {load.lag * 1000:5.1f} ms worst        floor {load.floor_lag * 1000:.1f} ms  "
            "(target <= 50 ms; median of the runs' worst)"
        )
    if "load16" in cases:
        load16 = streaming_against_floor(16, args.rate, args.seconds, args.stream_repeat)
        figures |= {
            "cpu_share_16": round(load16.cpu, 4),
            "floor_cpu_share_16": round(load16.floor_cpu, 4),
            "cpu_vs_floor_16": round(load16.cpu / load16.floor_cpu, 2),
            "worst_lag_ms_16": round(load16.lag * 1000, 1),
        }
        print(
            f"cpu16  {load16.cpu * 100:5.1f} % of one core   floor {load16.floor_cpu * 100:.1f} %: "
            f"{load16.cpu / load16.floor_cpu:.2f}x  (16 members; target < 35 %); "
            f"worst lag {load16.lag * 1000:.0f} ms"
        )
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
        launches = first_frames(args.repeat)
        first, bare, pydantic, settings = (
            statistics.median(launches[name]) for name in ("dashboard", "bare", "pydantic", "settings")
        )
        figures |= {
            "first_frame_s": round(first, 3),
            "bare_first_frame_s": round(bare, 3),
            "first_frame_vs_bare": round(first / bare, 2),
            "pydantic_first_frame_s": round(pydantic, 3),
            "pydantic_vs_bare": round(pydantic / bare, 2),
            "settings_first_frame_s": round(settings, 3),
            "settings_vs_bare": round(settings / bare, 2),
            "first_frame_vs_settings": round(first / settings, 2),
        }
        print(
            f"first  {first:5.2f} s to first frame  bare app {bare:.2f} s: {first / bare:.2f}x  "
            f"(target <= 1.3x; median of {args.repeat} launches of each, interleaved)"
        )
        print(
            f"         bare app after one pydantic model {pydantic:.2f} s: {pydantic / bare:.2f}x; "
            f"after Quorum's settings {settings:.2f} s: {settings / bare:.2f}x "
            f"(the dashboard against it: {first / settings:.2f}x)"
        )
        print(
            f"         launches {seconds(launches['dashboard'])}; bare {seconds(launches['bare'])}; "
            f"pydantic {seconds(launches['pydantic'])}; settings {seconds(launches['settings'])}"
        )
    if "memory" in cases:
        memory = long_session(args.members, args.runs)
        figures |= memory
        print(
            f"memory {memory['mem_rss_last_mb']:5.1f} MB after {args.runs} runs   after the first "
            f"{memory['mem_rss_first_mb']:.1f} MB: {memory['mem_growth']:.2f}x  (target < 1.2x); "
            f"Python objects {memory['mem_traced_first_mb']:.1f} -> {memory['mem_traced_last_mb']:.1f} MB"
        )
        print(
            f"         left behind after run 1 / run {args.runs}: widgets {memory['widgets_first']} / "
            f"{memory['widgets_last']}, timers {memory['timers_first']} / {memory['timers_last']}, "
            f"workers {memory['workers_first']} / {memory['workers_last']}  (target: equal)"
        )
    if "f2" in cases:
        f2_runs, empty_runs = asyncio.run(measure_f2(args.history_runs, args.repeat))
        f2, f2_empty = statistics.median(f2_runs), statistics.median(empty_runs)
        figures |= {
            "f2_first_paint_ms": round(f2 * 1000, 1),
            "empty_screen_first_paint_ms": round(f2_empty * 1000, 1),
            "f2_vs_empty": round(f2 / f2_empty, 2),
        }
        print(
            f"f2     {f2 * 1000:5.1f} ms to first paint  empty screen {f2_empty * 1000:.1f} ms: "
            f"{f2 / f2_empty:.2f}x  (target <= 1.5x; {args.history_runs:,} runs in the history; "
            f"median of {args.repeat} of each, interleaved)"
        )
        print(f"         F2 {milliseconds(f2_runs)}; empty {milliseconds(empty_runs)}")
    if args.json:
        print(json.dumps(figures))


def percents(shares: list[float]) -> str:
    return " ".join(f"{share * 100:.1f}" for share in shares)


def milliseconds(times: list[float]) -> str:
    return " ".join(f"{time * 1000:.0f}" for time in times)


def seconds(times: list[float]) -> str:
    return " ".join(f"{time:.2f}" for time in times)


if __name__ == "__main__":
    main()
