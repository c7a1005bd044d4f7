"""Run history in SQLite: every run, call and vote, written as it happens.

The database and every statement run on it: the named writes `tui.history.recorder` makes as a
run's events arrive (the engine does not know the store exists), and reading runs back. The
schema and its migrations are in `tui.history.schema`. Each write is its own transaction, so a
process killed mid-run leaves a consistent database holding what had arrived. On the next open,
runs left `running` by a process that is gone are marked `interrupted`. A run's writes are made
off the event loop, in order, by `tui.history.writer`, which waits out a lock another process
holds (`tui.history.locking`).

No secret is ever written: the engine never sees a key, and the config snapshot holds only the
names of the variables that carry them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.engine import events as ev
from tui.engine.types import (
    Asked,
    CallResult,
    Member,
    Mode,
    Origin,
    Outcome,
    Phase,
    RoundResult,
    RunRequest,
    RunResult,
    RunStatus,
    TokensSource,
    Vote,
    VoteValue,
)
from tui.errors import StoreError, hide_key_shapes, hide_values, redact
from tui.history import rows
from tui.history.liveness import run_alive
from tui.history.locking import BUSY_TIMEOUT_MS, LOCK_WAIT_S, is_busy, retrying, waiting_at_most
from tui.history.schema import FULL_TEXT_INDEX, keep_full_text_index, migrate, version_of, write_transaction
from tui.history.vectors import keep_vectors, kept_vectors
from tui.history.writer import HistoryWriter
from tui.question.keys import panel_key, question_key, scope_key
from tui.question.terms import signature

INTERRUPTED_NOTE = "interrupted: Quorum stopped before this run finished"


@dataclass(frozen=True)
class RunSummary:
    """One line of the history list. `quorum history --json` prints its `__dict__` (the enums are
    `StrEnum`s, so they serialize as their values)."""

    id: str
    created_at: str
    question: str
    panel: str
    status: RunStatus
    outcome: Outcome | None
    cost_usd: float
    parent_run_id: str | None
    origin: Origin | None = None
    cache_of: str | None = None
    """The run this one was served from (a cache hit), or None for a run the panel answered."""
    mode: Mode | None = Mode.DELIBERATE
    """How the panel was asked; None for a mode this version does not know (a newer one wrote it)."""


@dataclass(frozen=True)
class StoredQuestion:
    """A recorded run's question as the semantic cache compares it."""

    run_id: str
    question: str
    key: str
    """Its question key: what is embedded, and what its vector is kept under."""
    vector: bytes | None
    """Its vector from the embedder asked for, as kept (`tui.history.vector_format`), or None."""


@dataclass(frozen=True)
class RunRecord:
    """A run as the history holds it at one moment, read in one transaction: the result as `load`
    gives it, and what a follower also needs to tell a live run from a finished one."""

    result: RunResult
    in_flight: dict[str, datetime]
    """The calls still being made (in `result` they read as cut short), by id, with when each started."""
    queued: dict[str, int]
    """Those of them waiting in line for their provider now, by id, with how many calls the
    provider serves at once."""
    pid: int | None
    """The process recording the run."""


def _make_private(database: Path) -> None:
    """The database's folder (and any parent Quorum creates) readable by the user only (0700), and
    the file itself 0600: SQLite gives its -wal and -shm files the database file's mode."""
    for folder in reversed([p for p in database.parents if not p.exists()]):
        folder.mkdir(mode=0o700, exist_ok=True)
    if not database.exists():
        os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (database, *(database.with_name(database.name + end) for end in ("-wal", "-shm"))):
        with contextlib.suppress(OSError):  # gone, or not ours to change: SQLite will say if it matters
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)


def _each_string(data: Any, change: Callable[[str], str]) -> Any:
    """JSON-shaped `data` with `change` applied to every string value in it."""
    if isinstance(data, str):
        return change(data)
    if isinstance(data, list):
        return [_each_string(item, change) for item in data]
    if isinstance(data, dict):
        return {key: _each_string(value, change) for key, value in data.items()}
    return data


_SUMMARY_COLUMNS = (
    "id, created_at, question, panel_text, status, outcome, cost_usd, parent_run_id, origin, cache_of, mode"
)


def _listed(eval_runs: bool) -> str:
    """The condition on a run for a list of runs: `quorum eval`'s only when they are asked for."""
    return "1" if eval_runs else f"origin IS NOT '{Origin.EVAL.value}'"


