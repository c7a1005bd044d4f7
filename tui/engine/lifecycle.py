"""A run's lifecycle: its live result, the events it sends, and how it ends.

The event sink (the screen, the history recorder, the CLI's progress lines) is outside the
engine, so it is contained: the first time it raises, the run stops as a cancel would (every
in-flight call records what it had) and ends as failed, with one line saying why. A bug in the
engine's own code ends the run the same way. Either way `drive()` returns the result: a run
never stops half-way without saying so, nor stays "running" for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from tui.engine import events as ev
from tui.engine.calls import ms
from tui.engine.types import (
    ROUNDS_MODES,
    CallResult,
    CallStatus,
    Outcome,
    RoundResult,
    RoundStatus,
    RunRequest,
    RunResult,
    RunStatus,
    TokensSource,
    Totals,
)

log = logging.getLogger(__name__)


class Lifecycle:
    """Drives a run's body, keeps its `RunResult` and sends its events through the contained sink."""

    def __init__(
        self, request: RunRequest, sink: ev.EventSink | None, clock: Callable[[], float], run_id: str
    ) -> None:
        self.result = RunResult.begin(request, run_id)
        self._sink: ev.EventSink = sink or (lambda _event: None)
        self._clock = clock
        self._started = 0.0
        self._task: asyncio.Task[Any] | None = None
        self._cancel_sent = False  # the run has cancelled its own task: cancel(), or a failure
        # Why the run fails from within (its sink raised, or the engine's own code did); the
        # first cause is the one reported.
        self._failure: str | None = None

    async def drive(self, body: Callable[[], Awaitable[None]]) -> RunResult:
        """Run `body` in this task to its end, then send the run's last event; return the result.

        `body` concludes the run (`conclude`, `fail`). A failing sink or a bug ends it as failed
        instead, and so does `cancel()` as cancelled: each returns the result. A cancellation
        from outside is raised again once the run has recorded it.
        """
        task = self._task = asyncio.current_task()
        self._started = self._clock()
        try:
            await body()
        except asyncio.CancelledError:
            if self._cancel_sent and task is not None:
                task.uncancel()  # our own doing: cancel(), or stopping after a failure
            self._end(cancelled=True)
            if task is not None and task.cancelling():
                raise  # cancelled from outside: recorded, and the cancellation goes on
        except Exception as err:
            log.exception("run %s: internal error", self.result.run_id)
            self._failure = self._failure or f"internal error: {type(err).__name__}: {err} (see the log)"
            self._end()
        else:
            self._end()
        return self.result

    @property
    def stopping(self) -> bool:
        """The run is being cancelled, or is failing: it starts nothing new."""
        return self._cancel_sent or self._failure is not None

    def cancel(self) -> None:
        """Cancel the task running `drive()`: in-flight calls stop, everything received is kept.

        Not while a failed run is stopping its calls: a second cancellation would cut that
        short, before every call has recorded what it had.
        """
        if self._failure is None:
            self._cancel_task()

    def _cancel_task(self) -> None:
        if self._task is not None and not self._task.done() and not self._cancel_sent:
            self._cancel_sent = True
            self._task.cancel()

    # ----------------------------------------------------------------------------------------
    # Events

    def emit(self, event: ev.Event) -> None:
        """Hand `event` to the sink. The first time the sink raises, the run stops right here.

        Stopping is a cancel: the run's task is cancelled, so every in-flight call records what it
        had, and the code that emitted is left at once by a `CancelledError` (which is also what
        stops the run when that code runs in the run's own task). A call streaming when its text
        could not be shown is therefore cancelled, never failed: the fault is not the member's.
        """
        if self._deliver(event):
            return
        if asyncio.current_task() is not self._task:
            self._cancel_task()
        raise asyncio.CancelledError

    def _deliver(self, event: ev.Event) -> bool:
        """Give `event` to the sink; False the first time the sink raises, which fails the run."""
        try:
            self._sink(event)
        except Exception as err:
            log.exception("run %s: the event sink failed on %s", self.result.run_id, type(event).__name__)
            if self._failure is None:
                self._failure = (
                    "internal error while showing or recording this run: "
                    f"{type(err).__name__}: {err} (see the log)"
                )
                return False
        return True

    def _end(self, *, cancelled: bool = False) -> None:
        """Send the run's last event. A failure from within (also the sink failing on that last
        event) ends the run as failed, with `RunFailed` as the last word."""
        result = self.result
        if self._failure is None:
            if cancelled:
                self.finish(RunStatus.CANCELLED)
            if result.status is RunStatus.SUCCESS:
                self._deliver(ev.RunFinished(result))
            elif result.status is RunStatus.CANCELLED:
                self._deliver(ev.RunCancelled(result))
            elif result.status is RunStatus.ERROR:
                self._deliver(ev.RunFailed(result, tuple(result.errors)))
            else:
                log.error("run %s: the run stopped without an outcome", result.run_id)
                self._failure = "internal error: the run stopped without an outcome (see the log)"
        if self._failure is None:
            return
        result.errors.append(self._failure)
        for round_ in result.rounds:
            if round_.status is RoundStatus.IN_PROGRESS:
                round_.status = RoundStatus.FAILED
        self.finish(RunStatus.ERROR)
        self._deliver(ev.RunFailed(result, tuple(result.errors)))  # failing again is only logged

    # ----------------------------------------------------------------------------------------
    # Bookkeeping

    def round(self, number: int) -> RoundResult:
        """Round `number`, started (and announced, in a mode with rounds) the first time it is asked for."""
        for existing in self.result.rounds:
            if existing.number == number:
                return existing
        round_ = RoundResult(number=number)
        self.result.rounds.append(round_)
        self.result.rounds_used = number
        if self.result.mode in ROUNDS_MODES:
            self.emit(ev.RoundStarted(number, self.result.max_rounds))
        return round_

    def count(self, call: CallResult) -> None:
        """Add a settled call's tokens and cost to its round."""
        round_ = self.round(call.round)
        round_.input_tokens += call.input_tokens
        round_.output_tokens += call.output_tokens
        round_.cost_usd += call.cost_usd

    def tokens_used(self) -> int:
        return sum(c.input_tokens + c.output_tokens for c in self.result.calls)

    def conclude(self, call: CallResult, outcome: Outcome | None) -> None:
        """The run succeeded with `call`'s text as its answer (incomplete, if the call was)."""
        incomplete = call.error if call.status is CallStatus.INCOMPLETE else None
        self.conclude_with(call.content, call.alias, outcome, incomplete)

    def conclude_with(
        self, text: str, by: str, outcome: Outcome | None, incomplete: str | None = None
    ) -> None:
        """The run succeeded with `text`, written by `by` (a model's alias, or what counted it)."""
        self.result.synthesis = text
        self.result.synthesizer = by
        self.result.synthesis_incomplete = incomplete
        self.result.outcome = outcome
        self.emit(ev.SynthesisFinished(text, by, outcome, incomplete))
        self.finish(RunStatus.SUCCESS)

    def fail(self, errors: list[str]) -> None:
        """The run failed for these reasons (no member answered, no synthesizer did)."""
        self.result.errors.extend(errors)
        self.finish(RunStatus.ERROR)

    def finish(self, status: RunStatus) -> None:
        self.result.status = status
        self.result.finished_at = datetime.now(UTC)
        calls = self.result.calls
        self.result.totals = Totals(
            wall_ms=ms(self._clock() - self._started),
            input_tokens=sum(c.input_tokens for c in calls),
            output_tokens=sum(c.output_tokens for c in calls),
            cost_usd=sum(c.cost_usd for c in calls),
            tokens_source=TokensSource.least_certain(c.tokens_source for c in calls),
        )
        # A round still open when the run ends was cut short: it never decided, and says why.
        cut_short = {RunStatus.CANCELLED: RoundStatus.CANCELLED, RunStatus.ERROR: RoundStatus.FAILED}
        for round_ in self.result.rounds:
            if round_.status is RoundStatus.IN_PROGRESS and status in cut_short:
                round_.status = cut_short[status]
