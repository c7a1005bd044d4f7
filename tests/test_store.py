"""The run-history store: recording as it happens, surviving a kill, migrations, secrets, follow-ups, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST_DEMO, write
from tests.fakes import FakeProvider, Script, SteppingClock, lookup, member, rate_limited, request
from tests.wire_server import Scenario, WireServer
from tui.cli.main import main
from tui.config import paths
from tui.engine import events as ev
from tui.engine.orchestrator import Run
from tui.engine.provider import ChatRequest, ErrorKind, Finished, ProviderError, StreamEvent, TextDelta, Usage
from tui.engine.types import (
    CallResult,
    CallStatus,
    Mode,
    Outcome,
    Phase,
    RunRequest,
    RunResult,
    RunStatus,
    Stance,
    Vote,
    VoteValue,
)
from tui.errors import StoreError
from tui.history.recorder import RunRecorder
from tui.history.replay import prior_turns, replay_events, replay_request
from tui.history.schema import MIGRATIONS, SCHEMA_VERSION, STEPS
from tui.history.store import RunStore
from tui.render.report import render_markdown

ROOT = Path(__file__).resolve().parent.parent
# The recorder looks the synthesizer's model up in the config snapshot, as the CLI's snapshot has it.
FAKE_CONFIG: dict[str, Any] = {"models": {"synth": {"id": "synth", "provider": "fake"}}}
INTERRUPTED_NOTE = "interrupted: Quorum stopped before this run finished"


# ------------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    opened = RunStore(tmp_path / "history.sqlite3")
    yield opened
    opened.close()


def raw(path: Path) -> sqlite3.Connection:
    """A second, independent connection to the database file (as another process would have)."""
    db = sqlite3.connect(path, timeout=5, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def ask(question: str, aliases: list[str], **extra: Any) -> RunRequest:
    return RunRequest(
        question=question,
        members=[member(a) for a in aliases],
        synthesizers=[member("synth")],
        **extra,
    )


async def record(
    store: RunStore,
    req: RunRequest,
    provider: Any,
    *,
    run_id: str | None = None,
    parent: str | None = None,
) -> RunResult:
    recorder = RunRecorder(store, config=FAKE_CONFIG, parent_run_id=parent)
    result = await Run(req, lookup(provider), recorder, run_id=run_id).execute()
    assert await store.recorded(result.run_id) is None  # its writes are made off the loop
    return result


def panel_scripts() -> dict[str, Script]:
    """Three members that answer, one whose position fails, and a critic who keeps objecting."""
    return {
        "alpha": Script(position="Alpha: yes, adopt X.\nLean: favourable"),
        "beta": Script(position="Beta: adopt X, carefully."),
        "gamma": Script(
            position="Gamma: not as proposed.",
            votes=["VERDICT: REJECT\n- needs a rollback plan\n- no owner named"],
        ),
        "delta": Script(fail=rate_limited(), fail_phases=("position",)),
        "synth": Script(draft="DRAFT: adopt X in two steps", curator="CURATOR: adopt X"),
    }


def call_essentials(call: CallResult) -> tuple[Any, ...]:
    return (
        call.call_id,
        call.phase,
        call.round,
        call.member_index,
        call.alias,
        call.model_id,
        call.provider,
        call.stance,
        call.status,
        call.content,
        call.error,
        call.ttft_ms,
        call.latency_ms,
        call.input_tokens,
        call.output_tokens,
        call.cost_usd,
    )


def wait_for(condition: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; fail after `deadline_s`."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    return child.pid


def quorum_run_in_a_child(config: Path, question: str, errors: Path) -> subprocess.Popen[bytes]:
    """`quorum --config CONFIG run -q QUESTION` in another process, recording into this test's
    history (its QUORUM_HOME); its standard error goes to the file `errors`."""
    with errors.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "tui", "--config", str(config), "run", "-q", question],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


class PacedProvider:
    """Positions stream one piece every `every_s` seconds; drafts and votes answer at once. With
    `stall_after`, each position stalls after that many pieces until the test sets `resume`."""

    name = "paced"
    is_demo = False

    def __init__(self, pieces: int = 11, every_s: float = 0.3, stall_after: int | None = None) -> None:
        self.pieces, self.every_s, self.stall_after = pieces, every_s, stall_after
        self.requests: list[ChatRequest] = []
        self.resume = asyncio.Event()

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        if request.phase == "position":
            for number in range(self.pieces):
                yield TextDelta(f"{request.alias}-piece-{number} ")
                if self.stall_after is not None and number + 1 == self.stall_after:
                    await self.resume.wait()  # nothing arrives until the test says so
                else:
                    await asyncio.sleep(self.every_s)
        elif request.phase == "vote":
            yield TextDelta("VERDICT: ACCEPT")
        else:
            yield TextDelta("DRAFT: ready")
        yield Usage(10, 5)
        yield Finished("stop")


# ------------------------------------------------------------------------------------------------
# 1. recording, listing, resolving, filtering


async def test_recorded_run_loads_as_the_live_result(store: RunStore) -> None:
    provider = FakeProvider(panel_scripts())
    req = request(
        ["alpha", "beta", "gamma", "delta"],
        stances=[Stance.FOR, Stance.AGAINST, Stance.NEUTRAL, Stance.NEUTRAL],
        max_rounds=2,
    )
    live = await record(store, req, provider)
    assert live.status is RunStatus.SUCCESS and live.outcome is Outcome.MAJORITY and live.rounds_used == 2

    loaded = store.load(live.run_id)
    assert loaded.status is live.status and loaded.outcome is live.outcome
    assert (loaded.question, loaded.mode, loaded.members) == (live.question, live.mode, live.members)
    assert loaded.rounds_used == 2 and loaded.max_rounds == live.max_rounds
    assert [r.model_dump() for r in loaded.rounds] == [r.model_dump() for r in live.rounds]
    objections = [v.objections for v in loaded.rounds[-1].votes]
    assert objections == [[], [], ["needs a rollback plan", "no owner named"]]
    assert [(p.status, p.content, p.error) if p else None for p in loaded.positions] == [
        (p.status, p.content, p.error) if p else None for p in live.positions
    ]
    assert loaded.positions[3] is not None and loaded.positions[3].status is CallStatus.ERROR
    assert loaded.totals == live.totals and loaded.totals.cost_usd > 0
    assert len(loaded.calls) == len(live.calls) == 12  # 4 positions + 2 x (draft + 3 votes)
    assert [call_essentials(c) for c in loaded.calls] == [call_essentials(c) for c in live.calls]
    assert (loaded.synthesis, loaded.synthesizer) == ("DRAFT: adopt X in two steps", "synth")
    assert (loaded.errors, loaded.notes, loaded.parent_run_id) == (live.errors, live.notes, None)

    # the votes and their objections are in the calls table too
    db = raw(store.path)
    votes = db.execute(
        "SELECT round, alias, vote, objections FROM calls WHERE run_id = ? AND phase = 'vote' ORDER BY seq",
        (live.run_id,),
    ).fetchall()
    db.close()
    assert [(v["round"], v["alias"], v["vote"]) for v in votes] == [
        (n, alias, "reject" if alias == "gamma" else "accept")
        for n in (1, 2)
        for alias in ("alpha", "beta", "gamma")
    ]
    assert json.loads(votes[2]["objections"]) == ["needs a rollback plan", "no owner named"]

    [summary] = store.list_runs()
    assert summary.id == live.run_id and summary.question == "Should we adopt X?"
    assert summary.panel == "alpha:for, beta:against, gamma:neutral, delta:neutral"
    assert summary.status is RunStatus.SUCCESS and summary.outcome is Outcome.MAJORITY
    assert summary.parent_run_id is None
    assert summary.cost_usd == pytest.approx(live.totals.cost_usd)
    assert store.count() == 1 and store.status(live.run_id) is RunStatus.SUCCESS
    # `quorum history --json` prints the summary's fields (its `id` as `run_id`): the enums as their words
    listed = json.loads(json.dumps(summary.__dict__))
    assert (listed["status"], listed["outcome"], listed["id"]) == ("success", "majority", live.run_id)


async def test_resolve_a_prefix(store: RunStore) -> None:
    provider = FakeProvider({"alpha": Script(), "synth": Script()})
    for run_id in ("abc111111111", "abc222222222", "def333333333"):
        await record(store, request(["alpha"]), provider, run_id=run_id)
    assert store.resolve("abc1") == "abc111111111"
    assert store.resolve("d") == "def333333333"
    assert store.resolve("abc222222222") == "abc222222222"
    with pytest.raises(KeyError, match="more than one run"):
        store.resolve("abc")
    with pytest.raises(KeyError, match="no run with id 'zzz'"):
        store.resolve("zzz")
    with pytest.raises(KeyError):
        store.load("zzz")
    with pytest.raises(KeyError):
        store.status("zzz")


async def test_runs_and_calls_are_stamped_by_the_clock_the_store_is_given(tmp_path: Path) -> None:
    # A clock that runs backwards: the history lists by its stamps, not by the order of recording.
    clock = SteppingClock(step=timedelta(minutes=-1))
    store = RunStore(tmp_path / "history.sqlite3", clock=clock)
    try:
        provider = FakeProvider({name: Script() for name in ("alpha", "synth")})
        ids = [(await record(store, ask(f"Question {n}?", ["alpha"]), provider)).run_id for n in range(3)]
        listed = store.list_runs()
        assert [s.id for s in listed] == ids  # the first recorded has the latest stamp
        assert all(s.created_at in clock.given for s in listed)
        db = raw(store.path)
        query = "SELECT started_at FROM calls UNION SELECT finished_at FROM runs"
        stamps = [row[0] for row in db.execute(query)]
        db.close()
        assert stamps and set(stamps) <= set(clock.given)
    finally:
        store.close()


async def test_list_filters_by_text_literally_newest_first(store: RunStore) -> None:
    store.clock = SteppingClock()  # each run stamped after the one before
    provider = FakeProvider({name: Script() for name in ("alpha", "gamma", "synth")})
    questions = ["Is 100% coverage worth it?", "Rename snake_case fields?", "Store the cache of 1000 keys?"]
    ids = {}
    for question, alias in zip(questions, ["alpha", "alpha", "gamma"], strict=True):
        ids[question] = (await record(store, ask(question, [alias]), provider)).run_id

    def found(text: str) -> list[str]:
        return [s.question for s in store.list_runs(text=text)]

    assert found("") == list(reversed(questions))
    assert found("0%") == ["Is 100% coverage worth it?"]  # as a pattern, "0%" would match "1000" too
    assert found("%") == ["Is 100% coverage worth it?"]
    assert found("e_c") == ["Rename snake_case fields?"]  # as a pattern, "_" would match "the cache"
    assert found("SNAKE") == ["Rename snake_case fields?"]  # case-insensitive
    assert found("gamma") == ["Store the cache of 1000 keys?"]  # the panel
    assert found("\\") == [] and found("no such words") == []
    assert [s.id for s in store.list_runs(limit=1)] == [ids[questions[2]]]
    assert [s.id for s in store.list_runs(limit=1, offset=1)] == [ids[questions[1]]]


async def test_runs_recorded_in_the_same_instant_page_without_gaps_or_repeats(store: RunStore) -> None:
    """F2 fetches the history a page at a time: runs with the same timestamp (a fast machine, a
    burst of MCP calls) are listed in one order on every page, the order they were recorded."""
    provider = FakeProvider({name: Script() for name in ("alpha", "synth")})
    ids = [(await record(store, ask(f"Question {n}?", ["alpha"]), provider)).run_id for n in range(7)]
    db = raw(store.path)
    db.execute("UPDATE runs SET created_at = '2026-11-29T12:00:00.000+00:00'")
    db.close()
    paged = [s.id for offset in range(0, 7, 2) for s in store.list_runs(limit=2, offset=offset)]
    assert paged == [s.id for s in store.list_runs()] == ids


# ------------------------------------------------------------------------------------------------
# 2. written as it happens


async def test_run_is_written_while_it_is_in_flight(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.history.recorder.CHECKPOINT_S", 0.05)
    provider = PacedProvider(pieces=11, every_s=0.001, stall_after=1)  # in flight until resumed
    req = ask("Stream slowly?", ["slow1", "slow2"], max_rounds=1)
    task = asyncio.ensure_future(record(store, req, provider, run_id="inflight0001"))
    db = raw(store.path)
    try:

        async def poll(query: str, deadline_s: float, what: str) -> list[sqlite3.Row]:
            end = time.monotonic() + deadline_s
            while time.monotonic() < end:
                rows = db.execute(query).fetchall()
                if rows:
                    return rows
                await asyncio.sleep(0.02)
            raise AssertionError(f"timed out waiting for {what}")

        # The poll limits are guards against hanging, not timings: the claim is the order (rows,
        # then checkpointed text, while the calls are still running), which load cannot change.
        [run] = await poll("SELECT * FROM runs", 30, "the run row")
        assert run["status"] == "running" and run["pid"] == os.getpid() and run["finished_at"] is None
        calls = await poll("SELECT * FROM calls WHERE phase = 'position'", 30, "the call rows")
        assert len(calls) == 2 and {c["status"] for c in calls} == {"running"}
        assert {c["alias"] for c in calls} == {"slow1", "slow2"} and {c["content"] for c in calls} == {""}

        # another store opened meanwhile (the dashboard, `quorum history`) leaves a live run alone
        other = RunStore(store.path)
        assert other.interrupted == [] and other.status("inflight0001") == "running"
        assert other.list_runs()[0].status == "running"
        other.close()

        streamed = await poll(
            "SELECT * FROM calls WHERE status = 'running' AND content != ''", 30, "checkpointed text"
        )
        partial = streamed[0]
        assert partial["content"].startswith(f"{partial['alias']}-piece-0 ")
        assert not task.done()
    finally:
        provider.resume.set()
        result = await asyncio.wait_for(task, 10)
        db.close()
    db = raw(store.path)
    run = db.execute("SELECT * FROM runs").fetchone()
    assert result.status is RunStatus.SUCCESS
    assert run["status"] == "success" and run["finished_at"] and run["outcome"] == "unanimous"
    final = db.execute("SELECT content FROM calls WHERE id = ?", (partial["id"],)).fetchone()["content"]
    assert final.startswith(partial["content"]) and len(final) > len(partial["content"])
    assert final.count("-piece-") == 11
    db.close()


# ------------------------------------------------------------------------------------------------
# 3. a process killed mid-run


def test_killed_run_leaves_a_consistent_database(
    isolated_home: Path, tmp_path: Path, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = write(tmp_path / "slow.toml", "[demo]\nspeed = 1.0\n")  # realistic pacing: ~9 s per run
    path = paths.history_file("")
    assert path.parent.parent == isolated_home
    question = "Should we shard the orders table?"
    errors = tmp_path / "child-stderr.txt"
    child = quorum_run_in_a_child(slow, question, errors)
    try:

        def streaming_call() -> list[sqlite3.Row] | None:
            if child.poll() is not None:
                raise AssertionError(f"the run ended early: {errors.read_text()}")
            if not path.exists():
                return None
            try:
                db = raw(path)
                try:
                    return db.execute(
                        "SELECT * FROM calls WHERE status = 'running' AND content != ''"
                    ).fetchall()
                finally:
                    db.close()
            except sqlite3.OperationalError:  # the schema is still being created
                return None

        # a call row with streamed text, written while the call is in flight
        [seen, *_] = wait_for(streaming_call, 20, "an in-flight call with streamed text in the database")
        db = raw(path)
        before = {row["id"]: row["content"] for row in db.execute("SELECT id, content FROM calls")}
        db.close()
    finally:
        child.kill()  # SIGKILL: no handler, no finally, no atexit
        child.wait(timeout=10)
    assert child.returncode == -9

    db = raw(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    [run] = db.execute("SELECT * FROM runs").fetchall()
    assert run["status"] == "running" and run["pid"] == child.pid and run["question"] == question
    after = {row["id"]: row for row in db.execute("SELECT * FROM calls ORDER BY seq")}
    db.close()
    assert set(before) <= set(after) and seen["id"] in after
    assert all(after[i]["content"].startswith(text) for i, text in before.items())
    # The call seen above may have finished in the moment before the kill; the panel's slower
    # members were streaming then (and had been checkpointed, as every call is after CHECKPOINT_S).
    cut_short = [row for row in after.values() if row["status"] == "running" and row["content"]]
    assert cut_short, [dict(row) for row in after.values()]

    store = RunStore(path)
    try:
        assert store.interrupted == [run["id"]] and store.status(run["id"]) is RunStatus.INTERRUPTED
        db = raw(path)
        now = {row["id"]: row for row in db.execute("SELECT id, status, error, content FROM calls")}
        db.close()
        assert "running" not in {row["status"] for row in now.values()}
        for row in cut_short:
            assert now[row["id"]]["status"] == "cancelled" and "interrupted" in now[row["id"]]["error"]
            assert now[row["id"]]["content"] == row["content"]
        loaded = store.load(run["id"])
        assert loaded.status is RunStatus.INTERRUPTED and INTERRUPTED_NOTE in loaded.notes
        assert [c.call_id for c in loaded.calls] == list(after)
        for row in (r for r in cut_short if r["phase"] == "position"):
            position = loaded.positions[row["member_index"]]
            assert position is not None and position.call_id == row["id"]
            assert position.status is CallStatus.CANCELLED and position.content == row["content"]
        assert store.list_runs()[0].status is RunStatus.INTERRUPTED
    finally:
        store.close()
    again = RunStore(path)
    assert again.interrupted == [] and again.status(run["id"]) is RunStatus.INTERRUPTED  # marked once
    again.close()

    capsys.readouterr()
    assert main(["show", run["id"][:6]]) == 0
    report = capsys.readouterr().out
    assert report.startswith(f"# Quorum: {question}") and "**Status:** interrupted" in report
    for row in cut_short:
        assert row["content"].splitlines()[0].strip() in report  # the partial text is in the report

    fast = ["--config", str(fast_demo_config)]
    code = main([*fast, "run", "-q", "--json", "--follow-up", run["id"][:8], "Next?"])
    follow = RunResult.model_validate_json(capsys.readouterr().out)
    assert code == 0 and follow.status is RunStatus.SUCCESS and follow.parent_run_id == run["id"]
    store = RunStore(path)
    assert [r.run_id for r in store.thread(follow.run_id, 2)] == [run["id"], follow.run_id]
    store.close()


# ------------------------------------------------------------------------------------------------
# 4. migrations


def test_empty_file_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite3"
    path.touch()
    store = RunStore(path)
    assert store.version == SCHEMA_VERSION and store.list_runs() == [] and store.count() == 0
    store.close()
    created = RunStore(tmp_path / "new" / "folder" / "history.sqlite3")  # folders made as needed
    assert created.version == SCHEMA_VERSION
    created.close()


def _schema(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").fetchall()
    db.close()
    return rows


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION + 1))
def test_every_earlier_schema_is_migrated(tmp_path: Path, version: int) -> None:
    path = tmp_path / f"v{version}.sqlite3"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        db.executescript(script)
        if number in STEPS:  # what a migration does beyond its SQL
            STEPS[number](db)
    db.execute(f"PRAGMA user_version = {version}")
    snapshot = RunResult(
        run_id="old000000001",
        question="An old question",
        mode=Mode.DELIBERATE,
        members=[member("alpha", Stance.FOR)],
        status=RunStatus.SUCCESS,
        synthesis="the old answer",
        started_at="2026-01-01T00:00:00Z",
    )
    panel = json.dumps({"members": [{"alias": "alpha", "stance": "for"}], "skipped": [], "synthesizers": []})
    columns = "id, created_at, question, mode, panel, config, status, outcome, max_rounds, cost_usd, result"
    if version >= 3:  # from version 3 on, the recorder writes the panel as listed
        columns += ", panel_text"
    extra = ", 'alpha:for'" if version >= 3 else ""
    for run_id, status, stamp in (("old000000001", "success", "01"), ("old000000002", "running", "02")):
        db.execute(
            f"INSERT INTO runs ({columns}) "
            f"VALUES (?, ?, ?, 'deliberate', ?, '{{}}', ?, NULL, 3, 0.25, ?{extra})",
            (
                run_id,
                f"2026-01-{stamp}T00:00:00.000+00:00",
                "An old question",
                panel,
                status,
                snapshot.model_copy(update={"run_id": run_id}).model_dump_json(),
            ),
        )
        db.execute(
            "INSERT INTO calls (id, run_id, seq, round, phase, member_index, alias, model_id, provider, "
            "stance, status, content, started_at, updated_at) "
            "VALUES (?, ?, 1, 1, 'position', 0, 'alpha', 'alpha', 'fake', 'for', ?, 'old text', ?, ?)",
            (f"{run_id}-1", run_id, status, "2026-01-01", "2026-01-01"),
        )
    db.commit()
    db.close()

    store = RunStore(path)
    try:
        assert store.version == SCHEMA_VERSION
        # pid is NULL for a run written before the owner was recorded: nobody owns it any more
        assert store.interrupted == ["old000000002"]
        runs = store.list_runs()
        assert [(r.id, r.question, r.panel, r.status, r.cost_usd) for r in runs] == [
            # an interrupted run costs what its finished calls cost (none had finished here)
            ("old000000002", "An old question", "alpha:for", RunStatus.INTERRUPTED, 0.0),
            ("old000000001", "An old question", "alpha:for", RunStatus.SUCCESS, 0.25),
        ]
        # the filter finds the runs recorded before (indexed by the migration), and no other
        assert [r.id for r in store.list_runs(text="OLD QUEST")] == ["old000000002", "old000000001"]
        assert store.list_runs(text="alpha:f") and store.list_runs(text="beta") == []
        old = store.load("old000000001")
        assert old.synthesis == "the old answer" and old.positions[0] is not None
        assert old.positions[0].content == "old text"
    finally:
        store.close()
    fresh = tmp_path / "fresh.sqlite3"
    RunStore(fresh).close()
    assert _schema(path) == _schema(fresh)


def test_calls_recorded_before_whose_counts_were_kept_read_as_estimated_or_the_providers(
    tmp_path: Path,
) -> None:
    """The migration that keeps who counted a call's tokens: a call recorded as estimated reads as
    estimated, any other as the provider's count; a run's snapshot written before (its totals
    saying only `tokens_estimated`) reads the same."""
    version = next(index for index, script in enumerate(MIGRATIONS) if "tokens_source" in script)
    path = tmp_path / "before.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:version]:
        db.executescript(script)
    db.execute(f"PRAGMA user_version = {version}")
    snapshot = json.loads(
        RunResult(
            run_id="old000000001",
            question="Q",
            mode=Mode.CONSULT,
            members=[member("alpha", Stance.FOR), member("beta", Stance.AGAINST)],
            status=RunStatus.SUCCESS,
            started_at="2026-01-01T00:00:00Z",
        ).model_dump_json()
    )
    snapshot["totals"] = {
        "wall_ms": 5,
        "input_tokens": 3,
        "output_tokens": 4,
        "cost_usd": 0.0,
        "tokens_estimated": True,
    }
    db.execute(
        "INSERT INTO runs (id, created_at, question, mode, panel, config, status, max_rounds, result) "
        "VALUES ('old000000001', '2026-01-01T00:00:00.000+00:00', 'Q', 'consult', '{}', '{}', 'success', "
        "1, ?)",
        (json.dumps(snapshot),),
    )
    for seat, estimated in ((0, 1), (1, 0)):
        db.execute(
            "INSERT INTO calls (id, run_id, seq, round, phase, member_index, alias, model_id, provider, "
            "status, tokens_estimated, started_at, updated_at) "
            "VALUES (?, 'old000000001', ?, 1, 'position', ?, 'm', 'm', 'fake', 'success', ?, '', '')",
            (f"old-{seat}", seat + 1, seat, estimated),
        )
    db.commit()
    db.close()
    store = RunStore(path)
    try:
        old = store.load("old000000001")
    finally:
        store.close()
    assert [c.tokens_source.value if c else None for c in old.positions] == ["estimated", "provider"]
    assert old.totals.tokens_source.value == "estimated" and old.totals.tokens_estimated


def test_vectors_kept_by_run_move_to_their_question_key(tmp_path: Path) -> None:
    """Migration 13: a vector belongs to a question; two runs of one question kept one each (and
    it moves on to the embedder's vector set, one byte a dimension)."""
    import numpy as np

    from tui.history.vectors import kept_vectors

    path = tmp_path / "v12.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:12]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 12")
    for run_id, key, vector in (("r1", "use postgres", [0.5, -1.0]), ("r2", "use postgres", [1.0, 0.0])):
        db.execute(
            "INSERT INTO runs (id, created_at, question, mode, panel, config, status, max_rounds, "
            "question_key) VALUES (?, '2026-01-01', 'q', 'deliberate', '{}', '{}', 'success', 3, ?)",
            (run_id, key),
        )
        db.execute(
            "INSERT INTO question_vectors VALUES (?, 'static', 2, ?)",
            (run_id, np.asarray(vector, "<f4").tobytes()),
        )
    db.execute(
        "INSERT INTO runs (id, created_at, question, mode, panel, config, status, max_rounds) "
        "VALUES ('r3', '2026-01-01', 'q', 'deliberate', '{}', '{}', 'success', 3)"
    )
    db.execute("INSERT INTO question_vectors VALUES ('r3', 'static', 2, ?)", (np.zeros(2, "<f4").tobytes(),))
    db.commit()
    db.close()
    RunStore(path).close()
    db = sqlite3.connect(path)
    moved = kept_vectors(db, "static", ["use postgres"])
    slots = db.execute("SELECT count(*) FROM vector_slots").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert moved == {"use postgres": bytes([64, 129])}  # once: the first run's; a run with no key has none
    assert slots == 1
    assert not {"question_vectors", "question_key_vectors"} & tables


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError) as caught:
        RunStore(path)
    assert str(path) in str(caught.value) and "newer" in str(caught.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.sqlite3", "these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError) as caught:
        RunStore(path)
    assert str(path) in str(caught.value)
    assert path.read_text().startswith("these are my notes")  # and the file was left alone


