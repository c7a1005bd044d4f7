"""Questions' vectors in the history: one contiguous array per embedder, kept in blocks.

Each embedder that has embedded a question has a *vector set*: its vectors, `dim` signed bytes
each (`tui.history.vector_format`), in slots numbered from 0 in the order they were kept. Slot `i`
is the `i % block_slots`-th vector of block `i // block_slots`, one BLOB of `block_slots * dim`
bytes (256 KiB), written in place as vectors are kept; `vector_slots` says which question (by its
key, the text embedded) each slot holds. A scan reads the set's blocks in slot order — about a
hundred BLOBs for 100,000 questions, each read once — rather than a row per question (measured
on 100,000: a row per question 170 – 430 ms, blocks of 1,024 vectors 13 – 54 ms; a file beside
the database read whole, 16 – 180 ms, would be a second file to keep in step with it).

A set also remembers which runs (a range of their rowids, recorded in order) have had their
question looked at for a vector, so finding the questions still without one costs nothing once
every run has been looked at, and a long history recorded before (or with another embedder) is
looked through a bounded number of runs at a time, newest first (`unexamined`).

Vectors of different embedders are never compared: each set is its embedder's. A vector of another
length than its set's starts the set over (an endpoint whose model changed). A block of the wrong
length (a damaged file) is dropped with its slots, and the runs are looked through again.

No numpy here: vectors are bytes. The SQL of every read and write is here; the caller owns the
transaction of a write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

BLOCK_BYTES = 256 * 1024
"""A block's size: 1,024 vectors of the offline embedder's 256 dimensions."""


@dataclass(frozen=True)
class VectorSet:
    """One embedder's vectors: `size` slots of `dim` bytes, `block_slots` to a block, and the runs
    (by rowid, `examined_from` to `examined_to`) whose question has been looked at for a vector."""

    id: int
    embedder: str
    dim: int
    size: int
    block_slots: int
    examined_from: int | None
    examined_to: int | None


@dataclass(frozen=True)
class Unexamined:
    """Questions of runs not looked at yet that have no vector (newest first, each once), and the
    range of runs (rowids) looked at once they are kept."""

    keys: list[str]
    examined: tuple[int, int] | None


def vector_set(db: sqlite3.Connection, embedder: str) -> VectorSet | None:
    row = db.execute(
        "SELECT id, embedder, dim, size, block_slots, examined_from, examined_to FROM vector_sets "
        "WHERE embedder = ?",
        (embedder,),
    ).fetchone()
    return None if row is None else VectorSet(*row)


def blocks(db: sqlite3.Connection, vectors: VectorSet) -> Iterator[tuple[int, bytes | None]]:
    """The set's blocks that hold its slots, in order: (block number, its bytes, or None for one
    that is missing or of the wrong length: its slots have no vector)."""
    size = vectors.block_slots * vectors.dim
    expected = 0
    last = (vectors.size - 1) // vectors.block_slots if vectors.size else -1
    for block, data in db.execute(
        "SELECT block, vectors FROM vector_blocks WHERE vector_set = ? AND block <= ? ORDER BY block",
        (vectors.id, last),
    ):
        while expected < block:
            yield expected, None
            expected += 1
        yield block, data if isinstance(data, bytes) and len(data) == size else None
        expected = block + 1
    while expected <= last:
        yield expected, None
        expected += 1


def keys_at(db: sqlite3.Connection, vectors: VectorSet, slots: Sequence[int]) -> dict[int, str]:
    """The question key each of `slots` holds (a slot dropped with its block has none)."""
    found: dict[int, str] = {}
    for start in range(0, len(slots), 500):
        part = list(slots[start : start + 500])
        marks = ", ".join("?" * len(part))
        found.update(
            db.execute(
                f"SELECT slot, question_key FROM vector_slots WHERE vector_set = ? AND slot IN ({marks})",
                (vectors.id, *part),
            ).fetchall()
        )
    return found


def kept_vectors(db: sqlite3.Connection, embedder: str, keys: Iterable[str]) -> dict[str, bytes]:
    """The vectors kept for `keys` from `embedder`, by key (a key without one, or whose block is
    damaged, is left out)."""
    vectors = vector_set(db, embedder)
    wanted = list(dict.fromkeys(keys))
    if vectors is None or not wanted:
        return {}
    slots: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        marks = ", ".join("?" * len(part))
        slots.update(
            db.execute(
                f"SELECT question_key, slot FROM vector_slots WHERE vector_set = ? "
                f"AND question_key IN ({marks})",
                (vectors.id, *part),
            ).fetchall()
        )
    found: dict[str, bytes] = {}
    size = vectors.block_slots * vectors.dim
    for key, slot in slots.items():
        block, at = divmod(slot, vectors.block_slots)
        row = db.execute(
            "SELECT rowid, length(vectors) FROM vector_blocks WHERE vector_set = ? AND block = ?",
            (vectors.id, block),
        ).fetchone()
        if row is None or row[1] != size:
            continue
        with db.blobopen("vector_blocks", "vectors", row[0], readonly=True) as blob:
            blob.seek(at * vectors.dim)
            found[key] = blob.read(vectors.dim)
    return found


def keep_vectors(
    db: sqlite3.Connection,
    embedder: str,
    vectors: Sequence[tuple[str, bytes]],
    *,
    examined: tuple[int, int] | None = None,
) -> None:
    """Keep questions' vectors from `embedder`, as (question key, `dim` bytes), in the caller's
    write transaction: a question that has a slot gets its vector there again (one found damaged
    is embedded again), any other the next slot. `examined` (from `unexamined`) records the runs
    looked at. Vectors of another length than the set's start the set over."""
    dims = {len(vector) for _, vector in vectors}
    if len(dims) > 1:
        raise ValueError(f"vectors of several lengths at once: {sorted(dims)}")
    current = vector_set(db, embedder)
    if dims:
        dim = dims.pop()
        if current is not None and current.dim != dim:
            _forget(db, "WHERE id = ?", (current.id,))
            current = None
        if current is None:
            db.execute(
                "INSERT INTO vector_sets (embedder, dim, size, block_slots) VALUES (?, ?, 0, ?)",
                (embedder, dim, max(1, BLOCK_BYTES // dim)),
            )
            current = vector_set(db, embedder)
            assert current is not None
        _write(db, current, vectors)
    if examined is not None and current is not None:
        low, high = examined
        db.execute(
            "UPDATE vector_sets SET examined_from = ?, examined_to = ? WHERE id = ?",
            (low, high, current.id),
        )


def _write(db: sqlite3.Connection, vectors: VectorSet, kept: Sequence[tuple[str, bytes]]) -> None:
    size = vectors.size
    slots: dict[str, int] = {}
    for key, _ in kept:
        if key in slots:
            continue
        row = db.execute(
            "SELECT slot FROM vector_slots WHERE vector_set = ? AND question_key = ?", (vectors.id, key)
        ).fetchone()
        if row is not None:
            slots[key] = row[0]
        else:
            slots[key] = size
            db.execute(
                "INSERT INTO vector_slots (vector_set, slot, question_key) VALUES (?, ?, ?)",
                (vectors.id, size, key),
            )
            size += 1
    block_bytes = vectors.block_slots * vectors.dim
    by_block: dict[int, list[tuple[int, bytes]]] = {}
    for key, vector in kept:
        block, at = divmod(slots[key], vectors.block_slots)
        by_block.setdefault(block, []).append((at * vectors.dim, vector))
    for block, writes in sorted(by_block.items()):
        row = db.execute(
            "SELECT rowid, length(vectors) FROM vector_blocks WHERE vector_set = ? AND block = ?",
            (vectors.id, block),
        ).fetchone()
        if row is not None and row[1] != block_bytes:
            _drop_block(db, vectors, block, keeping={key for key, _ in kept})
            row = None
        if row is None:
            rowid = db.execute(
                "INSERT INTO vector_blocks (vector_set, block, vectors) VALUES (?, ?, zeroblob(?))",
                (vectors.id, block, block_bytes),
            ).lastrowid
        else:
            rowid = row[0]
        assert rowid is not None
        with db.blobopen("vector_blocks", "vectors", rowid) as blob:
            for offset, vector in writes:
                blob.seek(offset)
                blob.write(vector)
    db.execute("UPDATE vector_sets SET size = ? WHERE id = ?", (size, vectors.id))


def _drop_block(db: sqlite3.Connection, vectors: VectorSet, block: int, *, keeping: set[str]) -> None:
    """A damaged block goes, and with it the slots of the questions it held (but those being kept
    now): they have no vector until a look through the runs (started over) embeds them again."""
    first = block * vectors.block_slots
    db.execute("DELETE FROM vector_blocks WHERE vector_set = ? AND block = ?", (vectors.id, block))
    marks = ", ".join("?" * len(keeping))
    db.execute(
        f"DELETE FROM vector_slots WHERE vector_set = ? AND slot >= ? AND slot < ? "
        f"AND question_key NOT IN ({marks})",
        (vectors.id, first, first + vectors.block_slots, *keeping),
    )
    db.execute("UPDATE vector_sets SET examined_from = NULL, examined_to = NULL WHERE id = ?", (vectors.id,))


def unexamined(db: sqlite3.Connection, embedder: str, *, keys_at_most: int, runs_at_most: int) -> Unexamined:
    """The questions of runs not looked at yet that have no vector from `embedder`: the runs
    recorded since the last look first, then older ones, newest first; at most `runs_at_most`
    runs looked at and `keys_at_most` questions found. A run served from the cache or following
    another up is never suggested: its question is not looked for."""
    vectors = vector_set(db, embedder)
    top = db.execute("SELECT max(rowid) FROM runs").fetchone()[0]
    if top is None:
        return Unexamined([], None)
    walk = _Walk(db, vectors, keys_at_most, runs_at_most)
    low, high = (vectors.examined_from, vectors.examined_to) if vectors is not None else (None, None)
    if low is None or high is None:
        return Unexamined(walk.keys, (walk.through(top, 0), top))
    reached = walk.through(top, high)
    if reached > high + 1:  # stopped short of the runs looked at before: the range starts over
        return Unexamined(walk.keys, (reached, top))
    if low > 1 and walk.room:
        low = walk.through(low - 1, 0)
    return Unexamined(walk.keys, (low, top))


class _Walk:
    """Runs looked at for questions without a vector, newest first, within a budget of runs and
    of questions."""

    def __init__(self, db: sqlite3.Connection, vectors: VectorSet | None, keys: int, runs: int) -> None:
        self._db, self._vectors = db, vectors
        self._keys_left, self._runs_left = keys, runs
        self.keys: list[str] = []

    @property
    def room(self) -> bool:
        return self._keys_left > 0 and self._runs_left > 0

    def through(self, start: int, stop: int) -> int:
        """Look at the runs with rowids in (stop, start], newest first, while there is room; the
        lowest rowid from which on every run up to `start` has been looked at."""
        if start <= stop or not self.room:
            return start + 1
        rows = self._db.execute(
            "SELECT rowid, question_key, cache_of IS NULL AND parent_run_id IS NULL FROM runs "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid DESC LIMIT ?",
            (stop, start, self._runs_left),
        ).fetchall()
        missing = _without_vector(
            self._db, self._vectors, [key for _, key, askable in rows if key is not None and askable]
        )
        reached = start + 1
        for rowid, key, _ in rows:
            if key in missing:
                if not self._keys_left:
                    return reached
                missing.discard(key)  # a question asked again: once
                self.keys.append(key)
                self._keys_left -= 1
            reached = rowid
            self._runs_left -= 1
        return stop + 1 if self._runs_left > 0 else reached


def _without_vector(db: sqlite3.Connection, vectors: VectorSet | None, keys: Sequence[str]) -> set[str]:
    if vectors is None:
        return set(keys)
    has: set[str] = set()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 500):
        part = unique[start : start + 500]
        marks = ", ".join("?" * len(part))
        has.update(
            key
            for (key,) in db.execute(
                f"SELECT question_key FROM vector_slots WHERE vector_set = ? AND question_key IN ({marks})",
                (vectors.id, *part),
            )
        )
    return set(unique) - has


def examine_again(db: sqlite3.Connection) -> None:
    """Every run is to be looked at again for a question without a vector (the questions were
    keyed anew). The vectors stay: each is of its key's text, whichever runs have that key now."""
    db.execute("UPDATE vector_sets SET examined_from = NULL, examined_to = NULL")


def _forget(db: sqlite3.Connection, which: str, params: tuple[int, ...]) -> None:
    """The vector sets `which` selects go, with their slots and blocks (said, not left to the foreign
    keys: a scan's connection does not enforce them)."""
    for table in ("vector_blocks", "vector_slots"):
        db.execute(f"DELETE FROM {table} WHERE vector_set IN (SELECT id FROM vector_sets {which})", params)
    db.execute(f"DELETE FROM vector_sets {which}", params)
