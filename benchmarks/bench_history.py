"""The run history at scale: listing, filtering, loading and opening a store of many recorded runs.

Builds a temporary database of N runs (default 10,000) through the real `RunRecorder`, fed with
the engine events of a realistic run: a 3-member panel from the shipped catalog deliberating one
round (3 positions, a draft and 3 votes: 7 call rows of about 2 KB of text each), the CLI's config
snapshot, the final result. Then prints the median time of:

    list      `list_runs(limit=200)`: the history screen's first page        (target < 200 ms)
    filter    the same with a text filter that ~1% of the questions match
    load      `load(run_id)` of a random run
    open      `RunStore(path)`: the migrations check and the interrupted scan  (target < 200 ms)

and the database size per run. Every figure is taken on a fresh connection (SQLite's own cache is
empty) with the OS's file cache warm, as it is for a user who just ran Quorum; opening is also
timed with the file dropped from the OS cache (as after a reboot) where the OS allows it, and the
bytes an open reads are counted on Linux.

Then the cost of recording a run as it streams, and of following it: 8 members each streaming
100 tokens a second for a minute into the real `RunRecorder`, checkpointed every 2.0 s (the
interval before) and every 0.5 s (now). For each: the time one checkpoint takes (handed over on
the event loop, written on the store's writer thread: timed to the end of its write), and the CPU
all the checkpoints take as a share of one core. And what a dashboard
following that run pays per poll: `RunFollower.poll()`, a load of the run and the events of what
is new, at the end of the minute.

    python benchmarks/bench_history.py [--runs 10000] [--checkpoints]   (--checkpoints: only those)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.config.catalog import Catalog  # noqa: E402
from tui.config.loading import load_settings  # noqa: E402
from tui.config.schema import MemberSpec  # noqa: E402
from tui.config.snapshot import settings_snapshot  # noqa: E402
from tui.engine import events as ev  # noqa: E402
from tui.engine.quorum import standing  # noqa: E402
from tui.engine.types import (  # noqa: E402
    CallResult,
    CallStatus,
    Member,
    Mode,
    Outcome,
    Phase,
    RoundResult,
    RunRequest,
    RunResult,
    RunStatus,
    Tally,
    Totals,
    Vote,
    VoteValue,
)
from tui.history.follow import RunFollower  # noqa: E402
from tui.history.recorder import RunRecorder  # noqa: E402
from tui.history.store import RunStore  # noqa: E402

TARGET_MS = 200.0
FILTER_WORD = "kubernetes"  # in about 1% of the questions
_VOCABULARY = (
    "the a of to and in for is on that with as it be by this are from or at an which we can not have "
    "will should would could migration latency rollback owner cost team service database cache queue "
    "shard replica index schema deploy release flag metric budget risk failure retry timeout region "
    "traffic capacity pipeline contract vendor license audit backup restore incident alert dashboard "
    "throughput consistency availability partition compaction snapshot tenant quota billing invoice"
)
WORDS = _VOCABULARY.split()


def text(rng: random.Random, size: int) -> str:
    """About `size` characters of prose-like text."""
    out: list[str] = []
    length = 0
    while length < size:
        sentence = " ".join(rng.choices(WORDS, k=rng.randint(8, 20))).capitalize() + "."
        out.append(sentence)
        length += len(sentence) + 1
    return " ".join(out)


def question(rng: random.Random, number: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 16))
    if number % 100 == 7:
        words.insert(rng.randrange(len(words)), FILTER_WORD)
    return " ".join(words).capitalize() + "?"


def call(run_id: str, number: int, phase: Phase, index: int | None, who: Member, body: str) -> CallResult:
    tokens_in, tokens_out = 900 + 10 * number, len(body) // 4
    return CallResult(
        call_id=f"{run_id}-{number}",
        round=1,
        phase=phase,
        member_index=index,
        alias=who.alias,
        model_id=who.model_id,
        provider=who.provider,
        stance=who.stance if index is not None else None,
        status=CallStatus.SUCCESS,
        content=body,
        ttft_ms=400 + number,
        latency_ms=4000 + number,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        cost_usd=(tokens_in * who.input_price + tokens_out * who.output_price) / 1e6,
        finish_reason="stop",
    )


def record_one(
    store: RunStore,
    config: dict[str, Any],
    members: list[Member],
    rng: random.Random,
    n: int,
    synthesizers: list[Member] | None = None,
) -> None:
    """One run, as the engine's events of a one-round deliberation reach the recorder (the first
    member drafts; `synthesizers` is the chain the request names, by default that member)."""
    run_id = f"{n:06d}{rng.getrandbits(24):06x}"
    request = RunRequest(
        question=question(rng, n), members=members, synthesizers=synthesizers or [members[0]]
    )
    emit = RunRecorder(store, config=config)
    emit(ev.RunStarted(run_id, request))
    emit(ev.RoundStarted(1, request.max_rounds))
    result = RunResult(
        run_id=run_id,
        question=request.question,
        mode=Mode.DELIBERATE,
        members=members,
        max_rounds=request.max_rounds,
        started_at=datetime.now(UTC),
    )

    def one_call(number: int, phase: Phase, index: int | None, who: Member, body: str) -> CallResult:
        emit(ev.CallStarted(f"{run_id}-{number}", 1, phase, index, who.alias))
        for start in range(0, len(body), 512):  # a few deltas; a real call has hundreds
            piece = body[start : start + 512]
            if index is None:
                emit(ev.SynthesisDelta(f"{run_id}-{number}", 1, phase, piece))
            else:
                emit(ev.TextDelta(f"{run_id}-{number}", index, phase, piece))
        done = call(run_id, number, phase, index, who, body)
        result.calls.append(done)
        emit(ev.CallFinished(done))
        return done

    result.positions = [one_call(i + 1, Phase.POSITION, i, m, text(rng, 2000)) for i, m in enumerate(members)]
    draft = one_call(4, Phase.DRAFT, None, members[0], text(rng, 2000))
    votes = []
    for i, m in enumerate(members):
        reject = rng.random() < 0.3
        body = ("VERDICT: REJECT\n- " if reject else "VERDICT: ACCEPT\n- ") + text(rng, 1980)
        one_call(5 + i, Phase.VOTE, i, m, body)
        value = VoteValue.REJECT if reject else VoteValue.ACCEPT
        vote = Vote(member_index=i, alias=m.alias, value=value, objections=[body[18:90]] if reject else [])
        votes.append(vote)
        emit(ev.VoteCast(1, vote))
    accepts = sum(v.value is VoteValue.ACCEPT for v in votes)
    outcome = (
        Outcome.UNANIMOUS if accepts == 3 else Outcome.MAJORITY if accepts == 2 else Outcome.CURATOR_OVERRIDE
    )
    round_ = RoundResult(
        number=1,
        draft=draft.content,
        draft_by=draft.alias,
        votes=votes,
        tally=Tally(accept=accepts, reject=3 - accepts),
        outcome=outcome,
        status="decided",
    )
    result.rounds = [round_]
    emit(ev.RoundDecided(round_, standing(result, round_)))
    result.synthesis, result.synthesizer, result.outcome = draft.content, draft.alias, outcome
    result.rounds_used, result.status, result.finished_at = 1, RunStatus.SUCCESS, datetime.now(UTC)
    result.totals = Totals(
        wall_ms=12_000,
        input_tokens=sum(c.input_tokens for c in result.calls),
        output_tokens=sum(c.output_tokens for c in result.calls),
        cost_usd=sum(c.cost_usd for c in result.calls),
    )
    emit(ev.SynthesisFinished(draft.content, draft.alias, outcome))
    emit(ev.RunFinished(result))


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def on_fresh_store(path: Path, action: Callable[[RunStore], object], repeat: int) -> float:
    """Median ms of `action` on a store just opened (the opening itself is not timed)."""
    times = []
    for _ in range(repeat):
        store = RunStore(path)
        try:
            started = time.perf_counter()
            action(store)
            times.append((time.perf_counter() - started) * 1000)
        finally:
            store.close()
    return statistics.median(times)


def bytes_read() -> int:
    """Bytes this process has read so far (Linux), or -1."""
    try:
        with open("/proc/self/io", encoding="ascii") as io:
            return next(int(line.split()[1]) for line in io if line.startswith("rchar"))
    except (OSError, StopIteration):
        return -1


def evict(path: Path) -> None:
    """Drop the database file's pages from the OS cache (as after a reboot), where the OS allows it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def verdict(ms: float) -> str:
    return f"target < {TARGET_MS:.0f} ms: {'ok' if ms < TARGET_MS else 'MISSED'}"


