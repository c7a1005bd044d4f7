"""A long history: what 100,000 recorded runs cost the cache, the history's search and `quorum mcp`.

Builds a history of N runs (default 100,000) with the benchmarks' own fill — every 20th run a full
one recorded through the real `RunRecorder` (`bench_history.record_one`: 7 calls of ~2 KB, the
config snapshot, the result), the others finished runs written straight through the store
(`history_fill.record_finished_runs`), all by the default demo panel in one scope, each asking a
different question — and keeps it under /tmp (reused while the fill is the same; a copy is
measured, migrated first if this Quorum's schema is newer). Then measures, in one invocation,
side by side with an empty history (everything else equal: the demo panel at speed 200 unless said, the cache
on, no project file):

    run       `quorum run Q --json` in a fresh process: its time beyond the run itself (the
              process's wall time less the run's own `wall_ms`) and its peak RSS, median of
              --repeat interleaved runs; the first run on the history (whose lookup meets the
              questions without a kept vector) and one with the cache off (`[cache] enabled = false`),
              once each
    suggest   the suggestion scan alone (`Lookup.suggest()` on a miss), in a process of its own
              with the embedder loaded: ms (median) and the RSS it adds at its peak
    filter    `list_runs(limit=100, text=W)` on a freshly opened store (F2's page; `quorum
              history --filter W` lists 20): a word in ~1% of the questions, one in none, a
              2-character filter and a member's name (every run); and the command's wall time
    show      `quorum show` of the oldest run, cold: the database dropped from the OS page cache
              (posix_fadvise DONTNEED, which an unprivileged user may do for a file it can read)
              and a fresh process — its resolve and load timed inside, and the command's wall time
    mcp       `quorum mcp` (a child, spoken to with the MCP SDK's client): 20 concurrent
              `consensus` calls, the demo at its own pace (--mcp-speed 1: a run takes seconds, as
              a real panel's minutes would) — the server's peak RSS (VmHWM) and the calls' p95;
              and its RSS over --sequential runs one after another on the empty history, the demo
              at speed 200 (growth per 100 runs, after 10 runs that fill what it keeps)

The last line with --json is one JSON object of every figure.

    python benchmarks/bench_scale.py [--runs 100000] [--repeat 5] [--sequential 300] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(HERE)]

FILL_VERSION = 1
"""Bumped when the fill changes: a history kept under /tmp by another fill is built again."""
CACHE_DIR = Path(tempfile.gettempdir()) / "quorum-bench-scale"
FULL_EVERY = 20
"""Every 20th run (5%) is a full one, the oldest among them."""
SPEED = 200.0
FILTER_WORDS = {
    "word": "kubernetes",  # in ~1% of the questions (bench_history.question)
    "absent": "zeppelin",  # in none
    "short": "qz",  # 2 characters: no trigram
    "member": "demo-bolt",  # in every run's panel
}
MCP_CONCURRENT = 20


# -- the fill -----------------------------------------------------------------------------------


def demo_config(folder: Path, speed: float) -> Path:
    config = folder / f"demo-{speed:g}.toml"
    config.write_text(f"[demo]\nspeed = {speed}\n", encoding="utf-8")
    return config


def environment(home: Path) -> dict[str, str]:
    """A child's environment: its own QUORUM_HOME, no project file, no provider key."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(QUORUM_HOME=str(home), QUORUM_NO_PROJECT="1", PYTHONPATH=str(ROOT))
    return env


def history_path(home: Path) -> Path:
    return home / "data" / "history.sqlite3"


def cached_fill(runs: int) -> Path:
    """The history of `runs` runs, built once and kept under /tmp."""
    path = CACHE_DIR / f"history-{runs}-fill{FILL_VERSION}.sqlite3"
    if path.exists():
        return path
    CACHE_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
        building = Path(scratch) / "history.sqlite3"
        with child_home(Path(scratch) / "home"):
            build(building, runs)
        building.replace(path)
    return path


