"""Recording a run into the history as it happens: an event sink over a `RunStore`.

A call row when the call starts, when it is sent after waiting in line for its provider, and when
it ends, the streamed text checkpointed every `CHECKPOINT_S` seconds on a clock (so text that
arrived before a stall is saved too), the run row on every round, when consult mode reads the
agreement or a position is carried over, and at the end. Which event makes which write is decided
here; the writes (and all their SQL) are the store's.

Each write is handed, with a copy of what it records and the time of its event, to the store's
writer, which makes them in order off the event loop (`tui.history.writer`): a history another
process holds locked never stalls the run, its screen or a member's deadline. While the history
is busy a checkpoint may be left out (the next one carries its text); every other write waits
its turn. A write the history still cannot take after `[store] lock_wait_s` stops the recording,
never the run: `RunStore.recorded` says why, and the front ends report the run as not recorded.

The checkpoints are what a dashboard following the run from another process sees of a call in
flight, and what a killed process leaves of it: every half second, so a follower is at most about
a second behind. Writing 8 members streaming 100 tokens a second that often costs under half a
percent of a core, about 2 ms a checkpoint (`benchmarks/bench_history.py --checkpoints`).

When a run ends, its front end waits for the history to hold it (`finish_recording`): a run the
history could not record ends as failed, its answer kept, with one line saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from tui.engine import events as ev
from tui.engine.types import CallResult, Member, RoundResult, RunResult, RunStatus
from tui.history.liveness import LIVE_RUNS
from tui.history.store import RunStore, RunWrites

CHECKPOINT_S = 0.5


class RunRecorder:
    """An event sink that records one run to the store as it happens, through its writer.

    It never lets a database problem reach the run, nor makes it wait for the database. The run
    counts as live in this process (`LIVE_RUNS`: never marked interrupted by it) until its last
    write is made or given up.
    """

    def __init__(
        self, store: RunStore, *, config: Mapping[str, Any], parent_run_id: str | None = None
    ) -> None:
        self.store = store
        self.config = dict(config)
        self.parent_run_id = parent_run_id
        self.run_id: str | None = None
        self._seq = 0
        self._text: dict[str, list[str]] = {}
        self._saved_length: dict[str, int] = {}
        self._first_token_ms: dict[str, int] = {}
        self._result: RunResult | None = None
        self._synthesizers: dict[str, Member] = {}
        self._checkpoints: asyncio.Task[None] | None = None
        self._checkpoint: Future[str | None] | None = None  # the last one handed over

    def __call__(self, event: ev.Event) -> None:
        self._record(event)

    def _write(self, write: Callable[[RunWrites], None], *, skippable: bool = False) -> Future[str | None]:
        assert self.run_id is not None
        return self.store.writer.put(self.run_id, write, skippable=skippable)

    def _record(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self._run_started(event)
        elif self.run_id is not None:  # nothing to record into before the run's row exists
            self._record_in(self.run_id, event)

    def _record_in(self, run_id: str, event: ev.Event) -> None:
        match event:
            case ev.CallStarted():
                self._call_started(run_id, event)
            case ev.TextDelta(call_id=call_id, text=text) | ev.SynthesisDelta(call_id=call_id, text=text):
                self._text.setdefault(call_id, []).append(text)
            case ev.CallQueued(call_id=call_id, limit=limit):
                at = self.store.now()  # a follower shows it queued, not waiting
                self._write(lambda writes: writes.call_queued(call_id, limit, at=at))
            case ev.CallDequeued(call_id=call_id, queued_ms=queued_ms):
                at = self.store.now()  # a follower's clock starts again with it
                self._write(lambda writes: writes.call_sent(call_id, queued_ms, at=at))
            case ev.FirstToken(call_id=call_id, ttft_ms=ttft_ms):
                self._first_token_ms[call_id] = ttft_ms  # written with the call's next checkpoint
            case ev.CallFinished(result=call):
                self._call_finished(call)
            case ev.AgreementRead(agreement=agreement) if self._result is not None:
                self._result.agreement = agreement
                self._progress(self._result)
            case ev.VoteCast(round=number, vote=vote):
                cast = vote.model_copy(deep=True)
                self._write(lambda writes: writes.record_vote(run_id, number, cast))
            case ev.RoundDecided(round=round_):
                self._round_decided(round_)
            case ev.RunFinished(result=result) | ev.RunFailed(result=result) | ev.RunCancelled(result=result):
                self._result = result
                self._stop()
                ended, at = result.model_copy(deep=True), self.store.now()
                last = self._write(lambda writes: writes.finish_run(ended, at=at))
                # Live until its last write is made (or given up): a run whose end waits for the
                # history is not one this process has stopped recording.
                last.add_done_callback(lambda _done: LIVE_RUNS.discard(run_id))
            case _:
                pass

    def _run_started(self, event: ev.RunStarted) -> None:
        run_id = self.run_id = event.run_id
        LIVE_RUNS.add(run_id)
        request = event.request.model_copy(deep=True)
        self._synthesizers = {s.alias: s for s in request.synthesizers}
        self._result = RunResult.begin(request, run_id)
        begun, config, parent, at = (
            self._result.model_copy(deep=True),
            self.config,
            self.parent_run_id,
            self.store.now(),
        )
        self._write(
            lambda writes: writes.insert_run(request, begun, config=config, parent_run_id=parent, at=at)
        )
        self._start_checkpoints()

    def _call_started(self, run_id: str, event: ev.CallStarted) -> None:
        self._seq += 1
        self._text[event.call_id] = []
        self._saved_length[event.call_id] = 0
        seq, who, at = self._seq, self._who(event.member_index, event.alias), self.store.now()
        self._write(lambda writes: writes.insert_call(run_id, seq, event, who, at=at))

    def _call_finished(self, call: CallResult) -> None:
        self._text.pop(call.call_id, None)
        self._saved_length.pop(call.call_id, None)
        self._first_token_ms.pop(call.call_id, None)
        if call.reused_from is None:
            ended, at = call.model_copy(deep=True), self.store.now()
            self._write(lambda writes: writes.finish_call(ended, at=at))
        elif self._result is not None and call.member_index is not None:
            # Carried over from an earlier run, which holds its row: this run's row says which.
            positions = self._result.positions
            positions += [None] * (len(self._result.members) - len(positions))
            positions[call.member_index] = call
            self._progress(self._result)

    def _progress(self, result: RunResult) -> None:
        so_far = result.model_copy(deep=True)
        self._write(lambda writes: writes.record_progress(so_far))

    def _round_decided(self, round_: RoundResult) -> None:
        if self._result is None:
            return
        self._result.rounds = [r for r in self._result.rounds if r.number != round_.number]
        self._result.rounds.append(round_)
        self._result.rounds_used = round_.number
        so_far, decided = self._result.model_copy(deep=True), round_.model_copy(deep=True)
        self._write(lambda writes: writes.record_round(so_far, decided))

    def _who(self, index: int | None, alias: str) -> Member | None:
        """The panel member (or synthesizer) making a call; None if neither is known."""
        result = self._result
        if result is not None and index is not None and index < len(result.members):
            return result.members[index]
        return self._synthesizers.get(alias)

    # -- checkpoints -------------------------------------------------------------------------

    def _start_checkpoints(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not inside an event loop (a replay, a test): only the call's end is written
        self._checkpoints = loop.create_task(self._checkpoint_every(CHECKPOINT_S))

    async def _checkpoint_every(self, seconds: float) -> None:
        # On a clock, not on the next delta: text that arrived before a stall is saved all the same.
        while True:
            await asyncio.sleep(seconds)
            self.checkpoint()

    def checkpoint(self) -> None:
        """Hand over the text streamed so far of every call still in flight (and the time each
        waited for its first text), as one write. While the one before still waits its turn this
        one is left out (the next carries its text); after one the history was too busy for, every
        text goes again."""
        last = self._checkpoint
        if last is not None:
            if not last.done():
                return
            if last.result() is not None:
                self._saved_length.clear()
            self._checkpoint = None
        changed = {
            call_id: "".join(parts)
            for call_id, parts in self._text.items()
            if sum(map(len, parts)) != self._saved_length.get(call_id, 0)
        }
        if not changed:
            return
        waited, at = dict(self._first_token_ms), self.store.now()
        self._checkpoint = self._write(
            lambda writes: writes.save_texts(changed, waited, at=at), skippable=True
        )
        for call_id, text in changed.items():
            self._saved_length[call_id] = len(text)

    def _stop(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            self._checkpoints = None


WAIT_NOTICE_S = 1.0
"""How long the end of a run waits for its record before the front end says why it waits."""

CLOSING_WAIT_S = 10.0
"""How long a front end that is closing (the dashboard quit, the MCP server shut down) waits for
the history to take the writes still in line, such as the end of a run quitting cancelled: past
it they are left, and the run reads as interrupted."""

NOT_RECORDED = "not recorded in the history"
"""How the error of a run the history could not record begins."""


async def finish_recording(
    store: RunStore | None, result: RunResult, *, waiting: Callable[[str], None] | None = None
) -> str | None:
    """Wait until the history holds the run `result` as it ended (its writes wait at most
    `[store] lock_wait_s` for another process's lock). A run it could not record is no success:
    it ends as failed (its answer kept) with one line saying why, which is returned. `waiting` is
    told, once, if the record is not there within `WAIT_NOTICE_S`."""
    if store is None:
        return None
    recorded = asyncio.ensure_future(store.recorded(result.run_id))
    done, _ = await asyncio.wait([recorded], timeout=WAIT_NOTICE_S)
    if not done and waiting is not None:
        waiting(
            f"run {result.run_id} is not in the history yet (another process may hold it locked): "
            f"waiting up to {store.lock_wait_s:g} s for it"
        )
    try:
        problem = await recorded
    finally:
        recorded.cancel()
    return None if problem is None else not_recorded(result, problem)


def not_recorded(result: RunResult, why: str) -> str:
    """End `result`, which the history does not hold, as failed (its answer kept) with one line
    saying why; return that line."""
    message = f"{NOT_RECORDED}: {why}"
    result.errors.append(message)
    if result.status is RunStatus.SUCCESS:
        result.status = RunStatus.ERROR
    return message