async def history_screen_ms(path: Path, repeat: int) -> list[float]:
    """F2 in the dashboard until the history list shows its rows, `repeat` times."""
    from textual.widgets import DataTable

    from tui.dashboard.app import QuorumApp
    from tui.session import Session

    settings = load_settings(overrides={"store": {"path": str(path)}})
    app = QuorumApp(settings, Session(settings), save_settings=False, flush_interval=None)
    times = []
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        await pilot.pause()
        for _ in range(repeat):
            started = time.perf_counter()
            app.action_history()
            while True:
                await pilot.pause()
                tables = app.screen.query(DataTable)
                if type(app.screen).__name__ == "HistoryScreen" and tables and tables.first().row_count:
                    break
            times.append((time.perf_counter() - started) * 1000)
            app.screen.dismiss(None)
            await pilot.pause()
    return times


STREAM_S = 60.0
TOKENS_PER_S = 100
STREAMING_MEMBERS = 8


def checkpoint_cost(path: Path, members: list[Member], every_s: float) -> dict[str, float]:
    """Record `STREAMING_MEMBERS` positions streaming `TOKENS_PER_S` tokens a second each for
    `STREAM_S` seconds (in simulated time: the deltas of each interval, then its checkpoint).
    Returns the median and longest checkpoint (ms) and how many took over 10 ms, the CPU of all of
    them as a share of one core (%) over the minute, the text one call reached (KB) and a
    follower's poll at the end (ms)."""
    store = RunStore(path)
    rng = random.Random(11)
    panel = [members[i % len(members)] for i in range(STREAMING_MEMBERS)]
    run_id = f"stream{every_s:.1f}".replace(".", "")
    request = RunRequest(question="Should we shard the orders table?", members=panel, synthesizers=[panel[0]])
    recorder = RunRecorder(store, config={})
    recorder(ev.RunStarted(run_id, request))  # outside an event loop: the checkpoints are ours to call
    calls = [f"{run_id}-{index + 1}" for index in range(len(panel))]
    for index, (call_id, member) in enumerate(zip(calls, panel, strict=True)):
        recorder(ev.CallStarted(call_id, 1, Phase.POSITION, index, member.alias))
        recorder(ev.FirstToken(call_id, index, 400))
    store.flush()  # the run's rows are written on the writer's thread
    follower = RunFollower(RunStore(path), run_id)
    follower.poll()
    tokens = round(TOKENS_PER_S * every_s)
    times, cpu = [], 0.0
    for _ in range(round(STREAM_S / every_s)):
        for index, call_id in enumerate(calls):
            for _ in range(tokens):  # a token is a word and its space, about 4 characters
                recorder(ev.TextDelta(call_id, index, Phase.POSITION, rng.choice(WORDS) + " "))
        cpu_start, started = time.process_time(), time.perf_counter()
        recorder.checkpoint()
        store.flush()
        times.append((time.perf_counter() - started) * 1000)
        cpu += time.process_time() - cpu_start
    poll_ms = median_ms(follower.poll, 1)  # what one interval added, as the dashboard polls it
    text_kb = len(store.load(run_id).calls[0].content) / 1000
    follower.store.close()
    store.close()
    return {
        "median_ms": statistics.median(times),
        "max_ms": max(times),
        "core_pct": cpu / STREAM_S * 100,
        "writes": len(times),
        "slow": sum(t > 10 for t in times),
        "text_kb": text_kb,
        "poll_ms": poll_ms,
    }


