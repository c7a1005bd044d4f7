"""`quorum eval DATASET`: whether the panel beats its best member asked once, or a plain vote, on
questions with known answers.

Before anything is asked, on stderr: what is measured, the estimate of its calls and cost (refused
above `--max-cost` without `--yes`), and where the per-item log is. While it runs, the progress on
stderr. At the end the report on stdout, computed from the log (or with `--json` its summary, the
last line of stdout).

Exit codes: 0 every run was made; 1 new runs stopped at `--max-cost` (the report covers the items
finished); 2 a usage error (the refusal of the estimate among them); 130 interrupted (the report
covers the items finished, and `--resume LOG` runs the rest).
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tui.ask import Ask
from tui.cli.eval_options import EvalOptions, default_dev
from tui.cli.eval_progress import EvalProgress
from tui.config import paths
from tui.config.catalog import secret_values
from tui.config.schema import Settings
from tui.engine.types import Mode, Origin, RunRequest
from tui.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, StoreError, UsageError, hide_values
from tui.eval.datasets import Sample, load_dataset, select
from tui.eval.estimate import ESTIMATE_METHOD, Spend, estimate
from tui.eval.log import (
    NO_ANSWER,
    RUN_FAILED,
    EvalHeader,
    EvalLog,
    ItemRecord,
    LogError,
    evals_log_name,
    items_digest,
    seat_json,
    summarize_log,
)
from tui.eval.modes import SINGLE, parse_modes, run_modes
from tui.eval.plan import DEV, Work, plan_work
from tui.eval.report import EvalReport
from tui.eval.runner import EvalRunner, Stop
from tui.eval.scoring import Scorer, check_targets, default_scorer, parse_scorer, question_for
from tui.history.store import RunStore
from tui.pool import ProviderPool
from tui.render.formatting import cost, literal
from tui.render.words import counted
from tui.session import Session, open_store

AfterRecord = Callable[[ItemRecord, EvalRunner], None]


def eval_command(
    settings: Settings,
    options: EvalOptions,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    *,
    after_record: AfterRecord | None = None,
    clock: Callable[[], float] | None = None,
) -> int:
    """Run the evaluation `options` describe and print its report; the exit code (see above).
    `after_record` is told of each run as it is logged (a test interrupts with it); `clock` is the
    runs' own (a test freezes it)."""
    stdout = stdout or sys.stdout
    say = _Say(stderr or sys.stderr)
    plan = _Plan.of(settings, options)
    # Opened before anything is said: a log that cannot be written (or resumed) is the one line.
    if options.resume:
        log = EvalLog.resume(Path(options.resume).expanduser(), plan.header)
    else:
        log = EvalLog.create(_log_path(options), plan.header)
    try:
        say(plan.heading())
        for note in plan.notes:
            say(f"note: {literal(note)}")
        work = plan.work(log.done())
        spend = asyncio.run(estimate(plan.requests(), Counter(item.mode for item in work)))
        say(_estimate_line(work, spend))
        if spend.cost_usd > options.max_cost and not options.yes:
            if not options.resume:
                log.discard()
            limit = cost(options.max_cost)
            raise UsageError(
                f"the estimate, about {cost(spend.cost_usd)}, is above --max-cost {limit}: give --yes to "
                f"start anyway (no new item starts once {limit} is spent)"
            )
        before = f" ({counted(len(log.records), 'run')} done before)" if log.records else ""
        say(f"log: {log.path}{before}")
        pool = ProviderPool(settings)
        runner = _runner(settings, plan, log, pool, options, say, clock)
        stopped = _run(runner, pool, work, log, plan, say, after_record)
    finally:
        log.close()
    for problem in runner.unrecorded[:3]:
        say(f"quorum: {problem}")
    kept = f"every finished run is kept in {log.path} (--resume {log.path} runs the rest)"
    if stopped is Stop.MAX_COST:
        limit = cost(options.max_cost)
        say(
            f"quorum: spent {cost(runner.spent)}, reaching --max-cost {limit}: no new run was started; {kept}"
        )
    elif stopped is Stop.INTERRUPTED:
        say(f"quorum: interrupted; {kept}")
    _print_report(log, stopped, options.as_json, stdout, secret_values(settings))
    if stopped is Stop.INTERRUPTED:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if stopped is Stop.MAX_COST else EXIT_OK


