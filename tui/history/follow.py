"""Following a run as it is recorded, by this process or another (`quorum mcp`, `quorum run`).

A `RunFollower` reads the run from the history each time it is polled and returns the engine
events that bring a display from what it showed last time to what the record holds now (the
`Replayer` of `tui.history.replay`, the same logic that replays a finished run). The recorder
checkpoints streamed text every `CHECKPOINT_S` seconds, so polling about as often keeps a display
about a second behind the run at most.

A run whose process is gone is marked interrupted when a poll finds it so (as opening the store
does); its last events end the run as cut short. A run no longer in the history raises `RunGone`.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime

from tui.engine import events as ev
from tui.engine.types import RunResult, RunStatus
from tui.errors import StoreError
from tui.history.liveness import LIVE_RUNS
from tui.history.replay import Replayer
from tui.history.store import RunRecord, RunStore

log = logging.getLogger(__name__)


class RunGone(LookupError):
    """The run being followed is no longer in the history."""


class RunFollower:
    """Follows one run in `store`: each `poll()` returns the events of what is new since the last."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.record: RunRecord | None = None
        """The run as the last poll read it (None before the first)."""
        self._replayer = Replayer()

    @property
    def result(self) -> RunResult | None:
        """The run's result as the last poll read it (None before the first)."""
        return self.record.result if self.record is not None else None

    @property
    def in_flight(self) -> dict[str, datetime]:
        """The calls still being made at the last poll, by id, with when each started."""
        return self.record.in_flight if self.record is not None else {}

    @property
    def pid(self) -> int | None:
        """The process recording the run."""
        return self.record.pid if self.record is not None else None

    @property
    def ended(self) -> bool:
        """The last poll found the run over: finished, failed, cancelled or interrupted."""
        return self.result is not None and self.result.status is not RunStatus.RUNNING

    def poll(self) -> list[ev.Event]:
        """Read the run now and return the events that show what is new. The first poll returns
        all of the run so far (all of it, for a finished run). Raises `RunGone` when the run is
        no longer in the history, and `StoreError` when the history cannot be read; a database
        busy for a moment is read at the next poll instead (no events)."""
        try:
            record = self._read()
            if record.result.status is RunStatus.RUNNING and self.store.interrupt_if_gone(self.run_id):
                record = self._read()  # its process is gone: the run was marked interrupted just now
        except sqlite3.OperationalError as err:  # locked or busy: the next poll will do
            log.warning("following run %s: cannot read the history now: %s", self.run_id, err)
            return []
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot read run {self.run_id} from the history: {err}") from err
        self.record = record
        return self._replayer.catch_up(record.result, record.in_flight, record.queued)

    def _read(self) -> RunRecord:
        try:
            return self.store.load_record(self.run_id)
        except KeyError:
            raise RunGone(f"run {self.run_id} is no longer in the history") from None


def running_elsewhere(store: RunStore) -> list[str]:
    """The ids of the runs other processes are recording now, newest first (runs whose process
    is gone are marked interrupted, not listed); none while the history is busy."""
    try:
        return [run.id for run in store.running_runs() if run.id not in LIVE_RUNS]
    except sqlite3.Error as err:  # busy, or worse: either way there is nothing to follow now
        log.warning("cannot list the running runs now: %s", err)
        return []