@contextlib.contextmanager
def child_home(home: Path) -> Iterator[None]:
    """This process's settings read from `home`, as a child's are (and put back afterwards)."""
    saved = {k: os.environ.get(k) for k in ("QUORUM_HOME", "QUORUM_NO_PROJECT")}
    os.environ.update(QUORUM_HOME=str(home), QUORUM_NO_PROJECT="1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def build(path: Path, runs: int) -> None:
    from bench_history import question, record_one
    from history_fill import record_finished_runs

    from tui.config.loading import load_settings
    from tui.config.snapshot import settings_snapshot
    from tui.history.store import RunStore
    from tui.session import Session

    settings = load_settings(overrides={"demo": {"speed": SPEED}})
    session = Session(settings)
    template = session.prepare("a question").request
    config = settings_snapshot(settings, template)
    members, synthesizers = list(template.members), list(template.synthesizers)
    rng = random.Random(28)
    store = RunStore(path)
    started = time.perf_counter()
    for block in range(0, runs, FULL_EVERY):
        record_one(store, config, members, rng, block, synthesizers)
        light = min(FULL_EVERY, runs - block) - 1
        record_finished_runs(store, session, lambda n: question(rng, n), light, first=block + 1)
        if block % 5000 == 0:
            store.flush()
            print(f"  ... {block:,} runs recorded", file=sys.stderr, flush=True)
    store.close()
    print(f"  built {runs:,} runs in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def novel_question(number: int) -> str:
    """A question nobody asked in the fill (its words drawn anew): a miss, with a similar run."""
    from bench_history import question

    return question(random.Random(10_000 + number), 1) + f" Trial {number}."


# -- measuring children ---------------------------------------------------------------------------


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start this process's peak RSS (VmHWM) over from its RSS now (Linux)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")


def evict(path: Path) -> None:
    """Drop a file's pages from the OS page cache (as after a reboot)."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if not file.exists():
            continue
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def quorum(home: Path, config: Path, *args: str) -> tuple[float, float, str]:
    """`quorum --config CONFIG ARGS` in a fresh process: wall seconds, peak RSS (MB), stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui", "--config", str(config), *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=environment(home),
            cwd=home,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode()
        if proc.returncode not in (0, 4):
            raise RuntimeError(f"quorum {' '.join(args)} exited {proc.returncode}: {err.read().decode()}")
    return wall, usage.ru_maxrss / 1024, stdout


def run_once(home: Path, config: Path, number: int, *extra: str) -> dict[str, float]:
    wall, peak, stdout = quorum(home, config, "run", novel_question(number), "--json", "-q", *extra)
    own = json.loads(stdout)["totals"]["wall_ms"] / 1000
    return {"beyond_s": wall - own, "peak_mb": peak, "wall_s": wall, "run_s": own}


def history_bytes(home: Path) -> int:
    path = history_path(home)
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))


def child(mode: str, home: Path, config: Path) -> dict[str, Any]:
    """This script's `--child MODE` in a fresh process, its last line as JSON."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--home", str(home), "--config", str(config)],
        capture_output=True,
        text=True,
        env=environment(home),
        cwd=home,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"--child {mode} failed: {done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return figures


def child_main(mode: str, home: Path, config: Path) -> None:
    from tui.config.loading import load_settings
    from tui.history.store import RunStore

    settings = load_settings(config)
    path = history_path(home)
    if mode == "suggest":
        print(json.dumps(suggest_figures(settings, path)))
    elif mode == "prime":
        print(json.dumps(prime(settings, path)))
    elif mode == "filter":
        figures: dict[str, float] = {}
        for name, word in FILTER_WORDS.items():
            times = []
            for _ in range(7):
                store = RunStore(path)
                started = time.perf_counter()
                store.list_runs(limit=100, text=word)
                times.append((time.perf_counter() - started) * 1000)
                store.close()
            figures[name] = statistics.median(times)
        print(json.dumps(figures))
    elif mode == "show":
        store = RunStore(path)
        oldest = store._db.execute("SELECT id FROM runs ORDER BY created_at LIMIT 1").fetchone()[0]
        store.close()
        times = []
        for _ in range(5):
            evict(path)
            store = RunStore(path)
            started = time.perf_counter()
            result = store.load(store.resolve(oldest))
            times.append((time.perf_counter() - started) * 1000)
            store.close()
        print(json.dumps({"show_ms": statistics.median(times), "oldest": oldest, "calls": len(result.calls)}))


def suggest_figures(settings: Any, path: Path) -> dict[str, float]:
    """The scan for a similar run, alone: ms (median of 5) and the RSS it adds at its peak."""
    from tui.cache import Lookup
    from tui.cache.lookup import embedder_for
    from tui.history.store import RunStore
    from tui.session import Session

    session = Session(settings)
    store = RunStore(path)
    embedder = embedder_for(settings)
    assert embedder is not None
    embedder.embed(["warm the embedder"])
    asyncio.run(Lookup(settings, session.prepare(novel_question(900)).request, store).suggest())
    times, peaks = [], []
    for number in range(901, 906):
        request = session.prepare(novel_question(number)).request
        before = rss_mb()
        reset_peak()
        started = time.perf_counter()
        asyncio.run(Lookup(settings, request, store).suggest())
        times.append((time.perf_counter() - started) * 1000)
        peaks.append(rss_mb(field="VmHWM") - before)
    questions = store._db.execute("SELECT count(DISTINCT question_key) FROM runs").fetchone()[0]
    store.close()
    return {"suggest_ms": statistics.median(times), "suggest_peak_mb": max(peaks), "questions": questions}


def kept_vectors(store: Any) -> int:
    """How many questions' vectors the history keeps."""
    return int(store._db.execute("SELECT count(*) FROM vector_slots").fetchone()[0])