# ------------------------------------------------------------------------------------------------
# 5. secrets are never written


def test_keys_never_reach_the_database_logs_or_exports(
    isolated_home: Path,
    fast_demo_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secrets = ("sk-FAKE-SECRET-0001", "sk-ant-FAKE-SECRET-0002")
    monkeypatch.setenv("OPENAI_API_KEY", secrets[0])
    monkeypatch.setenv("ANTHROPIC_API_KEY", secrets[1])
    with WireServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        server.default_scenario = Scenario(text="VERDICT: ACCEPT\n- ship it", input_tokens=500)
        config = ["--config", str(fast_demo_config)]
        demo = ["-m", "demo-atlas:for", "-m", "demo-bolt:against", "--synthesizer", "demo-atlas"]
        assert main([*config, "run", "-q", "--json", "Demo panel?", *demo]) == 0
        demo_run = RunResult.model_validate_json(capsys.readouterr().out)
        assert main([*config, "run", "-q", "--json", "Ship it?"]) == 0  # the keyed panel, on the wire server
        wire_run = RunResult.model_validate_json(capsys.readouterr().out)
        sent = {r.headers.get("authorization", "") + r.headers.get("x-api-key", "") for r in server.requests}
    # the keys were really in use (so their absence below means something)
    assert any(secrets[0] in s for s in sent) and any(secrets[1] in s for s in sent)
    assert {m.provider for m in wire_run.members} == {"openai", "anthropic"}
    assert wire_run.status is RunStatus.SUCCESS and all(m.demo for m in demo_run.members)

    exported = ""
    for run in (demo_run, wire_run):
        for form in ("--json", "--md"):
            assert main(["show", run.run_id, form]) == 0
            exported += capsys.readouterr().out
    assert main(["history", "--json"]) == 0
    exported += capsys.readouterr().out
    assert "Ship it?" in exported and "Demo panel?" in exported

    database = paths.history_file("")
    files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
    logs = list((isolated_home / "log").iterdir())
    assert database in files and logs
    stored = b"".join(p.read_bytes() for p in files + logs)
    assert b"Ship it?" in stored and b"api_key_env" in stored  # what was written is readable text
    for secret in secrets:
        assert secret.encode() not in stored, f"{secret} was written to disk"
        assert secret not in exported
        assert "FAKE-SECRET" not in exported


CANARY = "sk-canary-0123456789abcdef"
PLAIN_SECRET = "plainsecretvalue-42"  # shaped like no key: only knowing the value redacts it


async def test_the_store_redacts_what_it_writes(tmp_path: Path) -> None:
    """Error messages, notes and the config snapshot pass through redaction on their way in: known
    key values, bearer tokens, x-api-key values and the credentials of a URL never reach the file."""
    path = tmp_path / "history.sqlite3"
    store = RunStore(path, secrets=[PLAIN_SECRET])
    leaky = ProviderError(
        ErrorKind.SERVER,
        f"gateway said: Authorization: Bearer {CANARY}; x-api-key: {PLAIN_SECRET}; "
        f"key {PLAIN_SECRET} at http://user:{CANARY}@gpu-box/v1",
    )
    provider = FakeProvider({"alpha": Script(fail=leaky), "beta": Script(fail=leaky), "synth": Script()})
    config = {
        **FAKE_CONFIG,
        "providers": {"lab": {"base_url": f"http://user:{CANARY}@gpu-box/v1", "api_key_env": "LAB_KEY"}},
    }
    recorder = RunRecorder(store, config=config)
    result = await Run(ask("Leak?", ["alpha", "beta"]), lookup(provider), recorder).execute()
    try:
        assert await store.recorded(result.run_id) is None
        assert result.status is RunStatus.ERROR and result.errors  # every member failed
        # the WAL holds the writes until a checkpoint: read every file of the database as it is
        stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(path.name))
        assert b"gateway said" in stored and b"gpu-box" in stored
        assert CANARY.encode() not in stored and PLAIN_SECRET.encode() not in stored
        loaded = store.load(result.run_id)
        error = loaded.calls[0].error or ""
        assert error.startswith("gateway said: Authorization: Bearer [redacted]") and "gpu-box" in error
        assert all(CANARY not in e and PLAIN_SECRET not in e for e in loaded.errors)
    finally:
        store.close()


