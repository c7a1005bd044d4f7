"""What `quorum eval` itself costs: 1,000 arithmetic items in four modes with instant members.

The demo members at an infinite speed (every pause of theirs is zero: they still stream their
answers piece by piece, as a provider does) answer 1,000 generated arithmetic items in every mode
(single, vote, consult, deliberate: three runs an item, plus the development slice's votes), with
the history recording every run as a real evaluation does, through `eval_command` itself: the
dataset, the estimate, the runs, the per-item log, the progress (to a file) and the report. Then
the same runs again with nothing of the evaluation around them (the same requests, started and
recorded the same way, as many at once), so the evaluation's own share shows apart from the
engine's and the history's:

    total        wall time of the whole evaluation (and the process's CPU time), per item
    runs alone   the same runs with nothing of the evaluation around them, per item
    harness      the time spent in the evaluation's own code (choosing the items, the estimate,
                 reading and judging each run's answers, the log, the progress, the report),
                 timed function by function, per item; and the difference in CPU time between
                 the two, per item (on a busy machine wall times differ by more than the harness)

Targets: the whole under 60 s; the harness's own share at most 5 ms an item.

    python benchmarks/bench_eval.py [--items 1000] [--concurrency 8] [--profile N] [--repeat 1]

The machine may be shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.ask import Ask  # noqa: E402
from tui.cli.eval import eval_command  # noqa: E402
from tui.cli.eval_options import DEFAULT_CONCURRENCY, EvalOptions  # noqa: E402
from tui.config.loading import load_settings  # noqa: E402
from tui.engine.types import Mode, Origin  # noqa: E402
from tui.eval.datasets import arithmetic  # noqa: E402
from tui.eval.scoring import NumericScorer, question_for  # noqa: E402
from tui.history.recorder import finish_recording  # noqa: E402
from tui.pool import ProviderPool  # noqa: E402
from tui.providers.demo import DemoProvider  # noqa: E402
from tui.session import Session, open_store, start_run  # noqa: E402

MODES = (Mode.VOTE, Mode.CONSULT, Mode.DELIBERATE)
"""The panel modes measured (with `single`, derived from the vote runs: four modes), named so the
figure stays comparable when the engine gains modes."""
SPENT: dict[str, list[float]] = {}
"""Seconds spent in each part of the evaluation's own code (see `timed`): wall time, and the CPU
time of the thread running it (which leaves out waiting for the GIL, another thread's work)."""


def timed(owner: object, name: str, label: str) -> None:
    """Count the time `owner.name` takes (a function, or a coroutine function) under `label`."""
    original = getattr(owner, name)
    SPENT.setdefault(label, [0.0, 0.0])

    def add(started: float, cpu: float) -> None:
        SPENT[label][0] += time.perf_counter() - started
        SPENT[label][1] += time.thread_time() - cpu

    if asyncio.iscoroutinefunction(original):

        async def waited(*args: object, **kwargs: object) -> object:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                add(started, cpu)

        setattr(owner, name, waited)
        return

    def called(*args: object, **kwargs: object) -> object:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            add(started, cpu)

    setattr(owner, name, called)


def time_the_harness() -> None:
    import tui.cli.eval as command
    import tui.eval.runner as runner
    from tui.cli.eval_progress import EvalProgress
    from tui.eval.log import EvalLog

    timed(command._Plan, "of", "items and panel")
    timed(command, "estimate", "estimate")
    timed(runner, "item_record", "answers read and judged")
    timed(EvalLog, "append", "log written")
    timed(EvalProgress, "finished", "progress")
    timed(command, "_print_report", "report")


def instant() -> None:
    """The demo members at an infinite speed: every pause of theirs is zero."""
    DemoProvider._scaled = lambda self, seconds: 0.0  # type: ignore[method-assign]


def whole(config: Path, items: int, concurrency: int, log: Path) -> tuple[float, float, dict[str, object]]:
    """Seconds for the whole evaluation through `eval_command` (wall, CPU), and its summary."""
    settings = load_settings(str(config))
    options = EvalOptions(
        dataset="arithmetic",
        limit=items,
        modes=",".join(["single", *MODES]),
        as_json=True,
        log=str(log),
        concurrency=concurrency,
    )
    out, err = io.StringIO(), io.StringIO()
    started, cpu = time.perf_counter(), time.process_time()
    code = eval_command(settings, options, out, err)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if code != 0:
        raise SystemExit(f"the evaluation failed ({code}):\n{err.getvalue()}")
    return elapsed, cpu, json.loads(out.getvalue().splitlines()[-1])


def runs_alone(config: Path, items: int, concurrency: int) -> tuple[float, float]:
    """Seconds for the same runs (the development slice's votes and each item in three modes),
    started and recorded as the evaluation does, with nothing else around them."""
    settings = load_settings(str(config))
    samples = arithmetic()[:items]
    scorer = NumericScorer()
    asked = [question_for(sample, scorer) for sample in samples]
    work = [(asked[i], Mode.VOTE) for i in range(20)]
    work += [(item, mode) for item in asked[20:] for mode in MODES]
    session = Session(settings, Ask(origin=Origin.EVAL, answer=asked[0].answer))
    store = open_store(settings)

    async def make() -> None:
        pool = ProviderPool(settings)
        queue = iter(work)

        async def worker() -> None:
            for item, mode in queue:
                session.mode, session.answer = mode, item.answer
                run = start_run(settings, session.prepare(item.question).request, pool, [], store=store)
                await finish_recording(store, await run.execute())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await pool.aclose()

    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(make())
    if store is not None:
        store.close()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", type=int, default=1000, help="items asked, the development slice's among them"
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure this many times (each in a new history)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile the evaluation, print N rows"
    )
    args = parser.parse_args()
    instant()
    time_the_harness()
    items = args.items
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for attempt in range(1, args.repeat + 1):
        for label in SPENT:
            SPENT[label] = [0.0, 0.0]
        with tempfile.TemporaryDirectory() as home:
            os.environ["QUORUM_HOME"] = home
            config = Path(home) / "instant.toml"
            config.write_text("[demo]\nspeed = 1000000.0\n")
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            total, cpu, summary = whole(config, items, args.concurrency, Path(home) / "eval.jsonl")
            if profiler is not None:
                profiler.disable()
            log_bytes = (Path(home) / "eval.jsonl").stat().st_size
        with tempfile.TemporaryDirectory() as home:
            os.environ["QUORUM_HOME"] = home
            config = Path(home) / "instant.toml"
            config.write_text("[demo]\nspeed = 1000000.0\n")
            alone, alone_cpu = runs_alone(config, items, args.concurrency)
        own, own_cpu = (sum(spent[i] for spent in SPENT.values()) for i in (0, 1))
        scored, dev = int(str(summary["items"])), int(str(summary["dev_items"]))
        per_item = {name: value / items * 1000 for name, value in (("total", total), ("cpu", cpu))}
        print(
            f"[{attempt}] {items:,} items x 4 modes ({scored} scored + {dev} dev, "
            f"{scored * 3 + dev:,} runs), concurrency {args.concurrency}, history on · "
            f"load {os.getloadavg()[0]:.2f}\n"
            f"    total {total:.1f} s = {per_item['total']:.1f} ms/item (CPU {per_item['cpu']:.1f}) · "
            f"runs alone {alone / items * 1000:.1f} ms/item (CPU {alone_cpu / items * 1000:.1f})\n"
            f"    harness: {own_cpu / items * 1000:.2f} ms/item of CPU in its own code, "
            f"{own / items * 1000:.2f} ms/item of wall time (with its waits for the GIL) · CPU difference "
            f"{(cpu - alone_cpu) / items * 1000:.1f} ms/item · log {log_bytes / 1e6:.1f} MB\n"
            "    CPU, wall: "
            + " · ".join(f"{label} {c * 1000:.0f}, {w * 1000:.0f} ms" for label, (w, c) in SPENT.items())
        )
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
