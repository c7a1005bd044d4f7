"""The history database's schema: the migrations that build it, and applying them.

`PRAGMA user_version` holds the number of migrations a database has had; opening one applies the
rest, each in its own transaction. A database newer than this Quorum is refused, never touched.
Several processes may open a new history at once: each reads the version again inside the write
transaction of each migration, so one applies it and the others, having waited for its lock,
find it applied.

A run's cache keys (its question key and signature) are what `tui.question` makes of its question;
`question_reduction` says which version of that made them. A history keyed by an earlier version
has every run keyed again when it is opened, once, so its runs are found as new ones are.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tui.errors import StoreError
from tui.history.locking import retrying
from tui.history.vectors import examine_again, keep_vectors, vector_set
from tui.question.keys import question_key
from tui.question.terms import REDUCTION, signature

log = logging.getLogger(__name__)

# Forward migrations: index i takes a database from version i to i + 1. Never edit one that has
# shipped; add the next.
MIGRATIONS: list[str] = [
    # 1: runs and calls
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        question TEXT NOT NULL,
        mode TEXT NOT NULL,
        panel TEXT NOT NULL,             -- JSON: the members and skipped seats
        config TEXT NOT NULL,            -- JSON snapshot of the settings the run used
        status TEXT NOT NULL,            -- running, success, error, cancelled, interrupted
        outcome TEXT,
        rounds_used INTEGER NOT NULL DEFAULT 0,
        max_rounds INTEGER NOT NULL,
        synthesis TEXT,
        synthesizer TEXT,
        wall_ms INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        parent_run_id TEXT REFERENCES runs(id),
        result TEXT                      -- JSON: the full data contract as of the last state change
    );
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        round INTEGER NOT NULL,
        phase TEXT NOT NULL,
        member_index INTEGER,
        alias TEXT NOT NULL,
        model_id TEXT NOT NULL,
        provider TEXT NOT NULL,
        stance TEXT,
        status TEXT NOT NULL,            -- running, success, error, cancelled
        content TEXT NOT NULL DEFAULT '',
        error TEXT,
        ttft_ms INTEGER,
        latency_ms INTEGER,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        vote TEXT,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX calls_by_run ON calls(run_id, seq);
    """,
    # 2: which process owns a running run (to tell a live run from an interrupted one), the
    # history list's order, and the objections behind each vote
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE calls ADD COLUMN objections TEXT;
    CREATE INDEX runs_by_time ON runs(created_at DESC);
    CREATE INDEX runs_by_parent ON runs(parent_run_id);
    """,
    # 3: the panel as the history list shows it (the filter searches that, not the JSON), the
    # call fields the data contract has beyond version 1's columns, and a partial index that
    # makes finding unfinished runs at start-up independent of the history's size
    """
    ALTER TABLE runs ADD COLUMN panel_text TEXT NOT NULL DEFAULT '';
    UPDATE runs SET panel_text = COALESCE((
        SELECT group_concat(json_extract(value, '$.alias') || ':' || json_extract(value, '$.stance'), ', ')
        FROM json_each(runs.panel, '$.members')), '');
    ALTER TABLE calls ADD COLUMN error_kind TEXT;
    ALTER TABLE calls ADD COLUMN finish_reason TEXT;
    ALTER TABLE calls ADD COLUMN tokens_estimated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN demo INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX runs_unfinished ON runs(status) WHERE status = 'running';
    """,
    # 4: why a vote is invalid (or never came), apart from its objections. Until now the reason
    # stood in for the objections of an invalid vote or a failed review, which had none: move it.
    """
    ALTER TABLE calls ADD COLUMN vote_reason TEXT;
    UPDATE calls SET vote_reason = json_extract(objections, '$[0]'), objections = '[]'
        WHERE phase = 'vote' AND (vote = 'invalid' OR vote IS NULL) AND json_array_length(objections) = 1;
    """,
    # 5: what was asked, whole, so a rerun or follow-up asks it again: the focus areas and the
    # request's settings (JSON), and each attached file with its size, hash and the text sent.
    # A text is kept once however many runs sent it (by its SHA-256). Runs recorded before
    # have no `asked`.
    """
    ALTER TABLE runs ADD COLUMN asked TEXT;
    CREATE TABLE file_texts (
        sha256 TEXT PRIMARY KEY,
        content TEXT NOT NULL
    );
    CREATE TABLE run_files (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        path TEXT NOT NULL,
        full_path TEXT,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL REFERENCES file_texts(sha256),
        PRIMARY KEY (run_id, position)
    );
    """,
    # 6: where each run was started (dashboard, cli, mcp); NULL for runs recorded before.
    """
    ALTER TABLE runs ADD COLUMN origin TEXT;
    """,
    # 7: the images each run sent, by what they were (their bytes are never kept): path, type,
    # size, SHA-256 and dimensions, so a rerun can tell whether the file is still the one sent.
    """
    CREATE TABLE run_images (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        path TEXT NOT NULL,
        full_path TEXT,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        PRIMARY KEY (run_id, position)
    );
    """,
    # 8: the asking team's context each run was asked with: its canonical JSON (keys sorted,
    # whitespace normalized) and that text's SHA-256, so two runs' contexts compare exactly.
    # NULL for a run asked without one, and for runs recorded before.
    """
    ALTER TABLE runs ADD COLUMN context TEXT;
    ALTER TABLE runs ADD COLUMN context_sha256 TEXT;
    """,
    # 9: how long a call waited in line for its provider (max_concurrency) before it was sent;
    # NULL for one sent at once, and for calls recorded before.
    """
    ALTER TABLE calls ADD COLUMN queued_ms INTEGER;
    """,
    # 10: the cache. Each run's keys (`tui.question.keys`): its question normalized, what else
    # its answer depends on (mode, context, files, images, focus) and who answered, so a run that
    # answers a new request is found by an indexed equality; a run served from the cache points at
    # the run it was served from (its calls are that run's, never copied), with how it matched and
    # what it saved. Runs recorded before have no keys and are never served.
    """
    ALTER TABLE runs ADD COLUMN question_key TEXT;
    ALTER TABLE runs ADD COLUMN cache_scope TEXT;
    ALTER TABLE runs ADD COLUMN panel_key TEXT;
    ALTER TABLE runs ADD COLUMN cache_of TEXT REFERENCES runs(id);
    ALTER TABLE runs ADD COLUMN cache_kind TEXT;
    ALTER TABLE runs ADD COLUMN cache_similarity REAL;
    ALTER TABLE runs ADD COLUMN saved_usd REAL;
    ALTER TABLE runs ADD COLUMN saved_seconds REAL;
    CREATE INDEX runs_cacheable ON runs(question_key, cache_scope, created_at)
        WHERE status = 'success' AND cache_of IS NULL AND parent_run_id IS NULL;
    """,
    # 11: the semantic cache. Each run's question signature (its sorted key terms: only a run with
    # the same signature can pass the hit check, so serving needs no scan), and its question's
    # vector from each embedder that has embedded it (float32 BLOB, with the embedder's name:
    # vectors of two embedders are never compared), filled in as lookups need them.
    """
    ALTER TABLE runs ADD COLUMN question_signature TEXT;
    CREATE INDEX runs_by_signature ON runs(question_signature, cache_scope)
        WHERE status = 'success' AND cache_of IS NULL AND parent_run_id IS NULL;
    CREATE TABLE question_vectors (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        embedder TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (run_id, embedder)
    );
    """,
    # 12: the semantic lookup reads every servable run of a scope; an index that holds all it
    # reads, so no run row (with its result JSON, columns beyond it on overflow pages) is visited:
    # 10,000 runs in ~20 ms instead of ~300.
    """
    CREATE INDEX runs_semantic ON runs(cache_scope, panel_key, created_at, id, question)
        WHERE status = 'success' AND cache_of IS NULL AND parent_run_id IS NULL;
    """,
    # 13: a vector belongs to a question, not to a run: keyed by the question key (the text that
    # is embedded), so a question's vector is kept the moment a lookup embeds it, before its run
    # has an id, and a question asked many times is stored and compared once. The vectors kept so
    # far move over. The semantic index holds the question key instead of the question: the scan
    # for a similar run reads keys and vectors only.
    """
    CREATE TABLE question_key_vectors (
        embedder TEXT NOT NULL,
        question_key TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (embedder, question_key)
    );
    INSERT OR IGNORE INTO question_key_vectors (embedder, question_key, dim, vector)
        SELECT question_vectors.embedder, runs.question_key, question_vectors.dim, question_vectors.vector
        FROM question_vectors JOIN runs ON runs.id = question_vectors.run_id
        WHERE runs.question_key IS NOT NULL;
    DROP TABLE question_vectors;
    DROP INDEX runs_semantic;
    CREATE INDEX runs_semantic ON runs(cache_scope, panel_key, question_key, created_at, id)
        WHERE status = 'success' AND cache_of IS NULL AND parent_run_id IS NULL;
    """,
    # 14: which layer retried a call: how often Quorum sent it again itself, and how often the
    # gateway in front of its provider says it retried (NULL: no gateway said). Calls recorded
    # before read as retried by nobody and unreported by a gateway.
    """
    ALTER TABLE calls ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN gateway_retries INTEGER;
    """,
    # 15: a call put in line for its provider (max_concurrency): how many calls the provider
    # serves at once. With `queued_ms` still NULL the call waits in line now, which a process
    # following the run shows as `queued` (not `waiting`); NULL for a call never queued.
    """
    ALTER TABLE calls ADD COLUMN queue_limit INTEGER;
    """,
    # 16: who counted a call's tokens: the provider, a gateway in front of it (which may have
    # counted them itself), or Quorum's estimate. `tokens_estimated` stays, written as before
    # (estimated or not); calls recorded before read as the provider's count, or estimated.
    """
    ALTER TABLE calls ADD COLUMN tokens_source TEXT NOT NULL DEFAULT 'provider';
    UPDATE calls SET tokens_source = 'estimated' WHERE tokens_estimated = 1;
    """,
    # 17: which version of what the cache makes of a question (`tui.question.terms.REDUCTION`)
    # made the runs' question keys and signatures; 1 is every version before they were numbered.
    # Opening the history keys its runs again when it is older than this Quorum's (`migrate`).
    """
    CREATE TABLE question_reduction (version INTEGER NOT NULL);
    INSERT INTO question_reduction (version) VALUES (1);
    """,
    # 18: the questions' vectors as one compact array per embedder (`tui.history.vectors`): int8,
    # in blocks of 256 KiB, each slot naming its question; which runs have been looked at for a
    # question without a vector. The float32 vectors kept so far move over (`_move_vectors`).
    """
    CREATE TABLE vector_sets (
        id INTEGER PRIMARY KEY,
        embedder TEXT NOT NULL UNIQUE,
        dim INTEGER NOT NULL,
        size INTEGER NOT NULL DEFAULT 0,
        block_slots INTEGER NOT NULL,
        examined_from INTEGER,
        examined_to INTEGER
    );
    CREATE TABLE vector_slots (
        vector_set INTEGER NOT NULL REFERENCES vector_sets(id) ON DELETE CASCADE,
        slot INTEGER NOT NULL,
        question_key TEXT NOT NULL,
        PRIMARY KEY (vector_set, slot)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX vector_slots_by_key ON vector_slots(vector_set, question_key);
    CREATE TABLE vector_blocks (
        vector_set INTEGER NOT NULL REFERENCES vector_sets(id) ON DELETE CASCADE,
        block INTEGER NOT NULL,
        vectors BLOB NOT NULL,
        UNIQUE (vector_set, block)
    );
    """,
    # 19: the float32 vectors have moved (migration 18's step).
    """
    DROP TABLE question_key_vectors;
    """,
    # 20: a full-text index of each run's question and panel as listed, which the history's filter
    # looks up instead of reading every run's row (`_index_the_text`).
    "",
    # 21: the form a structured review or ballot was asked in, and its reply as the model sent it
    # (its JSON; `content` shows it as people read it): `show --json` says what `run --json` said.
    """
    ALTER TABLE calls ADD COLUMN vote_form TEXT;
    ALTER TABLE calls ADD COLUMN raw_reply TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _move_vectors(db: sqlite3.Connection) -> None:
    """Migration 18's step: each embedder's float32 vectors, kept by question key, move to its
    vector set as int8 (`tui.history.vector_format`); one that is not a vector (cut short, not
    finite) is left behind, to be embedded again. The runs whose questions all have a vector
    now, from the newest down, count as looked at."""
    by_embedder: dict[str, list[tuple[str, bytes]]] = {}
    for embedder, key, dim, vector in db.execute(
        "SELECT embedder, question_key, dim, vector FROM question_key_vectors ORDER BY rowid"
    ):
        if isinstance(vector, bytes) and dim and len(vector) == 4 * dim:
            by_embedder.setdefault(embedder, []).append((key, vector))
    if not by_embedder:
        return
    import numpy as np

    from tui.history.vector_format import encode

    for embedder, kept in by_embedder.items():
        lengths = [len(vector) for _, vector in kept]
        common = max(set(lengths), key=lengths.count)
        moved = [
            (key, encoded)
            for key, vector in kept
            if len(vector) == common and (encoded := encode(np.frombuffer(vector, dtype="<f4"))) is not None
        ]
        keep_vectors(db, embedder, moved)
        kept_set = vector_set(db, embedder)
        top = db.execute("SELECT max(rowid) FROM runs").fetchone()[0]
        if kept_set is None or top is None:
            continue
        missing = db.execute(
            "SELECT max(rowid) FROM runs WHERE question_key IS NOT NULL AND cache_of IS NULL "
            "AND parent_run_id IS NULL AND question_key NOT IN "
            "(SELECT question_key FROM vector_slots WHERE vector_set = ?)",
            (kept_set.id,),
        ).fetchone()[0]
        keep_vectors(db, embedder, [], examined=((missing or 0) + 1, top))


FULL_TEXT_INDEX = "runs_fts"
"""The full-text index of the runs' questions and panels: its rowid is the run's."""
_FULL_TEXT = [
    # trigram: any 3 characters in a row are looked up (a filter matches inside words, as LIKE
    # did), case-insensitive. It keeps its own copy of the texts, which a shorter filter scans.
    f"CREATE VIRTUAL TABLE {FULL_TEXT_INDEX} USING fts5(question, panel_text, tokenize = 'trigram')",
    f"INSERT INTO {FULL_TEXT_INDEX} (rowid, question, panel_text) "
    "SELECT rowid, question, panel_text FROM runs",
    f"""CREATE TRIGGER runs_fts_insert AFTER INSERT ON runs BEGIN
        INSERT INTO {FULL_TEXT_INDEX} (rowid, question, panel_text)
            VALUES (new.rowid, new.question, new.panel_text);
    END""",
    f"""CREATE TRIGGER runs_fts_update AFTER UPDATE OF question, panel_text ON runs BEGIN
        UPDATE {FULL_TEXT_INDEX} SET question = new.question, panel_text = new.panel_text
            WHERE rowid = old.rowid;
    END""",
    f"""CREATE TRIGGER runs_fts_delete AFTER DELETE ON runs BEGIN
        DELETE FROM {FULL_TEXT_INDEX} WHERE rowid = old.rowid;
    END""",
]


def _index_the_text(db: sqlite3.Connection) -> None:
    """Migration 20's step: the full-text index, filled with every run and kept current by
    triggers. A SQLite built without FTS5's trigram tokenizer (before 3.34, or without FTS5)
    leaves the history without one: its filter reads the runs."""
    try:
        db.execute(_FULL_TEXT[0])
    except sqlite3.OperationalError as err:
        log.warning("no full-text index of the history (%s): its filter reads every run", err)
        return
    for statement in _FULL_TEXT[1:]:
        db.execute(statement)


_FULL_TEXT_TRIGGERS = ("runs_fts_insert", "runs_fts_update", "runs_fts_delete")


def has_full_text_index(db: sqlite3.Connection) -> bool:
    """Whether the history has the full-text index of its runs (migration 20)."""
    found = db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (FULL_TEXT_INDEX,)).fetchone()
    return found is not None