@dataclass
class _Plan:
    """What the options ask to measure: the items, the scorer, the modes, the session every run's
    request is built by, the log's header, and notes for the user."""

    dev: tuple[Sample, ...]
    scored: tuple[Sample, ...]
    scorer: Scorer
    modes: list[str]
    session: Session
    header: EvalHeader
    notes: list[str]

    @classmethod
    def of(cls, settings: Settings, options: EvalOptions) -> _Plan:
        modes = parse_modes(options.modes)
        dataset = load_dataset(options.dataset)
        scorer = parse_scorer(options.scorer or default_scorer(dataset.samples))
        notes: list[str] = []
        dev = options.dev if options.dev is not None else default_dev(len(dataset.samples))
        if SINGLE not in modes:
            if options.dev:
                notes.append(
                    "--dev has no effect without single: the slice is where the best single member is chosen"
                )
            dev = 0
        selection = select(dataset, limit=options.limit, seed=options.seed, dev=dev)
        check_targets(scorer, [*selection.dev, *selection.scored])
        first = question_for(selection.scored[0], scorer)
        # Built under the answer shape: a panel Quorum chose sits without stances (a stance is an
        # instruction to argue, not to compute); one given with -m or in [panel] keeps its own.
        ask = Ask(
            origin=Origin.EVAL,
            members=tuple(options.members),
            synthesizer=options.synthesizer,
            mode=Mode.VOTE,
            answer=first.answer,
        )
        session = Session(settings, ask)
        request = session.prepare(first.question).request
        notes += session.notes
        notes += [f"{s.alias} ({s.stance.value}) is not seated: {s.reason}" for s in request.skipped]
        header = EvalHeader(
            dataset=dataset.name,
            items=items_digest([*selection.dev, *selection.scored]),
            dev=tuple(sample.id for sample in selection.dev),
            scored=tuple(sample.id for sample in selection.scored),
            limit=options.limit,
            seed=options.seed,
            scorer=scorer.spec,
            panel=tuple(seat_json(member) for member in request.members),
            synthesizers=tuple(member.alias for member in request.synthesizers),
            modes=tuple(modes),
            rounds=request.max_rounds,
            run_seed=request.seed,
        )
        return cls(selection.dev, selection.scored, scorer, modes, session, header, notes)

    def work(self, done: set[tuple[str, str]]) -> list[Work]:
        return plan_work(self.dev, self.scored, self.scorer, self.modes, done)

    def requests(self) -> dict[Mode, RunRequest]:
        """A request of each mode to be run, for the scored item whose question is of median length."""
        asked = [question_for(sample, self.scorer) for sample in self.scored]
        median = statistics.median_low(len(item.question) for item in asked)
        item = next(item for item in asked if len(item.question) == median)
        requests = {}
        for mode in run_modes(self.modes):
            self.session.mode, self.session.answer = mode, item.answer
            requests[mode] = self.session.prepare(item.question).request
        return requests

    def heading(self) -> str:
        h = self.header
        dev = f" + {len(h.dev):,} development" if h.dev else ""
        demo = " (demo: simulated)" if any(seat["provider"] == "demo" for seat in h.panel) else ""
        return literal(
            f"quorum eval {h.dataset}: {counted(len(h.scored), 'item')}{dev} (seed {h.seed}) · "
            f"{h.scorer} scorer · panel {', '.join(h.members)}{demo} · modes {', '.join(h.modes)}"
        )

    def progress_totals(self) -> dict[str, int]:
        """How many runs each count of the progress will make: `dev`, then each mode run."""
        totals = {DEV: len(self.dev)} if SINGLE in self.modes and self.dev else {}
        return totals | {mode.value: len(self.scored) for mode in run_modes(self.modes)}


