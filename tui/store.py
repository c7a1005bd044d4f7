"""Run history in SQLite: every run, call and vote, written as it happens.

The store consumes the engine's event stream (`RunRecorder` is an event sink); the engine does not
know it exists. Rows are written on every state change — a call row when the call starts and when
it ends, the streamed text checkpointed at least every `CHECKPOINT_S` seconds, the run row whenever
the run moves — so a process killed mid-run leaves a consistent database holding what had arrived.
On the next open, runs left `running` by a process that is gone are marked `interrupted`.

No secret is ever written: the engine never sees a key, and the config snapshot holds only the
names of the variables that carry them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.engine import events as ev
from tui.engine.types import CallResult, CallStatus, PriorTurn, RunResult, RunStatus, VoteValue

CHECKPOINT_S = 2.0
DATABASE_NAME = "history.sqlite3"

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
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The history database cannot be used; the message says which file and why."""


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            raise StoreError(f"cannot use the history database {self.path}: {err}") from err

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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
            with self._transaction() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")

    def _mark_interrupted(self) -> list[str]:
        rows = self._db.execute("SELECT id, pid FROM runs WHERE status = 'running'").fetchall()
        gone = [row["id"] for row in rows if not _pid_alive(row["pid"])]
        if gone:
            with self._transaction() as db:
                db.executemany("UPDATE runs SET status = 'interrupted' WHERE id = ?", [(i,) for i in gone])
                db.executemany(
                    "UPDATE calls SET status = 'cancelled', error = 'interrupted: Quorum stopped mid-call' "
                    "WHERE run_id = ? AND status = 'running'",
                    [(i,) for i in gone],
                )
        return gone

    # -- writing ---------------------------------------------------------------------------

    def recorder(
        self, *, config: Mapping[str, Any] | None = None, parent_run_id: str | None = None
    ) -> RunRecorder:
        return RunRecorder(self, config or {}, parent_run_id)

    # -- reading ---------------------------------------------------------------------------

    def list_runs(self, limit: int = 200, text: str = "", offset: int = 0) -> list[RunSummary]:
        """The newest runs first; `text` filters by question or panel (case-insensitive)."""
        query = "SELECT id, created_at, question, panel, status, outcome, cost_usd, parent_run_id FROM runs "
        params: list[Any] = []
        if text:
            query += "WHERE question LIKE ? ESCAPE '\\' OR panel LIKE ? ESCAPE '\\' "
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [like, like]
        query += "ORDER BY created_at DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [
            RunSummary(
                id=row["id"],
                created_at=row["created_at"],
                question=row["question"],
                panel=_panel_line(row["panel"]),
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
        rows = self._db.execute(
            "SELECT id FROM runs WHERE id LIKE ? ORDER BY created_at DESC LIMIT 2", (prefix + "%",)
        ).fetchall()
        if not rows:
            raise KeyError(f"no run with id {prefix!r} (`quorum history` lists them)")
        if len(rows) > 1 and rows[0]["id"] != prefix:
            raise KeyError(f"{prefix!r} matches more than one run; give more of the id")
        return str(rows[0]["id"])

    def load(self, run_id: str) -> RunResult:
        """The run as the data contract, with every call as stored (also for interrupted runs)."""
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id!r}")
        result = RunResult.model_validate_json(row["result"])
        calls = [
            self._call_from_row(call)
            for call in self._db.execute("SELECT * FROM calls WHERE run_id = ? ORDER BY seq", (run_id,))
        ]
        # The calls table is newer than the last result snapshot when a run was cut short.
        result.calls = calls
        positions: list[CallResult | None] = [None] * len(result.members)
        for call in calls:
            if (
                call.phase.value == "position"
                and call.member_index is not None
                and call.member_index < len(positions)
            ) and (positions[call.member_index] is None or call.status is CallStatus.SUCCESS):
                positions[call.member_index] = call
        for index, earlier in enumerate(result.positions):
            if positions[index] is None and earlier is not None:
                positions[index] = earlier  # carried over from a parent run, not re-sent
        result.positions = positions
        if row["status"] == "interrupted":
            result.status = RunStatus.CANCELLED
            if "interrupted: Quorum stopped before this run finished" not in result.notes:
                result.notes.append("interrupted: Quorum stopped before this run finished")
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
        )


