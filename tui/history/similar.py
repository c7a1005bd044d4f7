"""The history's side of the scan for a similar earlier run, on a connection of its own.

The semantic cache serves only runs whose question has the same key terms (an indexed lookup on
`RunStore`); but to *suggest* the most similar earlier run it compares the question with every
question asked in the same scope. That read grows with the history (10,000 runs: ~10 MB of
vectors), so it runs in a worker thread, never on the event loop — and a SQLite connection
belongs to the thread that made it: this module opens its own, on the same file, for the length
of one scan. WAL mode lets it read while the loop's connection records a run.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.engine.types import RunRequest
from tui.errors import StoreError
from tui.history.locking import is_busy
from tui.history.schema import write_transaction
from tui.history.store import iso_stamp, save_vectors
from tui.question.keys import panel_key, scope_key

BUSY_TIMEOUT_S = 5.0
"""How long a scan waits for the recording connection's write to finish before it gives up."""


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScopeQuestion:
    """One question asked in a scope: its key (the text embedded), the newest servable run that
    asked it, and its vector from the embedder asked for if one is kept (as stored: unchecked)."""

    key: str
    run_id: str
    dim: int | None
    vector: bytes | None


@dataclass(frozen=True)
class Scope:
    """What a scan reads: the runs that answered in this scope (and by this panel, when it must
    match), started after `since`, with vectors from `embedder`."""

    scope_key: str
    panel_key: str | None
    since: str
    embedder: str


class ScanConnection:
    """A connection of a worker thread's own to the history, for one scan: read the scope's
    questions, keep the vectors it embedded."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def questions(self, scope: Scope, *, limit: int) -> list[ScopeQuestion]:
        """Each question asked in `scope` once (by its key), with its newest run, newest first.
        Two reads, joined here: the scope's questions from the covering index, then every vector
        of the embedder (a join in SQL looks each vector up one by one, several times slower)."""
        query = (
            "SELECT question_key, id, max(created_at) AS newest FROM runs INDEXED BY runs_semantic "
            "WHERE cache_scope = ? AND created_at >= ? AND status = 'success' AND cache_of IS NULL "
            "AND parent_run_id IS NULL AND question_key IS NOT NULL "
        )
        params: list[Any] = [scope.scope_key, scope.since]
        if scope.panel_key is not None:
            query += "AND panel_key = ? "
            params.append(scope.panel_key)
        query += "GROUP BY question_key ORDER BY newest DESC LIMIT ?"
        params.append(limit)
        asked = self._db.execute(query, params).fetchall()
        if not asked:
            return []
        vectors: dict[str, tuple[int, bytes]] = {
            key: (dim, vector)
            for key, dim, vector in self._db.execute(
                "SELECT question_key, dim, vector FROM question_key_vectors WHERE embedder = ?",
                (scope.embedder,),
            )
        }
        return [
            ScopeQuestion(key=key, run_id=run_id, dim=kept[0], vector=kept[1])
            if (kept := vectors.get(key)) is not None
            else ScopeQuestion(key=key, run_id=run_id, dim=None, vector=None)
            for key, run_id, _newest in asked
        ]

    def kept_vector(self, embedder: str, key: str) -> tuple[bytes, int] | None:
        """The vector kept for the question `key` from `embedder` (as stored: unchecked), if any."""
        row = self._db.execute(
            "SELECT vector, dim FROM question_key_vectors WHERE embedder = ? AND question_key = ?",
            (embedder, key),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def keep_vectors(self, embedder: str, vectors: Iterable[tuple[str, int, bytes]]) -> bool:
        """Vectors embedded during the scan, as (question key, dimension, float32 bytes); False
        when another process holds the history locked: they are not kept, and the next lookup
        embeds them again. A suggestion never waits for the lock, nor fails for it."""
        rows = list(vectors)
        if not rows:
            return True
        self._db.execute("PRAGMA busy_timeout = 0")
        try:
            with write_transaction(self._db):
                save_vectors(self._db, embedder, rows)
        except sqlite3.OperationalError as err:
            if not is_busy(err):
                raise
            log.info("the history is locked: %d question vectors not kept this time", len(rows))
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
