"""Run history in SQLite: every run, call and vote, written as it happens.

The database, its schema and migrations, and reading it back. Writing is `tui.history.recorder`'s job: an
event sink that records a run as it happens (the engine does not know the store exists), so a
process killed mid-run leaves a consistent database holding what had arrived. On the next open,
runs left `running` by a process that is gone are marked `interrupted`.

No secret is ever written: the engine never sees a key, and the config snapshot holds only the
names of the variables that carry them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.engine.types import CallResult, CallStatus, RunResult, RunStatus
from tui.errors import StoreError

INTERRUPTED_NOTE = "interrupted: Quorum stopped before this run finished"

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
]
SCHEMA_VERSION = len(MIGRATIONS)


# Runs this process is recording right now. A pid alone cannot tell a live run from a dead one:
# in a container Quorum often gets the same pid every time it starts.
LIVE_RUNS: set[str] = set()


@dataclass(frozen=True)
class RunSummary:
    """One line of the history list."""

    id: str
    created_at: str
    question: str
    panel: str
    status: str
    outcome: str | None
    cost_usd: float
    parent_run_id: str | None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _run_alive(run_id: str, pid: int | None) -> bool:
    if pid == os.getpid():
        return run_id in LIVE_RUNS
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process nobody has reaped yet (common in containers) still answers to kill(0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


class RunStore:
    """The history database. One connection, used from the event loop's thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a crash can lose the last commits but never corrupts the file.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self.interrupted = self._mark_interrupted()
        except sqlite3.DatabaseError as err:
            self._close_quietly()
            raise StoreError(f"cannot use the history database {self.path}: {err}") from err
        except StoreError:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- schema ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer Quorum "
                f"(schema {current}, this one knows {SCHEMA_VERSION})"
            )
        for number in range(current, SCHEMA_VERSION):
            with self.transaction() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    def _mark_interrupted(self) -> list[str]:
        rows = self._db.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
        gone = [row["id"] for row in rows if not _run_alive(row["id"], row["pid"])]
        if gone:
            with self.transaction() as db:
                for run_id in gone:
                    db.execute(
                        "UPDATE calls SET status = 'cancelled', "
                        "error = 'interrupted: Quorum stopped mid-call' "
                        "WHERE run_id = ? AND status = 'running'",
                        (run_id,),
                    )
                    # What the finished calls cost is known even though the run never finished.
                    db.execute(
                        "UPDATE runs SET status = 'interrupted', "
                        "input_tokens = (SELECT COALESCE(sum(input_tokens), 0) FROM calls WHERE run_id = ?), "
                        "output_tokens = "
                        "(SELECT COALESCE(sum(output_tokens), 0) FROM calls WHERE run_id = ?), "
                        "cost_usd = (SELECT COALESCE(sum(cost_usd), 0) FROM calls WHERE run_id = ?) "
                        "WHERE id = ?",
                        (run_id, run_id, run_id, run_id),
                    )
        return gone

    # -- reading ---------------------------------------------------------------------------

    def list_runs(self, limit: int = 200, text: str = "", offset: int = 0) -> list[RunSummary]:
        """The newest runs first; `text` filters by question or panel (case-insensitive)."""
        query = (
            "SELECT id, created_at, question, panel_text, status, outcome, cost_usd, parent_run_id FROM runs "
        )
        params: list[Any] = []
        if text:
            query += "WHERE question LIKE ? ESCAPE '\\' OR panel_text LIKE ? ESCAPE '\\' "
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like]
        query += "ORDER BY created_at DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [
            RunSummary(
                id=row["id"],
                created_at=row["created_at"],
                question=row["question"],
                panel=row["panel_text"],
                status=row["status"],
                outcome=row["outcome"],
                cost_usd=row["cost_usd"],
                parent_run_id=row["parent_run_id"],
            )
            for row in self._db.execute(query, params)
        ]

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM runs").fetchone()[0])

    def resolve(self, prefix: str) -> str:
        """A full run id from a unique prefix (as printed by `quorum history`)."""
        rows = (
            self._db.execute(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created_at DESC LIMIT 2",
                (len(prefix), prefix),
            ).fetchall()
            if prefix
            else []
        )
        if not rows:
            raise KeyError(f"no run with id {prefix!r} (`quorum history` lists them)")
        if len(rows) > 1 and rows[0]["id"] != prefix:
            raise KeyError(f"{prefix!r} matches more than one run; give more of the id")
        return str(rows[0]["id"])

    def load(self, run_id: str) -> RunResult:
        """The run as the data contract: calls from the calls table (so a run cut short shows
        everything that had arrived), the rest from the last snapshot of the run row."""
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id!r}")
        result = RunResult.model_validate_json(row["result"])
        calls = [
            self._call_from_row(call)
            for call in self._db.execute("SELECT * FROM calls WHERE run_id = ? ORDER BY seq", (run_id,))
        ]
        result.calls = calls
        positions: list[CallResult | None] = [None] * len(result.members)
        for index, earlier in enumerate(result.positions[: len(positions)]):
            if earlier is not None and earlier.reused_from is not None:
                positions[index] = earlier  # carried over from a parent run: recorded there
        for call in calls:
            seat = call.member_index
            if call.phase.value == "position" and seat is not None and seat < len(positions):
                current = positions[seat]
                if current is None or current.reused_from is None:
                    positions[seat] = call  # the latest attempt (a rerun replaces an earlier one)
        result.positions = positions
        if row["status"] in ("interrupted", "running"):
            result.totals.input_tokens = row["input_tokens"] or sum(c.input_tokens for c in calls)
            result.totals.output_tokens = row["output_tokens"] or sum(c.output_tokens for c in calls)
            result.totals.cost_usd = row["cost_usd"] or sum(c.cost_usd for c in calls)
            result.totals.tokens_estimated = any(c.tokens_estimated for c in calls)
        if row["status"] == "interrupted":
            result.status = RunStatus.CANCELLED
            if INTERRUPTED_NOTE not in result.notes:
                result.notes.append(INTERRUPTED_NOTE)
        return result

    def status(self, run_id: str) -> str:
        row = self._db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return str(row["status"])

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

    @staticmethod
    def _call_from_row(row: sqlite3.Row) -> CallResult:
        status = row["status"]
        return CallResult(
            call_id=row["id"],
            round=row["round"],
            phase=row["phase"],
            member_index=row["member_index"],
            alias=row["alias"],
            model_id=row["model_id"],
            provider=row["provider"],
            stance=row["stance"],
            status=CallStatus.CANCELLED if status == "running" else status,
            content=row["content"],
            error=row["error"] if status != "running" else "interrupted mid-call",
            ttft_ms=row["ttft_ms"],
            latency_ms=row["latency_ms"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=row["cost_usd"],
            error_kind=row["error_kind"],
            finish_reason=row["finish_reason"],
            tokens_estimated=bool(row["tokens_estimated"]),
            demo=bool(row["demo"]),
        )