def _like(text: str) -> str:
    """A LIKE pattern that finds `text` literally anywhere (with ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_search(text: str) -> tuple[str, list[Any]]:
    """The query of the rowids of the runs whose question or panel holds `text` (case-insensitive)
    in the full-text index, and its parameters: `text` as one phrase of its trigrams; one of
    fewer than 3 characters has none, and is looked for in the index's own compact copy of the
    questions and panels."""
    if len(text) >= 3:
        phrase = '"' + text.replace('"', '""') + '"'
        return f"SELECT rowid FROM {FULL_TEXT_INDEX} WHERE {FULL_TEXT_INDEX} MATCH ?", [phrase]
    return (
        f"SELECT rowid FROM {FULL_TEXT_INDEX} WHERE question LIKE ? ESCAPE '\\' "
        "OR panel_text LIKE ? ESCAPE '\\'",
        [_like(text)] * 2,
    )


def _servable_runs(
    select: str, key: str, request: RunRequest, *, since: datetime, same_panel: bool, limit: int
) -> tuple[str, list[Any]]:
    """`select` (ending in a condition on one key, given as `key`) narrowed to the runs the cache
    may serve for `request`, newest first: in its scope (and with its panel when `same_panel`),
    started after `since`, finished with success, not themselves served from the cache, not
    follow-ups."""
    query = (
        select + "AND cache_scope = ? AND created_at >= ? "
        "AND status = 'success' AND cache_of IS NULL AND parent_run_id IS NULL "
    )
    params: list[Any] = [key, scope_key(request), iso_stamp(since)]
    if same_panel:
        query += "AND panel_key = ? "
        params.append(panel_key(request))
    query += "ORDER BY created_at DESC LIMIT ?"
    params.append(limit)
    return query, params


def _summary(row: sqlite3.Row) -> RunSummary:
    """A history list row (`_SUMMARY_COLUMNS` of a run) as its summary."""
    return RunSummary(
        id=row["id"],
        created_at=row["created_at"],
        question=row["question"],
        panel=row["panel_text"],
        status=RunStatus(row["status"]),
        outcome=Outcome(row["outcome"]) if row["outcome"] is not None else None,
        cost_usd=row["cost_usd"],
        parent_run_id=row["parent_run_id"],
        origin=Origin(row["origin"]) if row["origin"] is not None else None,
        cache_of=row["cache_of"],
        mode=rows.known(Mode, row["mode"]),
    )


def iso_stamp(moment: datetime) -> str:
    """A moment as the history writes it (UTC, milliseconds), so stamps compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


Clock = Callable[[], datetime]
"""What the history stamps its records with (a run's start and end, a call's): the time now."""


def utc_now() -> datetime:
    """The history's clock, unless another is handed to the store: the system's, in UTC."""
    return datetime.now(UTC)