class _Say:
    """Lines on stderr, above the progress line while it shows."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.progress: EvalProgress | None = None

    def __call__(self, line: str) -> None:
        if self.progress is not None:
            self.progress.note(line)
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except OSError:  # a closed or full stderr: the evaluation goes on, unprinted
            pass


def _estimate_line(work: Sequence[Work], spend: Spend) -> str:
    if not work:
        return "estimate: nothing left to run"
    tokens = spend.input_tokens + spend.output_tokens
    return (
        f"estimate: {counted(len(work), 'run')}, at most {spend.calls:,} calls and {tokens:,} tokens, "
        f"about {cost(spend.cost_usd)} ({ESTIMATE_METHOD})"
    )


def _log_path(options: EvalOptions) -> Path:
    if options.log:
        return Path(options.log).expanduser()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = paths.evals_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LogError(f"cannot make the folder of the logs {folder}: {err.strerror or err}") from None
    first = folder / evals_log_name(options.dataset, stamp)
    path, number = first, 1
    while path.exists():  # two evaluations started within the same second
        number += 1
        path = first.with_stem(f"{first.stem}-{number}")
    return path


def _runner(
    settings: Settings,
    plan: _Plan,
    log: EvalLog,
    pool: ProviderPool,
    options: EvalOptions,
    say: _Say,
    clock: Callable[[], float] | None,
) -> EvalRunner:
    store: RunStore | None
    try:
        store = open_store(settings)
    except StoreError as err:
        say(f"quorum: {err}; the runs are logged but not recorded in the history")
        store = None
    runner = EvalRunner(
        settings,
        plan.session,
        plan.scorer,
        log,
        pool,
        store=store,
        concurrency=options.concurrency,
        max_cost=options.max_cost,
    )
    if clock is not None:
        runner.clock = clock
    return runner


def _run(
    runner: EvalRunner,
    pool: ProviderPool,
    work: list[Work],
    log: EvalLog,
    plan: _Plan,
    say: _Say,
    after_record: AfterRecord | None,
) -> Stop | None:
    """Make the runs with the progress showing; why they stopped early, if they did."""
    progress = EvalProgress(say.stream, plan.progress_totals(), len(plan.scored))

    failures = _Failures(say)

    def on_record(record: ItemRecord) -> None:
        failures.tell(record)
        progress.finished(_label(record), log.items_done, runner.spent)
        if after_record is not None:
            after_record(record, runner)

    runner.on_record = on_record
    progress.start(Counter(_label(record) for record in log.records), log.items_done)
    say.progress = progress

    async def make() -> Stop | None:
        # SIGTERM (`timeout`, `kill`, a job scheduler) stops the evaluation as Ctrl+C does: the
        # finished runs are kept, the partial report printed, --resume named.
        stops = _on_sigterm(asyncio.current_task())
        try:
            return await runner.run(work)
        finally:
            stops()
            await pool.aclose()

    try:
        return asyncio.run(make())
    finally:
        progress.end()
        say.progress = None
        if runner.store is not None:
            runner.store.close()


def _on_sigterm(task: asyncio.Task[Any] | None) -> Callable[[], None]:
    """Cancel `task` on SIGTERM, as Ctrl+C cancels it; what undoes that. Where a handler cannot be
    set (not the main thread, not a Unix loop), SIGTERM keeps its default."""
    loop = asyncio.get_running_loop()
    if task is None:
        return lambda: None
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):
        return lambda: None

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGTERM)

    return restore


class _Failures:
    """Says each way runs fail once, as it first happens: a member's call that failed (a key not
    set, a server down), a run that ended failed. Each such answer counts as wrong; the log holds
    every one. An answer that could not be read is not a failure: it is what is measured."""

    MOST = 5
    """How many different failures are said; the rest are in the log only."""

    def __init__(self, say: _Say) -> None:
        self.say = say
        self.said: set[str] = set()

    def tell(self, record: ItemRecord) -> None:
        whys = [
            f"{seat.member}: {seat.failure}"
            for seat in record.seats
            if seat.failure is not None and seat.failure.startswith(NO_ANSWER)
        ]
        if record.failure is not None and record.failure.startswith(RUN_FAILED):
            whys.append(f"a {record.mode} run failed: {record.failure.removeprefix(RUN_FAILED)}")
        for why in whys:
            if why in self.said or len(self.said) >= self.MOST:
                continue
            self.said.add(why)
            more = "; further failures are in the log only" if len(self.said) == self.MOST else ""
            self.say(f"note: {literal(why)} (item {literal(record.item)}: counted as wrong, said once{more})")


def _label(record: ItemRecord) -> str:
    """The progress's count a run adds to: `dev` for the development slice, else its mode."""
    return DEV if record.slice == DEV else record.mode


def _print_report(
    log: EvalLog, stopped: Stop | None, as_json: bool, stdout: TextIO, secrets: Sequence[str]
) -> None:
    """The report of the items every mode has finished on, computed from the log."""
    summary = summarize_log(log.header, log.records)
    report = EvalReport(summary)
    planned = len(log.header.scored)
    if as_json:
        data = {
            **report.to_json(),
            "planned_items": planned,
            "complete": summary.items == planned,
            "stopped": stopped.value if stopped is not None else None,
            "log": str(log.path),
        }
        text = json.dumps(data, ensure_ascii=False)
    else:
        parts = [report.text() if summary.items else "No item has finished in every mode yet."]
        if stopped is not None:
            why = "interrupted" if stopped is Stop.INTERRUPTED else "new runs stopped at --max-cost"
            parts.insert(
                0,
                f"Partial: {summary.items:,} of {planned:,} items finished in every mode ({why}); "
                f"--resume {log.path} runs the rest.\n",
            )
        text = "\n".join(parts)
    stdout.write(hide_values(text, secrets) + "\n")
    stdout.flush()