def print_checkpoint_costs(folder: Path, members: list[Member]) -> None:
    print(
        f"recording as it streams: {STREAMING_MEMBERS} members x {TOKENS_PER_S} tokens/s for "
        f"{STREAM_S:.0f} s, checkpointed by the real RunRecorder"
    )
    for every_s, when in ((2.0, "before"), (0.5, "now")):
        cost = checkpoint_cost(folder / f"stream-{every_s}.sqlite3", members, every_s)
        print(
            f"  every {every_s:.1f} s ({when:<6})  {cost['writes']:4.0f} checkpoints  "
            f"median {cost['median_ms']:5.2f} ms  longest {cost['max_ms']:5.2f} ms "
            f"({cost['slow']:.0f} over 10 ms)  CPU {cost['core_pct']:5.2f}% of a core"
        )
    print("  (a checkpoint over 10 ms is SQLite folding its write-ahead log back into the file)")
    print(
        f"  follower's poll at the end (load + new events, {cost['text_kb']:.0f} KB a call): "
        f"{cost['poll_ms']:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="how many runs the database holds")
    parser.add_argument("--checkpoints", action="store_true", help="only the recording-as-it-streams figures")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="quorum-bench-history-") as tmp:
        os.environ["QUORUM_HOME"] = tmp  # the shipped settings only, never the user's
        settings = load_settings()
        catalog = Catalog(settings)
        members = [
            catalog.member(MemberSpec.model_validate({"model": name, "stance": stance}))
            for name, stance in (
                ("gpt-sol", "neutral"),
                ("claude-sonnet", "against"),
                ("gemini-flash", "for"),
            )
        ]
        if args.checkpoints:
            print_checkpoint_costs(Path(tmp), members)
            return
        path = Path(tmp) / "history.sqlite3"
        rng = random.Random(7)
        config = settings_snapshot(
            settings, RunRequest(question="q", members=members, synthesizers=[members[0]])
        )

        store = RunStore(path)
        started = time.perf_counter()
        for n in range(args.runs):
            record_one(store, config, members, rng, n)
            if n and n % 1000 == 0:
                print(f"  ... {n:,} runs recorded", file=sys.stderr, flush=True)
        create_s = time.perf_counter() - started
        ids = [row[0] for row in store._db.execute("SELECT id FROM runs")]
        store.close()  # checkpoints the WAL into the file
        size = sum(p.stat().st_size for p in Path(tmp).iterdir() if p.name.startswith(path.name))

        store = RunStore(path)
        assert store.count() == args.runs
        matches = len(store.list_runs(limit=args.runs, text=FILTER_WORD))
        store.close()

        list_ms = on_fresh_store(path, lambda s: s.list_runs(limit=200), 20)
        filter_ms = on_fresh_store(path, lambda s: s.list_runs(limit=200, text=FILTER_WORD), 20)
        load_ms = on_fresh_store(path, lambda s: s.load(rng.choice(ids)), 50)

        def open_close() -> None:
            RunStore(path).close()

        open_ms = median_ms(open_close, 20)
        before = bytes_read()
        open_close()
        open_mb = (bytes_read() - before) / 1e6 if before >= 0 else None

        def cold_open() -> None:
            evict(path)
            open_close()

        cold_ms = median_ms(cold_open, 5) if hasattr(os, "posix_fadvise") else None
        screen_ms = statistics.median(asyncio.run(history_screen_ms(path, 5)))

    print(f"history store benchmark: {args.runs:,} runs, 3 members, 7 calls of ~2 KB each per run")
    print(
        f"  create (informational)        {create_s:8.1f} s    ({create_s / args.runs * 1000:.2f} ms per run)"
    )
    print(f"  list_runs(limit=200)          {list_ms:8.1f} ms   {verdict(list_ms)}")
    print(f"  list_runs(text={FILTER_WORD!r})  {filter_ms:8.1f} ms   ({matches} of {args.runs:,} runs match)")
    print(f"  load(random run)              {load_ms:8.1f} ms")
    read = f" (reads {open_mb:.0f} MB)" if open_mb is not None else ""
    print(f"  open RunStore                 {open_ms:8.1f} ms   {verdict(open_ms)}{read}")
    if cold_ms is not None:
        print(f"  open, file not in OS cache    {cold_ms:8.1f} ms   {verdict(cold_ms)}")
    print(f"  dashboard history screen      {screen_ms:8.1f} ms   {verdict(screen_ms)} (F2 to a filled list)")
    print(
        f"  database size                 {size / 1e6:8.1f} MB   ({size / args.runs / 1000:.1f} KB per run)"
    )
    with tempfile.TemporaryDirectory(prefix="quorum-bench-history-") as tmp:
        print_checkpoint_costs(Path(tmp), members)


if __name__ == "__main__":
    main()
