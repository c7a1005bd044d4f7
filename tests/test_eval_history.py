"""Runs `quorum eval` makes are recorded in the history, marked as eval runs, and kept out of
every list of runs unless asked for: `quorum history` (`--eval` lists them too), F2's list, the
count beside it, MCP's `history`, the prompt's recalled questions and the runs `quorum watch`
follows. Each one can still be opened by its id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tui.cli.main import main
from tui.config.loading import load_settings
from tui.engine.types import Member, Origin, RunRequest, RunResult, RunStatus
from tui.history.store import RunStore
from tui.session import open_store


def record(store: RunStore, run_id: str, question: str, origin: Origin, *, finished: bool = True) -> None:
    member = Member(alias="demo-atlas", model_id="atlas", provider="demo", demo=True)
    request = RunRequest(question=question, members=[member], synthesizers=[member], origin=origin)
    result = RunResult.begin(request, run_id)
    store.insert_run(request, result, config={}, parent_run_id=None)
    if finished:
        result.status, result.finished_at = RunStatus.SUCCESS, datetime.now(UTC)
        store.finish_run(result)


@pytest.fixture
def history(fast_demo_config: Path) -> RunStore:
    store = open_store(load_settings(str(fast_demo_config)))
    assert store is not None
    record(store, "asked0000001", "Shard the users table?", Origin.CLI)
    record(store, "measured0001", "What is the result of 1+2*3+4-5*6?", Origin.EVAL)
    record(store, "measured0002", "What is the result of 2+2*3+4-5*6?", Origin.EVAL, finished=False)
    return store


def test_eval_runs_are_left_out_of_the_history_list_and_its_count_unless_asked(history: RunStore) -> None:
    try:
        assert [run.id for run in history.list_runs()] == ["asked0000001"]
        assert history.count() == 1
        listed = {run.id: run.origin for run in history.list_runs(eval_runs=True)}
        assert listed == {
            "asked0000001": Origin.CLI,
            "measured0001": Origin.EVAL,
            "measured0002": Origin.EVAL,
        }
        assert history.count(eval_runs=True) == 3
        assert [run.id for run in history.list_runs(text="result of")] == []
        # A running eval run is not one for `quorum watch` (or F2's follow) to jump to.
        assert [run.id for run in history.running_runs()] == []
        assert history.load("measured0001").origin is Origin.EVAL
    finally:
        history.close()


def test_quorum_history_lists_eval_runs_marked_only_with_eval(
    history: RunStore, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history.close()
    config = ["--config", str(fast_demo_config)]
    assert main([*config, "history"]) == 0
    out = capsys.readouterr().out
    assert "asked0000001" in out and "measured" not in out
    assert main([*config, "history", "--eval"]) == 0
    lines = capsys.readouterr().out.splitlines()
    measured = next(line for line in lines if line.startswith("measured0001"))
    assert "[eval] What is the result of 1+2*3+4-5*6?" in measured
    assert main([*config, "history", "--eval", "--json"]) == 0
    origins = {run["run_id"]: run["origin"] for run in json.loads(capsys.readouterr().out)}
    assert origins["measured0001"] == "eval" and origins["asked0000001"] == "cli"
    assert main([*config, "show", "measured0001", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["origin"] == "eval"


async def test_mcp_history_leaves_eval_runs_out(history: RunStore, fast_demo_config: Path) -> None:
    from mcp import Client

    from tui.mcp.server import QuorumMCP

    history.close()
    server = QuorumMCP(load_settings(str(fast_demo_config)))
    async with Client(server.server, mode="legacy") as client:
        answer = await client.call_tool("history", {})
    ids = [run["run_id"] for run in (answer.structured_content or {})["runs"]]
    assert ids == ["asked0000001"]
