"""Waiting out a history another connection holds locked.

SQLite lets one connection write at a time. Another Quorum recording a run holds the lock for a
few milliseconds a write; a `sqlite3` shell, a backup or a 10 MB question may hold it for
seconds. A write that meets the lock is tried again, with a growing pause, until its deadline:
`LOCK_WAIT_S` (the `[store] lock_wait_s` setting) after it was asked for, about as long as a run
may last. Some of SQLite's answers are immediate (turning WAL on in a new file another connection
holds answers SQLITE_BUSY without waiting), so the waiting is done here, not only by SQLite's
busy handler.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

LOCK_WAIT_S = 300.0
"""How long a write waits for another connection's lock before it is given up (the default of
`[store] lock_wait_s`, for a store opened without the settings)."""

BUSY_TIMEOUT_MS = 50
"""SQLite's own wait, inside one try, on a connection that tries again itself."""

FIRST_PAUSE_S = 0.005
LONGEST_PAUSE_S = 0.2

T = TypeVar("T")

log = logging.getLogger(__name__)


def is_busy(err: sqlite3.Error) -> bool:
    """Whether `err` says another connection holds the lock (worth trying again), not that
    something is wrong with the database or the statement."""
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return isinstance(err, sqlite3.OperationalError) and "locked" in str(err)


def retrying(
    action: Callable[[], T],
    *,
    until: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`action()`, tried again while the history is busy, with a growing pause, until `until` (on
    `clock`); then the busy error is raised. Any other error is raised at once. `action` must be
    one transaction, rolled back when it fails, so that trying it again is safe."""
    pause = FIRST_PAUSE_S
    while True:
        try:
            return action()
        except sqlite3.Error as err:
            if not is_busy(err) or clock() + pause > until:
                raise
            log.debug("the history is busy (%s): trying again in %.3f s", err, pause)
        sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_S)


@contextmanager
def waiting_at_most(db: sqlite3.Connection, milliseconds: int) -> Iterator[None]:
    """SQLite's busy wait on `db` shortened to `milliseconds` for the block: for a write that is
    left for later rather than waited for (on an event loop)."""
    before = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
    db.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA busy_timeout = {before}")
