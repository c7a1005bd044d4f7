"""Recording a run into the history as it happens: an event sink over a `RunStore`.

A call row when the call starts, when it is sent after waiting in line for its provider, and when
it ends, the streamed text checkpointed every `CHECKPOINT_S` seconds on a clock (so text that
arrived before a stall is saved too), the run row on every round, when consult mode reads the
agreement or a position is carried over, and at the end. Which event makes which write is decided
here; the writes (and all their SQL) are the store's. A database error stops the recording, never
the run.

The checkpoints are what a dashboard following the run from another process sees of a call in
flight, and what a killed process leaves of it: every half second, so a follower is at most about
a second behind. Writing 8 members streaming 100 tokens a second that often costs under half a
percent of a core, about 2 ms a checkpoint (`benchmarks/bench_history.py --checkpoints`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from tui.engine import events as ev
from tui.engine.types import CallResult, Member, RoundResult, RunResult
from tui.history.liveness import LIVE_RUNS
from tui.history.store import RunStore

CHECKPOINT_S = 0.5

log = logging.getLogger(__name__)


class RunRecorder:
    """An event sink that writes one run to the store as it happens.

    It never lets a database problem reach the run: the first failure is logged and kept in
    `failed`, and recording stops while the run goes on.
    """

    def __init__(
        self, store: RunStore, *, config: Mapping[str, Any], parent_run_id: str | None = None
    ) -> None:
        self.store = store
        self.config = dict(config)
        self.parent_run_id = parent_run_id
        self.run_id: str | None = None
        self.failed: str | None = None
        self._seq = 0
        self._text: dict[str, list[str]] = {}
        self._saved_length: dict[str, int] = {}
        self._first_token_ms: dict[str, int] = {}
        self._result: RunResult | None = None
        self._synthesizers: dict[str, Member] = {}
        self._checkpoints: asyncio.Task[None] | None = None

    def __call__(self, event: ev.Event) -> None:
        if self.failed is not None:
            return
        try:
            self._record(event)
        except sqlite3.Error as err:
            self._fail(err)
            self._stop()

    def _fail(self, err: sqlite3.Error) -> None:
        self.failed = f"history not recorded for run {self.run_id}: {err}"
        log.warning(self.failed)

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
                self.store.call_queued(call_id, limit)  # a follower shows it queued, not waiting
            case ev.CallDequeued(call_id=call_id, queued_ms=queued_ms):
                self.store.call_sent(call_id, queued_ms)  # a follower's clock starts again with it
            case ev.FirstToken(call_id=call_id, ttft_ms=ttft_ms):
                self._first_token_ms[call_id] = ttft_ms  # written with the call's next checkpoint
            case ev.CallFinished(result=call):
                self._call_finished(call)
            case ev.AgreementRead(agreement=agreement) if self._result is not None:
                self._result.agreement = agreement
                self.store.record_progress(self._result)
            case ev.VoteCast(round=number, vote=vote):
                self.store.record_vote(run_id, number, vote)
            case ev.RoundDecided(round=round_):
                self._round_decided(round_)
            case ev.RunFinished(result=result) | ev.RunFailed(result=result) | ev.RunCancelled(result=result):
                self._result = result
                self._stop()
                self.store.finish_run(result)
            case _:
                pass

    def _run_started(self, event: ev.RunStarted) -> None:
        request = event.request
        self.run_id = event.run_id
        LIVE_RUNS.add(event.run_id)
        self._synthesizers = {s.alias: s for s in request.synthesizers}
        self._result = RunResult.begin(request, event.run_id)
        self.store.insert_run(request, self._result, config=self.config, parent_run_id=self.parent_run_id)
        self._start_checkpoints()

    def _call_started(self, run_id: str, event: ev.CallStarted) -> None:
        self._seq += 1
        self._text[event.call_id] = []
        self._saved_length[event.call_id] = 0
        self.store.insert_call(run_id, self._seq, event, self._who(event.member_index, event.alias))

    def _call_finished(self, call: CallResult) -> None:
        self._text.pop(call.call_id, None)
        self._saved_length.pop(call.call_id, None)
        self._first_token_ms.pop(call.call_id, None)
        if call.reused_from is None:
            self.store.finish_call(call)
        elif self._result is not None and call.member_index is not None:
            # Carried over from an earlier run, which holds its row: this run's row says which.
            positions = self._result.positions
            positions += [None] * (len(self._result.members) - len(positions))
            positions[call.member_index] = call
            self.store.record_progress(self._result)

    def _round_decided(self, round_: RoundResult) -> None:
        if self._result is None:
            return
        self._result.rounds = [r for r in self._result.rounds if r.number != round_.number]
        self._result.rounds.append(round_)
        self._result.rounds_used = round_.number
        self.store.record_round(self._result, round_)

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
            if self.failed is not None:
                return
            try:
                self.checkpoint()
            except sqlite3.Error as err:
                self._fail(err)
                return

    def checkpoint(self) -> None:
        """Write the text streamed so far of every call still in flight (and the time each waited
        for its first text), in one transaction."""
        changed = {
            call_id: "".join(parts)
            for call_id, parts in self._text.items()
            if sum(map(len, parts)) != self._saved_length.get(call_id, 0)
        }
        if not changed:
            return
        self.store.save_texts(changed, self._first_token_ms)
        for call_id, text in changed.items():
            self._saved_length[call_id] = len(text)

    def _stop(self) -> None:
        if self.run_id is not None:
            LIVE_RUNS.discard(self.run_id)
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            self._checkpoints = None