def connect(path: Path, *, until: float, busy_timeout_ms: int | None = None) -> sqlite3.Connection:
    """A connection to the history at `path` as Quorum uses one: autocommit, rows by column name,
    WAL (so readers never wait for a writer), foreign keys on. A new file is turned to WAL here,
    which another connection may hold up: that is waited out until `until` (`time.monotonic`)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        if busy_timeout_ms is not None:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            retrying(lambda: db.execute("PRAGMA journal_mode=WAL").fetchone(), until=until)
        # NORMAL in WAL mode: a crash can lose the last commits but never corrupts the file.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        db.close()
        raise
    return db


AskedWrite = Callable[[sqlite3.Connection], None]


class RunWrites:
    """The named writes of runs' records, on one connection. Each is one transaction; its values
    (a snapshot's JSON, a question's cache keys, redacted texts) are computed before it begins,
    so the history's write lock is held for the statements alone.

    `at` is when what a write records happened, as `now` gives it (default: now): a write made
    later, once the history is free again, keeps the time of its event. `clock` tells the time
    (default: the system's); tests hand in one of their own to order runs without waiting.
    """

    def __init__(
        self, db: sqlite3.Connection, secrets: Iterable[str] = (), clock: Clock | None = None
    ) -> None:
        self._db = db
        self._secrets = tuple(secrets)
        # Looked up when the store is made, not when this module is: a front end's store opened
        # by a test whose clock stands in for `utc_now` takes that clock.
        self.clock = clock or utc_now

    def now(self) -> str:
        """The time now by the store's clock, as the history writes it."""
        return iso_stamp(self.clock())

    def close(self) -> None:
        self._db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return write_transaction(self._db)

    def _question(self, request: RunRequest) -> str:
        """The question as stored and keyed: redacted (a session has redacted it already, before
        the panel saw it; this holds for any other caller too)."""
        return redact(request.question, self._secrets)

    def _config(self, config: Mapping[str, Any]) -> str:
        """The settings snapshot as stored: every string redacted (no key, token or URL credential)."""
        data = json.loads(json.dumps(dict(config), default=str))
        return json.dumps(_each_string(data, lambda text: redact(text, self._secrets)))

    def _snapshot(self, result: RunResult) -> str:
        """The run row's copy of the result, its question and messages redacted (the calls' are,
        on their rows)."""
        messages = {
            "question": redact(result.question, self._secrets),
            "errors": [redact(e, self._secrets) for e in result.errors],
            "notes": [redact(n, self._secrets) for n in result.notes],
        }
        text = rows.snapshot(result.model_copy(update=messages))
        if any(s in text or json.dumps(s)[1:-1] in text for s in self._secrets):  # a model's words
            data = _each_string(json.loads(text), lambda value: hide_values(value, self._secrets))
            text = json.dumps(data, ensure_ascii=False)
        return text

    def insert_run(
        self,
        request: RunRequest,
        result: RunResult,
        *,
        config: Mapping[str, Any],
        parent_run_id: str | None,
        at: str | None = None,
    ) -> None:
        """A run that has just started, owned by this process; `result` is its state so far."""
        question = self._question(request)
        values = (
            result.run_id,
            at or self.now(),
            question,
            request.mode.value,
            rows.panel_json(request),
            rows.panel_text(request.members),
            self._config(config),
            request.max_rounds,
            parent_run_id,
            self._snapshot(result),
            os.getpid(),
            request.origin.value if request.origin is not None else None,
            question_key(question),
            scope_key(request),
            panel_key(request),
            signature(question),
        )
        asked = self._asked_write(result.run_id, result.asked) if result.asked is not None else None
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, created_at, question, mode, panel, panel_text, config, status, "
                "max_rounds, parent_run_id, result, pid, origin, question_key, cache_scope, panel_key, "
                "question_signature) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            if asked is not None:
                asked(db)

    def insert_cache_hit(
        self, request: RunRequest, hit: RunResult, *, config: Mapping[str, Any], at: str | None = None
    ) -> None:
        """A run served from the cache, finished as it starts: `hit.cache` names the run it was
        served from, whose calls it shows (read from that run's rows, never copied)."""
        cache = hit.cache
        assert cache.hit and cache.original_run_id is not None and cache.kind is not None
        question, stamp = self._question(request), at or self.now()
        values = (
            hit.run_id,
            stamp,
            stamp,
            question,
            request.mode.value,
            rows.panel_json(request),
            rows.panel_text(hit.members),
            self._config(config),
            hit.status.value,
            hit.outcome.value if hit.outcome is not None else None,
            hit.rounds_used,
            hit.max_rounds,
            hit.synthesis,
            hit.synthesizer,
            hit.totals.wall_ms,
            self._snapshot(hit),
            os.getpid(),
            request.origin.value if request.origin is not None else None,
            question_key(question),
            scope_key(request),
            panel_key(request),
            cache.original_run_id,
            cache.kind.value,
            cache.similarity,
            cache.saved_usd,
            cache.saved_seconds,
        )
        asked = self._asked_write(hit.run_id, hit.asked) if hit.asked is not None else None
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, created_at, finished_at, question, mode, panel, panel_text, config, "
                "status, outcome, rounds_used, max_rounds, synthesis, synthesizer, wall_ms, result, pid, "
                "origin, question_key, cache_scope, panel_key, cache_of, cache_kind, cache_similarity, "
                "saved_usd, saved_seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            if asked is not None:
                asked(db)

    def _asked_write(self, run_id: str, asked: Asked) -> AskedWrite:
        """What a run asked, written (in the caller's transaction) by the function returned: its
        `asked` column, the asking team's context (canonical JSON and its SHA-256), each attached
        file with the text it sent (a text is kept once, by the SHA-256 of the file it came from),
        and each image by what it was (never its bytes)."""
        columns = (rows.asked_json(asked), *rows.context_columns(asked.context), run_id)
        texts = [(file.sha256, hide_values(file.content, self._secrets)) for file in asked.files]
        files = [
            (run_id, position, file.path, file.full_path, file.size, file.sha256)
            for position, file in enumerate(asked.files)
        ]
        images = [
            (run_id, position, i.path, i.full_path, i.media_type, i.size, i.sha256, i.width, i.height)
            for position, i in enumerate(asked.images)
        ]

        def write(db: sqlite3.Connection) -> None:
            db.execute("UPDATE runs SET asked = ?, context = ?, context_sha256 = ? WHERE id = ?", columns)
            db.executemany("INSERT OR IGNORE INTO file_texts (sha256, content) VALUES (?, ?)", texts)
            db.executemany(
                "INSERT INTO run_files (run_id, position, path, full_path, size, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                files,
            )
            db.executemany(
                "INSERT INTO run_images (run_id, position, path, full_path, media_type, size, sha256, "
                "width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                images,
            )

        return write

    def insert_call(
        self, run_id: str, seq: int, started: ev.CallStarted, by: Member | None, *, at: str | None = None
    ) -> None:
        """A call that has just started, the `seq`-th of its run. `by` is the panel member or
        synthesizer making it (None if unknown: the alias stands in for the model)."""
        stance = by.stance.value if by is not None and started.member_index is not None else None
        stamp = at or self.now()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO calls (id, run_id, seq, round, phase, member_index, alias, model_id, "
                "provider, stance, demo, status, started_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    started.call_id,
                    run_id,
                    seq,
                    started.round,
                    started.phase.value,
                    started.member_index,
                    started.alias,
                    by.model_id if by is not None else started.alias,
                    by.provider if by is not None else "",
                    stance,
                    int(by is not None and by.demo),
                    stamp,
                    stamp,
                ),
            )

    def call_queued(self, call_id: str, limit: int, *, at: str | None = None) -> None:
        """A call waits in line for its provider, which serves `limit` calls at once, until
        `call_sent`: a follower shows it as queued meanwhile."""
        with self.transaction() as db:
            db.execute(
                "UPDATE calls SET queue_limit = ?, updated_at = ? WHERE id = ?",
                (limit, at or self.now(), call_id),
            )

    def call_sent(self, call_id: str, queued_ms: int, *, at: str | None = None) -> None:
        """A call that waited `queued_ms` in line for its provider is sent now: its clock (what a
        follower counts from) starts again."""
        stamp = at or self.now()
        with self.transaction() as db:
            db.execute(
                "UPDATE calls SET started_at = ?, queued_ms = ?, updated_at = ? WHERE id = ?",
                (stamp, queued_ms, stamp, call_id),
            )

    def finish_call(self, call: CallResult, *, at: str | None = None) -> None:
        """A call's end: its status, whole text, error, timings, tokens, cost, who retried it, and
        for a structured review or ballot its form and its reply as sent."""
        values = (
            call.status.value,
            hide_values(call.content, self._secrets),
            redact(call.error, self._secrets) if call.error else call.error,
            call.error_kind,
            call.ttft_ms,
            call.latency_ms,
            call.queued_ms,
            call.input_tokens,
            call.output_tokens,
            call.tokens_source.value,
            int(call.tokens_estimated),
            call.cost_usd,
            call.finish_reason,
            call.retries,
            call.gateway_retries,
            call.vote_form.value if call.vote_form is not None else None,
            hide_values(call.raw_reply, self._secrets) if call.raw_reply is not None else None,
            at or self.now(),
            call.call_id,
        )
        with self.transaction() as db:
            db.execute(
                "UPDATE calls SET status = ?, content = ?, error = ?, error_kind = ?, ttft_ms = ?, "
                "latency_ms = ?, queued_ms = ?, input_tokens = ?, output_tokens = ?, tokens_source = ?, "
                "tokens_estimated = ?, cost_usd = ?, finish_reason = ?, retries = ?, gateway_retries = ?, "
                "vote_form = ?, raw_reply = ?, updated_at = ? "
                "WHERE id = ?",
                values,
            )

    def record_vote(self, run_id: str, round_number: int, vote: Vote) -> None:
        """A member's vote, its objections and why it is invalid (or absent), on the row of the
        review call it came from."""
        with self.transaction() as db:
            db.execute(
                "UPDATE calls SET vote = ?, objections = ?, vote_reason = ? "
                "WHERE run_id = ? AND round = ? AND phase = ? AND member_index = ?",
                (
                    vote.value.value if vote.value is not VoteValue.NONE else None,
                    json.dumps(vote.objections),
                    vote.reason,
                    run_id,
                    round_number,
                    Phase.VOTE.value,
                    vote.member_index,
                ),
            )

    def record_round(self, result: RunResult, round_: RoundResult) -> None:
        """A decided round: the rounds used, its outcome (if it reached one) and the run so far."""
        values = (
            round_.number,
            round_.outcome.value if round_.outcome is not None else None,
            self._snapshot(result),
            result.run_id,
        )
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET rounds_used = ?, outcome = COALESCE(?, outcome), result = ? WHERE id = ?",
                values,
            )

    def finish_run(self, result: RunResult, *, at: str | None = None) -> None:
        """A run's end, whatever it was (success, error, cancelled): the row as the result says."""
        values = (
            result.status.value,
            at or self.now(),
            result.outcome.value if result.outcome is not None else None,
            result.rounds_used,
            result.synthesis,
            result.synthesizer,
            result.totals.wall_ms,
            result.totals.input_tokens,
            result.totals.output_tokens,
            result.totals.cost_usd,
            self._snapshot(result),
            result.run_id,
        )
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, outcome = ?, rounds_used = ?, "
                "synthesis = ?, synthesizer = ?, wall_ms = ?, input_tokens = ?, output_tokens = ?, "
                "cost_usd = ?, result = ? WHERE id = ?",
                values,
            )

    def save_texts(
        self,
        texts: Mapping[str, str],
        first_token_ms: Mapping[str, int] | None = None,
        *,
        at: str | None = None,
    ) -> None:
        """The text streamed so far of calls still in flight, by call id, and how long each waited
        for its first text (`first_token_ms`, where known): what a follower shows of them."""
        stamp = at or self.now()
        waited = first_token_ms or {}
        values = [
            (hide_values(text, self._secrets), waited.get(call_id), stamp, call_id)
            for call_id, text in texts.items()
        ]
        with self.transaction() as db:
            db.executemany(
                "UPDATE calls SET content = ?, ttft_ms = COALESCE(?, ttft_ms), updated_at = ? WHERE id = ?",
                values,
            )

    def record_progress(self, result: RunResult) -> None:
        """The run so far, between rounds: what it holds beyond its calls' rows (consult mode's
        agreement, positions carried over from an earlier run) for whoever follows it."""
        snapshot = self._snapshot(result)
        with self.transaction() as db:
            db.execute("UPDATE runs SET result = ? WHERE id = ?", (snapshot, result.run_id))