def _panel_line(panel_json: str) -> str:
    try:
        panel = json.loads(panel_json)
    except json.JSONDecodeError:
        return ""
    return ", ".join(f"{m['alias']}:{m['stance']}" for m in panel.get("members", []))


def default_store_path(configured: str | None) -> Path:
    from tui import paths

    return Path(configured).expanduser() if configured else paths.user_data_dir() / DATABASE_NAME


class RunRecorder:
    """An event sink that writes one run to the store as it happens."""

    def __init__(self, store: RunStore, config: Mapping[str, Any], parent_run_id: str | None) -> None:
        self.store = store
        self.config = dict(config)
        self.parent_run_id = parent_run_id
        self.run_id: str | None = None
        self._seq = 0
        self._text: dict[str, list[str]] = {}
        self._checkpointed: dict[str, float] = {}
        self._result: RunResult | None = None

    def __call__(self, event: ev.Event) -> None:
        db = self.store._db
        match event:
            case ev.RunStarted(run_id=run_id, request=request):
                self.run_id = run_id
                panel = {
                    "members": [m.model_dump(mode="json") for m in request.members],
                    "skipped": [s.model_dump(mode="json") for s in request.skipped],
                    "synthesizers": [s.alias for s in request.synthesizers],
                }
                snapshot = RunResult(
                    run_id=run_id,
                    question=request.question,
                    mode=request.mode,
                    members=request.members,
                    skipped=request.skipped,
                    max_rounds=request.max_rounds,
                    started_at=datetime.now(UTC),
                )
                self._result = snapshot
                with self.store._transaction():
                    db.execute(
                        "INSERT INTO runs (id, created_at, question, mode, panel, config, status, "
                        "max_rounds, "
                        "parent_run_id, result, pid) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                        (
                            run_id,
                            _now(),
                            request.question,
                            request.mode.value,
                            json.dumps(panel),
                            json.dumps(self.config, default=str),
                            request.max_rounds,
                            self.parent_run_id,
                            snapshot.model_dump_json(),
                            os.getpid(),
                        ),
                    )
            case ev.CallStarted(call_id=call_id, round=number, phase=phase, member_index=index, alias=alias):
                self._seq += 1
                self._text[call_id] = []
                self._checkpointed[call_id] = time.monotonic()
                member = self._member(index, alias)
                stamp = _now()
                with self.store._transaction():
                    db.execute(
                        "INSERT INTO calls (id, run_id, seq, round, phase, member_index, alias, model_id, "
                        "provider, stance, status, started_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                        (
                            call_id,
                            self.run_id,
                            self._seq,
                            number,
                            phase.value,
                            index,
                            alias,
                            member[0],
                            member[1],
                            member[2],
                            stamp,
                            stamp,
                        ),
                    )
            case ev.TextDelta(call_id=call_id, text=text) | ev.SynthesisDelta(call_id=call_id, text=text):
                parts = self._text.setdefault(call_id, [])
                parts.append(text)
                now = time.monotonic()
                if now - self._checkpointed.get(call_id, now) >= CHECKPOINT_S:
                    self._checkpointed[call_id] = now
                    with self.store._transaction():
                        db.execute(
                            "UPDATE calls SET content = ?, updated_at = ? WHERE id = ?",
                            ("".join(parts), _now(), call_id),
                        )
            case ev.CallFinished(result=call):
                self._text.pop(call.call_id, None)
                self._checkpointed.pop(call.call_id, None)
                if call.reused_from is not None:
                    return  # carried over from an earlier run: that run holds it
                with self.store._transaction():
                    db.execute(
                        "UPDATE calls SET status = ?, content = ?, error = ?, ttft_ms = ?, latency_ms = ?, "
                        "input_tokens = ?, output_tokens = ?, cost_usd = ?, updated_at = ? WHERE id = ?",
                        (
                            call.status.value,
                            call.content,
                            call.error,
                            call.ttft_ms,
                            call.latency_ms,
                            call.input_tokens,
                            call.output_tokens,
                            call.cost_usd,
                            _now(),
                            call.call_id,
                        ),
                    )
            case ev.VoteCast(round=number, vote=vote):
                with self.store._transaction():
                    db.execute(
                        "UPDATE calls SET vote = ?, objections = ? "
                        "WHERE run_id = ? AND round = ? AND phase = 'vote' "
                        "AND member_index = ?",
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
                self._update_run(status="running", rounds_used=round_.number, outcome=round_.outcome)
            case ev.RunFinished(result=result) | ev.RunFailed(result=result) | ev.RunCancelled(result=result):
                self._result = result
                self._update_run(status=result.status.value, final=result)
            case _:
                pass

    def _member(self, index: int | None, alias: str) -> tuple[str, str, str | None]:
        result = self._result
        if result is not None and index is not None and index < len(result.members):
            member = result.members[index]
            return member.model_id, member.provider, member.stance.value
        synthesizer = self._synthesizer(alias)
        return synthesizer if synthesizer else (alias, "", None)

    def _synthesizer(self, alias: str) -> tuple[str, str, str | None] | None:
        config = self.config.get("models", {})
        model = config.get(alias) if isinstance(config, dict) else None
        if isinstance(model, dict):
            return str(model.get("id", alias)), str(model.get("provider", "")), None
        return None

    def _update_run(
        self,
        *,
        status: str,
        rounds_used: int | None = None,
        outcome: Any = None,
        final: RunResult | None = None,
    ) -> None:
        db = self.store._db
        with self.store._transaction():
            if final is not None:
                db.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, outcome = ?, rounds_used = ?, "
                    "synthesis = ?, synthesizer = ?, wall_ms = ?, input_tokens = ?, output_tokens = ?, "
                    "cost_usd = ?, result = ? "
                    "WHERE id = ?",
                    (
                        status,
                        _now(),
                        final.outcome.value if final.outcome else None,
                        final.rounds_used,
                        final.synthesis,
                        final.synthesizer,
                        final.totals.wall_ms,
                        final.totals.input_tokens,
                        final.totals.output_tokens,
                        final.totals.cost_usd,
                        final.model_dump_json(),
                        self.run_id,
                    ),
                )
            else:
                snapshot = self._result.model_dump_json() if self._result is not None else None
                db.execute(
                    "UPDATE runs SET rounds_used = ?, outcome = COALESCE(?, outcome), "
                    "result = COALESCE(?, result) "
                    "WHERE id = ?",
                    (rounds_used, outcome.value if outcome else None, snapshot, self.run_id),
                )


def open_store(enabled: bool, configured_path: str) -> RunStore | None:
    """The history store the settings ask for, or None when recording is turned off."""
    return RunStore(default_store_path(configured_path)) if enabled else None


def prior_turns(thread: list[RunResult]) -> list[PriorTurn]:
    """A follow-up's context from earlier runs: question, answer, and the last round's objections."""
    turns = []
    for result in thread:
        objections: list[str] = []
        if result.rounds:
            for vote in result.rounds[-1].votes:
                if vote.value in (VoteValue.REJECT, VoteValue.INVALID):
                    objections += [f"{vote.alias}: {item}" for item in vote.objections]
        turns.append(
            PriorTurn(
                run_id=result.run_id, question=result.question, answer=result.synthesis, objections=objections
            )
        )
    return turns
