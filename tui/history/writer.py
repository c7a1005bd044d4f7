"""Writing runs' records off the event loop: one thread, one connection, the writes in order.

The recorder hands each write of a run here as its event arrives and goes on at once: the event
loop (the dashboard's frames, every member's deadline) never waits on SQLite. The writer applies
them in the order given, each in its own transaction. One that meets another connection's lock
is tried again, with a growing pause, until `lock_wait_s` after it was handed over (see
`tui.history.locking`); a write marked `skippable` (a checkpoint of streamed text, which the next
one carries again) gets one try. A run whose write is given up is not recorded any further (its
later writes would not make sense without it), and whoever waits for it is told why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tui.history.locking import is_busy, retrying

log = logging.getLogger(__name__)


class Closable(Protocol):
    def close(self) -> None: ...


W = TypeVar("W", bound=Closable)


@dataclass
class _Job(Generic[W]):
    run_id: str
    write: Callable[[W], None]
    skippable: bool
    deadline: float
    done: Future[str | None]


class HistoryWriter(Generic[W]):
    """Applies writes, in the order they are handed over, on a thread of its own.

    `connect` opens what the writes are made on (its own connection to the history), in that
    thread, at the first write. Each write's `Future` says, once it is done, None (written) or
    why it was not.
    """

    def __init__(
        self,
        connect: Callable[[], W],
        *,
        lock_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock_wait_s = lock_wait_s
        self._connect = connect
        self._clock = clock
        self._jobs: deque[_Job[W]] = deque()  # a job stays first in line until it is done
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._abandoned = False
        self._last: dict[str, Future[str | None]] = {}  # each run's latest write not yet done
        self._problems: dict[str, str] = {}  # why a run's record was given up

    def put(self, run_id: str, write: Callable[[W], None], *, skippable: bool = False) -> Future[str | None]:
        """Hand over one write of run `run_id`, to be applied after every write handed over before."""
        job = _Job(run_id, write, skippable, self._clock() + self.lock_wait_s, Future())
        with self._changed:
            if self._closed:
                _settle(job.done, "it was closed before this was handed to it")
                return job.done
            self._jobs.append(job)
            if not skippable:
                self._last[run_id] = job.done
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="quorum history writer", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        return job.done

    async def recorded(self, run_id: str) -> str | None:
        """Wait until every write of `run_id` handed over so far is done: None when the history
        holds them all, else why it does not."""
        with self._changed:
            last = self._last.get(run_id)
        if last is not None:
            # Shielded: whoever stops waiting must not cancel the write itself.
            await asyncio.shield(asyncio.wrap_future(last))
        with self._changed:
            return self._problems.get(run_id)

    def flush(self) -> None:
        """Block until every write handed over so far is done (each within its own deadline)."""
        with self._changed:
            while self._jobs and not self._abandoned:
                self._changed.wait()

    def close(self, *, wait_s: float | None = None) -> None:
        """Stop taking writes and make those still in line (each within its own deadline), for at
        most `wait_s` seconds if given; what is left then is left (its run stays `running` in the
        history, and the next open after this process has gone marks it interrupted)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and not self._abandoned and wait_s != 0:
            thread.join(wait_s)
        if thread is not None and thread.is_alive():
            with self._changed:
                self._abandoned = True
                self._changed.notify_all()

    # -- the writer's thread ----------------------------------------------------------------

    def _work(self) -> None:
        writes: W | None = None
        try:
            while True:
                with self._changed:
                    while not self._jobs and not self._closed:
                        self._changed.wait()
                    if not self._jobs or self._abandoned:
                        return
                    job = self._jobs[0]
                    problem = self._problems.get(job.run_id)
                if problem is None:
                    if writes is None:
                        writes, problem = self._open()
                    if writes is not None:
                        problem = self._apply(job, writes)
                self._done(job, problem)
        finally:
            if writes is not None:
                writes.close()
            while self._jobs:  # left when the writer was closed without waiting for them
                self._done(self._jobs[0], "Quorum stopped waiting for it")

    def _open(self) -> tuple[W | None, str | None]:
        try:
            return self._connect(), None
        except Exception as err:  # the file went away, or cannot be written: no write can be made
            log.warning("the history writer cannot open the database: %s", err)
            return None, f"it could not be opened: {err}"

    def _apply(self, job: _Job[W], writes: W) -> str | None:
        """Make one write, waiting out another connection's lock until its deadline (a skippable
        one: one try); None when it is written, else why not."""
        until = self._clock() if job.skippable else job.deadline
        try:
            retrying(lambda: job.write(writes), until=until, clock=self._clock)
        except sqlite3.Error as err:
            if job.skippable:
                return f"skipped: {err}"
            if is_busy(err):
                return f"it stayed locked by another process for {self.lock_wait_s:g} s ({err})"
            return str(err)
        except Exception as err:  # a bug in a write: that run's record stops, the writer goes on
            log.exception("run %s: recording failed", job.run_id)
            return f"internal error while recording: {type(err).__name__}: {err} (see the log)"
        return None

    def _done(self, job: _Job[W], problem: str | None) -> None:
        with self._changed:
            self._jobs.popleft()
            if problem is not None and not job.skippable and job.run_id not in self._problems:
                # Its later writes would not make sense without this one: they are not made.
                log.warning("run %s is not recorded in the history: %s", job.run_id, problem)
                self._problems[job.run_id] = problem
            if self._last.get(job.run_id) is job.done:
                del self._last[job.run_id]
            self._changed.notify_all()
        _settle(job.done, problem)


def _settle(done: Future[str | None], problem: str | None) -> None:
    # Cancelled by whoever handed it over: nobody waits for it any more.
    with contextlib.suppress(InvalidStateError):
        done.set_result(problem)
