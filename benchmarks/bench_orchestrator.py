"""How close a panel's phase comes to its slowest member: the orchestrator's parallelism and overhead.

Runs the orchestrator through the real OpenAI SDK against the local wire server (in its own
process, so the two do not share a GIL) for panels of 1, 2, 4, 8 and 16 members, every member
with the same fixed latency, and prints for the members' phase:

    ratio    = wall time / the slowest member's latency   (1.00 is perfect; a sequential loop is N)
    overhead = wall time - the slowest member's latency, in milliseconds

Target at 8 members: ratio <= 1.10 and overhead <= 30 ms.

    python benchmarks/bench_orchestrator.py [--latency 0.5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.engine import events as ev  # noqa: E402
from tui.engine.connection import Connection  # noqa: E402
from tui.engine.orchestrator import Run  # noqa: E402
from tui.engine.types import Member, Mode, RunRequest  # noqa: E402
from tui.providers.openai_compat import OpenAICompatProvider  # noqa: E402

SERVER = """
import sys, time
from tests.wire_server import Scenario, WireServer
latency, chunks = float(sys.argv[1]), int(sys.argv[2])
srv = WireServer().start()
# the first byte after 60% of the latency, then the rest spread over the remaining 40%
srv.default_scenario = Scenario(text="word " * 40, chunk_count=chunks,
                                first_byte_delay_s=latency * 0.6, between_chunks_s=latency * 0.4 / chunks)
srv.script("instant", Scenario(text="ok"))
print(srv.openai_base_url, flush=True)
sys.stdin.read()
srv.stop()
"""


async def one_run(provider: OpenAICompatProvider, size: int) -> float:
    """Seconds from the run's start until the last member's answer had arrived."""
    members = [Member(alias=f"m{i}", model_id=f"member-{i}", provider="openai") for i in range(size)]
    request = RunRequest(
        question="Benchmark question",
        mode=Mode.CONSULT,
        members=members,
        synthesizers=[Member(alias="synth", model_id="instant", provider="openai")],
    )
    marks: dict[str, float] = {}

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            marks["start"] = time.perf_counter()
        elif isinstance(event, ev.CallFinished) and event.result.member_index is not None:
            marks["last"] = time.perf_counter()
            if event.result.status.value != "success":
                raise SystemExit(f"benchmark call failed: {event.result.error}")

    connection = Connection(provider)
    await Run(request, lambda _m: connection, on_event).execute()
    return marks["last"] - marks["start"]


async def bare_gather(provider: OpenAICompatProvider, size: int) -> float:
    """The same calls through the same SDK client with a bare asyncio.gather: the floor to compare with."""
    from tui.engine.provider import ChatMessage, ChatRequest

    async def call(index: int) -> None:
        request = ChatRequest(
            model_id=f"member-{index}",
            system="s",
            messages=(ChatMessage("user", "q"),),
            max_output_tokens=100,
        )
        async for _item in provider.stream(request):
            pass

    started = time.perf_counter()
    await asyncio.gather(*(call(i) for i in range(size)))
    return time.perf_counter() - started


async def main_async(latency: float, repeat: int, chunks: int) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(latency), str(chunks)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the server's shutdown of idle keep-alive connections is noisy
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    base_url = server.stdout.readline().strip()
    provider = OpenAICompatProvider(
        "openai", base_url=base_url, api_key="bench", api_key_env="NONE", max_retries=0
    )
    try:
        await one_run(provider, 16)  # warm-up: SDK import paths, connection pool
        print(f"fixed member latency {latency * 1000:.0f} ms ({chunks} chunks), median of {repeat} runs")
        print(
            f"{'members':>7}  {'wall ms':>8}  {'ratio':>6}  {'overhead ms':>11}  "
            f"{'bare gather ms':>14}  {'engine ms':>9}  {'sequential':>10}"
        )
        for size in (1, 2, 4, 8, 16):
            walls = [await one_run(provider, size) for _ in range(repeat)]
            bares = [await bare_gather(provider, size) for _ in range(repeat)]
            wall, bare = statistics.median(walls), statistics.median(bares)
            print(
                f"{size:>7}  {wall * 1000:>8.1f}  {wall / latency:>6.3f}  {(wall - latency) * 1000:>11.1f}  "
                f"{bare * 1000:>14.1f}  {(wall - bare) * 1000:>9.1f}  {size * latency * 1000:>7.0f} ms"
            )
        print(
            "overhead: wall minus the fixed latency (SDK, loopback HTTP, the server's timers included)\n"
            "engine: wall minus the same calls made with a bare asyncio.gather (the orchestrator's own cost)"
        )
    finally:
        await provider.aclose()
        server.stdin.close()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.5, help="each member's latency in seconds")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=20, help="streamed pieces per answer")
    args = parser.parse_args()
    asyncio.run(main_async(args.latency, args.repeat, args.chunks))


if __name__ == "__main__":
    main()