def prime(settings: Any, path: Path) -> dict[str, float]:
    """Embed every question of the history (as lookups do, one after another, until none is left
    without a vector): the steady state a history reaches. Returns how many lookups it took, the
    time, and the history's growth."""
    from tui.cache import Lookup
    from tui.history.store import RunStore
    from tui.session import Session

    session = Session(settings)
    store = RunStore(path)
    size = path.stat().st_size
    started, lookups, kept, before = time.perf_counter(), 0, kept_vectors(store), -2
    while lookups < 500 and kept > before + 1:  # each lookup keeps its own question's vector
        asyncio.run(Lookup(settings, session.prepare(novel_question(800 + lookups)).request, store).suggest())
        lookups += 1
        before, kept = kept, kept_vectors(store)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    grown = path.stat().st_size - size
    store.close()
    return {"lookups": lookups, "prime_s": time.perf_counter() - started, "grown_mb": grown / 1e6}


# -- quorum mcp -----------------------------------------------------------------------------------


def server_pid() -> int:
    """The `quorum mcp` child this process started (the MCP SDK does not say its pid)."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            parent = stat.rsplit(")", 1)[1].split()[1]
            if parent == me and b"mcp" in (entry / "cmdline").read_bytes():
                return int(entry.name)
    raise RuntimeError("no quorum mcp child found")


async def mcp_figures(home: Path, config: Path, *, concurrent: int, sequential: int) -> dict[str, Any]:
    """`quorum mcp` over `home`: `concurrent` calls at once (peak RSS, p95) and then, if asked,
    `sequential` calls one after another (RSS after each hundred)."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tui", "--config", str(config), "mcp"],
        env=environment(home),
        cwd=str(home),
    )

    async def ask(client: Any, number: int) -> float:
        started = time.perf_counter()
        result = await client.call_tool(
            "consensus", {"question": novel_question(number), "wait_seconds": 600}
        )
        data = result.structured_content
        if data is None or data["status"] != "success":
            raise RuntimeError(f"the run did not succeed: {result.content}")
        return time.perf_counter() - started

    figures: dict[str, Any] = {}
    with open(home / "mcp-stderr.txt", "w") as errors:
        async with Client(stdio_client(params, errlog=errors), mode="legacy") as client:
            pid = server_pid()
            await ask(client, 500)  # the embedder and the SDKs loaded, the first lookup made
            if concurrent:
                times = await asyncio.gather(*(ask(client, 600 + n) for n in range(concurrent)))
                figures["peak_mb"] = rss_mb(pid, "VmHWM")
                figures["p95_s"] = statistics.quantiles(times, n=20)[-1]
            if sequential:
                for number in range(10):  # what a server keeps (its last runs) filled first
                    await ask(client, 1000 + number)
                samples = [rss_mb(pid)]
                for number in range(sequential):
                    await ask(client, 2000 + number)
                    if (number + 1) % 100 == 0:
                        samples.append(rss_mb(pid))
                figures["rss_samples_mb"] = samples
                figures["growth_mb_per_100"] = (samples[-1] - samples[0]) / (sequential / 100)
    return figures