def keep_full_text_index(db: sqlite3.Connection, *, until: float) -> bool:
    """Whether this connection's SQLite can keep the history's full-text index, making it so
    where it can. One history may be opened by SQLites of different builds (two Pythons, a
    container sharing the data folder): a SQLite without the trigram tokenizer cannot write a
    run into an index a newer one made, and its triggers would fail every run's insert. So such
    a SQLite drops the triggers (a run recorded matters more than its index) and filters by
    reading the runs; a SQLite that can keep the index and finds it without its triggers, or
    missing (made by one that could not), fills it again from the runs and puts them back."""
    if has_full_text_index(db) and not _usable(db, f"SELECT 1 FROM {FULL_TEXT_INDEX} LIMIT 0"):
        if _triggers(db):
            retrying(lambda: _drop_full_text_triggers(db), until=until)
        return False
    if _index_whole(db):
        return True
    probe = f"temp.{FULL_TEXT_INDEX}_probe"
    if not _usable(db, f"CREATE VIRTUAL TABLE {probe} USING fts5(x, tokenize = 'trigram')"):
        return False
    db.execute(f"DROP TABLE {probe}")
    retrying(lambda: _index_again(db), until=until)
    return True


def _usable(db: sqlite3.Connection, statement: str) -> bool:
    try:
        db.execute(statement)
    except sqlite3.OperationalError:  # no such tokenizer, no such module
        return False
    return True