def test_history_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "history.sqlite3"
    store = RunStore(path)
    try:
        store.insert_run(
            request(["alpha"]),
            RunResult(
                run_id="p1", question="q", mode=Mode.CONSULT, members=[], started_at="2026-01-01T00:00:00Z"
            ),
            config=FAKE_CONFIG,
            parent_run_id=None,
        )
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        assert {p.name for p in files} >= {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"}
        for file in files:
            assert oct(os.stat(file).st_mode & 0o777) == oct(0o600), file
        for folder in (tmp_path / "new", path.parent):
            assert oct(os.stat(folder).st_mode & 0o777) == oct(0o700), folder
    finally:
        store.close()


def test_an_existing_history_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    RunStore(path).close()
    os.chmod(path, 0o644)
    RunStore(path).close()
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_exports_are_private(tmp_path: Path) -> None:
    from tui.render.export import export_run

    result = RunResult(
        run_id="e1", question="q", mode=Mode.CONSULT, members=[], started_at="2026-01-01T00:00:00Z"
    )
    folder = tmp_path / "data" / "exports"
    for written in export_run(result, folder):
        assert os.stat(written).st_mode & 0o777 == 0o600, written
    for created in (tmp_path / "data", folder):
        assert os.stat(created).st_mode & 0o777 == 0o700, created


# ------------------------------------------------------------------------------------------------
# 6. follow-ups


async def test_follow_up_carries_the_thread(store: RunStore) -> None:
    scripts = panel_scripts()
    first = await record(store, request(["alpha", "beta", "gamma"], max_rounds=1), FakeProvider(scripts))
    assert first.outcome is Outcome.MAJORITY  # gamma's objections stay unresolved
    assert prior_turns(store.thread(first.run_id, 2))[0].objections == [
        "gamma: needs a rollback plan",
        "gamma: no owner named",
    ]

    async def follow_up(parent: str, question: str) -> tuple[RunResult, FakeProvider]:
        provider = FakeProvider(scripts)
        thread = prior_turns(store.thread(parent, 2))
        req = ask(question, ["alpha", "beta"], thread=thread, parent_run_id=parent)
        return await record(store, req, provider, parent=parent), provider

    second, provider = await follow_up(first.run_id, "And the rollout order?")
    assert second.parent_run_id == first.run_id
    positions = [r for r in provider.requests if r.phase == "position"]
    assert len(positions) == 2
    for sent in positions:
        prompt = sent.messages[-1].content
        assert "Should we adopt X?" in prompt  # the earlier question
        assert "DRAFT: adopt X in two steps" in prompt  # the earlier answer
        assert "gamma: needs a rollback plan" in prompt and "gamma: no owner named" in prompt
        assert "And the rollout order?" in prompt

    third, provider = await follow_up(second.run_id, "Who owns it?")
    prompt = next(r for r in provider.requests if r.phase == "position").messages[-1].content
    # follow_up_depth 2: the parent and its parent, oldest first
    order = [prompt.index(q) for q in ("Should we adopt X?", "And the rollout order?", "Who owns it?")]
    assert order == sorted(order)
    assert [r.run_id for r in store.thread(second.run_id, 2)] == [first.run_id, second.run_id]
    assert [r.run_id for r in store.thread(third.run_id, 2)] == [second.run_id, third.run_id]
    assert [r.run_id for r in store.thread(third.run_id, 5)] == [first.run_id, second.run_id, third.run_id]
    assert [r.run_id for r in store.thread(second.run_id, 1)] == [second.run_id]
    assert store.parent_of(third.run_id) == second.run_id and store.parent_of(first.run_id) is None
    assert store.load(third.run_id).parent_run_id == second.run_id
    parents = {s.id: s.parent_run_id for s in store.list_runs()}
    assert parents == {first.run_id: None, second.run_id: first.run_id, third.run_id: second.run_id}


# ------------------------------------------------------------------------------------------------
# 7. the CLI


def test_history_and_show_commands(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui.history.store.utc_now", SteppingClock())  # each command's store reads it
    config = ["--config", str(fast_demo_config)]
    assert main(["show", "abc"]) != 0  # no history yet
    assert "no run history yet" in capsys.readouterr().err
    ids = []
    for question in ("Alpha question about caches?", "Beta question about queues?"):
        assert main([*config, "run", "-q", "--json", question]) == 0
        ids.append(json.loads(capsys.readouterr().out)["run_id"])

    assert main(["history", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == list(reversed(ids))
    assert listed[0]["question"] == "Beta question about queues?"
    assert listed[0]["panel"] == "demo-atlas:for, demo-bolt:against, demo-cirrus:neutral"
    assert listed[0]["status"] == "success"
    assert listed[0]["outcome"] in ("unanimous", "majority", "curator_override")
    assert main(["history", "--json", "--limit", "1"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [ids[1]]
    assert main(["history", "--json", "--filter", "CACHES"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [ids[0]]
    assert main(["history", "--filter", "caches"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ids[0]) and "Alpha question about caches?" in lines[0]
    assert main(["history", "--filter", "nothing like it"]) == 0
    assert "no runs recorded matching 'nothing like it'" in capsys.readouterr().out

    assert main(["show", ids[1][:7], "--json"]) == 0
    shown = RunResult.model_validate_json(capsys.readouterr().out)
    assert shown.run_id == ids[1] and shown.question == "Beta question about queues?"
    assert shown.status is RunStatus.SUCCESS and len(shown.calls) >= 7 and shown.synthesis
    assert main(["show", ids[1], "--md"]) == 0
    report = capsys.readouterr().out
    assert report.startswith("# Quorum: Beta question about queues?") and "## Positions" in report
    assert main(["show", ids[1]]) == 0 and capsys.readouterr().out == report

    assert main(["show", "nosuchrun"]) == 2
    assert "no run with id 'nosuchrun'" in capsys.readouterr().err

    assert main([*config, "run", "-q", "--json", "--follow-up", ids[0], "What", "next?"]) == 0
    child = json.loads(capsys.readouterr().out)
    assert child["parent_run_id"] == ids[0]
    assert main(["history", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["parent_run_id"] == ids[0]
    assert main([*config, "run", "-q", "--follow-up", "nosuchrun", "Next?"]) == 2
    assert "no run with id 'nosuchrun'" in capsys.readouterr().err


def test_recording_can_be_turned_off(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    off = write(tmp_path / "off.toml", FAST_DEMO + "\n[store]\nenabled = false\n")
    assert main(["--config", str(off), "run", "-q", "--json", "Record this?"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "success"
    assert not paths.history_file("").exists() and not (isolated_home / "data").exists()
    assert main(["--config", str(off), "history"]) == 0
    assert "no run history yet" in capsys.readouterr().err
    assert main(["--config", str(off), "run", "-q", "--follow-up", "abc", "Next?"]) == 2
    err = capsys.readouterr().err
    assert "a follow-up needs the run history" in err and "[store] enabled" in err


def test_store_path_setting_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere" / "runs.db"
    config = write(tmp_path / "where.toml", FAST_DEMO + f"\n[store]\npath = {str(target)!r}\n")
    assert main(["--config", str(config), "run", "-q", "--json", "Where?"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert not paths.history_file("").exists()
    store = RunStore(target)
    assert [r.id for r in store.list_runs()] == [run_id]
    store.close()


# ------------------------------------------------------------------------------------------------
# Bugs the first version of tui/store.py had (each test failed against it)


async def test_resolve_takes_wildcards_literally(store: RunStore) -> None:
    provider = FakeProvider({"alpha": Script(), "synth": Script()})
    await record(store, request(["alpha"]), provider, run_id="abc123456789")
    for prefix in ("%", "_", "abc_", "a%9"):
        with pytest.raises(KeyError):
            store.resolve(prefix)


async def test_filter_matches_the_panel_as_shown_not_its_json(store: RunStore) -> None:
    await record(store, request(["alpha", "beta"]), FakeProvider(panel_scripts()))
    assert store.list_runs(text="alpha") and store.list_runs(text="adopt")
    for text in ("demo", "model_id", "context_window", "_"):
        assert store.list_runs(text=text) == [], text


async def test_interrupted_run_keeps_the_cost_of_its_finished_calls(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = RunStore(path)
    recorder = RunRecorder(store, config=FAKE_CONFIG)
    alive = True

    def until_death(event: ev.Event) -> None:
        if alive:
            recorder(event)

    scripts = {"alpha": Script(usage=(100, 50)), "beta": Script(hang=True, fail_phases=("position",))}
    run = Run(request(["alpha", "beta"]), lookup(FakeProvider(scripts)), until_death, run_id="dying0000001")
    task = asyncio.ensure_future(run.execute())
    for _ in range(200):
        if run.result.positions and run.result.positions[0] is not None:
            break
        await asyncio.sleep(0.01)
    alive = False  # the process "dies": nothing more reaches the database
    run.cancel()
    await task
    store.close()
    db = raw(path)
    db.execute("UPDATE runs SET pid = ?", (dead_pid(),))
    db.close()

    store = RunStore(path)
    try:
        assert store.interrupted == ["dying0000001"]
        loaded = store.load("dying0000001")
        assert loaded.status is RunStatus.INTERRUPTED and loaded.notes.count(INTERRUPTED_NOTE) == 1
        assert isinstance(replay_events(loaded)[-1], ev.RunCancelled)  # no event of its own
        finished = [c for c in loaded.calls if c.status is CallStatus.SUCCESS]
        assert [c.alias for c in finished] == ["alpha"] and finished[0].cost_usd > 0
        assert loaded.totals.input_tokens == 100 and loaded.totals.output_tokens == 50
        assert loaded.totals.cost_usd == pytest.approx(finished[0].cost_usd)
        assert store.list_runs()[0].cost_usd == pytest.approx(finished[0].cost_usd)
    finally:
        store.close()


def test_the_store_write_api_without_a_recorder(tmp_path: Path) -> None:
    """The store's named writes on their own: a run whose process stopped mid-call loads as
    interrupted, with the finished call, the text saved of the call in flight, and the vote."""
    path = tmp_path / "history.sqlite3"
    store = RunStore(path)
    req = request(["alpha", "beta"], stances=[Stance.FOR, Stance.AGAINST])
    run_id = "direct000001"
    started = RunResult(
        run_id=run_id,
        question=req.question,
        mode=req.mode,
        members=req.members,
        started_at="2026-01-01T00:00:00Z",
    )
    store.insert_run(req, started, config=FAKE_CONFIG, parent_run_id=None)
    alpha, beta, vote = (
        ev.CallStarted(f"{run_id}-1", 1, Phase.POSITION, 0, "alpha"),
        ev.CallStarted(f"{run_id}-2", 1, Phase.POSITION, 1, "beta"),
        ev.CallStarted(f"{run_id}-3", 1, Phase.VOTE, 0, "alpha"),
    )
    for seq, call in enumerate((alpha, beta, vote), start=1):
        store.insert_call(run_id, seq, call, req.members[call.member_index or 0])
    finished = CallResult(
        call_id=alpha.call_id,
        round=1,
        phase=Phase.POSITION,
        member_index=0,
        alias="alpha",
        model_id="alpha",
        provider="fake",
        stance=Stance.FOR,
        status=CallStatus.SUCCESS,
        content="Alpha: yes.",
        input_tokens=10,
        output_tokens=5,
        cost_usd=0.25,
    )
    store.finish_call(finished)
    store.save_texts({beta.call_id: "Beta: not", vote.call_id: "VERDICT: REJ"})
    store.record_vote(
        run_id, 1, Vote(member_index=0, alias="alpha", value=VoteValue.REJECT, objections=["no"])
    )
    store.close()
    db = raw(path)
    db.execute("UPDATE runs SET pid = ?", (dead_pid(),))
    [voted] = db.execute("SELECT vote, objections FROM calls WHERE phase = 'vote'").fetchall()
    db.close()
    assert (voted["vote"], json.loads(voted["objections"])) == ("reject", ["no"])

    store = RunStore(path)
    try:
        assert store.interrupted == [run_id] and store.status(run_id) is RunStatus.INTERRUPTED
        loaded = store.load(run_id)
        assert loaded.status is RunStatus.INTERRUPTED and loaded.notes == [INTERRUPTED_NOTE]
        assert loaded.calls[0].model_dump() == finished.model_dump()
        assert [(c.phase, c.stance, c.status, c.content) for c in loaded.calls[1:]] == [
            (Phase.POSITION, Stance.AGAINST, CallStatus.CANCELLED, "Beta: not"),
            (Phase.VOTE, Stance.FOR, CallStatus.CANCELLED, "VERDICT: REJ"),
        ]
        assert [p.call_id if p else None for p in loaded.positions] == [alpha.call_id, beta.call_id]
        assert loaded.totals.cost_usd == pytest.approx(0.25) and loaded.totals.input_tokens == 10
        [summary] = store.list_runs()
        assert (summary.status, summary.outcome, summary.panel) == (
            RunStatus.INTERRUPTED,
            None,
            "alpha:for, beta:against",
        )
    finally:
        store.close()


async def test_load_keeps_every_field_of_a_finished_call(store: RunStore) -> None:
    scripts = {
        "alpha": Script(usage=None),  # no usage reported: tokens are estimated
        "beta": Script(fail=rate_limited(), fail_phases=("position",)),
        "gamma": Script(),
        "synth": Script(),
    }
    live = await record(store, request(["alpha", "beta", "gamma"]), FakeProvider(scripts))
    assert any(c.tokens_estimated for c in live.calls) and live.positions[1] is not None
    assert live.positions[1].error_kind == "rate_limit"
    loaded = store.load(live.run_id)
    assert [c.model_dump() for c in loaded.calls] == [c.model_dump() for c in live.calls]
    assert loaded.model_dump() == live.model_dump()
    assert render_markdown(loaded) == render_markdown(live)


async def test_text_before_a_stall_is_checkpointed(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.history.recorder.CHECKPOINT_S", 0.05)
    provider = PacedProvider(pieces=4, every_s=0.001, stall_after=2)  # 2 pieces, then silence
    task = asyncio.ensure_future(record(store, ask("Stall?", ["slow"], max_rounds=1), provider))
    db = raw(store.path)
    query = "SELECT status FROM calls WHERE phase = 'position' AND content = 'slow-piece-0 slow-piece-1 '"
    try:
        async with asyncio.timeout(30):  # a hang guard only: nothing arrives until `resume`
            while (row := db.execute(query).fetchone()) is None:
                await asyncio.sleep(0.01)
        assert row["status"] == "running"
    finally:
        provider.resume.set()
        db.close()
        await asyncio.wait_for(task, 10)


async def test_invalid_votes_and_their_reasons_are_recorded(store: RunStore) -> None:
    provider = FakeProvider(
        {
            "alpha": Script(),
            "beta": Script(votes=["VERDICT: ACCEPT\n- fine\nVERDICT: ACCEPT"]),
            "gamma": Script(fail=rate_limited(), fail_phases=("vote",)),
            "synth": Script(),
        }
    )
    live = await record(store, request(["alpha", "beta", "gamma"], max_rounds=1), provider)
    assert live.outcome is Outcome.NO_QUORUM  # 1 valid vote of 3 seats
    db = raw(store.path)
    votes = db.execute(
        "SELECT alias, vote, objections, vote_reason FROM calls WHERE run_id = ? AND phase = 'vote' "
        "ORDER BY member_index",
        (live.run_id,),
    ).fetchall()
    db.close()
    assert [(v["alias"], v["vote"], json.loads(v["objections"])) for v in votes] == [
        ("alpha", "accept", []),
        ("beta", "invalid", []),
        ("gamma", None, []),
    ]
    assert votes[0]["vote_reason"] is None and votes[1]["vote_reason"] == "two verdict lines"
    assert "rate limited" in votes[2]["vote_reason"]
    loaded = store.load(live.run_id)
    assert [v.reason for v in loaded.rounds[0].votes][:2] == [None, "two verdict lines"]


def test_version_4_moves_the_reason_of_an_invalid_vote_out_of_its_objections(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 3")
    db.execute(
        "INSERT INTO runs (id, created_at, question, mode, panel, config, status, max_rounds, result) "
        "VALUES ('old', '2026-01-01', 'Q', 'deliberate', '{}', '{}', 'success', 3, NULL)"
    )
    for seq, (vote, objections) in enumerate(
        [
            ("reject", ["no owner"]),
            ("invalid", ["no VERDICT line"]),
            (None, ["rate limited"]),
            ("accept", []),
        ],
        start=1,
    ):
        db.execute(
            "INSERT INTO calls (id, run_id, seq, round, phase, member_index, alias, model_id, provider, "
            "status, vote, objections, started_at, updated_at) "
            "VALUES (?, 'old', ?, 1, 'vote', ?, 'm', 'm', 'fake', 'success', ?, ?, '', '')",
            (f"old-{seq}", seq, seq, vote, json.dumps(objections)),
        )
    db.commit()
    db.close()
    RunStore(path).close()
    db = raw(path)
    moved = db.execute("SELECT vote, objections, vote_reason FROM calls ORDER BY seq").fetchall()
    db.close()
    assert [(r["vote"], json.loads(r["objections"]), r["vote_reason"]) for r in moved] == [
        ("reject", ["no owner"], None),
        ("invalid", [], "no VERDICT line"),
        (None, [], "rate limited"),
        ("accept", [], None),
    ]


async def test_a_consult_run_is_recorded_with_the_one_round_it_has(store: RunStore) -> None:
    """The recorder's copy of a run starts from the same place as the engine's live result: a
    consult run has one round whatever the request's round limit, in history as on screen."""
    provider = FakeProvider(panel_scripts())
    req = request(["alpha", "beta"], mode=Mode.CONSULT, max_rounds=3)
    live = await record(store, req, provider)
    assert live.max_rounds == 1
    assert store.load(live.run_id).max_rounds == 1


# ------------------------------------------------------------------------------------------------
# what was asked: files, focus areas and the request's settings


async def test_what_was_asked_is_recorded_and_loads_back(store: RunStore, tmp_path: Path) -> None:
    """Every file's path, size, hash and sent text, the focus areas and the request's settings go
    to the database (a file's text once, however many runs sent it) and load back whole."""
    from tui.attachments.text import read_attachment

    spec = write(tmp_path / "spec.md", "# Billing\nEvents are appended, never updated.\n" * 40)
    attachment = read_attachment(spec)
    assert attachment.size == spec.stat().st_size and len(attachment.sha256) == 64
    provider = FakeProvider(panel_scripts())
    req = request(
        ["alpha", "beta"],
        files=[attachment],
        focus=["operational cost", "audit trail"],
        max_rounds=1,
        token_budget=50_000,
        majority_threshold=0.6,
    )
    live = await record(store, req, provider)
    again = await record(store, req, provider)  # the same file sent twice: its text is kept once
    assert live.asked is not None and live.asked.files == [attachment]

    loaded = store.load(live.run_id)
    assert loaded.asked == live.asked
    asked = loaded.asked
    assert asked is not None
    assert [(f.path, f.size, f.sha256, f.content) for f in asked.files] == [
        (str(spec), attachment.size, attachment.sha256, attachment.content)
    ]
    assert asked.files[0].full_path == str(spec.resolve())
    assert asked.focus == ["operational cost", "audit trail"]
    assert (asked.mode, asked.max_rounds, asked.token_budget, asked.majority_threshold) == (
        Mode.DELIBERATE,
        1,
        50_000,
        0.6,
    )
    assert asked.synthesizers == ["synth"]
    db = raw(store.path)
    texts = db.execute("SELECT count(*) FROM file_texts").fetchone()[0]
    files = db.execute("SELECT run_id, path, size, sha256 FROM run_files ORDER BY run_id").fetchall()
    snapshot = db.execute("SELECT result FROM runs WHERE id = ?", (live.run_id,)).fetchone()[0]
    db.close()
    assert texts == 1 and sorted(r["run_id"] for r in files) == sorted([live.run_id, again.run_id])
    assert attachment.content not in snapshot  # the text is stored once, not in every snapshot
    # the report says what was asked
    report = render_markdown(loaded)
    assert "## Asked" in report and f"`{spec}` · 1.8 KB · sha256 {attachment.sha256[:12]}" in report
    assert "**Focus:** operational cost; audit trail" in report
    assert "**Rounds:** up to 1 · **Budget:** 50,000 tokens" in report


def test_version_5_keeps_older_runs_which_have_no_record_of_what_was_asked(tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 4")
    old = RunResult(
        run_id="old",
        question="Q",
        mode=Mode.DELIBERATE,
        members=[member("alpha")],
        started_at="2026-01-01T00:00:00Z",
    )
    db.execute(
        "INSERT INTO runs (id, created_at, question, mode, panel, config, status, max_rounds, result) "
        "VALUES ('old', '2026-01-01', 'Q', 'deliberate', '{}', '{}', 'success', 2, ?)",
        (old.model_dump_json(),),
    )
    db.commit()
    db.close()
    store = RunStore(path)
    try:
        assert store.version == SCHEMA_VERSION >= 5
        assert store.load("old").asked is None  # never recorded: not made up
    finally:
        store.close()


async def test_what_was_asked_as_earlier_versions_recorded_it_loads_and_is_asked_again(
    store: RunStore,
) -> None:
    """The `asked` column as Quorum wrote it before the quorum, the team's context, images and the
    answer shape were kept: it loads with their defaults, and a rerun asks what it holds."""
    live = await record(store, request(["alpha", "beta"]), FakeProvider(panel_scripts()))
    written_then = (
        '{"files": [], "focus": ["audit trail"], "mode": "consult", "max_rounds": 2, '
        '"majority_threshold": 0.6, "token_budget": 9000, "synthesizers": ["beta", "alpha"]}'
    )
    db = raw(store.path)
    db.execute("UPDATE runs SET asked = ? WHERE id = ?", (written_then, live.run_id))
    db.commit()
    db.close()
    asked = store.load(live.run_id).asked
    assert asked is not None
    assert (asked.focus, asked.mode, asked.max_rounds, asked.token_budget) == (
        ["audit trail"],
        Mode.CONSULT,
        2,
        9000,
    )
    assert (asked.majority_threshold, asked.synthesizers) == (0.6, ["beta", "alpha"])
    assert (asked.quorum, asked.context, asked.images, asked.answer) == (0.5, None, [], None)
    again = replay_request(store.load(live.run_id))
    assert (again.focus, again.max_rounds, again.token_budget) == (["audit trail"], 2, 9000)


def _query_plans(store: RunStore, action: Callable[[], object]) -> list[str]:
    """What SQLite does for each statement `action` runs on the store's connection."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        action()
    finally:
        store._db.set_trace_callback(None)
    return [
        row[3]
        for statement in statements
        if statement.lstrip().upper().startswith("SELECT")
        for row in store._db.execute("EXPLAIN QUERY PLAN " + statement)
    ]


@pytest.mark.parametrize("text", ["kubernetes", "qz", "alpha", 'say "it"'])
async def test_filtering_the_list_reads_the_full_text_index_not_every_run_row(
    store: RunStore, text: str
) -> None:
    """A long history is filtered through its full-text index (or, for fewer than 3 characters,
    the index's compact copy of the questions and panels), never by reading each run's row,
    which holds the run's whole result: the runs are walked newest first by their time index,
    and a run's row is read only when the index has it."""
    await record(store, ask("Should we run kubernetes?", ["alpha"]), FakeProvider(panel_scripts()))
    plans = _query_plans(store, lambda: store.list_runs(limit=100, text=text))
    assert any("runs_fts" in plan for plan in plans), plans
    assert not [plan for plan in plans if plan == "SCAN runs"], plans


async def test_a_structured_review_is_kept_with_its_form_and_its_reply_as_sent(store: RunStore) -> None:
    """`show --json` says what `run --json` said: the form each review was asked in and the JSON
    the model sent, not only the verdict line people read."""
    from tui.engine.types import Member, VoteForm
    from tui.providers.demo import DemoProvider

    seats = [
        Member(alias=f"d{i}", model_id=name, provider="demo", demo=True, vote_form=VoteForm.JSON_SCHEMA)
        for i, name in enumerate(["atlas", "bolt", "cirrus"])
    ]
    req = RunRequest(question="Ship it?", members=seats, synthesizers=seats[:1], max_rounds=2)
    result = await record(store, req, DemoProvider(speed=1000))
    live = [(c.call_id, c.vote_form, c.raw_reply) for c in result.calls if c.phase is Phase.VOTE]
    assert live and all(form is VoteForm.JSON_SCHEMA and raw for _, form, raw in live)
    kept = [
        (c.call_id, c.vote_form, c.raw_reply)
        for c in store.load(result.run_id).calls
        if c.phase is Phase.VOTE
    ]
    assert kept == live


def _index_tokenizer_as_seen_by(path: Path, tokenizer: str) -> None:
    """Make the history's full-text index name `tokenizer`: a SQLite that lacks it sees the file
    as one built without the trigram tokenizer (before 3.34) sees a history a newer one indexed."""
    with closing(raw(path)) as db:
        db.execute("PRAGMA writable_schema = ON")
        db.execute(
            "UPDATE sqlite_master SET sql = replace(replace(sql, 'trigram', ?), 'unknown61', ?) "
            "WHERE name = 'runs_fts'",
            (tokenizer, tokenizer),
        )
        db.execute("PRAGMA writable_schema = OFF")


async def test_a_sqlite_that_cannot_keep_the_full_text_index_still_records_every_run(
    tmp_path: Path,
) -> None:
    """One history opened in turn by a SQLite without the index's tokenizer and by one with it
    (two Pythons sharing the data folder): the first records its runs anyway and filters by
    reading them; the second makes the index again, so it finds every run, and keeps it after."""
    path = tmp_path / "history.sqlite3"
    with closing(RunStore(path)) as newer:
        await record(newer, ask("Should we run kubernetes?", ["alpha"]), FakeProvider(panel_scripts()))
    _index_tokenizer_as_seen_by(path, "unknown61")
    with closing(RunStore(path)) as older:
        await record(older, ask("Kubernetes on the old build?", ["alpha"]), FakeProvider(panel_scripts()))
        listed = [run.question for run in older.list_runs(limit=10, text="kubernetes")]
        assert listed == ["Kubernetes on the old build?", "Should we run kubernetes?"]
    _index_tokenizer_as_seen_by(path, "trigram")
    with closing(RunStore(path)) as newer:
        plans = _query_plans(newer, lambda: newer.list_runs(limit=10, text="old build"))
        assert any("runs_fts" in plan for plan in plans), plans
        assert [run.question for run in newer.list_runs(limit=10, text="old build")] == [
            "Kubernetes on the old build?"
        ]
        await record(newer, ask("Kubernetes, indexed again?", ["alpha"]), FakeProvider(panel_scripts()))
        assert len(newer.list_runs(limit=10, text="kubernetes")) == 3


async def test_showing_a_run_by_its_id_or_a_prefix_never_reads_every_run_row(store: RunStore) -> None:
    provider = FakeProvider({"alpha": Script(), "synth": Script()})
    await record(store, request(["alpha"]), provider, run_id="abc123456789")
    for prefix in ("abc123456789", "abc"):

        def show(prefix: str = prefix) -> None:
            store.load(store.resolve(prefix))

        plans = _query_plans(store, show)
        assert plans and not [plan for plan in plans if plan.startswith("SCAN runs")], plans
