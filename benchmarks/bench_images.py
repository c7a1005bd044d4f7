"""Images: what attaching one costs, and how long the event loop stops while calls carry it.

Reads an image of each size with `tui.attachments.images.read_image` (its checks included), then, for each
SDK, starts N calls at once that carry it (N members of one phase), through Quorum's adapters, to
the wire server running in a child process (so its decoding and checking of the images is not
counted here), and prints the worst stall of the event loop meanwhile: the time a dashboard's
frame, or another member's stream, would have waited. Each figure is the median of --repeat runs,
with the worst run beside it; a text-only request is the baseline.

    python benchmarks/bench_images.py [--members 3 8] [--sizes 500000 1000000 3932160] [--repeat 5]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_images import png  # noqa: E402
from tui.attachments.images import MAX_IMAGE_BYTES, read_image  # noqa: E402
from tui.engine.provider import ChatMessage, ChatRequest, Provider  # noqa: E402
from tui.engine.types import Image  # noqa: E402
from tui.providers.anthropic_messages import AnthropicProvider  # noqa: E402
from tui.providers.openai_compat import OpenAICompatProvider  # noqa: E402

SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.wire_server import Scenario, WireServer
server = WireServer().start()
server.default_scenario = Scenario(text="ok " * 50, chunk_count=10)
print(server.port, flush=True)
sys.stdin.read()
server.stop()
"""
TICK_S = 0.002


def provider(kind: str, port: int) -> Provider:
    if kind == "openai":
        return OpenAICompatProvider(
            "openai", base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", api_key_env="BENCH_KEY"
        )
    return AnthropicProvider(
        "anthropic", base_url=f"http://127.0.0.1:{port}", api_key="bench", api_key_env="BENCH_KEY"
    )


async def worst_stall(kind: str, port: int, image: Image | None, members: int) -> float:
    """Seconds of the longest stop of the loop while `members` calls carrying `image` run."""
    adapter = provider(kind, port)
    request = ChatRequest(
        model_id="bench",
        system="You are terse.",
        messages=(ChatMessage("user", "What does it show?", (image,) if image else ()),),
        max_output_tokens=64,
    )

    async def call() -> None:
        async for _ in adapter.stream(request):
            pass

    await call()  # the SDK loaded, the connection open, the base64 made: as in a run's later calls
    worst, running = 0.0, True

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            worst, last = max(worst, now - last - TICK_S), now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await asyncio.gather(*(call() for _ in range(members)))
    running = False
    await ticking
    await adapter.aclose()
    return worst


async def measure(port: int, args: argparse.Namespace, folder: Path) -> None:
    for size in [0, *args.sizes]:
        image: Image | None = None
        label = "text only"
        if size:
            header = png(1, 1)
            path = folder / f"bench-{size}.png"
            path.write_bytes(header + os.urandom(size - len(header)))
            reads = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                image = read_image(path)
                reads.append(time.perf_counter() - started)
            label = f"{size:,} B image (read and checked in {statistics.median(reads) * 1000:.1f} ms)"
        for kind in ("openai", "anthropic"):
            for members in args.members:
                stalls = sorted([await worst_stall(kind, port, image, members) for _ in range(args.repeat)])
                print(
                    f"{label}, {kind}, {members} calls at once: worst loop stall "
                    f"{statistics.median(stalls) * 1000:.0f} ms (median of {args.repeat}), "
                    f"{stalls[-1] * 1000:.0f} ms at worst"
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500_000, 1_000_000, MAX_IMAGE_BYTES])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(measure(port, args, Path(folder)))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait()


if __name__ == "__main__":
    main()
