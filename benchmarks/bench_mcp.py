"""`quorum mcp`: how soon it answers, measured from outside as a client sees it.

Spawns the real `quorum mcp` (`python -m tui mcp`) and speaks JSON-RPC to it over its stdin and
stdout, with a scratch history and one model served by a local OpenAI wire server (no network),
and prints:

    ready    process start to the `initialize` answer (median of --starts fresh processes)
    request  `tools/call` consensus sent to the first provider request arriving at the wire
             server (target <= 50 ms): the median of --calls calls on one server; its first call,
             made --idle seconds after `initialize` (as an agent asks, once the server has loaded
             the provider's SDK in the background); and a first call made at once after
             `initialize`, which waits for that load

Both clocks are CLOCK_MONOTONIC (`time.perf_counter` on Linux), so the times taken in this process
and the wire server's thread compare directly.

    python benchmarks/bench_mcp.py [--starts 5] [--calls 10] [--idle 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.wire_server import Scenario, WireServer  # noqa: E402

MODEL = "bench-wire"
KEY_ENV = "QUORUM_BENCH_KEY"
TARGET_MS = 50.0


@dataclass
class Figures:
    ready_s: float
    ready_runs: list[float]
    first_request_ms: float
    at_once_ms: float
    request_ms: float
    request_runs: list[float]


class Server:
    """A `quorum mcp` child process and the JSON-RPC lines it reads and writes."""

    def __init__(self, config: Path, home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(QUORUM_HOME=str(home), **{KEY_ENV: "bench-key-not-secret"})
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui", "--config", str(config), "mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            text=True,
        )
        self._ids = 0

    @property
    def _stdin(self) -> IO[str]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def send(self, method: str, params: dict[str, Any] | None = None, *, notify: bool = False) -> int:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if not notify:
            self._ids += 1
            message["id"] = self._ids
        self._stdin.write(json.dumps(message) + "\n")
        self._stdin.flush()
        return self._ids

    def answer(self, request_id: int) -> dict[str, Any]:
        """The response to `request_id` (notifications on the way are read and dropped)."""
        assert self.proc.stdout is not None
        while line := self.proc.stdout.readline():
            message: dict[str, Any] = json.loads(line)
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"quorum mcp answered with an error: {message['error']}")
                return message
        raise RuntimeError(f"quorum mcp exited ({self.proc.wait()}) before answering")

    def initialize(self) -> float:
        """Initialize (and list the tools); the seconds from process start to the answer."""
        request = self.send(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bench_mcp", "version": "0"},
            },
        )
        self.answer(request)
        ready = time.perf_counter() - self.started
        self.send("notifications/initialized", notify=True)
        self.answer(self.send("tools/list", {}))  # as every client does before its first call
        return ready

    def close(self) -> None:
        self._stdin.close()  # the server cancels nothing (no run is left) and exits
        self.proc.wait(timeout=30)


def bench_config(folder: Path, base_url: str) -> Path:
    config = folder / "bench.toml"
    config.write_text(
        f'[providers.wire]\nkind = "openai"\nbase_url = "{base_url}"\napi_key_env = "{KEY_ENV}"\n'
        "max_retries = 0\n"
        f'[models.{MODEL}]\nprovider = "wire"\nid = "{MODEL}"\ncontext_window = 100000\nmax_output = 1000\n',
        encoding="utf-8",
    )
    return config


def time_to_request(server: Server, wire: WireServer) -> float:
    """One consensus call (consult, one member): ms from sending it to the first wire request."""
    wire.clear()
    sent = time.perf_counter()
    request = server.send(
        "tools/call",
        {
            "name": "consensus",
            "arguments": {
                "question": "Is this fast?",
                "models": [{"model": MODEL}],
                "mode": "consult",
                "wait_seconds": 60,
            },
        },
    )
    result = server.answer(request)["result"]
    if result.get("isError") or result["structuredContent"]["status"] != "success":
        raise RuntimeError(f"the run did not succeed: {result['content'][0]['text']}")
    return (min(r.received_at for r in wire.requests) - sent) * 1000


def measure(starts: int, calls: int, idle_s: float) -> Figures:
    with WireServer() as wire, tempfile.TemporaryDirectory(prefix="quorum-bench-mcp-") as scratch:
        wire.script(MODEL, Scenario(text="Conclusion: yes.\nLean: favourable\nConfidence: 7/10"))
        folder = Path(scratch)
        config = bench_config(folder, wire.openai_base_url)
        ready_runs = []
        for number in range(starts):
            server = Server(config, folder / f"home-{number}")
            ready_runs.append(server.initialize())
            server.close()
        server = Server(config, folder / "home-at-once")
        server.initialize()
        at_once = time_to_request(server, wire)
        server.close()
        server = Server(config, folder / "home")
        server.initialize()
        time.sleep(idle_s)
        first = time_to_request(server, wire)
        request_runs = [time_to_request(server, wire) for _ in range(calls)]
        server.close()
    return Figures(
        ready_s=statistics.median(ready_runs),
        ready_runs=ready_runs,
        first_request_ms=first,
        at_once_ms=at_once,
        request_ms=statistics.median(request_runs),
        request_runs=request_runs,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=5, help="fresh processes for `ready` (median)")
    parser.add_argument("--calls", type=int, default=10, help="calls for `request` (median)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds before the first call")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON, last line")
    args = parser.parse_args()
    figures = measure(args.starts, args.calls, args.idle)
    verdict = "ok" if figures.request_ms <= TARGET_MS else "over target"
    print(
        f"ready    {figures.ready_s:5.2f} s   process start to `initialize` answered "
        f"(median of {args.starts})"
    )
    print(
        f"request  {figures.request_ms:5.1f} ms  tools/call consensus to the first provider request "
        f"(median of {args.calls}; target <= {TARGET_MS:g} ms) [{verdict}]"
    )
    print(f"         {figures.first_request_ms:5.1f} ms  its first call, {args.idle:g} s after `initialize`")
    print(
        f"         {figures.at_once_ms:5.1f} ms  a first call at once after `initialize` "
        "(it waits for the provider SDK, loading in the background)"
    )
    if args.json:
        print(json.dumps(asdict(figures)))


if __name__ == "__main__":
    main()
