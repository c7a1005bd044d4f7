"""`quorum run --mode debate|council` end to end on the offline demo panel, and wherever a mode
appears: the progress lines for each stage, the report's debate rounds and council ballots and
Borda table, the JSON, the history and its replay, MCP's `mode`, the cache's scope."""

from __future__ import annotations

import json
import re
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import FAST_DEMO, write
from tests.fakes import lookup, member
from tui.ask import Ask
from tui.cli.main import main
from tui.config import paths
from tui.config.loading import load_settings
from tui.engine import events as ev
from tui.engine.debate import DEBATE_COUNT
from tui.engine.orchestrator import run_panel
from tui.engine.types import DEBATE_ROUNDS, AnswerSpec, Mode, Origin, Outcome, Phase, RunRequest, RunResult
from tui.errors import EXIT_OK, EXIT_USAGE
from tui.eval.datasets import arithmetic
from tui.history.replay import replay_events
from tui.history.store import RunStore
from tui.mcp.runs import build_request
from tui.mcp.server import QuorumMCP
from tui.providers import demo_arithmetic as demo
from tui.providers.demo import DemoProvider, herds
from tui.render.report import render_markdown

PANEL = ["-m", "demo-atlas", "-m", "demo-bolt", "-m", "demo-cirrus"]


def atlas_alone_wrong(herding: bool) -> tuple[str, int, int]:
    """An item atlas gets wrong and bolt and cirrus right, on which atlas goes over to them in
    round 2 (or keeps its own): its question, its value and atlas's first answer."""
    for sample in arithmetic(count=300):
        e = str(sample.metadata["expression"])
        right, atlas = demo.evaluate(e), demo.answer("atlas", e)
        if (
            atlas != right == demo.answer("bolt", e) == demo.answer("cirrus", e)
            and herds("atlas", 0, 2, e) is herding
        ):
            return sample.input, right, atlas
    raise AssertionError("no such item")


def atlas_order(ballots: list[dict[str, Any]]) -> tuple[str, str]:
    """The names atlas's ballot (the first) ranked, best first."""
    names = {b["member_index"]: b["name"] for b in ballots}
    first, second = ballots[0]["ranking"]
    return names[first], names[second]


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "run", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    """`quorum run ... --json` that succeeds: its JSON, and what it printed to stderr."""
    code, out, err = run(config, capsys, *args, "--json")
    assert code == EXIT_OK, err
    return json.loads(out), err


# --------------------------------------------------------------------------------------------
# debate


