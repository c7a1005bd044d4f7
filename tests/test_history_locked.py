"""The history while another process holds it locked, and a new history opened by several at once.

Another connection (a `sqlite3` shell, a backup, another Quorum writing a 10 MB question) may hold
the database's write lock for seconds. A run goes on meanwhile, its writes wait in order and land
once the lock is free; a run the history could not record within `[store] lock_wait_s` is never
reported a success. Each lock here is a real second connection (or process) holding
`BEGIN IMMEDIATE`; the order of events decides every test, never a duration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST_DEMO, write
from tests.dashboard import make_app
from tests.fakes import FakeProvider, Script, lookup, member, request
from tests.test_store import FAKE_CONFIG, PacedProvider, dead_pid, raw, wait_for
from tui.config import paths
from tui.engine import events as ev
from tui.engine.orchestrator import Run
from tui.engine.types import CallStatus, RunRequest, RunResult, RunStatus
from tui.history import schema
from tui.history.liveness import run_alive
from tui.history.recorder import RunRecorder
from tui.history.schema import MIGRATIONS, SCHEMA_VERSION
from tui.history.store import RunStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


@pytest.fixture
def blocker(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the history (as another process would have), closed at the end; a
    test takes the write lock on it with `BEGIN IMMEDIATE`."""
    with closing(raw(path)) as db:
        yield db
        if db.in_transaction:
            db.execute("ROLLBACK")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """The history at `path` held with the write lock by another connection (as another process
    would) while the block runs, and let go after it whatever happened in it."""
    with closing(raw(path)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


def release(db: sqlite3.Connection) -> None:
    db.execute("ROLLBACK")


# --------------------------------------------------------------------------------------------
# A run while the history is locked


async def test_a_run_goes_on_while_the_history_is_locked_and_is_recorded_whole_once_it_is_free(
    path: Path, blocker: sqlite3.Connection
) -> None:
    """The lock is taken as the first words stream and held until the run has ended: no member's
    deadline fires because the event loop waited on SQLite, the run is still live in the history
    (not marked interrupted) while its writes wait, and then they all land, in order."""
    store = RunStore(path)
    recorder = RunRecorder(store, config=FAKE_CONFIG)

    def lock_at_first_words(event: ev.Event) -> None:
        if isinstance(event, ev.TextDelta) and not blocker.in_transaction:
            blocker.execute("BEGIN IMMEDIATE")
        recorder(event)

    # Each position streams 6 pieces 0.1 s apart, well inside a 3 s deadline; a loop that waited
    # out the lock (SQLite's 5 s busy timeout) would have let it pass.
    req = RunRequest(
        question="Should we shard the orders table?",
        members=[member("slow1", deadline_s=3.0), member("slow2", deadline_s=3.0)],
        synthesizers=[member("synth")],
        max_rounds=1,
    )
    try:
        live = await Run(req, lookup(PacedProvider(pieces=6, every_s=0.1)), lock_at_first_words).execute()
        assert blocker.in_transaction  # held all along
        assert [c.status for c in live.calls] == [CallStatus.SUCCESS] * len(live.calls), live.calls
        assert live.status is RunStatus.SUCCESS
        assert run_alive(live.run_id, os.getpid())  # its last write waits: still this process's run
        assert [r["status"] for r in blocker.execute("SELECT status FROM runs")] in ([], ["running"])
        release(blocker)
        assert await store.recorded(live.run_id) is None
        assert not run_alive(live.run_id, os.getpid())
        loaded = store.load(live.run_id)
        assert loaded.model_dump() == live.model_dump()
        assert [s.status for s in store.list_runs()] == [RunStatus.SUCCESS]
    finally:
        if blocker.in_transaction:
            release(blocker)
        store.close()


async def test_a_run_the_history_cannot_record_in_time_ends_as_failed_and_says_why(
    path: Path, blocker: sqlite3.Connection
) -> None:
    store = RunStore(path, lock_wait_s=0.2)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        provider = FakeProvider({"alpha": Script(), "synth": Script()})
        run = Run(request(["alpha"]), lookup(provider), RunRecorder(store, config=FAKE_CONFIG))
        answered = await run.execute()
        assert answered.status is RunStatus.SUCCESS and answered.synthesis
        from tui.history.recorder import finish_recording

        problem = await finish_recording(store, answered)
        assert problem is not None and problem.startswith("not recorded in the history")
        assert "locked by another process" in problem
        # Never a success the history does not hold; the answer is kept.
        assert run.result.status is RunStatus.ERROR and answered.errors[-1] == problem
        assert answered.synthesis
        assert not run_alive(answered.run_id, os.getpid())  # given up: no longer being recorded
    finally:
        release(blocker)
        store.close()
    with closing(RunStore(path)) as again:
        assert again.list_runs() == []


async def test_a_checkpoint_meeting_the_lock_is_skipped_and_a_later_one_saves_the_text(
    path: Path, blocker: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints come due while the history is locked; once it is free, the streamed text is
    saved again while its call is still in flight."""
    monkeypatch.setattr("tui.history.recorder.CHECKPOINT_S", 0.05)
    store = RunStore(path)
    recorder = RunRecorder(store, config=FAKE_CONFIG)
    deltas_while_locked = 0

    def counting(event: ev.Event) -> None:
        nonlocal deltas_while_locked
        if isinstance(event, ev.TextDelta) and blocker.in_transaction:
            deltas_while_locked += 1
        recorder(event)

    provider = PacedProvider(pieces=10_000, every_s=0.01)  # streams for longer than the test needs
    run = Run(request(["slow"], max_rounds=1), lookup(provider), counting)
    task = asyncio.ensure_future(run.execute())

    def saved() -> list[sqlite3.Row]:
        query = "SELECT content FROM calls WHERE status = 'running' AND content != ''"
        return blocker.execute(query).fetchall()

    async def until(condition: Any) -> Any:
        async with asyncio.timeout(30):  # a hang guard only
            while not (value := condition()):
                await asyncio.sleep(0.01)
            return value

    try:
        await until(saved)
        blocker.execute("BEGIN IMMEDIATE")
        [before] = saved()
        await until(lambda: deltas_while_locked >= 30)  # several checkpoints came due meanwhile
        release(blocker)
        later = await until(lambda: [r for r in saved() if len(r["content"]) > len(before["content"]) + 200])
        assert later[0]["content"].startswith(before["content"])
        assert not task.done()
    finally:
        if blocker.in_transaction:
            release(blocker)
        run.cancel()
        await task
        store.close()


# --------------------------------------------------------------------------------------------
# Opening a history that is locked


def test_opening_a_locked_history_neither_fails_nor_waits_to_mark_interrupted_runs(
    path: Path, blocker: sqlite3.Connection
) -> None:
    with closing(RunStore(path)) as store:
        store.insert_run(request(["alpha"]), _begun("gone00000001"), config={}, parent_run_id=None)
    blocker.execute("UPDATE runs SET pid = ?", (dead_pid(),))
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with closing(RunStore(path)) as store:
            assert store.interrupted == []  # the next look marks it, once the history is free
            assert store.status("gone00000001") is RunStatus.RUNNING
    finally:
        release(blocker)
    with closing(RunStore(path)) as store:
        assert store.interrupted == ["gone00000001"]


def _begun(run_id: str) -> RunResult:
    return RunResult.begin(request(["alpha"]), run_id)


# --------------------------------------------------------------------------------------------
# Migrations when several processes open a new history at once


def open_in_a_thread(
    path: Path, then: threading.Event | None = None
) -> tuple[threading.Thread, list[object]]:
    """A `RunStore` opened on `path` in a thread of its own (a connection belongs to its thread),
    which keeps the version it found, or the error; `then` is set once it is done."""
    opened: list[object] = []

    def open_it() -> None:
        try:
            with closing(RunStore(path)) as store:
                opened.append(store.version)
        except BaseException as err:  # handed to the test's thread
            opened.append(err)
        if then is not None:
            then.set()

    thread = threading.Thread(target=open_it)
    thread.start()
    return thread, opened


def test_a_history_another_connection_migrates_meanwhile_is_not_migrated_twice(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other connection holds the lock with every migration applied but not yet committed;
    it commits once this store has read the version (0) it had before."""
    other = raw(path)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")
    for number, migration in enumerate(MIGRATIONS):
        for statement in migration.split(";"):
            if statement.strip():
                other.execute(statement)
        other.execute(f"PRAGMA user_version = {number + 1}")
    version_read = threading.Event()
    real_version_of = schema.version_of

    def spied(db: sqlite3.Connection) -> int:
        version = real_version_of(db)
        version_read.set()
        return version

    monkeypatch.setattr(schema, "version_of", spied)
    thread, opened = open_in_a_thread(path)
    assert version_read.wait(30)
    other.execute("COMMIT")
    other.close()
    thread.join(30)
    assert opened == [SCHEMA_VERSION]


def test_a_brand_new_history_another_connection_holds_is_waited_for(path: Path) -> None:
    """A new file in rollback-journal mode, locked: turning WAL on fails at once (SQLITE_BUSY,
    no busy handler); opening waits for the lock instead of running without history."""
    path.touch()
    other = raw(path)
    other.execute("BEGIN IMMEDIATE")
    waiting = threading.Event()

    class Waiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "busy" in record.getMessage():
                waiting.set()

    handler = Waiting(logging.DEBUG)
    logger = logging.getLogger("tui.history")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        # Waiting: it said the history is busy (or it failed, and said so by ending).
        thread, opened = open_in_a_thread(path, then=waiting)
        assert waiting.wait(30)
        other.execute("ROLLBACK")
        other.close()
        thread.join(30)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert opened == [SCHEMA_VERSION]


OPEN_AT_SIGNAL = """
import sys
from tui.history.store import RunStore
print("ready", flush=True)
sys.stdin.read(1)
store = RunStore(sys.argv[1])
print(store.version, flush=True)
store.close()
"""


def test_eight_processes_opening_a_new_history_at_once_all_use_it(path: Path) -> None:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_SIGNAL, str(path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    try:
        for child in children:  # every one imported and waiting: then all are let go at once
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("x")
            child.stdin.close()
        outcomes = [(child.wait(60), child.stdout.read(), child.stderr.read()) for child in children]  # type: ignore[union-attr]
    finally:
        for child in children:
            child.kill()
            child.wait()
    for code, out, err in outcomes:
        assert code == 0 and out.strip() == str(SCHEMA_VERSION), err
    with closing(raw(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --------------------------------------------------------------------------------------------
# The front ends: `quorum run`, the dashboard, MCP


def quorum_run(config: Path, question: str, errors: Path) -> subprocess.Popen[str]:
    with errors.open("w") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui",
                "--config",
                str(config),
                *("run", "-q", "--json", "--fresh", question),
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def test_quorum_run_waits_for_a_locked_history_and_records_the_run(
    fast_demo_config: Path, tmp_path: Path
) -> None:
    history = paths.history_file("")
    RunStore(history).close()
    errors = tmp_path / "stderr.txt"
    with locked(history):
        child = quorum_run(fast_demo_config, "Should we shard the orders table?", errors)

        def told_it_waits() -> bool:
            if child.poll() is not None:
                raise AssertionError(f"it ended without waiting: {errors.read_text()}")
            return "is not in the history yet" in errors.read_text()

        wait_for(told_it_waits, 60, "a line saying the run waits for the history")
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0, errors.read_text()
    said = json.loads(out)
    assert said["status"] == "success" and said["synthesis"]
    with closing(RunStore(history)) as store:
        loaded = store.load(said["run_id"])
        assert loaded.status is RunStatus.SUCCESS and loaded.synthesis == said["synthesis"]
        assert len(loaded.calls) == len(said["calls"])


def test_quorum_run_says_when_the_history_could_not_record_the_run(tmp_path: Path) -> None:
    config = write(tmp_path / "fast-short-wait.toml", FAST_DEMO + "[store]\nlock_wait_s = 0.3\n")
    history = paths.history_file("")
    RunStore(history).close()
    errors = tmp_path / "stderr.txt"
    with locked(history):
        child = quorum_run(config, "Should we shard the orders table?", errors)
        out, _ = child.communicate(timeout=120)
    assert child.returncode not in (0, None)
    said = json.loads(out)  # the answer is not lost
    assert said["synthesis"] and said["status"] == "error"
    assert any(e.startswith("not recorded in the history") for e in said["errors"])
    lines = [line for line in errors.read_text().splitlines() if "not recorded" in line]
    assert len(lines) == 1 and said["run_id"] in lines[0], errors.read_text()
    with closing(RunStore(history)) as store:
        assert said["run_id"] not in [r.id for r in store.list_runs() if r.status is RunStatus.SUCCESS]


async def test_the_dashboard_says_a_run_it_could_not_record_failed() -> None:
    app, _ = make_app(["alpha:for", "beta:against"], store={"lock_wait_s": 0.2})
    async with app.run_test(size=(160, 50)) as pilot:
        assert app.store is not None
        with locked(app.store.path):
            app.submit("Is this one recorded?")
            await app.workers.wait_for_complete()
            await app.workers.wait_for_complete()  # the run the cache's lookup started
            await pilot.pause()
        result = app.shown_result
        assert result is not None and result.status is RunStatus.ERROR and result.synthesis
        assert app.tracker.state is RunStatus.ERROR
        assert "not recorded in the history" in app.synthesis.body.text
        said = [n for n in app._notifications if "not recorded in the history" in n.message]
        assert said and said[0].severity == "error"


async def test_an_agent_is_told_when_its_run_could_not_be_recorded(tmp_path: Path) -> None:
    from mcp import Client

    from tui.config.loading import load_settings
    from tui.mcp.server import QuorumMCP

    config = write(tmp_path / "mcp.toml", FAST_DEMO + "[store]\nlock_wait_s = 0.2\n")
    app = QuorumMCP(load_settings(config))
    async with Client(app.server, mode="legacy") as client:
        store = app.manager.store
        assert store is not None
        with locked(store.path):
            result = await client.call_tool(
                "consensus", {"question": "Is this one recorded?", "fresh": True, "wait_seconds": 60}
            )
    data = result.structured_content
    assert data is not None and data["status"] == "error" and data["synthesis"]
    assert any(e.startswith("not recorded in the history") for e in data["errors"])
    assert "not recorded in the history" in "".join(b.text for b in result.content if b.type == "text")


async def test_an_agent_is_told_a_run_that_has_answered_is_still_on_its_way_to_the_history(
    tmp_path: Path,
) -> None:
    """Until the history holds its end, a run is `running` (with its answer so far), never a
    success; once the lock is gone, consensus_result finishes it."""
    import anyio
    from mcp import Client

    from tui.config.loading import load_settings
    from tui.mcp.server import QuorumMCP

    config = write(tmp_path / "mcp.toml", FAST_DEMO)
    app = QuorumMCP(load_settings(config))
    async with Client(app.server, mode="legacy") as client:
        store = app.manager.store
        assert store is not None
        with locked(store.path):
            first = await client.call_tool(
                "consensus", {"question": "Is this one recorded?", "fresh": True, "wait_seconds": 0}
            )
            run_id = (first.structured_content or {})["run_id"]
            with anyio.fail_after(60):  # a hang guard only
                while True:
                    now = await client.call_tool("consensus_result", {"run_id": run_id, "wait_seconds": 0})
                    data = now.structured_content or {}
                    if data.get("synthesis"):
                        break
                    await anyio.sleep(0.02)
            assert data["status"] == "running" and "being recorded in the history" in data["next_step"]
        done = await client.call_tool("consensus_result", {"run_id": run_id, "wait_seconds": 60})
    data = done.structured_content or {}
    assert data["status"] == "success" and data["synthesis"] and data["next_step"] is None


def test_an_answer_served_from_the_cache_while_the_history_is_locked_is_not_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cache hit is a run of its own in the history: served while the history is locked, its
    record waits like a run's, and one the history could not take is reported as not recorded."""
    from tui.cli.main import main

    config = write(tmp_path / "fast-short-wait.toml", FAST_DEMO + "[store]\nlock_wait_s = 0.3\n")
    ask = ["--config", str(config), "run", "-q", "--json", "Should we shard the orders table?"]
    assert main(ask) == 0
    first = json.loads(capsys.readouterr().out)
    with locked(paths.history_file("")):
        code = main(ask)
    said = capsys.readouterr()
    served = json.loads(said.out)
    assert served["cache"]["hit"] and served["cache"]["original_run_id"] == first["run_id"]
    assert served["synthesis"] == first["synthesis"]  # the answer is not lost
    assert code != 0 and served["status"] == "error"
    assert any(e.startswith("not recorded in the history") for e in served["errors"])
    assert f"run {served['run_id']} was not recorded in the history" in said.err
    assert main(ask) == 0  # free again: served and recorded
    again = json.loads(capsys.readouterr().out)
    with closing(RunStore(paths.history_file(""))) as store:
        assert store.status(again["run_id"]) is RunStatus.SUCCESS
