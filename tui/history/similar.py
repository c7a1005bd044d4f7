"""The history's side of the scan for a similar earlier run, on a connection of its own.

The semantic cache serves only runs whose question has the same key terms (an indexed lookup on
`RunStore`); but to *suggest* the most similar earlier run it compares the question with every
question the embedder has a vector of — one compact array, read block by block
(`tui.history.vectors`: 100,000 questions, 25 MB) — and then looks up the runs of the few most
alike, in the request's scope. That read grows with the history, so it runs in a worker thread,
never on the event loop — and a SQLite connection belongs to the thread that made it: this module
opens its own, on the same file, for the length of one scan. WAL mode lets it read while the
loop's connection records a run.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.engine.types import RunRequest
from tui.errors import StoreError
from tui.history import vectors
from tui.history.locking import is_busy
from tui.history.schema import write_transaction
from tui.history.store import iso_stamp
from tui.history.vectors import Unexamined, VectorSet
from tui.question.keys import panel_key, scope_key

BUSY_TIMEOUT_S = 5.0
"""How long a scan waits for the recording connection's write to finish before it gives up."""


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    """What a scan reads: the runs that answered in this scope (and by this panel, when it must
    match), started after `since`, with vectors from `embedder`."""

    scope_key: str
    panel_key: str | None
    since: str
    embedder: str


_SERVABLE = "status = 'success' AND cache_of IS NULL AND parent_run_id IS NULL"


class ScanConnection:
    """A connection of a worker thread's own to the history, for one scan: read the embedder's
    vectors block by block and the runs of the few questions most like the one asked, keep the
    vectors it embedded."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def asked_in(self, scope: Scope, *, besides: str) -> bool:
        """Whether any question but `besides` (a question key) has a run in `scope`."""
        query = (
            f"SELECT 1 FROM runs INDEXED BY runs_semantic WHERE cache_scope = ? AND {_SERVABLE} "
            "AND created_at >= ? AND question_key IS NOT NULL AND question_key != ? "
        )
        params: list[Any] = [scope.scope_key, scope.since, besides]
        if scope.panel_key is not None:
            query += "AND panel_key = ? "
            params.append(scope.panel_key)
        return self._db.execute(query + "LIMIT 1", params).fetchone() is not None

    def vector_set(self, embedder: str) -> VectorSet | None:
        return vectors.vector_set(self._db, embedder)

    def blocks(self, vector_set: VectorSet) -> Iterator[tuple[int, bytes | None]]:
        """The set's blocks in order, each read once (see `tui.history.vectors.blocks`)."""
        return vectors.blocks(self._db, vector_set)

    def keys_at(self, vector_set: VectorSet, slots: Sequence[int]) -> dict[int, str]:
        return vectors.keys_at(self._db, vector_set, slots)

    def kept_vector(self, embedder: str, key: str) -> bytes | None:
        """The vector kept for the question `key` from `embedder`, if any."""
        return vectors.kept_vectors(self._db, embedder, [key]).get(key)

    def unexamined(self, embedder: str, *, keys_at_most: int, runs_at_most: int) -> Unexamined:
        """Questions of runs not looked at yet that have no vector (see `tui.history.vectors`)."""
        return vectors.unexamined(self._db, embedder, keys_at_most=keys_at_most, runs_at_most=runs_at_most)

    def newest_runs(self, scope: Scope, keys: Iterable[str]) -> dict[str, str]:
        """For each question key of `keys` asked in `scope`, its newest run there: an indexed
        lookup a key."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        if scope.panel_key is not None:
            query = (
                "SELECT question_key, id, max(created_at) FROM runs INDEXED BY runs_semantic "
                f"WHERE cache_scope = ? AND panel_key = ? AND question_key IN ({marks}) "
            )
            params: list[Any] = [scope.scope_key, scope.panel_key, *wanted]
        else:
            query = (
                "SELECT question_key, id, max(created_at) FROM runs INDEXED BY runs_cacheable "
                f"WHERE question_key IN ({marks}) AND cache_scope = ? "
            )
            params = [*wanted, scope.scope_key]
        query += f"AND created_at >= ? AND {_SERVABLE} GROUP BY question_key"
        params.append(scope.since)
        return {key: run_id for key, run_id, _newest in self._db.execute(query, params)}

    def keep_vectors(
        self, embedder: str, kept: Sequence[tuple[str, bytes]], *, examined: tuple[int, int] | None
    ) -> bool:
        """Vectors embedded during the scan, as (question key, vector as kept), and the runs
        looked at for them; False when another process holds the history locked: they are not
        kept, and the next lookup embeds them again. A suggestion never waits for the lock, nor
        fails for it."""
        if not kept and examined is None:
            return True
        self._db.execute("PRAGMA busy_timeout = 0")
        try:
            with write_transaction(self._db):
                vectors.keep_vectors(self._db, embedder, kept, examined=examined)
        except sqlite3.OperationalError as err:
            if not is_busy(err):
                raise
            log.info("the history is locked: %d question vectors not kept this time", len(kept))
            return False
        return True


@contextmanager
def scan_connection(path: Path) -> Iterator[ScanConnection]:
    """A connection to the history at `path` (which `RunStore` has opened and migrated) for the
    calling thread, closed afterwards."""
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the history database {path}: {err}") from err
    try:
        # As the store's own connection: a WAL commit is not synced until a checkpoint (keeping a
        # scan's vectors would otherwise wait on the disk). No memory map: the vectors' blocks
        # would stay mapped into the process (+25 MB of RSS at 100,000 questions) for a few ms.
        db.execute("PRAGMA synchronous = NORMAL")
        # A scan reads each block of vectors once: a page cache would only hold what is done with
        # (20 concurrent scans of 100,000 questions: 9 MB less at the peak with 256 KiB each).
        db.execute("PRAGMA cache_size = -256")
        yield ScanConnection(db)
    except sqlite3.Error as err:
        raise StoreError(f"cannot scan the history database {path}: {err}") from err
    finally:
        db.close()


def scope_of(request: RunRequest, embedder: str, *, since: datetime, same_panel: bool) -> Scope:
    """The scope a scan for `request` reads (the panel's too when it must match)."""
    return Scope(
        scope_key=scope_key(request),
        panel_key=panel_key(request) if same_panel else None,
        since=iso_stamp(since),
        embedder=embedder,
    )