class RunStore(RunWrites):
    """The history database: runs read back, the named writes made at once on its own connection
    (used from the thread that opened it), and a `writer` that makes a run's writes in order on a
    thread and a connection of its own (the recorder's: an event loop never waits for them).

    `lock_wait_s` is how long a write waits for another connection's lock before it is given up,
    and how long opening a new history waits for another process creating it.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        secrets: Iterable[str] = (),
        lock_wait_s: float = LOCK_WAIT_S,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path)
        self.lock_wait_s = lock_wait_s
        try:
            _make_private(self.path)
            db = connect(self.path, until=time.monotonic() + lock_wait_s)
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot use the history database {self.path}: {err}") from err
        super().__init__(db, secrets, clock)
        try:
            migrate(self._db, self.path, until=time.monotonic() + lock_wait_s)
            self._indexed_text = keep_full_text_index(self._db, until=time.monotonic() + lock_wait_s)
            self.interrupted = self._mark_interrupted()
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StoreError(f"cannot use the history database {self.path}: {err}") from err
        except StoreError:
            self._db.close()
            raise
        self.writer: HistoryWriter[RunWrites] = HistoryWriter(self._own_writes, lock_wait_s=lock_wait_s)

    def _own_writes(self) -> RunWrites:
        """The named writes on a connection of their own, for the writer's thread."""
        db = connect(self.path, until=time.monotonic() + self.lock_wait_s, busy_timeout_ms=BUSY_TIMEOUT_MS)
        return RunWrites(db, self._secrets, lambda: self.clock())  # (the store's, even if changed later)

    def close(self, *, wait_s: float | None = None) -> None:
        """Close the history: the writes handed to the writer are made first (each within its own
        wait for the lock), for at most `wait_s` seconds if given (see `HistoryWriter.close`)."""
        self.writer.close(wait_s=wait_s)
        self._db.close()

    def flush(self) -> None:
        """Block until every write handed to the writer so far is done."""
        self.writer.flush()

    def record_cache_hit(self, request: RunRequest, hit: RunResult, *, config: Mapping[str, Any]) -> None:
        """`insert_cache_hit`, made by the writer as a run's writes are (off the event loop, waiting
        out another process's lock): `recorded(hit.run_id)` says when the history holds it."""
        asked, served, at = request.model_copy(deep=True), hit.model_copy(deep=True), self.now()
        self.writer.put(
            hit.run_id, lambda writes: writes.insert_cache_hit(asked, served, config=config, at=at)
        )

    async def recorded(self, run_id: str) -> str | None:
        """Wait until every write of run `run_id` handed to the writer is done: None when the
        history holds them all, else why it does not."""
        return await self.writer.recorded(run_id)

    @property
    def version(self) -> int:
        return version_of(self._db)

    def save_vectors(self, embedder: str, kept: Sequence[tuple[str, bytes]]) -> None:
        """Questions' vectors from `embedder`, as (question key, vector as kept). Left out when
        another connection holds the history locked (they are embedded again when next needed):
        this runs on an event loop, which must not wait for the lock."""
        try:
            with waiting_at_most(self._db, BUSY_TIMEOUT_MS), self.transaction() as db:
                keep_vectors(db, embedder, kept)
        except sqlite3.OperationalError as err:
            if not is_busy(err):
                raise

    def _gone(self, run_id: str | None) -> list[str]:
        """The runs left `running` (or only `run_id`) whose recording process is gone."""
        query = "SELECT id, pid FROM runs WHERE status = 'running'"
        params: tuple[str, ...] = ()
        if run_id is not None:
            query, params = query + " AND id = ?", (run_id,)
        unfinished = self._db.execute(query, params).fetchall()
        return [row["id"] for row in unfinished if not run_alive(row["id"], row["pid"])]

    def _mark_interrupted(self, run_id: str | None = None) -> list[str]:
        """Mark the runs left `running` by a process that is gone (or only `run_id`) interrupted;
        return their ids. A history another connection holds locked is left as it is (the next
        look marks them): this may run on an event loop, which must not wait for the lock."""
        if not self._gone(run_id):
            return []
        try:
            with waiting_at_most(self._db, BUSY_TIMEOUT_MS), self.transaction() as db:
                # Again under the write lock: a run whose last write landed meanwhile is not gone.
                gone = self._gone(run_id)
                for stopped in gone:
                    db.execute(
                        "UPDATE calls SET status = 'cancelled', "
                        "error = 'interrupted: Quorum stopped mid-call' "
                        "WHERE run_id = ? AND status = 'running'",
                        (stopped,),
                    )
                    # What the finished calls cost is known even though the run never finished.
                    db.execute(
                        "UPDATE runs SET status = 'interrupted', "
                        "input_tokens = (SELECT COALESCE(sum(input_tokens), 0) FROM calls WHERE run_id = ?), "
                        "output_tokens = "
                        "(SELECT COALESCE(sum(output_tokens), 0) FROM calls WHERE run_id = ?), "
                        "cost_usd = (SELECT COALESCE(sum(cost_usd), 0) FROM calls WHERE run_id = ?) "
                        "WHERE id = ? AND status = 'running'",
                        (stopped, stopped, stopped, stopped),
                    )
        except sqlite3.OperationalError as err:
            if is_busy(err):
                return []
            raise
        return gone

    def interrupt_if_gone(self, run_id: str) -> bool:
        """Whether `run_id` was left `running` by a process that is gone, and is now marked
        interrupted (as opening the store marks every such run)."""
        return bool(self._mark_interrupted(run_id))

    def interrupt_gone(self) -> list[str]:
        """Mark every run whose recording process is gone interrupted, as opening the store does;
        return their ids. A history busy right now is left as it is (the next look marks them)."""
        try:
            return self._mark_interrupted()
        except sqlite3.OperationalError:
            return []

    def cache_candidates(
        self, request: RunRequest, *, since: datetime, same_panel: bool, limit: int = 5
    ) -> list[str]:
        """The runs, newest first, that may answer `request` exactly: finished with success (never
        interrupted, failed or cancelled), not themselves served from the cache, not follow-ups
        (their answers depend on their thread), started after `since`, with the same question key
        and scope key (and panel key when `same_panel`). The caller still checks each one's result."""
        query, params = _servable_runs(
            "SELECT id FROM runs INDEXED BY runs_cacheable WHERE question_key = ? ",
            question_key(request.question),
            request,
            since=since,
            same_panel=same_panel,
            limit=limit,
        )
        return [str(row["id"]) for row in self._db.execute(query, params)]

    def same_terms_candidates(
        self, request: RunRequest, embedder: str, *, since: datetime, same_panel: bool, limit: int = 50
    ) -> list[StoredQuestion]:
        """The runs, newest first, that may be served for `request` though it is worded otherwise:
        the conditions of `cache_candidates`, with the same question signature instead of the same
        question key (only such a run can pass the hit check). An indexed lookup that finds a few
        runs, whatever the size of the history. Each with its question and its vector from
        `embedder` if one is kept (as stored: checked by the caller)."""
        query, params = _servable_runs(
            "SELECT id, question, question_key FROM runs INDEXED BY runs_by_signature "
            "WHERE question_signature = ? ",
            signature(request.question),
            request,
            since=since,
            same_panel=same_panel,
            limit=limit,
        )
        found = self._db.execute(query, params).fetchall()
        kept = kept_vectors(self._db, embedder, (row["question_key"] for row in found))
        return [
            StoredQuestion(
                run_id=row["id"],
                question=row["question"],
                key=row["question_key"],
                vector=kept.get(row["question_key"]),
            )
            for row in found
        ]

    # -- reading ---------------------------------------------------------------------------

    def list_runs(
        self, limit: int = 200, text: str = "", offset: int = 0, *, eval_runs: bool = False
    ) -> list[RunSummary]:
        """The newest runs first; `text` filters by question or panel (case-insensitive). The runs
        `quorum eval` made are left out unless `eval_runs`."""
        query = f"SELECT {_SUMMARY_COLUMNS} FROM runs "
        conditions = [_listed(eval_runs)]
        params: list[Any] = []
        if text and self._indexed_text:
            # The runs walked newest first on their time index, each kept if the full-text index
            # has it (its rowid, looked up in the index's answer, read once): a run's row, which
            # holds its whole result, is read only for the runs listed.
            matching, params = _text_search(text)
            query += "INDEXED BY runs_by_time "
            conditions.append(f"rowid IN ({matching})")
        elif text:
            conditions.append("(question LIKE ? ESCAPE '\\' OR panel_text LIKE ? ESCAPE '\\')")
            params += [_like(text)] * 2
        query += f"WHERE {' AND '.join(conditions)} "
        # Runs of the same instant in the order recorded: one order on every page (the index
        # `runs_by_time` holds it, so a deep page costs what the first does).
        query += "ORDER BY created_at DESC, rowid LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [_summary(row) for row in self._db.execute(query, params)]

    def running_runs(self) -> list[RunSummary]:
        """The runs being recorded now, newest first (runs whose process is gone are marked
        interrupted first, so they are not among them), but for `quorum eval`'s: an evaluation
        starts and ends thousands of runs, none of them one to follow."""
        self._mark_interrupted()
        query = (
            f"SELECT {_SUMMARY_COLUMNS} FROM runs WHERE status = 'running' AND {_listed(False)} "
            "ORDER BY created_at DESC"
        )
        return [_summary(row) for row in self._db.execute(query)]

    def count(self, *, eval_runs: bool = False) -> int:
        """How many runs the history holds (`quorum eval`'s only with `eval_runs`)."""
        return int(self._db.execute(f"SELECT count(*) FROM runs WHERE {_listed(eval_runs)}").fetchone()[0])

    def resolve(self, prefix: str) -> str:
        """A full run id from a unique prefix (as printed by `quorum history`)."""
        # The ids that start with the prefix are the first ones from it on, in the id's order: the
        # primary key's index is read from there, two entries (an id itself is the first).
        found = (
            [
                row
                for row in self._db.execute(
                    "SELECT id FROM runs WHERE id >= ? ORDER BY id LIMIT 2", (prefix,)
                )
                if row["id"].startswith(prefix)
            ]
            if prefix
            else []
        )
        if not found:
            # What was given may be a key pasted in the wrong place: never quoted back as it is.
            shown = hide_key_shapes(hide_values(prefix, self._secrets))
            raise KeyError(f"no run with id {shown!r} (`quorum history` lists them)")
        if len(found) > 1 and found[0]["id"] != prefix:
            raise KeyError(f"{prefix!r} matches more than one run; give more of the id")
        return str(found[0]["id"])

    def load(self, run_id: str) -> RunResult:
        """The run as the data contract: calls from the calls table (so a run cut short shows
        everything that had arrived), the rest from the last snapshot of the run row. A run whose
        process stopped mid-run is `RunStatus.INTERRUPTED`, with a note saying so."""
        return self.load_record(run_id).result

    def load_record(self, run_id: str) -> RunRecord:
        """The run as `load` gives it, with the calls still in flight and the process recording
        it: all read in one transaction, so a run being recorded is seen whole at one moment
        (never a round decided before the calls it counts)."""
        self._db.execute("BEGIN")
        try:
            return self._read_record(run_id)
        finally:
            self._db.execute("COMMIT")

    def _read_record(self, run_id: str) -> RunRecord:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id!r}")
        status = RunStatus(row["status"])
        result = RunResult.model_validate_json(row["result"])
        in_flight: dict[str, datetime] = {}
        queued: dict[str, int] = {}
        result.calls = []
        # A run served from the cache shows the calls of the run it was served from.
        calls_of = row["cache_of"] or run_id
        for call in self._db.execute("SELECT * FROM calls WHERE run_id = ? ORDER BY seq", (calls_of,)):
            result.calls.append(rows.call_from_row(call))
            if call["status"] == rows.CALL_RUNNING:
                in_flight[call["id"]] = datetime.fromisoformat(call["started_at"])
                if call["queue_limit"] is not None and call["queued_ms"] is None:
                    queued[call["id"]] = call["queue_limit"]
        result.positions = rows.positions(result)
        if row["asked"] is not None:
            files = [
                rows.attachment_from_row(file)
                for file in self._db.execute(
                    "SELECT run_files.*, file_texts.content FROM run_files "
                    "JOIN file_texts USING (sha256) WHERE run_id = ? ORDER BY position",
                    (run_id,),
                )
            ]
            images = [
                rows.image_from_row(image)
                for image in self._db.execute(
                    "SELECT * FROM run_images WHERE run_id = ? ORDER BY position", (run_id,)
                )
            ]
            result.asked = rows.asked_from(row["asked"], files, images, rows.context_from(row["context"]))
        if status in (RunStatus.INTERRUPTED, RunStatus.RUNNING):
            calls = result.calls
            result.totals.input_tokens = row["input_tokens"] or sum(c.input_tokens for c in calls)
            result.totals.output_tokens = row["output_tokens"] or sum(c.output_tokens for c in calls)
            result.totals.cost_usd = row["cost_usd"] or sum(c.cost_usd for c in calls)
            result.totals.tokens_source = TokensSource.least_certain(c.tokens_source for c in calls)
        result.status = status
        result.origin = Origin(row["origin"]) if row["origin"] is not None else None
        if status is RunStatus.INTERRUPTED and INTERRUPTED_NOTE not in result.notes:
            result.notes.append(INTERRUPTED_NOTE)
        return RunRecord(result, in_flight, queued, row["pid"])

    def status(self, run_id: str) -> RunStatus:
        row = self._db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return RunStatus(row["status"])

    def parent_of(self, run_id: str) -> str | None:
        row = self._db.execute("SELECT parent_run_id FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else row["parent_run_id"]

    def thread(self, run_id: str, depth: int) -> list[RunResult]:
        """`run_id` and up to `depth - 1` of its ancestors, oldest first (a follow-up's context)."""
        chain: list[RunResult] = []
        current: str | None = run_id
        while current is not None and len(chain) < depth:
            chain.append(self.load(current))
            current = self.parent_of(current)
        return list(reversed(chain))
