"""The cache: a question asked before, in the same scope, is answered from the history at once, as a
run of its own pointing at the original; anything that could make the earlier answer the wrong one
(another context, other files, another panel, a failed or unfinished original, an old one, a
follow-up, a near-miss) asks the panel again."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST_DEMO, FAST_SPEED, write
from tests.dashboard import enter_question, make_app
from tests.test_app import settle
from tests.wire_server import WireServer, embeddings_answer
from tui.cli.main import main
from tui.config import paths
from tui.engine.types import CacheKind, RunStatus
from tui.errors import QuorumError
from tui.history.store import RunStore
from tui.question.keys import question_key
from tui.question.terms import signature

QUESTION = "Should we move our job queue from Redis to Postgres?"


def ask(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """`quorum --config CONFIG run ARGS --json` (exit 0), its JSON and its progress."""
    code = main(["--config", str(config), "run", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    data["_stderr"] = err
    return data


def history() -> sqlite3.Connection:
    db = sqlite3.connect(paths.history_file(""))
    db.row_factory = sqlite3.Row
    return db


def kept_vectors(db: sqlite3.Connection) -> dict[tuple[str, str], bytes]:
    """Every vector the history keeps, by (embedder, question key), read straight from its blocks."""
    rows = db.execute(
        "SELECT vector_sets.embedder, vector_slots.question_key, "
        "substr(vector_blocks.vectors, (vector_slots.slot % vector_sets.block_slots) * vector_sets.dim + 1, "
        "vector_sets.dim) FROM vector_slots JOIN vector_sets ON vector_sets.id = vector_slots.vector_set "
        "JOIN vector_blocks ON vector_blocks.vector_set = vector_sets.id "
        "AND vector_blocks.block = vector_slots.slot / vector_sets.block_slots"
    )
    return {(embedder, key): bytes(vector) for embedder, key, vector in rows}


def keep_vector(db: sqlite3.Connection, embedder: str, key: str, vector: list[float]) -> None:
    """A vector kept as a lookup keeps one."""
    from tui.history.schema import write_transaction
    from tui.history.vector_format import encode
    from tui.history.vectors import keep_vectors

    db.isolation_level = None
    encoded = encode(vector)
    assert encoded is not None
    with write_transaction(db):
        keep_vectors(db, embedder, [(key, encoded)])


def forget_vectors(db: sqlite3.Connection) -> None:
    for table in ("vector_blocks", "vector_slots", "vector_sets"):
        db.execute(f"DELETE FROM {table}")
    db.commit()


def test_the_same_question_in_the_same_scope_is_served_and_recorded_pointing_at_the_original(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, QUESTION)
    assert first["cache"] == {"hit": False}
    second = ask(fast_demo_config, capsys, "  should we MOVE our job queue from redis to postgres ")
    cache = second["cache"]
    assert cache["hit"] is True and cache["kind"] == "exact" and cache["similarity"] == 1.0
    assert cache["original_run_id"] == first["run_id"] != second["run_id"]
    assert cache["saved_usd"] == first["totals"]["cost_usd"] and cache["saved_seconds"] >= 0
    # the answer is the original's; the hit cost nothing and asked nothing of anyone
    assert second["synthesis"] == first["synthesis"] and second["outcome"] == first["outcome"]
    assert second["totals"]["cost_usd"] == 0 and second["totals"]["input_tokens"] == 0
    assert [c["call_id"] for c in second["calls"]] == [c["call_id"] for c in first["calls"]]
    assert "Cache hit (exact match" in second["_stderr"] and first["run_id"] in second["_stderr"]
    # recorded as a run of its own, pointing at the original; its calls are the original's, not copies
    with history() as db:
        row = db.execute("SELECT * FROM runs WHERE id = ?", (second["run_id"],)).fetchone()
        assert row["cache_of"] == first["run_id"] and row["cache_kind"] == "exact"
        assert row["status"] == "success"
        assert (
            db.execute("SELECT count(*) FROM calls WHERE run_id = ?", (second["run_id"],)).fetchone()[0] == 0
        )
    store = RunStore(paths.history_file(""))
    try:
        loaded = store.load(second["run_id"])
        assert loaded.cache.hit and loaded.cache.original_run_id == first["run_id"]
        assert len(loaded.calls) == len(first["calls"]) and loaded.synthesis == first["synthesis"]
    finally:
        store.close()
    # `quorum history` marks it
    assert main(["history"]) == 0
    listing = capsys.readouterr().out
    assert f"[cache of {first['run_id'][:8]}]" in listing


def test_the_report_names_the_original_and_the_savings(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, QUESTION)
    assert main(["--config", str(fast_demo_config), "run", QUESTION]) == 0
    report = capsys.readouterr().out
    assert f"original run {first['run_id']}" in report and "saved $" in report and "--fresh" in report


def test_fresh_asks_the_panel_again_and_records_it(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, QUESTION)
    again = ask(fast_demo_config, capsys, QUESTION, "--fresh")
    assert again["cache"] == {"hit": False}
    assert not {c["call_id"] for c in again["calls"]} & {c["call_id"] for c in first["calls"]}
    with history() as db:
        assert db.execute("SELECT cache_of FROM runs WHERE id = ?", (again["run_id"],)).fetchone()[0] is None


def test_enabled_false_turns_it_off_and_fresh_is_the_one_flag_that_asks_anyway(
    tmp_path: Path, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ask(fast_demo_config, capsys, QUESTION)
    with pytest.raises(SystemExit) as refused:  # --fresh does what it did: one flag, not two
        main(["--config", str(fast_demo_config), "run", QUESTION, "--no-cache"])
    assert refused.value.code == 2 and "--no-cache" in capsys.readouterr().err
    off = write(tmp_path / "off.toml", FAST_DEMO + "[cache]\nenabled = false\n")
    assert ask(off, capsys, QUESTION)["cache"] == {"hit": False}
    assert ask(fast_demo_config, capsys, QUESTION)["cache"]["hit"] is True


def test_another_context_is_another_question(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    python = write(tmp_path / "py.toml", FAST_DEMO + '[context]\nlanguage = "Python"\n')
    go = write(tmp_path / "go.toml", FAST_DEMO + '[context]\nlanguage = "Go"\n')
    ask(python, capsys, QUESTION)
    assert ask(go, capsys, QUESTION)["cache"] == {"hit": False}
    assert ask(python, capsys, QUESTION)["cache"]["hit"] is True


def test_a_near_miss_is_not_served(fast_demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ask(fast_demo_config, capsys, QUESTION)
    for near in (
        "Should we move our job queue from Postgres to Redis?",
        "Should we not move our job queue from Redis to Postgres?",
        "Should we move our job queue from Redis to MySQL?",
    ):
        assert ask(fast_demo_config, capsys, near)["cache"]["hit"] is False, near


def test_another_mode_or_panel_or_focus_is_not_served(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ask(fast_demo_config, capsys, QUESTION)
    assert ask(fast_demo_config, capsys, QUESTION, "--mode", "consult")["cache"]["hit"] is False
    assert ask(fast_demo_config, capsys, QUESTION, "-m", "demo-atlas:against")["cache"]["hit"] is False
    assert ask(fast_demo_config, capsys, QUESTION, "--focus", "cost")["cache"]["hit"] is False


def test_any_panel_is_served_when_match_panel_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "any.toml", FAST_DEMO + "[cache]\nmatch_panel = false\n")
    first = ask(config, capsys, QUESTION)
    again = ask(config, capsys, QUESTION, "-m", "demo-atlas:against")
    assert again["cache"]["original_run_id"] == first["run_id"]


@pytest.mark.parametrize("status", ["error", "cancelled", "interrupted", "running"])
def test_an_original_that_did_not_succeed_is_never_served(
    status: str, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, QUESTION)
    with history() as db:
        db.execute("UPDATE runs SET status = ?, pid = 1 WHERE id = ?", (status, first["run_id"]))
    assert ask(fast_demo_config, capsys, QUESTION)["cache"] == {"hit": False}


def test_an_original_with_an_incomplete_synthesis_is_never_served(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, QUESTION)
    with history() as db:
        db.execute(
            "UPDATE runs SET result = json_set(result, '$.synthesis_incomplete', 'cut off at its limit') "
            "WHERE id = ?",
            (first["run_id"],),
        )
    assert ask(fast_demo_config, capsys, QUESTION)["cache"] == {"hit": False}


def test_an_original_that_ended_with_no_quorum_is_never_served(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its synthesis is no decision: asking again may reach one."""
    panel = ["-m", "demo-atlas", "-m", "demo-flaky:for", "-m", "demo-flaky:against"]
    assert main(["--config", str(fast_demo_config), "run", QUESTION, *panel, "--json"]) == 3
    first = json.loads(capsys.readouterr().out)
    assert first["outcome"] == "no_quorum" and first["status"] == "success"
    assert main(["--config", str(fast_demo_config), "run", QUESTION, *panel, "--json"]) == 3
    again = json.loads(capsys.readouterr().out)
    assert again["cache"] == {"hit": False} and again["run_id"] != first["run_id"]


