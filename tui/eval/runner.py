"""Running an evaluation: every item asked in every mode, each run recorded and logged as it ends.

Each item is asked as `tui.eval.scoring.question_for` has it (the question, its lettered choices,
and the answer shape its scorer declares) through the session every front end builds its requests
with, and run by `start_run` like any run: recorded in the history, marked as an eval run. Never
through the cache: a cached answer is not a measurement.

The runs (`tui.eval.plan`) start in order, at most `concurrency` at once; each provider's own
`max_concurrency` still holds its calls in line (the pool's connection slots). New runs stop
starting when the cost spent reaches `max_cost` (once anything is spent: free models run on under
a `max_cost` of 0; the runs under way finish and are kept), and
`interrupt()` (Ctrl+C) cancels the runs under way: a run cancelled half-way is not logged, and
`--resume` asks it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum

from tui.config.schema import Settings
from tui.engine.orchestrator import ProviderLookup, Run
from tui.engine.types import RunStatus
from tui.errors import UsageError
from tui.eval.log import EvalLog, ItemRecord, item_record
from tui.eval.plan import Work
from tui.eval.scoring import Scorer
from tui.history.recorder import finish_recording
from tui.history.store import RunStore
from tui.session import Session, start_run


class Stop(StrEnum):
    """Why runs stopped starting before the work was done."""

    INTERRUPTED = "interrupted"
    MAX_COST = "max_cost"


class EvalRunner:
    """Makes an evaluation's runs and logs each one as it ends."""

    def __init__(
        self,
        settings: Settings,
        session: Session,
        scorer: Scorer,
        log: EvalLog,
        providers: ProviderLookup,
        *,
        store: RunStore | None = None,
        concurrency: int,
        max_cost: float | None = None,
        on_record: Callable[[ItemRecord], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if concurrency < 1:
            raise UsageError(f"--concurrency is at least 1, not {concurrency}")
        self.settings = settings
        self.session = session
        self.scorer = scorer
        self.log = log
        self.providers = providers
        self.store = store
        self.concurrency = concurrency
        self.max_cost = max_cost
        self.on_record = on_record
        self.clock = clock
        self._ended_cost = 0.0  # what the runs that have ended cost, cancelled ones too
        self.stopped: Stop | None = None
        self.unrecorded: list[str] = []
        """Why runs could not be recorded in the history (their lines are in the log all the same)."""
        self._running: set[Run] = set()

    @property
    def spent(self) -> float:
        """What this session's runs have cost so far: the runs that ended, and the calls settled
        in those under way (each round keeps its calls' cost as they settle)."""
        under_way = sum(round_.cost_usd for run in self._running for round_ in run.result.rounds)
        return self._ended_cost + under_way

    async def run(self, work: Sequence[Work]) -> Stop | None:
        """Make the runs, at most `concurrency` at once; why runs stopped starting early, or None
        when every one was made. Cancelled from outside (Ctrl+C), it stops as `interrupt` does and
        returns `Stop.INTERRUPTED`."""
        queue = iter(work)
        workers = [
            asyncio.ensure_future(self._worker(queue)) for _ in range(min(self.concurrency, len(work)))
        ]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            self.interrupt()
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return self.stopped

    def interrupt(self) -> None:
        """Start no more runs, and cancel those under way (they are not logged)."""
        self.stopped = Stop.INTERRUPTED
        for run in list(self._running):
            run.cancel()

    async def _worker(self, queue: Iterator[Work]) -> None:
        for work in queue:
            if self.stopped is not None:
                return
            spent = self.spent  # summed over every round of the runs under way: once
            # Nothing spent has reached no limit, even 0: free models (local, demo) run on.
            if self.max_cost is not None and spent > 0 and spent >= self.max_cost:
                self.stopped = Stop.MAX_COST
                return
            await self._one(work)

    async def _one(self, work: Work) -> None:
        session = self.session
        session.mode, session.answer = work.mode, work.item.asked.answer
        request = session.prepare(work.item.asked.question).request
        run = start_run(self.settings, request, self.providers, [], store=self.store, clock=self.clock)
        self._running.add(run)
        try:
            result = await run.execute()
        finally:
            self._running.discard(run)
            self._ended_cost += sum(call.cost_usd for call in run.result.calls)
        if result.status is RunStatus.CANCELLED:
            return  # asked again on resume: a run cut short is no measurement
        record = item_record(result, work.item.sample, self.scorer, work.item.slice)
        self.log.append(record)
        if self.on_record is not None:
            self.on_record(record)
        # Waiting for the history holds the runs in flight to what it can take.
        problem = await finish_recording(self.store, result)
        if problem is not None:
            self.unrecorded.append(f"run {result.run_id}: {problem}")