def test_a_debate_prints_its_rounds_agreement_and_flips_and_counts_the_last_round(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, right, wrong = atlas_alone_wrong(herding=True)
    data, err = run_json(
        fast_demo_config, capsys, question, "--mode", "debate", "--answer", "numeric", *PANEL
    )
    assert (data["mode"], data["outcome"], data["synthesizer"]) == ("debate", "unanimous", DEBATE_COUNT)
    assert data["max_rounds"] == DEBATE_ROUNDS == data["rounds_used"]  # the debate's own default
    debate = data["debate"]
    assert [(r["number"], r["agreeing"], r["answered"], r["agreed"]) for r in debate["rounds"]] == [
        (1, 2, 3, False),
        (2, 3, 3, True),
    ]
    assert debate["rounds"][1]["flips"] == [
        {"member_index": 0, "name": "demo-atlas", "before": str(wrong), "after": str(right), "to_shown": True}
    ]
    assert debate["flips"] == 1 and debate["flips_to_shown"] == 1
    shown = data["rounds"][1]["shown"]
    assert [(s["name"], sorted(s["seats"])) for s in shown] == [
        ("demo-atlas", [1, 2]),
        ("demo-bolt", [0, 2]),
        ("demo-cirrus", [0, 1]),
    ]
    assert data["answers"]["final"]["key"] == str(right)
    assert data["answers"]["round"] == 2  # the seats' answers are those of the round counted
    assert [seat["key"] for seat in data["answers"]["seats"]] == [str(right)] * 3
    assert RunResult.model_validate(data).rounds[1].shown[0].seats == shown[0]["seats"]
    assert "round 2/2" in err
    assert "demo-atlas (neutral, demo) waiting (revision)" in err
    assert "round 1: 2 of 3 agree" in err
    flip = f"1 flip: demo-atlas {wrong} → {right} (toward what it was shown)"
    assert f"round 2: 3 of 3 agree → agreed on {right} · {flip}" in err
    assert "round 2: answers counted → unanimous · 3 of 3 voted" in err
    assert "next round" not in err  # round 1's decision to go on is said by the round read


def test_the_debate_report_shows_each_round_its_answers_and_what_each_member_was_shown(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, right, wrong = atlas_alone_wrong(herding=False)
    code, out, _ = run(fast_demo_config, capsys, question, "--mode", "debate", "--answer", "numeric", *PANEL)
    assert code == EXIT_OK
    assert "**Mode:** debate · **Outcome:** majority · 3 of 3 voted" in out  # atlas kept its answer
    assert "## Debate" in out
    assert "## Answers (round 2, the debate's last)" in out
    assert "| Member | Round 1 | Round 2 |" in out
    assert f"| demo-atlas (demo) | {wrong} | {wrong} |" in out
    assert "- Round 2: 2 of 3 agree · no flips" in out
    assert "### Round 2 answers" in out
    assert "#### demo-atlas · shown agent 1 demo-" in out
    assert f"**Final answer:** {right} (plurality of round 2: 2 of 3 seats)" in out


def test_an_open_debate_on_a_sum_reports_the_demo_members_values_not_unclear(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Typed in the dashboard (no answer shape), a sum's debate is read by leanings the demo's
    worked sums do not give: the rounds say none was read, and the report still names the values."""
    data, err = run_json(
        fast_demo_config, capsys, "What is the result of 3+4*5+6-7*2?", "--mode", "debate", *PANEL
    )
    assert "round 1: none of 3 read" in err and "0 of 3 agree" not in err
    assert "unclear" not in data["synthesis"]
    # Three different sums: no majority, each value with its seat (never "Majority view (1 of 3").
    assert "No majority view among the 3:" in data["synthesis"] and "Majority view" not in data["synthesis"]
    assert len(re.findall(r"^- -?\d+ \(Seat \d\)$", data["synthesis"], re.MULTILINE)) == 3


def test_rounds_given_are_the_debates_rounds_and_the_default_is_two(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        fast_demo_config, capsys, "Shard?", "--mode", "debate", "--rounds", "3", *PANEL, "--json"
    )
    assert code == EXIT_OK and "no effect" not in err
    assert json.loads(out)["max_rounds"] == 3
    code, out, _ = run(fast_demo_config, capsys, "Shard?", "--mode", "debate", *PANEL, "--json", "--fresh")
    assert json.loads(out)["max_rounds"] == DEBATE_ROUNDS


def test_a_configured_round_limit_below_two_caps_the_debate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "one.toml", FAST_DEMO + "[run]\nmax_rounds = 1\n")
    data, _ = run_json(config, capsys, "Shard?", "--mode", "debate", *PANEL)
    assert (data["max_rounds"], data["rounds_used"]) == (1, 1)


def test_an_open_debate_ends_with_the_synthesizers_report(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, err = run_json(fast_demo_config, capsys, "Shard?", "--mode", "debate", *PANEL)
    assert data["outcome"] is None and "Majority view" in data["synthesis"]
    assert data["synthesis"].startswith("[demo synthesis] The debate on:")  # not "The vote on"
    assert "demo-atlas (synthesizer) waiting (synthesis)" in err
    assert "the synthesis rests on 3 of 3 answered" in err


# --------------------------------------------------------------------------------------------
# council


def test_a_council_prints_each_ballot_and_the_borda_count_and_the_chairmans_answer(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, right, _ = atlas_alone_wrong(herding=True)
    data, err = run_json(
        fast_demo_config, capsys, question, "--mode", "council", "--answer", "numeric", *PANEL
    )
    assert (data["mode"], data["outcome"], data["synthesizer"]) == ("council", "ranked", "demo-atlas")
    ballots = data["rounds"][0]["ballots"]
    assert [b["name"] for b in ballots] == ["demo-atlas", "demo-bolt", "demo-cirrus"]
    assert all(b["member_index"] not in b["shown"] for b in ballots)
    council = data["council"]
    # bolt and cirrus rank each other first (the same answer as their own), atlas last; atlas's
    # ballot, which agrees with neither, decides which of the two is first.
    top, second = atlas_order(ballots)
    assert [r["name"] for r in council["ranking"]] == [top, second, "demo-atlas"]
    assert [r["points_a_ballot"] for r in council["ranking"]] == [1, 0.5, 0]
    assert (
        council["ballots"] == 3
        and council["abstained"] == 0
        and council["tie_rule"] == "first in panel order"
    )
    assert [p["label"] for p in council["position_bias"]] == ["A", "B"]
    assert 0 <= council["agree_with_aggregate"] <= 3
    assert data["answers"]["final"]["key"] == str(right)
    assert data["voters"] == 3
    assert RunResult.model_validate(data).rounds[0].ballots[0].shown == ballots[0]["shown"]
    assert "demo-atlas (neutral, demo) waiting (ballot)" in err
    assert (
        "ballot demo-atlas: demo-bolt > demo-cirrus (shown" in err
        or "ballot demo-atlas: demo-cirrus > demo-bolt (shown" in err
    )
    assert f"Borda: {top} 1 · {second} 0.5 · demo-atlas 0 (points a ballot, 3 readable ballots)" in err
    assert "demo-atlas (synthesizer) waiting (chairman)" in err
    assert "round 1: ballots counted → ranked · 3 of 3 voted" in err


def test_the_council_report_shows_the_ballots_and_the_borda_table(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, right, _ = atlas_alone_wrong(herding=True)
    data, _ = run_json(fast_demo_config, capsys, question, "--mode", "council", "--answer", "numeric", *PANEL)
    top, _ = atlas_order(data["rounds"][0]["ballots"])
    assert main(["--config", str(fast_demo_config), "show", data["run_id"]]) == EXIT_OK
    out = capsys.readouterr().out
    assert "**Mode:** council · **Outcome:** ranked · 3 of 3 voted" in out
    assert "## Ballots" in out and "| Reviewer | Shown | Ranking |" in out
    assert "## Ranking (Borda count)" in out
    assert "| Place | Member | Points | Ballots | Points a ballot | Firsts |" in out
    assert f"| 1 | {top} (demo) | 2 | 2 | 1 | 2 |" in out
    assert "| 3 | demo-atlas (demo) | 0 | 2 | 0 | 0 |" in out
    assert "**Agreement with the ranking:** 3 of 3 readable ballots." in out
    assert "**Position bias** (mean rank by the place an answer was shown in, 1 is best):" in out
    assert f"**Final answer:** {right} (read from the chairman's answer: answer line)" in out
    assert "## Decision (ranked)" in out and "_by demo-atlas_" in out
    assert "- **Chairman:** demo-atlas, then demo-bolt, then demo-cirrus" in out


def test_a_council_of_two_says_it_asked_no_ballots(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        fast_demo_config, capsys, "Shard?", "--mode", "council", "-m", "demo-atlas", "-m", "demo-bolt"
    )
    assert code == EXIT_OK, err
    assert "**Outcome:** council · 2 of 2 answered" in out
    assert "a ranking of one ranks nothing, so no ballots are asked" in out
    assert "a ranking of one ranks nothing, so no ballots are asked" in err


def test_rounds_in_council_mode_are_said_to_have_no_effect(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(fast_demo_config, capsys, "Shard?", "--mode", "council", "--rounds", "2", *PANEL)
    assert code == EXIT_OK and "--rounds 2 has no effect in council mode" in err


def test_the_modes_offered_are_the_modes_there_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "x", "--mode", "parliament"])
    assert exited.value.code == EXIT_USAGE
    assert "'consult', 'deliberate', 'vote', 'debate', 'council'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# history, replay, cache


@pytest.mark.parametrize("mode", ["debate", "council"])
def test_a_recorded_run_is_shown_and_replayed_as_it_was(
    mode: str, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question, _, _ = atlas_alone_wrong(herding=True)
    live = json.loads(
        run(fast_demo_config, capsys, question, "--mode", mode, "--answer", "numeric", *PANEL, "--json")[1]
    )
    assert main(["--config", str(fast_demo_config), "show", live["run_id"], "--json"]) == EXIT_OK
    recorded = json.loads(capsys.readouterr().out)
    for key in ("outcome", "synthesis", "answers", "voters", "missing", "rounds", mode):
        assert recorded[key] == live[key], key
    with closing(RunStore(paths.history_file(""))) as store:
        result = store.load(live["run_id"])
    events = replay_events(result)
    if mode == "debate":
        assert [e.number for e in events if isinstance(e, ev.RoundStarted)] == [1, 2]
        assert [e.round for e in events if isinstance(e, ev.AnswersShown)] == [2]
        assert [e.reading.number for e in events if isinstance(e, ev.DebateRoundRead)] == [1, 2]
        assert "## Debate" in render_markdown(result)
    else:
        assert len([e for e in events if isinstance(e, ev.BallotCast)]) == 3
        assert len([e for e in events if isinstance(e, ev.RankingMade)]) == 1
        assert "## Ranking (Borda count)" in render_markdown(result)
    decided = [e for e in events if isinstance(e, ev.RoundDecided)]
    assert decided[-1].round.outcome is Outcome(live["outcome"])


STAGES = (
    ev.RoundStarted,
    ev.AnswersShown,
    ev.DebateRoundRead,
    ev.BallotCast,
    ev.RankingMade,
    ev.RoundDecided,
    ev.SynthesisFinished,
    ev.RunFinished,
)


def stages(events: list[ev.Event]) -> list[ev.Event]:
    """The events that mark a run's stages (not its calls' text), in order."""
    return [e for e in events if isinstance(e, STAGES)]


@pytest.mark.parametrize("mode", [Mode.DEBATE, Mode.COUNCIL])
async def test_a_replay_brings_back_every_stage_as_the_live_run_had_it(mode: Mode) -> None:
    question, _, _ = atlas_alone_wrong(herding=True)
    request = RunRequest(
        question=question,
        mode=mode,
        members=[member(name) for name in ("atlas", "bolt", "cirrus")],
        synthesizers=[member("delta")],
        answer=AnswerSpec.parse("numeric"),
        max_rounds=3,
    )
    live: list[ev.Event] = []
    result = await run_panel(request, lookup(DemoProvider(speed=0)), live.append)
    assert stages(replay_events(result)) == stages(live)
    # ... and the council's ballots come before its chairman is asked, as they did live
    if mode is Mode.COUNCIL:
        replayed = replay_events(result)
        chair = next(
            i for i, e in enumerate(replayed) if isinstance(e, ev.CallStarted) and e.phase is Phase.CHAIR
        )
        ranked = next(i for i, e in enumerate(replayed) if isinstance(e, ev.RankingMade))
        assert ranked < chair


def test_a_debate_is_not_served_to_a_council_nor_a_council_to_a_debate(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asked = ["--answer", "numeric", *PANEL, "--json"]
    assert (
        run(fast_demo_config, capsys, "What is the result of 3+4*5?", "--mode", "debate", *asked)[0]
        == EXIT_OK
    )
    council = json.loads(
        run(fast_demo_config, capsys, "What is the result of 3+4*5?", "--mode", "council", *asked)[1]
    )
    assert council["cache"] == {"hit": False}
    again = json.loads(
        run(fast_demo_config, capsys, "What is the result of 3+4*5?", "--mode", "debate", *asked)[1]
    )
    assert again["cache"]["hit"] is True and again["mode"] == "debate"


# --------------------------------------------------------------------------------------------
# MCP


async def test_mcp_builds_a_debate_with_its_default_rounds_and_a_council(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "fast.toml", FAST_DEMO))
    debate = await build_request(settings, None, Ask(question="Two?", origin=Origin.MCP, mode=Mode.DEBATE))
    assert debate.mode is Mode.DEBATE and debate.max_rounds == DEBATE_ROUNDS
    longer = await build_request(
        settings, None, Ask(question="Two?", origin=Origin.MCP, mode=Mode.DEBATE, max_rounds=4)
    )
    assert longer.max_rounds == 4 and not any("no effect" in note for note in longer.notes)
    council = await build_request(
        settings, None, Ask(question="Two?", origin=Origin.MCP, mode=Mode.COUNCIL, max_rounds=2)
    )
    assert any("max_rounds 2 has no effect in council mode" in note for note in council.notes)


@pytest.mark.parametrize("mode", ["debate", "council"])
async def test_mcp_runs_a_debate_and_a_council(mode: str, tmp_path: Path) -> None:
    question, right, _ = atlas_alone_wrong(herding=True)
    app = QuorumMCP(load_settings(write(tmp_path / "fast.toml", FAST_DEMO)))
    panel = [{"model": f"demo-{name}"} for name in ("atlas", "bolt", "cirrus")]
    async with Client(app.server, mode="legacy") as client:
        result = await client.call_tool(
            "consensus", {"question": question, "mode": mode, "answer": "numeric", "models": panel}
        )
    data: dict[str, Any] = result.structured_content or {}
    assert not result.is_error and data["mode"] == mode
    assert f"ANSWER: {right}" in (data["synthesis"] or "")
    text = "".join(getattr(block, "text", "") for block in result.content)
    if mode == "debate":
        assert [r["agreed"] for r in data["debate"]] == [False, True]
        wrong = str(demo.answer("atlas", str(demo.expression_in(question))))
        assert data["debate"][1]["flips"] == [
            {"model": "demo-atlas", "seat": 1, "before": wrong, "after": str(right), "to_shown": True}
        ]
        assert "round 2 of 2" in text
        assert (
            f"**Debate round 2:** 3 of 3 agree → agreed on {right} · 1 flip: demo-atlas {wrong} → {right}"
            in text
        )
    else:
        council = data["council"]
        assert data["outcome"] == "ranked" and (council["ballots"], council["abstained"]) == (3, 0)
        atlas = council["cast"][0]
        assert (atlas["model"], atlas["seat"], sorted(atlas["shown"])) == ("demo-atlas", 1, [2, 3])
        top = council["ranking"][0]
        assert top["seat"] == atlas["ranking"][0] and top["points_a_ballot"] == 1
        assert len(council["position_bias"]) == 2 and council["agree_with_aggregate"] == 3
        assert f"**Borda:** {top['model']} 1 · " in text
        assert f"  - demo-atlas: {atlas['said']}" in text