def test_an_original_older_than_max_age_is_not_served(
    tmp_path: Path, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, QUESTION)
    with history() as db:
        db.execute(
            "UPDATE runs SET created_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (first["run_id"],)
        )
    long_memory = write(tmp_path / "old.toml", FAST_DEMO + "[cache]\nmax_age_days = 100000\n")
    assert ask(long_memory, capsys, QUESTION)["cache"]["original_run_id"] == first["run_id"]
    assert ask(fast_demo_config, capsys, QUESTION)["cache"] == {"hit": False}


def test_other_attachments_are_another_question(
    tmp_path: Path, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write(tmp_path / "plan.md", "Move the queue in May.\n")
    first = ask(fast_demo_config, capsys, QUESTION, "--file", str(plan))
    assert ask(fast_demo_config, capsys, QUESTION)["cache"]["hit"] is False  # without the file
    write(plan, "Move the queue in June.\n")  # the same path, other contents
    assert ask(fast_demo_config, capsys, QUESTION, "--file", str(plan))["cache"]["hit"] is False
    write(plan, "Move the queue in May.\n")
    same = ask(fast_demo_config, capsys, QUESTION, "--file", str(plan))
    assert same["cache"]["original_run_id"] == first["run_id"]


def test_a_follow_up_is_never_served_nor_serves(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, "Is Kafka right for us?")
    follow = ask(fast_demo_config, capsys, QUESTION, "--follow-up", first["run_id"])
    assert follow["cache"]["hit"] is False
    again = ask(fast_demo_config, capsys, QUESTION, "--follow-up", first["run_id"])
    assert again["cache"]["hit"] is False
    # nor is a follow-up's answer served to the question asked on its own
    assert ask(fast_demo_config, capsys, QUESTION)["cache"]["hit"] is False


def test_a_run_served_from_the_cache_is_not_served_again_the_original_is(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, QUESTION)
    ask(fast_demo_config, capsys, QUESTION)
    third = ask(fast_demo_config, capsys, QUESTION)
    assert third["cache"]["original_run_id"] == first["run_id"]


def test_the_hit_is_served_across_processes(fast_demo_config: Path, isolated_home: Path) -> None:
    quorum = [sys.executable, "-m", "tui", "--config", str(fast_demo_config), "run", QUESTION, "--json"]
    runs = [
        json.loads(subprocess.run(quorum, capture_output=True, text=True, check=True, timeout=120).stdout)
        for _ in range(2)
    ]
    assert runs[0]["cache"] == {"hit": False}
    assert runs[1]["cache"]["original_run_id"] == runs[0]["run_id"]


def test_a_project_file_may_not_set_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "repo"
    (project / ".git").mkdir(parents=True)
    write(project / ".quorum.toml", "[cache]\nthreshold = 0.5\n")
    monkeypatch.chdir(project)
    monkeypatch.delenv("QUORUM_NO_PROJECT")
    assert main(["config", "validate"]) == 2


# -- the dashboard ------------------------------------------------------------------------------


async def test_the_dashboard_shows_a_hit_plainly_and_the_fresh_key_asks_the_panel() -> None:
    app, provider = make_app(["alpha", "beta:against"], ui={"keymap": {"fresh": "f10"}})
    async with app.run_test() as pilot:
        await enter_question(pilot, "Is Kafka right for us?")
        await settle(app, pilot)
        first = app.shown_result
        assert first is not None and first.status is RunStatus.SUCCESS and not first.cache.hit
        asked = len(provider.requests)
        await enter_question(pilot, "is kafka right for us")
        await settle(app, pilot)
        hit = app.shown_result
        assert hit is not None and hit.cache.hit and hit.cache.original_run_id == first.run_id
        assert len(provider.requests) == asked  # nobody was asked
        assert hit.synthesis == first.synthesis
        banner = app.synthesis.body.text
        assert "Cache hit (exact match, saved $" in banner and f"original run {first.run_id}" in banner
        assert "F10 runs it fresh" in banner  # the key as remapped
        assert banner.index("Cache hit") < banner.index(first.synthesis or "")  # above the answer
        # Ctrl+R on a hit asks the panel too; the fresh key does, here remapped to F10
        await pilot.press("f10")
        await settle(app, pilot)
        fresh = app.shown_result
        assert fresh is not None and not fresh.cache.hit and fresh.run_id not in (first.run_id, hit.run_id)
        assert len(provider.requests) > asked
        assert "Cache hit" not in app.synthesis.body.text


# -- quorum mcp ---------------------------------------------------------------------------------


async def test_mcp_consensus_serves_a_hit_and_says_so_and_fresh_asks_the_panel(tmp_path: Path) -> None:
    from tests.test_mcp import connected, demo_config, text_of

    async with connected(demo_config(tmp_path, FAST_SPEED)) as client:
        first = await client.call_tool("consensus", {"question": QUESTION, "mode": "consult"})
        assert first.structured_content is not None and first.structured_content["cache"] == {"hit": False}
        original = first.structured_content["run_id"]
        again = await client.call_tool("consensus", {"question": QUESTION.lower(), "mode": "consult"})
        report = again.structured_content
        assert report is not None and report["status"] == "success"
        assert report["cache"]["hit"] is True and report["cache"]["original_run_id"] == original
        assert report["synthesis"] == first.structured_content["synthesis"]
        assert f"original run {original}" in text_of(again) and "fresh=true" in text_of(again)
        listed = await client.call_tool("history", {})
        assert listed.structured_content is not None
        entries = {entry["run_id"]: entry for entry in listed.structured_content["runs"]}
        assert entries[report["run_id"]]["cache_of"] == original and entries[original]["cache_of"] is None
        assert f"[cache of {original[:8]}]" in text_of(listed)
        fresh = await client.call_tool("consensus", {"question": QUESTION, "mode": "consult", "fresh": True})
        assert fresh.structured_content is not None and fresh.structured_content["cache"] == {"hit": False}


# -- semantic -----------------------------------------------------------------------------------

BILLING = "Should we use PostgreSQL or MySQL for our new billing service?"
BILLING_REWORDED = "For our new billing service, should we use PostgreSQL or MySQL?"
BILLING_OLD = "Should we use MySQL or PostgreSQL for our old billing service?"  # 0.947 similar, not the same


def test_a_reworded_question_is_served_as_a_semantic_hit(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, BILLING)
    again = ask(fast_demo_config, capsys, BILLING_REWORDED)
    cache = again["cache"]
    assert (
        cache["hit"] is True and cache["kind"] == "semantic" and cache["original_run_id"] == first["run_id"]
    )
    assert cache["similarity"] >= 0.92
    assert "Cache hit (99% match" in again["_stderr"]  # the same words reordered: never "100%"
    with history() as db:
        row = db.execute("SELECT cache_kind, cache_similarity FROM runs WHERE id = ?", (again["run_id"],))
        assert tuple(row.fetchone()) == ("semantic", cache["similarity"])
        # each question's vector is kept, by its question key, under the embedder that made it: one
        # byte a dimension
        kept = {(embedder, key): len(vector) for (embedder, key), vector in kept_vectors(db).items()}
        assert kept == {
            ("static:wordllama-l2-supercat-256", question_key(q)): 256 for q in (BILLING, BILLING_REWORDED)
        }


def test_a_near_miss_is_not_served_but_suggested(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ask(fast_demo_config, capsys, BILLING)
    near = ask(fast_demo_config, capsys, BILLING_OLD)
    assert near["cache"]["hit"] is False and near["cache"]["similar_run_id"] == first["run_id"]
    assert near["synthesis"] and near["calls"][0]["call_id"] not in {c["call_id"] for c in first["calls"]}
    assert f"A similar earlier run: {first['run_id']}" in near["_stderr"] and "not served" in near["_stderr"]


def test_fresh_serves_nothing_yet_names_a_similar_earlier_run_in_quorum_run(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--fresh` asks the panel instead of serving the earlier answer, and names that run as any
    question the cache does not serve does: a suggestion, as the dashboard and MCP make it."""
    first = ask(fast_demo_config, capsys, BILLING)
    fresh = ask(fast_demo_config, capsys, BILLING_REWORDED, "--fresh")
    assert fresh["cache"]["hit"] is False and fresh["cache"]["similar_run_id"] == first["run_id"]
    assert not {c["call_id"] for c in fresh["calls"]} & {c["call_id"] for c in first["calls"]}
    assert f"A similar earlier run: {first['run_id']}" in fresh["_stderr"]


async def test_fresh_serves_nothing_yet_names_a_similar_earlier_run_over_mcp(tmp_path: Path) -> None:
    from tests.test_mcp import connected, demo_config

    async with connected(demo_config(tmp_path, FAST_SPEED)) as client:
        first = await client.call_tool("consensus", {"question": BILLING, "mode": "consult"})
        assert first.structured_content is not None
        fresh = await client.call_tool(
            "consensus", {"question": BILLING_REWORDED, "mode": "consult", "fresh": True}
        )
        report = fresh.structured_content
        assert report is not None and report["cache"]["hit"] is False
        assert report["cache"]["similar_run_id"] == first.structured_content["run_id"]


async def test_fresh_serves_nothing_yet_names_a_similar_earlier_run_in_the_dashboard(
    scripted: ScriptedEmbedder,
) -> None:
    app, _ = make_app(["alpha", "beta:against"])
    async with app.run_test() as pilot:
        app.submit(BILLING)
        await settle(app, pilot)
        first = app.shown_result
        assert first is not None and not first.cache.hit
        app.submit(BILLING_REWORDED, fresh=True)
        await settle(app, pilot)
        fresh = app.shown_result
        assert fresh is not None and not fresh.cache.hit and fresh.run_id != first.run_id
        said = [n.message for n in app._notifications]
        assert any(f"A similar earlier run: {first.run_id}" in line for line in said), said


def test_with_no_embedder_only_exact_matches_are_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exact_only = write(tmp_path / "exact.toml", FAST_DEMO + '[cache]\nembedder = ""\n')
    ask(exact_only, capsys, BILLING)
    assert ask(exact_only, capsys, BILLING_REWORDED)["cache"] == {"hit": False}
    assert ask(exact_only, capsys, BILLING)["cache"]["kind"] == "exact"


class ScriptedEmbedder:
    """Vectors chosen by the test: one per (normalized) text, by how it starts."""

    name = "static:wordllama-l2-supercat-256"

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.embedded: list[str] = []
        self.on_main_thread: list[bool] = []  # where each call ran: the event loop's thread, or not

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.embedded += texts
        self.on_main_thread.append(threading.current_thread() is threading.main_thread())
        return [next(v for start, v in self.vectors.items() if text.startswith(start)) for text in texts]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedEmbedder:
    from tui.cache import lookup

    embedder = ScriptedEmbedder({"": [1.0, 0.0, 0.0]})  # every question alike
    monkeypatch.setitem(lookup._embedders, "static", embedder)
    return embedder


def test_vectors_from_another_embedder_are_never_compared(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    first = ask(fast_demo_config, capsys, BILLING)
    with closing(history()) as db:  # another embedder's vector, identical to the new question's: never read
        keep_vector(db, "openai:text-embedding-3-small", question_key(first["question"]), [1.0, 0.0, 0.0])
    scripted.vectors = {"for our": [1.0, 0.0, 0.0], "should we": [0.0, 1.0, 0.0]}
    assert ask(fast_demo_config, capsys, BILLING_REWORDED)["cache"]["hit"] is False  # cosine 0 here
    with closing(history()) as db:
        kept = kept_vectors(db)
    key = question_key(first["question"])
    assert kept[("openai:text-embedding-3-small", key)] == bytes([127, 0, 0])
    assert kept[("static:wordllama-l2-supercat-256", key)] == bytes([0, 127, 0])


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE vector_blocks SET vectors = x''",
        "UPDATE vector_blocks SET vectors = x'000102'",
        "UPDATE vector_blocks SET vectors = 'not a vector at all'",
        "UPDATE vector_blocks SET vectors = zeroblob(length(vectors))",
    ],
    ids=["empty", "cut-short", "text", "zeros"],
)
def test_a_damaged_vector_is_treated_as_absent(
    damage: str, fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    first = ask(fast_demo_config, capsys, BILLING)
    key = question_key(first["question"])
    with closing(history()) as db:
        keep_vector(db, "static:wordllama-l2-supercat-256", key, [1.0, 0.0, 0.0])
        db.execute(damage)
    scripted.embedded.clear()
    again = ask(fast_demo_config, capsys, BILLING_REWORDED)
    assert again["cache"]["original_run_id"] == first["run_id"]
    assert key in scripted.embedded  # embedded again from its question, and kept whole
    with closing(history()) as db:
        assert kept_vectors(db)[("static:wordllama-l2-supercat-256", key)] == bytes([127, 0, 0])


def test_an_exact_hit_never_loads_numpy(fast_demo_config: Path) -> None:
    script = (
        "import sys\n"
        "from tui.cli.main import main\n"
        f"args = ['--config', {str(fast_demo_config)!r}, 'run', {QUESTION!r}, '--json', '-q']\n"
        "main(args)\n"
        "main(args)\n"
        "print('numpy' in sys.modules, 'tokenizers' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False False"
    assert '"hit": true' in done.stdout


# -- an /embeddings endpoint --------------------------------------------------------------------

EMBED_KEY = "sk-embed-CANARY0123456789abcdefSECRET"


def endpoint_config(tmp_path: Path, server: WireServer) -> Path:
    return write(
        tmp_path / "endpoint.toml",
        FAST_DEMO + f'[providers.embedhost]\nkind = "openai"\nbase_url = "{server.openai_base_url}"\n'
        'api_key_env = "EMBED_TEST_KEY"\n'
        '[embedders.small]\nprovider = "embedhost"\nid = "text-embedding-3-small"\n'
        '[cache]\nembedder = "small"\n',
    )


def alike(model: str, inputs: list[str]) -> dict[str, Any]:
    """Every question the same vector: the hit check alone decides."""
    return embeddings_answer(model, [[0.6, 0.8, 0.0] for _ in inputs])


def test_an_embeddings_endpoint_serves_a_reworded_question_and_its_vectors_are_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_TEST_KEY", EMBED_KEY)
    with WireServer() as server:
        server.embeddings = alike
        config = endpoint_config(tmp_path, server)
        first = ask(config, capsys, BILLING)
        again = ask(config, capsys, BILLING_REWORDED)
        near = ask(config, capsys, BILLING_OLD)  # cosine 1.0, but the check refuses it
        sent = [r for r in server.requests if r.path == "/v1/embeddings"]
    assert again["cache"]["kind"] == "semantic" and again["cache"]["original_run_id"] == first["run_id"]
    assert near["cache"]["hit"] is False and near["cache"]["similar_run_id"] == first["run_id"]
    assert sent and all(r.body["model"] == "text-embedding-3-small" for r in sent)
    assert all(r.body["encoding_format"] == "float" for r in sent)
    assert sent[0].headers["authorization"] == f"Bearer {EMBED_KEY}"
    with closing(history()) as db:
        names = {embedder for embedder, _ in kept_vectors(db)}
    assert names == {"embedhost:text-embedding-3-small"}


def test_an_endpoint_is_asked_for_a_questions_vector_once_per_lookup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reworded question whose runs with the same key terms are refused by the check (judged),
    then the scan for a run to suggest: the question's vector, kept by the judging, is not asked
    for again."""
    monkeypatch.setenv("EMBED_TEST_KEY", EMBED_KEY)
    question = "Should we migrate GraphQL to REST?"
    with WireServer() as server:
        server.embeddings = alike
        config = endpoint_config(tmp_path, server)
        first = ask(config, capsys, "Should we migrate REST to GraphQL?")
        swapped = ask(config, capsys, question)  # the same terms, the other way round: refused
        inputs = [i for r in server.requests if r.path == "/v1/embeddings" for i in r.body["input"]]
    assert swapped["cache"]["hit"] is False and swapped["cache"]["similar_run_id"] == first["run_id"]
    assert inputs.count(question_key(question)) == 1


@pytest.mark.parametrize(
    "answer",
    [
        lambda model, inputs: embeddings_answer(model, [[0.6, 0.8]] * (len(inputs) + 1)),  # too many
        lambda model, inputs: embeddings_answer(model, [[1.0, 0.0]] + [[1.0]] * (len(inputs) - 1)),
        lambda model, inputs: embeddings_answer(model, [["0.6", "0.8"]] * len(inputs)),  # type: ignore[list-item]  # hostile on purpose
        lambda model, inputs: embeddings_answer(model, [[]] * len(inputs)),
        lambda model, inputs: {"data": "none"},
        lambda model, inputs: (401, {"error": {"message": f"bad key {EMBED_KEY}", "type": "auth"}}),
        lambda model, inputs: (500, {"error": {"message": "down", "type": "server_error"}}),
    ],
    ids=["count", "lengths", "strings", "empty", "shape", "401-echoing-the-key", "500"],
)
def test_a_hostile_or_failing_endpoint_leaves_exact_matches_working_and_says_so(
    answer: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_TEST_KEY", EMBED_KEY)
    with WireServer() as server:
        server.embeddings = answer
        config = endpoint_config(tmp_path, server)
        first = ask(config, capsys, BILLING)
        reworded = ask(config, capsys, BILLING_REWORDED)
        exact = ask(config, capsys, BILLING)
    assert reworded["cache"] == {"hit": False} and reworded["synthesis"]
    assert "cache: " in reworded["_stderr"] and "only exact matches" in reworded["_stderr"]
    assert EMBED_KEY not in reworded["_stderr"] and EMBED_KEY not in json.dumps(reworded)
    assert exact["cache"]["original_run_id"] == first["run_id"]


def test_an_embedder_whose_key_is_not_set_is_named_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with WireServer() as server:
        server.embeddings = alike
        config = endpoint_config(tmp_path, server)
        ask(config, capsys, BILLING)
        reworded = ask(config, capsys, BILLING_REWORDED)
        assert not [r for r in server.requests if r.path == "/v1/embeddings"]
    assert reworded["cache"] == {"hit": False}
    assert "EMBED_TEST_KEY is not set" in reworded["_stderr"]


def test_an_embedder_must_name_a_configured_entry(tmp_path: Path) -> None:
    wrong = write(tmp_path / "wrong.toml", '[cache]\nembedder = "text-embedding-3-small"\n')
    assert main(["--config", str(wrong), "config", "validate"]) == 2


async def test_the_dashboard_serves_a_reworded_question_after_comparing_it_off_the_loop(
    scripted: ScriptedEmbedder,
) -> None:
    app, provider = make_app(["alpha", "beta:against"])
    async with app.run_test() as pilot:
        await enter_question(pilot, BILLING)
        await settle(app, pilot)
        first = app.shown_result
        assert first is not None and not first.cache.hit
        asked = len(provider.requests)
        await enter_question(pilot, BILLING_REWORDED)
        await settle(app, pilot)  # the comparison runs in a worker's thread, then shows the hit
        hit = app.shown_result
        assert hit is not None and hit.cache.kind is CacheKind.SEMANTIC
        assert hit.cache.original_run_id == first.run_id and len(provider.requests) == asked
        assert "Cache hit (99% match" in app.synthesis.body.text
        await enter_question(pilot, BILLING_OLD)  # similar, refused by the check: asked, and suggested
        await settle(app, pilot)
        asked_again = app.shown_result
        assert asked_again is not None and not asked_again.cache.hit and len(provider.requests) > asked
        said = [n.message for n in app._notifications]
        assert any(f"A similar earlier run: {first.run_id}" in line for line in said), said
        assert scripted.on_main_thread and not any(scripted.on_main_thread)  # never on the event loop


# -- what a lookup reads, and where -------------------------------------------------------------


def test_every_pair_the_check_serves_has_the_same_signature() -> None:
    """Serving looks only among runs with the question's signature (an indexed lookup): that is
    right only if no pair with different signatures can pass the check."""
    from tui.question.check import decide
    from tui.question.terms import signature

    data = Path(__file__).resolve().parent.parent / "benchmarks" / "data"
    served = 0
    for name in ("cache_pairs.jsonl", "cache_adversarial.jsonl"):
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            pair = json.loads(line)
            if decide(pair["a"], pair["b"], 0.999).hit:
                served += 1
                assert signature(pair["a"]) == signature(pair["b"]), pair
    assert served > 100  # the set exercises it


def test_serving_compares_only_the_runs_with_the_same_key_terms(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    """No vector is kept, so whatever a lookup compares it must embed: serving embeds the question
    and the one run with its key terms, not the history."""
    from tui.cache import Lookup
    from tui.config.loading import load_settings
    from tui.session import Session

    billing = ask(fast_demo_config, capsys, BILLING)
    for other in (QUESTION, "Should we adopt Kafka for our events?", BILLING_OLD):
        ask(fast_demo_config, capsys, other)
    with closing(history()) as db:
        forget_vectors(db)
    settings = load_settings(fast_demo_config)
    store = RunStore(paths.history_file(""))
    try:
        scripted.embedded.clear()
        lookup = Lookup(settings, Session(settings).prepare(BILLING_REWORDED).request, store)
        hit = asyncio.run(lookup.serve())
        assert hit is not None and hit.cache.original_run_id == billing["run_id"]
        assert scripted.embedded == [question_key(BILLING_REWORDED), question_key(BILLING)]
        scripted.embedded.clear()
        lookup = Lookup(settings, Session(settings).prepare("Is Rust a good fit?").request, store)
        assert asyncio.run(lookup.serve()) is None
        assert scripted.embedded == []  # no run shares its terms: nothing to embed, numpy not needed
    finally:
        store.close()


def test_runs_keyed_by_an_earlier_reduction_of_the_question_are_keyed_again_and_served(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    """A history whose runs' question keys and signatures were made by an earlier version of
    what the cache makes of a question gets them made again when it is opened: its runs are found
    as runs recorded now are, exactly and reworded."""
    first = ask(fast_demo_config, capsys, BILLING)
    with history() as db:
        db.execute("UPDATE runs SET question_key = 'made otherwise', question_signature = 'made otherwise'")
        db.execute("UPDATE question_reduction SET version = 1")
    assert ask(fast_demo_config, capsys, BILLING)["cache"]["original_run_id"] == first["run_id"]
    again = ask(fast_demo_config, capsys, BILLING_REWORDED)["cache"]
    assert again["kind"] == "semantic" and again["original_run_id"] == first["run_id"]
    with history() as db:
        keyed = db.execute(
            "SELECT question_key, question_signature FROM runs WHERE id = ?", (first["run_id"],)
        )
        assert tuple(keyed.fetchone()) == (question_key(BILLING), signature(BILLING))


def test_two_key_terms_in_the_other_order_are_another_question() -> None:
    """With two key terms a moved clause and swapped ends look the same: never served."""
    from tui.question.check import decide

    assert not decide(
        "Should we use Postgres for analytics?", "Should we use analytics for Postgres?", 0.99
    ).hit
    assert (
        decide("Should we use Postgres for analytics?", "For analytics, should we use Postgres?", 0.99).hit
        is False
    )


def test_a_questions_vector_is_kept_when_it_is_looked_up_so_the_next_lookup_does_not_embed_it(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    ask(fast_demo_config, capsys, BILLING)
    ask(fast_demo_config, capsys, QUESTION)  # a miss: the scan embeds it and the billing question
    with closing(history()) as db:
        keys = {key for _, key in kept_vectors(db)}
    assert keys == {question_key(BILLING), question_key(QUESTION)}
    scripted.embedded.clear()
    ask(fast_demo_config, capsys, "Should we adopt Kafka for our events?")
    assert scripted.embedded == [question_key("Should we adopt Kafka for our events?")]  # only itself


def test_a_history_locked_by_a_writer_still_gets_its_suggestion_without_waiting_and_keeps_no_vector(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    """The scan reads on a connection of its own, which another's write lock does not stop (WAL);
    the vectors it embedded are kept only if the history is free at once: a locked one leaves them
    to be embedded again next time, and the suggestion neither waits for the lock nor fails."""
    from tui.cache import Lookup
    from tui.config.loading import load_settings
    from tui.history import similar
    from tui.session import Session

    billing = ask(fast_demo_config, capsys, BILLING)
    settings = load_settings(fast_demo_config)
    request = Session(settings).prepare(BILLING_OLD).request
    with closing(history()) as db:
        forget_vectors(db)
    store = RunStore(paths.history_file(""))
    locker = history()
    locker.execute("BEGIN IMMEDIATE")
    # SQLite's own wait would be the whole busy timeout: an hour here, so that a write which
    # waited for the lock could never finish this test.
    original, similar.BUSY_TIMEOUT_S = similar.BUSY_TIMEOUT_S, 3600.0
    try:
        lookup = Lookup(settings, request, store)
        suggested = asyncio.run(lookup.suggest())
    finally:
        similar.BUSY_TIMEOUT_S = original
        locker.rollback()
        locker.close()
    try:
        assert lookup.problem is None and suggested.similar_run_id == billing["run_id"]
        with closing(history()) as db:
            assert kept_vectors(db) == {}
        scripted.embedded.clear()
        assert asyncio.run(Lookup(settings, request, store).suggest()).similar_run_id == billing["run_id"]
        assert scripted.embedded  # embedded again, now that nothing holds the lock: and kept this time
        with closing(history()) as db:
            assert kept_vectors(db)
    finally:
        store.close()


def test_a_lookup_cancelled_while_it_compares_records_nothing(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    """A front end cancels the lookup (a newer question, a closed dashboard) while the embedder
    works in its thread: no hit is recorded, even once the embedder is done."""
    from tui.cache import Lookup
    from tui.config.loading import load_settings
    from tui.session import Session

    ask(fast_demo_config, capsys, BILLING)
    comparing, release = threading.Event(), threading.Event()
    embed = scripted.embed

    def held(texts: list[str]) -> list[list[float]]:
        comparing.set()
        release.wait(60)
        return embed(texts)

    scripted.embed = held  # type: ignore[method-assign]
    settings = load_settings(fast_demo_config)
    store = RunStore(paths.history_file(""))

    async def cancelled_while_comparing() -> None:
        lookup = Lookup(settings, Session(settings).prepare(BILLING_REWORDED).request, store)
        serving = asyncio.ensure_future(lookup.serve())
        assert await asyncio.to_thread(comparing.wait, 60)
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        release.set()  # the embedder's thread finishes; nothing is left to record its result

    try:
        asyncio.run(cancelled_while_comparing())  # its end waits for the embedder's thread
    finally:
        release.set()
        store.close()
    with history() as db:
        assert db.execute("SELECT count(*) FROM runs WHERE cache_of IS NOT NULL").fetchone()[0] == 0
    assert ask(fast_demo_config, capsys, BILLING_REWORDED)["cache"]["kind"] == "semantic"  # it would have


def test_an_embedder_that_failed_in_a_lookup_is_not_asked_again_for_its_suggestion(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    from tui.cache import Lookup
    from tui.config.loading import load_settings
    from tui.engine.types import CacheInfo
    from tui.session import Session

    ask(fast_demo_config, capsys, BILLING)
    calls: list[list[str]] = []

    def down(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        raise QuorumError("the embedding server is down")

    scripted.embed = down  # type: ignore[method-assign]
    settings = load_settings(fast_demo_config)
    store = RunStore(paths.history_file(""))
    try:
        lookup = Lookup(settings, Session(settings).prepare(BILLING_REWORDED).request, store)
        assert asyncio.run(lookup.serve()) is None
        assert lookup.problem == "the embedding server is down"
        assert asyncio.run(lookup.suggest()) == CacheInfo()
    finally:
        store.close()
    assert len(calls) == 1


async def test_a_hit_while_a_run_is_in_flight_cancels_it_and_is_shown() -> None:
    from tests.fakes import Script
    from tests.test_app import wait_for

    app, provider = make_app(["alpha", "beta:against"])
    async with app.run_test() as pilot:
        await enter_question(pilot, "Is Kafka right for us?")
        await settle(app, pilot)
        first = app.shown_result
        assert first is not None and first.status is RunStatus.SUCCESS
        provider.scripts["beta"] = Script(hang=True)
        await enter_question(pilot, "Should we shard the ledger?")
        await wait_for(pilot, lambda: app.running)  # not served: the cache's lookup started the run
        hanging = app.shown_result
        assert hanging is not None and hanging.run_id != first.run_id and app.running
        await enter_question(pilot, "is kafka right for us")
        await settle(app, pilot)
        hit = app.shown_result
        assert hit is not None and hit.cache.hit and hit.cache.original_run_id == first.run_id
        assert not app.running
        await wait_for(pilot, lambda: bool(provider.cancelled))  # the hanging call was cancelled
    store = RunStore(paths.history_file(""))
    try:
        assert store.load(hanging.run_id).status is RunStatus.CANCELLED
    finally:
        store.close()


async def test_mcp_consensus_names_a_similar_earlier_run_it_did_not_serve(tmp_path: Path) -> None:
    from tests.test_mcp import connected, demo_config

    async with connected(demo_config(tmp_path, FAST_SPEED)) as client:
        first = await client.call_tool("consensus", {"question": BILLING, "mode": "consult"})
        assert first.structured_content is not None
        near = await client.call_tool("consensus", {"question": BILLING_OLD, "mode": "consult"})
        report = near.structured_content
        assert report is not None and report["status"] == "success"
        assert report["cache"]["hit"] is False
        assert report["cache"]["similar_run_id"] == first.structured_content["run_id"]


@pytest.mark.parametrize(
    ("stored", "asked", "served"),
    [
        ("Should we go serverless?", "Should we use Go serverless?", False),  # the verb, the language
        ("Should we write new services in Go?", "Should we write new services in Golang?", True),
        ("Go serverless, or keep the VMs?", "Should we go serverless or keep the VMs?", True),  # verbs
    ],
)
def test_go_the_language_is_not_go_the_verb(stored: str, asked: str, served: bool) -> None:
    from tui.question.check import decide

    assert decide(stored, asked, 0.99).hit is served


@pytest.mark.parametrize(
    ("similarity", "words"),
    [
        (1.0, "99% match"),
        (0.99999, "99% match"),
        (0.947, "94% match"),
        (0.92, "92% match"),
        (None, "0% match"),
    ],
)
def test_a_match_is_rounded_down_and_never_reads_100_percent(similarity: float | None, words: str) -> None:
    """A semantic match is a question worded otherwise: shown as 100%, a refused one would read
    "100% match, not served"."""
    from tui.render.cache import match_percent

    assert match_percent(similarity) == words


def test_a_history_that_kept_float32_vectors_keeps_them_in_the_compact_set_and_suggests_from_them(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], scripted: ScriptedEmbedder
) -> None:
    """A history recorded when each question's vector was a float32 row of its own: opened, its
    vectors move to the embedder's set (one byte a dimension), a near question is suggested from
    them without the earlier question embedded again, and a vector that was damaged is embedded
    again by the scan."""
    import numpy as np

    from tui.history.schema import MIGRATIONS, SCHEMA_VERSION
    from tui.history.vector_format import encode

    before = next(number for number, script in enumerate(MIGRATIONS) if "CREATE TABLE vector_sets" in script)

    billing = ask(fast_demo_config, capsys, BILLING)
    ask(fast_demo_config, capsys, QUESTION)
    with closing(history()) as db:  # as the schema before the compact storage left it
        db.executescript(
            """
            DROP TABLE vector_blocks; DROP TABLE vector_slots; DROP TABLE vector_sets;
            DROP TRIGGER runs_fts_insert; DROP TRIGGER runs_fts_update; DROP TRIGGER runs_fts_delete;
            DROP TABLE runs_fts;
            ALTER TABLE calls DROP COLUMN vote_form; ALTER TABLE calls DROP COLUMN raw_reply;
            CREATE TABLE question_key_vectors (
                embedder TEXT NOT NULL, question_key TEXT NOT NULL, dim INTEGER NOT NULL,
                vector BLOB NOT NULL, PRIMARY KEY (embedder, question_key));
            """
        )
        db.executemany(
            "INSERT INTO question_key_vectors VALUES ('static:wordllama-l2-supercat-256', ?, 3, ?)",
            [
                (question_key(BILLING), np.asarray([0.6, 0.8, 0.0], "<f4").tobytes()),
                (question_key(QUESTION), b"\x00\x01\x02"),  # cut short
            ],
        )
        db.execute(f"PRAGMA user_version = {before}")
        db.commit()
    scripted.vectors = {"": [0.6, 0.8, 0.0]}
    scripted.embedded.clear()
    near = ask(fast_demo_config, capsys, BILLING_OLD)
    assert near["cache"]["hit"] is False and near["cache"]["similar_run_id"] == billing["run_id"]
    assert sorted(scripted.embedded) == sorted([question_key(BILLING_OLD), question_key(QUESTION)])
    with closing(history()) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        kept = kept_vectors(db)
    assert kept[("static:wordllama-l2-supercat-256", question_key(BILLING))] == encode([0.6, 0.8, 0.0])
    assert kept.keys() == {
        ("static:wordllama-l2-supercat-256", question_key(q)) for q in (BILLING, QUESTION, BILLING_OLD)
    }


def test_the_suggestion_reads_each_block_of_vectors_once_and_the_runs_of_the_few_most_alike(
    fast_demo_config: Path,
    capsys: pytest.CaptureFixture[str],
    scripted: ScriptedEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over thousands of kept vectors, a suggestion reads each block of them once, the question
    keys of only the slots alike enough to suggest, the runs of only those questions, and embeds
    only the question asked."""
    from tui.history import similar, vectors
    from tui.history.schema import write_transaction
    from tui.history.vector_format import encode

    monkeypatch.setattr(vectors, "BLOCK_BYTES", 3 * 256)  # 256 vectors to a block
    billing = ask(fast_demo_config, capsys, BILLING)
    fillers = 5_000
    unlike = encode([0.0, 0.0, 1.0])
    assert unlike is not None
    with closing(history()) as db:
        db.isolation_level = None
        top = db.execute("SELECT max(rowid) FROM runs").fetchone()[0]
        with write_transaction(db):
            vectors.keep_vectors(
                db,
                scripted.name,
                [(f"another question {n}", unlike) for n in range(fillers // 2)]
                + [(question_key(BILLING), bytes(encode([1.0, 0.0, 0.0]) or b""))]
                + [(f"yet another question {n}", unlike) for n in range(fillers // 2)],
                examined=(1, top),  # every run looked at: none waits to be embedded
            )
    read: dict[str, list[Any]] = {"blocks": [], "slots": [], "keys": []}

    class Counting(similar.ScanConnection):
        def blocks(self, vector_set: vectors.VectorSet) -> Any:
            for block, data in super().blocks(vector_set):
                read["blocks"].append(block)
                yield block, data

        def keys_at(self, vector_set: vectors.VectorSet, slots: Any) -> dict[int, str]:
            read["slots"] += list(slots)
            return super().keys_at(vector_set, slots)

        def newest_runs(self, scope: similar.Scope, keys: Any) -> dict[str, str]:
            keys = list(keys)
            read["keys"] += keys
            return super().newest_runs(scope, keys)

    monkeypatch.setattr(similar, "ScanConnection", Counting)
    scripted.vectors = {"": [1.0, 0.0, 0.0]}
    scripted.embedded.clear()
    near = ask(fast_demo_config, capsys, BILLING_OLD)
    assert near["cache"]["similar_run_id"] == billing["run_id"]
    assert read["blocks"] == list(range((fillers + 1 + 1 + 255) // 256))  # each once, in order
    # the billing question's slot and the question's own (kept on the way), alone above the floor
    assert sorted(read["slots"]) == [fillers // 2, fillers + 1]
    assert read["keys"] == [question_key(BILLING)]
    assert scripted.embedded == [question_key(BILLING_OLD)]
