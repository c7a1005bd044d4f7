"""`quorum run --mode vote` end to end on the offline demo panel, and wherever a mode appears: the
answer shape asked for (`--answer`, MCP `answer`), the progress lines, the report and the JSON
with every seat's answer and the count, the history and its replay, MCP's `mode`, the cache."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import FAST_DEMO, write
from tui.ask import Ask
from tui.cli.main import main
from tui.config import paths
from tui.config.loading import load_settings
from tui.engine import events as ev
from tui.engine.types import AnswerKind, AnswerSpec, Mode, Origin, Outcome, RunResult
from tui.engine.vote_count import VOTE_COUNT
from tui.errors import EXIT_OK, EXIT_USAGE
from tui.eval.datasets import arithmetic
from tui.history.replay import replay_events
from tui.history.store import RunStore
from tui.mcp.runs import build_request
from tui.mcp.server import QuorumMCP
from tui.providers import demo_arithmetic as demo
from tui.render.report import render_markdown

PANEL = ["-m", "demo-atlas", "-m", "demo-bolt", "-m", "demo-cirrus"]
VOTE = ["--mode", "vote", "--answer", "numeric", *PANEL]


def atlas_alone_wrong() -> tuple[str, int, int]:
    """A generated item that atlas gets wrong and bolt and cirrus right: its question, its value
    and atlas's answer."""
    for sample in arithmetic(count=200):
        e = str(sample.metadata["expression"])
        right = demo.evaluate(e)
        if demo.answer("atlas", e) != right == demo.answer("bolt", e) == demo.answer("cirrus", e):
            return sample.input, right, demo.answer("atlas", e)
    raise AssertionError("no such item")


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "run", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_vote_on_a_known_answer_prints_every_seats_answer_and_the_plurality(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, right, wrong = atlas_alone_wrong()
    code, out, err = run(fast_demo_config, capsys, question, *VOTE, "--json")
    assert code == EXIT_OK, err
    data = json.loads(out)
    assert (data["mode"], data["outcome"], data["synthesizer"]) == ("vote", "majority", VOTE_COUNT)
    assert data["asked"]["answer"] == {"kind": "numeric", "pattern": None, "choices": None}
    answers = data["answers"]
    assert answers["shape"] == "numeric"
    assert [(s["name"], s["key"]) for s in answers["seats"]] == [
        ("demo-atlas", str(wrong)),
        ("demo-bolt", str(right)),
        ("demo-cirrus", str(right)),
    ]
    assert answers["final"] == {"answer": str(right), "key": str(right), "rule": "plurality", "failure": None}
    count = answers["count"]
    assert (count["outcome"], count["votes"], count["tied"], count["tie_rule"]) == (
        "majority",
        2,
        False,
        "first in panel order",
    )
    assert (count["readable"], count["seats"], count["needed"]) == (3, 3, 2)
    assert data["voters"] == 3 and data["missing"] == []
    # What the JSON adds is derived: read back, it is the run.
    assert RunResult.model_validate_json(out).synthesis == data["synthesis"]
    # The progress says what each seat answered and what the count decided.
    assert "demo-atlas (neutral, demo) done" in err and f"· answered {wrong}" in err
    assert "answers counted → majority · 3 of 3 voted" in err
    assert "counted in the numeric answer shape" in err


def test_the_report_shows_the_answers_the_count_and_the_decision(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, right, wrong = atlas_alone_wrong()
    code, out, _ = run(fast_demo_config, capsys, question, *VOTE)
    assert code == EXIT_OK
    assert "**Mode:** vote · **Outcome:** majority · 3 of 3 voted" in out
    assert "- **Answer shape:** numeric" in out
    assert "## Answers" in out
    assert f"| demo-atlas (demo) | {wrong} | answer line |" in out
    assert f"| demo-bolt (demo) | {right} | answer line |" in out
    assert f"**Final answer:** {right} (plurality: 2 of 3 seats)" in out
    assert "## Decision (majority)" in out and f"_by {VOTE_COUNT}_" in out
    assert f"> ANSWER: {right}" in out


def test_a_bad_answer_shape_is_one_line_and_exit_2(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(fast_demo_config, capsys, "Two?", "--mode", "vote", "--answer", "fuzzy")
    assert code == EXIT_USAGE
    assert err.strip().splitlines()[-1] == (
        "quorum: --answer: unknown answer shape 'fuzzy': "
        "use numeric, choice, exact, includes or regex=PATTERN"
    )


def test_under_an_answer_shape_the_default_panel_sits_without_stances_and_a_given_stance_is_kept(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, _, _ = atlas_alone_wrong()
    code, out, _ = run(fast_demo_config, capsys, question, "--mode", "vote", "--answer", "numeric", "--json")
    assert code == EXIT_OK
    # The demo panel is for, against, neutral; those stances were Quorum's choice, not the user's.
    assert [m["stance"] for m in json.loads(out)["members"]] == ["neutral"] * 3
    code, out, _ = run(
        fast_demo_config,
        capsys,
        question,
        "--answer",
        "numeric",
        "-m",
        "demo-atlas:for",
        "-m",
        "demo-bolt",
        "--json",
    )
    assert [m["stance"] for m in json.loads(out)["members"]] == ["for", "neutral"]


def test_a_vote_on_an_open_question_reports_the_majority_view(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(fast_demo_config, capsys, "Shard?", "--mode", "vote", *PANEL, "--json")
    assert code == EXIT_OK, err
    data = json.loads(out)
    assert data["outcome"] is None and data["synthesizer"] == "demo-atlas" and "answers" not in data
    assert "Majority view (" in data["synthesis"]  # the demo reports the leaning most answers gave
    assert data["synthesis"].startswith("[demo synthesis] The vote on:")
    assert [c["phase"] for c in data["calls"]] == ["position"] * 3 + ["draft"]
    assert "demo-atlas (synthesizer) waiting (synthesis)" in err
    assert "the synthesis rests on 3 of 3 answered" in err
    code, out, _ = run(fast_demo_config, capsys, "Shard?", "--mode", "vote", *PANEL)
    assert "**Outcome:** vote · 3 of 3 answered" in out


def test_rounds_in_vote_mode_are_said_to_have_no_effect(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(fast_demo_config, capsys, "Shard?", "--mode", "vote", "--rounds", "2", *PANEL)
    assert code == EXIT_OK and "--rounds 2 has no effect in vote mode" in err


def test_a_recorded_vote_is_shown_and_replayed_as_it_was_decided(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, _, _ = atlas_alone_wrong()
    out = run(fast_demo_config, capsys, question, *VOTE, "--json")[1]
    live = json.loads(out)
    run(fast_demo_config, capsys, "x")  # a later run leaves the first as it was
    assert main(["--config", str(fast_demo_config), "show", live["run_id"], "--json"]) == EXIT_OK
    recorded = json.loads(capsys.readouterr().out)
    for key in ("outcome", "synthesis", "answers", "voters", "missing", "asked"):
        assert recorded[key] == live[key], key
    with closing(RunStore(paths.history_file(""))) as store:
        result = store.load(live["run_id"])
    events = replay_events(result)
    decided = [e for e in events if isinstance(e, ev.RoundDecided)]
    assert [(e.round.outcome, e.standing.voters) for e in decided] == [(Outcome.MAJORITY, 3)]
    finished = [e for e in events if isinstance(e, ev.SynthesisFinished)]
    assert [(e.by, e.outcome) for e in finished] == [(VOTE_COUNT, Outcome.MAJORITY)]
    assert "## Answers" in render_markdown(result)


def test_a_question_asked_in_an_answer_shape_is_not_served_to_one_asked_without(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, _, _ = atlas_alone_wrong()
    shaped = ["--mode", "vote", *PANEL, "--json"]
    assert run(fast_demo_config, capsys, question, "--answer", "numeric", *shaped)[0] == EXIT_OK
    out = run(fast_demo_config, capsys, question, *shaped)[1]
    assert json.loads(out)["cache"] == {"hit": False}
    out = run(fast_demo_config, capsys, question, "--answer", "numeric", *shaped)[1]
    assert json.loads(out)["cache"]["hit"] is True


# --------------------------------------------------------------------------------------------
# MCP


async def test_mcp_builds_a_vote_with_its_answer_shape(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "fast.toml", FAST_DEMO))
    ask = Ask(question="Two?", origin=Origin.MCP, mode=Mode.VOTE, answer=AnswerSpec.parse("choice"))
    request = await build_request(settings, None, ask)
    assert request.mode is Mode.VOTE and request.answer == AnswerSpec(kind=AnswerKind.CHOICE)


async def test_mcp_runs_a_vote(tmp_path: Path) -> None:
    question, right, _ = atlas_alone_wrong()
    app = QuorumMCP(load_settings(write(tmp_path / "fast.toml", FAST_DEMO)))
    async with Client(app.server, mode="legacy") as client:
        result = await client.call_tool(
            "consensus", {"question": question, "mode": "vote", "answer": "numeric", "models": _mcp_panel()}
        )
        refused = await client.call_tool("consensus", {"question": question, "mode": "vote", "answer": "x"})
    data: dict[str, Any] = result.structured_content or {}
    assert not result.is_error and data["mode"] == "vote" and data["outcome"] == "majority"
    assert (data["synthesis"] or "").startswith(f"ANSWER: {right}")
    assert refused.is_error and "answer: unknown answer shape 'x'" in str(refused.content)


def _mcp_panel() -> list[dict[str, str]]:
    return [{"model": f"demo-{name}"} for name in ("atlas", "bolt", "cirrus")]