def _index_whole(db: sqlite3.Connection) -> bool:
    """The full-text index is there, with every trigger that keeps it."""
    return has_full_text_index(db) and len(_triggers(db)) == len(_FULL_TEXT_TRIGGERS)


def _triggers(db: sqlite3.Connection) -> set[str]:
    names = ", ".join("?" * len(_FULL_TEXT_TRIGGERS))
    query = f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({names})"
    return {row[0] for row in db.execute(query, _FULL_TEXT_TRIGGERS)}


def _drop_full_text_triggers(db: sqlite3.Connection) -> None:
    with write_transaction(db):
        for name in _FULL_TEXT_TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
    log.warning("this SQLite cannot keep the history's full-text index: its filter reads every run")


def _index_again(db: sqlite3.Connection) -> None:
    """The full-text index made anew from the runs, with its triggers, unless another connection
    has meanwhile (looked at again under the write lock)."""
    with write_transaction(db):
        if _index_whole(db):
            return
        for name in _FULL_TEXT_TRIGGERS:
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
        db.execute(f"DROP TABLE IF EXISTS {FULL_TEXT_INDEX}")
        for statement in _FULL_TEXT:
            db.execute(statement)


STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {18: _move_vectors, 20: _index_the_text}
"""What a migration does that SQL cannot, by its number: run in its transaction, after its SQL."""


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on a connection in autocommit mode: the write lock taken at once
    (BEGIN IMMEDIATE), committed at the end, rolled back on any exception (a COMMIT that fails
    too), so the connection is always ready for the next one."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def version_of(db: sqlite3.Connection) -> int:
    """How many of the migrations the database has had."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer Quorum (schema {version}, this one knows {SCHEMA_VERSION})"
        )


def migrate(db: sqlite3.Connection, path: Path, *, until: float) -> None:
    """Bring the database (a connection in autocommit mode) up to `SCHEMA_VERSION`, waiting (until
    `until`, on `time.monotonic`) for another connection that holds the lock, perhaps migrating
    it too."""
    current = version_of(db)
    _refuse_newer(current, path)
    while current < SCHEMA_VERSION:
        current = retrying(lambda: _next_migration(db, path), until=until)
    if _keyed_by(db) < REDUCTION:
        retrying(lambda: _key_again(db), until=until)


def _keyed_by(db: sqlite3.Connection) -> int:
    """The version of the question's reduction the runs' cache keys were made by."""
    return int(db.execute("SELECT version FROM question_reduction").fetchone()[0])


def _key_again(db: sqlite3.Connection) -> None:
    """Make every keyed run's question key and signature again from its question, unless another
    connection has meanwhile (read again under the write lock). A run recorded with no key (before
    the cache, or a signature before the semantic cache) stays without: it is never served. A
    history keyed by a newer Quorum is left as it is: two versions sharing it never undo each
    other's keys."""
    with write_transaction(db):
        if _keyed_by(db) >= REDUCTION:
            return
        runs = db.execute(
            "SELECT id, question, question_signature IS NOT NULL FROM runs WHERE question_key IS NOT NULL"
        ).fetchall()
        db.executemany(
            "UPDATE runs SET question_key = ?, question_signature = ? WHERE id = ?",
            [
                (question_key(question), signature(question) if signed else None, run_id)
                for run_id, question, signed in runs
            ],
        )
        db.execute("UPDATE question_reduction SET version = ?", (REDUCTION,))
        # A question whose key changed has no vector under its new key yet.
        examine_again(db)


def _next_migration(db: sqlite3.Connection, path: Path) -> int:
    """Apply the migration the database needs next, unless another connection has applied it
    meanwhile (the version is read again under the write lock); the version it is at now."""
    with write_transaction(db):
        current = version_of(db)
        _refuse_newer(current, path)
        if current < SCHEMA_VERSION:
            for statement in MIGRATIONS[current].split(";"):
                if statement.strip():
                    db.execute(statement)
            current += 1
            if current in STEPS:
                STEPS[current](db)
            db.execute(f"PRAGMA user_version = {current}")
    return current
