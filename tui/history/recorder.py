"""Recording a run into the history as it happens: an event sink over a `RunStore`.

A call row when the call starts and when it ends, the streamed text checkpointed every
`CHECKPOINT_S` seconds on a clock (so text that arrived before a stall is saved too), the run row
on every round and at the end. A database error stops the recording, never the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tui.engine import events as ev
from tui.engine.types import Member, RunResult, VoteValue
from tui.history import store as history

CHECKPOINT_S = 2.0

log = logging.getLogger(__name__)


class RunRecorder:
    """An event sink that writes one run to the store as it happens.

    It never lets a database problem reach the run: the first failure is logged and kept in
    `failed`, and recording stops while the run goes on.
    """

    def __init__(
        self, store: history.RunStore, *, config: Mapping[str, Any], parent_run_id: str | None = None
    ) -> None:
        self.store = store
        self.config = dict(config)
        self.parent_run_id = parent_run_id
        self.run_id: str | None = None
        self.failed: str | None = None
        self._seq = 0
        self._text: dict[str, list[str]] = {}
        self._saved_length: dict[str, int] = {}
        self._result: RunResult | None = None
        self._synthesizers: dict[str, Member] = {}
        self._checkpoints: asyncio.Task[None] | None = None

    def __call__(self, event: ev.Event) -> None:
        if self.failed is not None:
            return
        try:
            self._record(event)
        except sqlite3.Error as err:
            self.failed = f"history not recorded for run {self.run_id}: {err}"
            log.warning(self.failed)
            self._stop()

    def _record(self, event: ev.Event) -> None:
        db = self.store._db
        match event:
            case ev.RunStarted(run_id=run_id, request=request):
                self.run_id = run_id
                history.LIVE_RUNS.add(run_id)
                self._synthesizers = {s.alias: s for s in request.synthesizers}
                panel = {
                    "members": [m.model_dump(mode="json") for m in request.members],
                    "skipped": [s.model_dump(mode="json") for s in request.skipped],
                    "synthesizers": [s.alias for s in request.synthesizers],
                }
                self._result = RunResult(
                    run_id=run_id,
                    question=request.question,
                    mode=request.mode,
                    members=request.members,
                    skipped=request.skipped,
                    max_rounds=request.max_rounds,
                    parent_run_id=request.parent_run_id,
                    started_at=datetime.now(UTC),
                )
                panel_text = ", ".join(f"{m.alias}:{m.stance.value}" for m in request.members)
                with self.store.transaction():
                    db.execute(
                        "INSERT INTO runs (id, created_at, question, mode, panel, panel_text, config, "
                        "status, "
                        "max_rounds, parent_run_id, result, pid) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                        (
                            run_id,
                            history.now_iso(),
                            request.question,
                            request.mode.value,
                            json.dumps(panel),
                            panel_text,
                            json.dumps(self.config, default=str),
                            request.max_rounds,
                            self.parent_run_id,
                            _snapshot(self._result),
                            os.getpid(),
                        ),
                    )
                self._start_checkpoints()
            case ev.CallStarted(call_id=call_id, round=number, phase=phase, member_index=index, alias=alias):
                self._seq += 1
                self._text[call_id] = []
                self._saved_length[call_id] = 0
                model_id, provider, stance, demo = self._who(index, alias)
                stamp = history.now_iso()
                with self.store.transaction():
                    db.execute(
                        "INSERT INTO calls (id, run_id, seq, round, phase, member_index, alias, model_id, "
                        "provider, stance, demo, status, started_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                        (
                            call_id,
                            self.run_id,
                            self._seq,
                            number,
                            phase.value,
                            index,
                            alias,
                            model_id,
                            provider,
                            stance,
                            int(demo),
                            stamp,
                            stamp,
                        ),
                    )
            case ev.TextDelta(call_id=call_id, text=text) | ev.SynthesisDelta(call_id=call_id, text=text):
                self._text.setdefault(call_id, []).append(text)
            case ev.CallFinished(result=call):
                self._text.pop(call.call_id, None)
                self._saved_length.pop(call.call_id, None)
                if call.reused_from is not None:
                    return  # carried over from an earlier run: that run holds it
                with self.store.transaction():
                    db.execute(
                        "UPDATE calls SET status = ?, content = ?, error = ?, error_kind = ?, ttft_ms = ?, "
                        "latency_ms = ?, input_tokens = ?, output_tokens = ?, tokens_estimated = ?, "
                        "cost_usd = ?, "
                        "finish_reason = ?, updated_at = ? WHERE id = ?",
                        (
                            call.status.value,
                            call.content,
                            call.error,
                            call.error_kind,
                            call.ttft_ms,
                            call.latency_ms,
                            call.input_tokens,
                            call.output_tokens,
                            int(call.tokens_estimated),
                            call.cost_usd,
                            call.finish_reason,
                            history.now_iso(),
                            call.call_id,
                        ),
                    )
            case ev.VoteCast(round=number, vote=vote):
                with self.store.transaction():
                    db.execute(
                        "UPDATE calls SET vote = ?, objections = ? "
                        "WHERE run_id = ? AND round = ? AND phase = 'vote' AND member_index = ?",
                        (
                            vote.value.value if vote.value is not VoteValue.NONE else None,
                            json.dumps(vote.objections or ([vote.reason] if vote.reason else [])),
                            self.run_id,
                            number,
                            vote.member_index,
                        ),
                    )
            case ev.RoundDecided(round=round_):
                if self._result is not None:
                    self._result.rounds = [r for r in self._result.rounds if r.number != round_.number]
                    self._result.rounds.append(round_)
                    self._result.rounds_used = round_.number
                    with self.store.transaction():
                        db.execute(
                            "UPDATE runs SET rounds_used = ?, outcome = COALESCE(?, outcome), result = ? "
                            "WHERE id = ?",
                            (
                                round_.number,
                                round_.outcome.value if round_.outcome else None,
                                _snapshot(self._result),
                                self.run_id,
                            ),
                        )
            case ev.RunFinished(result=result) | ev.RunFailed(result=result) | ev.RunCancelled(result=result):
                self._result = result
                self._stop()
                with self.store.transaction():
                    db.execute(
                        "UPDATE runs SET status = ?, finished_at = ?, outcome = ?, rounds_used = ?, "
                        "synthesis = ?, synthesizer = ?, wall_ms = ?, input_tokens = ?, output_tokens = ?, "
                        "cost_usd = ?, result = ? WHERE id = ?",
                        (
                            result.status.value,
                            history.now_iso(),
                            result.outcome.value if result.outcome else None,
                            result.rounds_used,
                            result.synthesis,
                            result.synthesizer,
                            result.totals.wall_ms,
                            result.totals.input_tokens,
                            result.totals.output_tokens,
                            result.totals.cost_usd,
                            _snapshot(result),
                            self.run_id,
                        ),
                    )
            case _:
                pass

    def _who(self, index: int | None, alias: str) -> tuple[str, str, str | None, bool]:
        """Model id, provider, stance and demo flag of the member (or synthesizer) making a call."""
        result = self._result
        if result is not None and index is not None and index < len(result.members):
            member = result.members[index]
            return member.model_id, member.provider, member.stance.value, member.demo
        synthesizer = self._synthesizers.get(alias)
        if synthesizer is not None:
            return synthesizer.model_id, synthesizer.provider, None, synthesizer.demo
        return alias, "", None, False

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
                self.failed = f"history not recorded for run {self.run_id}: {err}"
                log.warning(self.failed)
                return

    def checkpoint(self) -> None:
        """Write the text streamed so far of every call still in flight."""
        changed = [
            (call_id, "".join(parts))
            for call_id, parts in self._text.items()
            if sum(map(len, parts)) != self._saved_length.get(call_id, 0)
        ]
        if not changed:
            return
        stamp = history.now_iso()
        with self.store.transaction() as db:
            for call_id, text in changed:
                db.execute(
                    "UPDATE calls SET content = ?, updated_at = ? WHERE id = ?", (text, stamp, call_id)
                )
                self._saved_length[call_id] = len(text)

    def _stop(self) -> None:
        if self.run_id is not None:
            history.LIVE_RUNS.discard(self.run_id)
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            self._checkpoints = None


def _snapshot(result: RunResult) -> str:
    """The run row's copy of the result, without what the calls table already holds: the calls,
    and the positions this run made itself (carried-over ones are kept: no row of ours has them)."""
    positions = [p if p is not None and p.reused_from is not None else None for p in result.positions]
    return result.model_copy(update={"calls": [], "positions": positions}).model_dump_json()