# -- the whole --------------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the long history")
    parser.add_argument("--repeat", type=int, default=5, help="`quorum run`s on each history (median)")
    parser.add_argument("--sequential", type=int, default=300, help="sequential MCP runs (0: skip)")
    parser.add_argument(
        "--mcp-speed",
        type=float,
        default=1.0,
        help="the demo's speed for the concurrent MCP calls (1: its own pace, a run of seconds)",
    )
    parser.add_argument("--no-mcp", action="store_true", help="skip `quorum mcp`")
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object, last line")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.home, args.config)
        return

    fill = cached_fill(args.runs)
    out: dict[str, Any] = {"runs": args.runs, "load_average_start": load_average()}
    with tempfile.TemporaryDirectory(prefix="quorum-bench-scale-") as scratch:
        folder = Path(scratch)
        config = demo_config(folder, SPEED)
        paced = demo_config(folder, args.mcp_speed)
        empty, big = folder / "empty", folder / "big"
        for home in (empty, big):
            history_path(home).parent.mkdir(parents=True)
        shutil.copyfile(fill, history_path(big))
        started = time.perf_counter()
        _wall, _peak, _ = quorum(big, config, "history", "--limit", "1")  # opens it: migrates the copy
        out["open_first_s"] = time.perf_counter() - started
        say(f"a history of {args.runs:,} runs ({history_bytes(big) / 1e6:.0f} MB), load {load_average()}")
        say(f"  first open (migrations, if any)  {out['open_first_s']:6.2f} s")

        before = history_bytes(big)
        first = run_once(big, config, 0)
        first_empty = run_once(empty, config, 0)
        out["first_run_beyond_s"], out["first_run_empty_beyond_s"] = (
            first["beyond_s"],
            first_empty["beyond_s"],
        )
        out["first_run_peak_rss_mb"] = first["peak_mb"]
        out["first_run_db_growth_mb"] = (history_bytes(big) - before) / 1e6
        say(
            f"  the first run on it: {first['beyond_s']:.2f} s beyond the run (empty: "
            f"{first_empty['beyond_s']:.2f} s), peak {first['peak_mb']:.0f} MB, the history grew "
            f"{out['first_run_db_growth_mb']:.1f} MB"
        )
        primed = child("prime", big, config)
        out["prime_lookups"], out["prime_s"] = primed["lookups"], primed["prime_s"]
        out["vectors_mb"] = primed["grown_mb"]
        say(
            f"  every question embedded: {primed['lookups']} more lookups, {primed['prime_s']:.0f} s, "
            f"the history grew {primed['grown_mb']:.1f} MB"
        )

        results: dict[str, list[dict[str, float]]] = {"empty": [], "big": []}
        for number in range(args.repeat):
            results["empty"].append(run_once(empty, config, 100 + number))
            results["big"].append(run_once(big, config, 100 + number))

        def median(which: str, key: str) -> float:
            return statistics.median(r[key] for r in results[which])

        out["run_beyond_empty_s"], out["run_beyond_s"] = (
            median("empty", "beyond_s"),
            median("big", "beyond_s"),
        )
        out["run_overhead_ratio"] = out["run_beyond_s"] / out["run_beyond_empty_s"]
        out["run_peak_rss_empty_mb"], out["run_peak_rss_mb"] = (
            median("empty", "peak_mb"),
            median("big", "peak_mb"),
        )
        out["run_peak_rss_delta_mb"] = out["run_peak_rss_mb"] - out["run_peak_rss_empty_mb"]
        cache_off = folder / "demo-cache-off.toml"
        cache_off.write_text(f"[demo]\nspeed = {SPEED}\n[cache]\nenabled = false\n", encoding="utf-8")
        no_cache = run_once(big, cache_off, 199)
        out["run_no_cache_beyond_s"], out["run_no_cache_peak_rss_mb"] = (
            no_cache["beyond_s"],
            no_cache["peak_mb"],
        )
        say(f"quorum run --json (median of {args.repeat})      empty      {args.runs:,} runs")
        say(
            f"  time beyond the run             {out['run_beyond_empty_s']:6.2f} s   "
            f"{out['run_beyond_s']:6.2f} s"
            f"   ratio {out['run_overhead_ratio']:.2f} (target <= 1.2)"
        )
        say(
            f"  peak RSS                        {out['run_peak_rss_empty_mb']:6.0f} MB  "
            f"{out['run_peak_rss_mb']:6.0f} MB  +{out['run_peak_rss_delta_mb']:.0f} MB (target <= +50)"
        )
        say(
            f"  with the cache off                           {no_cache['beyond_s']:6.2f} s, "
            f"{no_cache['peak_mb']:.0f} MB"
        )

        suggest = child("suggest", big, config)
        out.update(suggest_ms=suggest["suggest_ms"], suggest_peak_mb=suggest["suggest_peak_mb"])
        out["suggest_questions"] = suggest["questions"]
        say(
            f"suggestion scan over {suggest['questions']:,} questions  {suggest['suggest_ms']:6.0f} ms "
            f"(target <= 100), adds {suggest['suggest_peak_mb']:.0f} MB at its peak"
        )

        filtered = child("filter", big, config)
        filtered_empty = child("filter", empty, config)
        out["filter_ms"] = max(filtered.values())
        out["filter_empty_ms"] = max(filtered_empty.values())
        out.update({f"filter_{name}_ms": ms for name, ms in filtered.items()})
        say(
            "history filter, list_runs(limit=100, text=W) on a fresh store   "
            f"{out['filter_ms']:.0f} ms at worst"
        )
        for name, word in FILTER_WORDS.items():
            say(f"  {word!r:<14} ({name:<6})   {filtered_empty[name]:7.1f} ms  {filtered[name]:7.1f} ms")
        cmd_empty = statistics.median(
            quorum(empty, config, "history", "--filter", "kubernetes")[0] for _ in range(3)
        )
        cmd_big = statistics.median(
            quorum(big, config, "history", "--filter", "kubernetes")[0] for _ in range(3)
        )
        out["filter_command_empty_s"], out["filter_command_s"] = cmd_empty, cmd_big
        say(f"  quorum history --filter kubernetes (process)  {cmd_empty:5.2f} s  {cmd_big:5.2f} s")

        shown = child("show", big, config)
        out["show_ms"] = shown["show_ms"]
        evict(history_path(big))
        show_big = quorum(big, config, "show", shown["oldest"], "--json")[0]
        one_empty = json.loads(quorum(empty, config, "history", "--json", "--limit", "1")[2])[0]["id"]
        evict(history_path(empty))
        show_empty = quorum(empty, config, "show", one_empty, "--json")[0]
        out["show_command_empty_s"], out["show_command_s"] = show_empty, show_big
        say(
            f"show of the oldest run, cold: resolve + load {shown['show_ms']:.0f} ms (target <= 200); "
            f"quorum show (process) {show_empty:.2f} s empty, {show_big:.2f} s"
        )

        if not args.no_mcp:
            mcp_empty = asyncio.run(mcp_figures(empty, paced, concurrent=MCP_CONCURRENT, sequential=0))
            mcp_big = asyncio.run(mcp_figures(big, paced, concurrent=MCP_CONCURRENT, sequential=0))
            if args.sequential:
                mcp_empty |= asyncio.run(mcp_figures(empty, config, concurrent=0, sequential=args.sequential))
            out["mcp_peak_rss_empty_mb"], out["mcp_peak_rss_mb"] = mcp_empty["peak_mb"], mcp_big["peak_mb"]
            out["mcp_rss_ratio"] = mcp_big["peak_mb"] / mcp_empty["peak_mb"]
            out["mcp_p95_empty_s"], out["mcp_p95_s"] = mcp_empty["p95_s"], mcp_big["p95_s"]
            out["mcp_p95_ratio"] = mcp_big["p95_s"] / mcp_empty["p95_s"]
            say(f"quorum mcp, {MCP_CONCURRENT} concurrent consensus calls    empty      {args.runs:,} runs")
            say(
                f"  peak RSS                        {mcp_empty['peak_mb']:6.0f} MB  "
                f"{mcp_big['peak_mb']:6.0f} MB"
                f"  ratio {out['mcp_rss_ratio']:.2f} (target <= 1.2)"
            )
            say(
                f"  p95                             {mcp_empty['p95_s']:6.2f} s   {mcp_big['p95_s']:6.2f} s"
                f"   ratio {out['mcp_p95_ratio']:.2f} (target <= 1.2)"
            )
            if args.sequential:
                samples = mcp_empty["rss_samples_mb"]
                out["mcp_rss_samples_mb"] = samples
                out["mcp_rss_growth_mb_per_100_runs"] = mcp_empty["growth_mb_per_100"]
                out["mcp_rss_growth_mb"] = samples[-1] - samples[0]
                say(
                    f"  RSS over {args.sequential} sequential runs (empty history): "
                    + " -> ".join(f"{mb:.0f}" for mb in samples)
                    + f" MB, {mcp_empty['growth_mb_per_100']:+.1f} MB per 100 runs (target: <= +10 MB in all)"
                )
    out["load_average_end"] = load_average()
    say(f"load average at the start {out['load_average_start']}, at the end {out['load_average_end']}")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
