"""`quorum mcp` in process: the SDK's own client talks JSON-RPC to the real server over memory
streams. The tools and their schemas, a demo deliberation with its progress, runs that outlive a
call (`running`, then `consensus_result`), follow-ups, cancellation by the client and by shutdown,
every error a client can cause (in the CLI's words, never a traceback), and no key in any output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import anyio
import jsonschema  # type: ignore[import-untyped]
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from tests import held_run
from tests.conftest import FAST_DEMO, FAST_SPEED, write
from tests.wire_server import Scenario, WireServer
from tui.config import paths
from tui.config.loading import load_settings
from tui.engine.types import CallStatus, Mode, Origin, RunStatus
from tui.history.replay import replay_events
from tui.history.store import RunStore
from tui.mcp.runs import Milestones
from tui.mcp.server import QuorumMCP

ROOT = Path(__file__).resolve().parent.parent
TOOLS = {"consensus", "consensus_result", "list_models", "history"}
FAKE_KEY = "sk-proj-FAKEKEY0123456789abcdefSECRET"


def demo_config(tmp_path: Path, speed: float, extra: str = "") -> Path:
    return write(tmp_path / f"demo-{speed:g}.toml", f"[demo]\nspeed = {speed}\n{extra}")


@asynccontextmanager
async def connected(config: Path) -> AsyncIterator[Client]:
    """A client connected to a fresh server over `config` (its lifespan ends with the block)."""
    app = QuorumMCP(load_settings(config))
    async with Client(app.server, mode="legacy") as client:
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def history(home: Path) -> RunStore:
    return RunStore(paths.history_file(""))


class Progress:
    """A progress callback that keeps every notification, and can wake a waiter on the first."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []
        self.first = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))
        self.first.set()


async def wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll `check` until it holds (a generous bound only catches a hang, it times nothing)."""
    with anyio.fail_after(60):
        while not check():
            await anyio.sleep(0.05)


@pytest.fixture
def fast(tmp_path: Path) -> Path:
    return demo_config(tmp_path, FAST_SPEED)


@pytest.fixture
def slow(tmp_path: Path) -> Path:
    """A demo panel that takes several seconds: long enough to be caught running."""
    return demo_config(tmp_path, 2.0)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> anyio.Event:
    """Every demo member's answer waits until the test sets this event: a run is caught running
    for as long as the test needs it, then (with `fast`) ends at once."""
    from tui.providers.demo import DemoProvider

    release = anyio.Event()
    answer = DemoProvider._stream

    async def waiting(provider: DemoProvider, request: Any) -> AsyncIterator[Any]:
        await release.wait()
        async for event in answer(provider, request):
            yield event

    monkeypatch.setattr(DemoProvider, "_stream", waiting)
    return release


# --------------------------------------------------------------------------------------------
# Tools and schemas


async def test_the_tools_and_their_schemas(fast: Path) -> None:
    async with connected(fast) as client:
        assert "consensus" in (client.instructions or "")
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == TOOLS
    for tool in listed.values():
        assert tool.description and tool.output_schema and tool.output_schema["type"] == "object"
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)

    consensus = listed["consensus"]
    schema = consensus.input_schema
    assert schema["required"] == ["question"]
    assert list(schema["properties"]) == [
        "question",
        "models",
        "mode",
        "answer",
        "max_rounds",
        "files",
        "images",
        "focus_areas",
        "synthesizer",
        "token_budget",
        "continuation_id",
        "wait_seconds",
        "fresh",
    ]
    member = schema["$defs"]["MemberEntry"]
    assert set(member["properties"]) == {"model", "stance", "stance_prompt"}  # the parent tool's names
    assert member["additionalProperties"] is False
    assert {"for", "against", "neutral", "support", "oppose", "balanced"} <= set(
        member["properties"]["stance"]["enum"]
    )
    props = schema["properties"]
    assert props["wait_seconds"]["default"] == 50.0 and props["wait_seconds"]["minimum"] == 0
    assert props["max_rounds"]["anyOf"][0] == {"maximum": 10, "minimum": 1, "type": "integer"}
    modes = schema["$defs"][props["mode"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert modes["enum"] == [mode.value for mode in Mode]  # every mode there is, named once
    assert all(prop.get("description") for prop in props.values())

    # The description says what to expect of time limits, and which models can run now.
    words = " ".join((consensus.description or "").split())
    assert "wait_seconds" in words and '"running"' in words and "consensus_result" in words
    assert "No model's key is set" in words and "demo-atlas" in words
    assert "demo-atlas:for, demo-bolt:against, demo-cirrus:neutral" in words

    out = consensus.output_schema or {}
    assert {"run_id", "status", "outcome", "rounds", "synthesis", "members", "totals"} <= set(out["required"])
    assert "running" in out["$defs"]["RunStatus"]["enum"]
    assert listed["consensus_result"].input_schema["required"] == ["run_id"]
    assert listed["consensus_result"].output_schema == out


async def test_the_description_lists_the_models_whose_keys_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Those an agent can name now: a key set, or a local server the user configured."""
    local = (
        '[providers.lab]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[models.lab-qwen]\nprovider = "lab"\nid = "qwen"\ncontext_window = 32000\nmax_output = 1000\n'
    )
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    async with connected(demo_config(tmp_path, FAST_SPEED, local)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    words = " ".join((tools["consensus"].description or "").split())
    ready = "Models whose keys are set (or local servers configured): gpt-sol, gpt-luna, gpt-astra, lab-qwen."
    assert ready in words
    assert "claude-sonnet" not in words and "llama-local" not in words and FAKE_KEY not in words


async def test_the_tools_say_which_only_read_and_which_start_paid_runs(fast: Path) -> None:
    async with connected(fast) as client:
        listed = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    for name in ("consensus_result", "list_models", "history"):
        hints = listed[name]
        assert hints is not None and hints.read_only_hint is True, name
    consensus = listed["consensus"]
    assert consensus is not None
    assert consensus.read_only_hint is False and consensus.destructive_hint is False
    assert consensus.open_world_hint is True and consensus.idempotent_hint is False


# --------------------------------------------------------------------------------------------
# Runs


async def test_a_demo_deliberation_end_to_end(fast: Path, isolated_home: Path) -> None:
    progress = Progress()
    async with connected(fast) as client:
        schema = {t.name: t for t in (await client.list_tools()).tools}["consensus"].output_schema
        result = await client.call_tool(
            "consensus",
            {"question": "Should we move the job queue to Postgres?", "focus_areas": ["cost"]},
            progress_callback=progress,
        )
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    jsonschema.validate(data, schema or {})
    assert data["status"] == "success" and data["outcome"] in ("unanimous", "majority", "curator_override")
    assert data["mode"] == "deliberate" and data["synthesis"] and data["next_step"] is None
    assert [(m["model"], m["stance"], m["status"]) for m in data["members"]] == [
        ("demo-atlas", "for", "success"),
        ("demo-bolt", "against", "success"),
        ("demo-cirrus", "neutral", "success"),
    ]
    assert all(m["position_summary"] and m["demo"] for m in data["members"])
    assert data["rounds"] and len(data["rounds"]) == data["rounds_used"]
    for round_ in data["rounds"]:
        assert len(round_["votes"]) == 3 and round_["accept"] + round_["reject"] + round_["invalid"] == 3
        assert all(v["stance"] in ("for", "against", "neutral") for v in round_["votes"])
    assert data["totals"]["wall_s"] > 0 and data["totals"]["input_tokens"] > 0
    assert data["origin"] == "mcp"

    # The text says the same, shortly.
    text = text_of(result)
    assert f"`{data['run_id']}`" in text and "complete" in text and "demo-bolt" in text
    assert "Round 1:" in text and "Complete ·" in text

    # Progress: each member's position, each round, the synthesis and the end, always growing.
    messages = [message or "" for _, _, message in progress.seen]
    assert sum(m.startswith("position ") for m in messages) == 3
    assert sum(m.startswith("round ") for m in messages) == data["rounds_used"]
    assert any(m.startswith("synthesis by ") for m in messages) and messages[-1].startswith("Complete")
    values = [value for value, _, _ in progress.seen]
    assert values == sorted(set(values)) and values[-1] == progress.seen[-1][1]

    # Recorded like any run, marked as an agent's.
    with closing(history(isolated_home)) as store:
        runs = store.list_runs()
        assert [(r.id, r.origin) for r in runs] == [(data["run_id"], Origin.MCP)]
        assert store.load(data["run_id"]).asked.focus == ["cost"]  # type: ignore[union-attr]


async def test_milestones_count_each_step_once_and_the_end_completes_them(
    fast: Path, isolated_home: Path
) -> None:
    """However many rounds a run takes, progress grows step by step to its total; a replay that
    starts its events over (as following a rewritten record does) adds nothing."""
    async with connected(fast) as client:
        result = await client.call_tool("consensus", {"question": "One round?", "max_rounds": 5})
    with closing(history(isolated_home)) as store:
        recorded = store.load((result.structured_content or {})["run_id"])
    milestones = Milestones()
    for event in [*replay_events(recorded), *replay_events(recorded)]:
        milestones.add(event)
    steps = milestones.items
    assert len(steps) == 3 + recorded.rounds_used + 2  # positions, rounds, synthesis, end
    assert [m.progress for m in steps] == sorted({m.progress for m in steps})
    assert steps[-1].progress == steps[-1].total == 3 + 5 + 2  # the round limit was the estimate
    assert all(m.progress < m.total for m in steps[:-1])


async def test_wait_seconds_zero_returns_running_and_consensus_result_finishes_it(
    fast: Path, held: anyio.Event
) -> None:
    async with connected(fast) as client:
        first = await client.call_tool(
            "consensus", {"question": "Monorepo or polyrepo?", "mode": "consult", "wait_seconds": 0}
        )
        data = first.structured_content
        assert data is not None and data["status"] == "running", text_of(first)
        run_id = data["run_id"]
        assert run_id in data["next_step"] and "consensus_result" in data["next_step"]
        assert {m["status"] for m in data["members"]} == {"running"}
        assert "Still running" in text_of(first) and "consensus_result" in text_of(first)
        # A one-call client (the Inspector CLI) exits after this answer, closing the server: the
        # answer says what that does to the run.
        leaving = " ".join(text_of(first).split())
        assert "If your client exits or closes the server before the run ends" in leaving
        assert "the run is cancelled and recorded as cancelled" in leaving
        assert "stay connected" in leaving and leaving.count("cancelled") >= 1

        held.set()
        progress = Progress()
        done = await client.call_tool(
            "consensus_result", {"run_id": run_id[:6], "wait_seconds": 120}, progress_callback=progress
        )
        data = done.structured_content
        assert data is not None and data["status"] == "success", text_of(done)
        assert data["run_id"] == run_id and data["mode"] == "consult" and data["agreement"]
        assert data["rounds"] == [] and data["synthesis"]
        assert progress.seen and (progress.seen[-1][2] or "").startswith("Complete")


ONE_AT_A_TIME = '[providers.demo]\nkind = "demo"\nmax_concurrency = 1\n'


async def test_a_member_waiting_for_its_providers_slot_is_queued_with_its_wait(
    tmp_path: Path, held: anyio.Event
) -> None:
    """A member whose call waits in Quorum's queue (its provider serves one call at a time) is
    `queued` with how long it has waited, not `running` with 0 tokens: in the structured result,
    the Markdown and the progress notifications."""
    async with connected(demo_config(tmp_path, FAST_SPEED, ONE_AT_A_TIME)) as client:
        first = await client.call_tool(
            "consensus", {"question": "Monorepo or polyrepo?", "mode": "consult", "wait_seconds": 0}
        )
        run_id = (first.structured_content or {})["run_id"]
        seen: list[CallToolResult] = []

        async def queued_seen() -> bool:
            now = await client.call_tool("consensus_result", {"run_id": run_id, "wait_seconds": 0})
            seen.append(now)
            return any(m["status"] == "queued" for m in (now.structured_content or {})["members"])

        with anyio.fail_after(60):
            while not await queued_seen():
                await anyio.sleep(0.05)
        now = seen[-1]
        queued = [m for m in (now.structured_content or {})["members"] if m["status"] == "queued"]
        assert all(m["queued_s"] is not None and m["queued_s"] >= 0 and m["tokens"] == 0 for m in queued)
        assert f"**{queued[0]['model']}** ({queued[0]['stance']}, demo) queued for " in text_of(now)
        assert "demo serves 1 at a time" in text_of(now)
        held.set()  # the first member answers, then each in turn

    progress = Progress()
    async with connected(demo_config(tmp_path, FAST_SPEED, ONE_AT_A_TIME)) as client:
        done = await client.call_tool(
            "consensus", {"question": "Tabs or spaces?", "mode": "consult"}, progress_callback=progress
        )
    assert (done.structured_content or {})["status"] == "success", text_of(done)
    said = [message or "" for _, _, message in progress.seen]
    assert any(message.endswith(": queued · demo serves 1 at a time") for message in said), said
    assert any("in queue)" in message and message.startswith("position ") for message in said), said


def start_quorum_run(config: Path, question: str, answering: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """`quorum run` in a process of its own, recording into the same history, its demo members
    held (but those `answering`) until `held_run.release`."""
    arguments = ("--config", str(config), "run", "-q", "--mode", "consult", question)
    return held_run.start(answering, *arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def recorded_running(question: str, positions: int = 0) -> str:
    """The id of the run asking `question` once the history has it running, with at least
    `positions` positions in."""
    found: list[str] = []

    def check() -> bool:
        with closing(RunStore(paths.history_file(""))) as store:
            for run in store.list_runs(text=question):
                result = store.load(run.id)
                answered = [p for p in result.positions if p is not None and p.status is CallStatus.SUCCESS]
                if run.status is RunStatus.RUNNING and len(answered) >= positions:
                    found.append(run.id)
        return bool(found)

    await wait_until(check, f"{question!r} recorded running")
    return found[0]


async def test_consensus_result_follows_a_run_another_process_records(fast: Path) -> None:
    """Any run in the history, whoever records it: a `quorum run` followed to its end, and one
    whose process is killed mid-run (it ends interrupted, with what had arrived)."""
    runner = start_quorum_run(fast, "Tabs or spaces?")
    try:
        run_id = await recorded_running("Tabs or spaces?")
        async with connected(fast) as client:
            now = await client.call_tool("consensus_result", {"run_id": run_id, "wait_seconds": 0})
            held_run.release(runner)  # its members answer
            progress = Progress()
            done = await client.call_tool(
                "consensus_result", {"run_id": run_id, "wait_seconds": 120}, progress_callback=progress
            )
            listed = await client.call_tool("history", {"filter": "tabs"})
    finally:
        held_run.release(runner)
        runner.wait(timeout=120)
    running = now.structured_content or {}
    assert running["status"] == "running" and running["origin"] == "cli", text_of(now)
    assert "running" in {m["status"] for m in running["members"]}
    assert "cancelled" not in running["next_step"]  # another process's run outlives this client
    data = done.structured_content or {}
    assert data["status"] == "success" and data["synthesis"], text_of(done)
    assert all(m["status"] == "success" for m in data["members"])
    # Its progress, read from the history as the other process records it: the end at least.
    values = [value for value, _, _ in progress.seen]
    assert values == sorted(set(values)) and (progress.seen[-1][2] or "").startswith("Complete")
    assert values[-1] == progress.seen[-1][1]  # the end completes the progress
    runs = (listed.structured_content or {})["runs"]
    assert [(r["run_id"], r["origin"]) for r in runs] == [(run_id, "cli")]

    doomed = start_quorum_run(fast, "Killed mid-run?", answering=("bolt",))
    try:
        run_id = await recorded_running("Killed mid-run?", positions=1)
    finally:
        doomed.kill()
        doomed.wait(timeout=60)
    async with connected(fast) as client:
        result = await client.call_tool("consensus_result", {"run_id": run_id, "wait_seconds": 30})
    data = result.structured_content or {}
    assert data["status"] == "interrupted", text_of(result)
    assert "success" in {m["status"] for m in data["members"]} and "interrupted" in text_of(result)


async def test_every_outcome_says_who_it_rests_on_and_no_quorum_is_no_decision(
    fast: Path, isolated_home: Path
) -> None:
    flaky = [{"model": "demo-atlas", "stance": "for"}, {"model": "demo-delta", "stance": "for"}]
    flaky.append({"model": "demo-flaky"})
    alone = [{"model": "demo-atlas"}, {"model": "demo-flaky", "stance": "for"}]
    alone.append({"model": "demo-flaky", "stance": "against"})
    async with connected(fast) as client:
        schema = {t.name: t for t in (await client.list_tools()).tools}["consensus"].output_schema
        rested = await client.call_tool("consensus", {"question": "Shard?", "models": flaky})
        quorumless = await client.call_tool("consensus", {"question": "Shard?", "models": alone})
    data = rested.structured_content or {}
    jsonschema.validate(data, schema or {})
    assert (data["status"], data["outcome"], data["voters"], data["seats"]) == ("success", "unanimous", 2, 3)
    [missing] = data["missing"]
    assert (missing["model"], missing["seat"], missing["phase"], missing["vote"]) == (
        "demo-flaky",
        3,
        "position",
        None,
    )
    assert missing["reason"].startswith("rate limited by demo")
    assert data["errors"] == [f"demo-flaky: position failed: {missing['reason']}"]
    assert data["rounds"][-1]["missing"] == data["missing"] and data["rounds"][-1]["voters"] == 2
    assert "complete** · unanimous · 2 of 3 voted (demo-flaky failed)" in text_of(rested)
    data = quorumless.structured_content or {}
    jsonschema.validate(data, schema or {})
    assert (data["status"], data["outcome"], data["voters"], data["answered"]) == (
        "success",
        "no_quorum",
        None,
        1,
    )
    assert data["synthesis"] and "### Answer by demo-atlas (no quorum: not a decision)" in text_of(quorumless)


async def test_a_continuation_follows_up_the_run_with_its_panel(fast: Path, isolated_home: Path) -> None:
    panel = [{"model": "demo-delta", "stance": "pro"}, {"model": "demo-bolt", "stance": "CRITICAL"}]
    async with connected(fast) as client:
        first = await client.call_tool("consensus", {"question": "Adopt Kafka?", "models": panel})
        parent = (first.structured_content or {})["run_id"]
        second = await client.call_tool(
            "consensus", {"question": "And for the audit log?", "continuation_id": parent[:5]}
        )
        other = await client.call_tool(
            "consensus",
            {
                "question": "And in consult mode?",
                "continuation_id": parent,
                "mode": "consult",
                "models": [{"model": "demo-atlas"}],
            },
        )
    data = second.structured_content
    assert data is not None and data["status"] == "success", text_of(second)
    assert data["parent_run_id"] == parent and f"Follows up on run `{parent}`" in text_of(second)
    assert [(m["model"], m["stance"]) for m in data["members"]] == [
        ("demo-delta", "for"),
        ("demo-bolt", "against"),
    ]
    changed = other.structured_content or {}
    assert changed["mode"] == "consult" and [m["model"] for m in changed["members"]] == ["demo-atlas"]
    with closing(history(isolated_home)) as store:
        assert store.parent_of(data["run_id"]) == parent
        thread = store.thread(data["run_id"], 2)
        assert [r.question for r in thread] == ["Adopt Kafka?", "And for the audit log?"]


async def test_a_client_cancelling_cancels_the_run_and_keeps_what_arrived(
    slow: Path, isolated_home: Path
) -> None:
    progress = Progress()
    async with connected(slow) as client:
        async with anyio.create_task_group() as group:

            async def ask() -> None:
                await client.call_tool(
                    "consensus", {"question": "Rewrite it in Rust?"}, progress_callback=progress
                )

            group.start_soon(ask)
            await progress.first.wait()  # a member has answered: the run is in flight
            group.cancel_scope.cancel()  # the SDK sends notifications/cancelled

        listed = await client.call_tool("history", {})
        run_id = (listed.structured_content or {})["runs"][0]["run_id"]
        result = await client.call_tool("consensus_result", {"run_id": run_id, "wait_seconds": 30})
    data = result.structured_content
    assert data is not None and data["status"] == "cancelled", text_of(result)
    statuses = [m["status"] for m in data["members"]]
    assert "success" in statuses and set(statuses) <= {"success", "cancelled"}
    with closing(history(isolated_home)) as store:
        recorded = store.load(run_id)
        assert recorded.status is RunStatus.CANCELLED
        kept = [p for p in recorded.positions if p is not None and p.content]
        assert kept  # what had arrived is in the history


async def test_shutting_down_cancels_every_run_and_records_it(slow: Path, isolated_home: Path) -> None:
    async with connected(slow) as client:
        started = [
            await client.call_tool("consensus", {"question": f"Question {n}?", "wait_seconds": 0})
            for n in (1, 2)
        ]
    run_ids = [(r.structured_content or {})["run_id"] for r in started]
    with closing(history(isolated_home)) as store:
        assert [store.status(run_id) for run_id in run_ids] == [RunStatus.CANCELLED] * 2


async def test_list_models_and_history(fast: Path) -> None:
    async with connected(fast) as client:
        models = await client.call_tool("list_models", {})
        for n in range(3):
            await client.call_tool("consensus", {"question": f"Plan {n}: ship it?", "mode": "consult"})
        recent = await client.call_tool("history", {"limit": 2})
        filtered = await client.call_tool("history", {"filter": "plan 1"})
        nothing = await client.call_tool("history", {"filter": "no such thing"})
    data = models.structured_content or {}
    by_alias = {m["model"]: m for m in data["models"]}
    assert by_alias["gpt-sol"]["key"] == "missing" and by_alias["gpt-sol"]["key_env"] == "OPENAI_API_KEY"
    assert (
        not by_alias["gpt-sol"]["usable"]
        and by_alias["demo-atlas"]["usable"]
        and by_alias["demo-atlas"]["demo"]
    )
    assert by_alias["gpt-sol"]["context_window"] > 0 and by_alias["gpt-sol"]["input_price_per_mtok"] > 0
    assert data["default_panel"] == ["demo-atlas:for", "demo-bolt:against", "demo-cirrus:neutral"]
    assert "| gpt-sol |" in text_of(models) and "no key: OPENAI_API_KEY" in text_of(models)
    runs = (recent.structured_content or {})["runs"]
    assert [r["question"] for r in runs] == ["Plan 2: ship it?", "Plan 1: ship it?"]
    assert all(r["origin"] == "mcp" and r["status"] == "success" and r["mode"] == "consult" for r in runs)
    assert [r["question"] for r in (filtered.structured_content or {})["runs"]] == ["Plan 1: ship it?"]
    assert "[mcp]" in text_of(recent) and "· [consult] Plan 2: ship it?" in text_of(recent)
    assert (nothing.structured_content or {})["runs"] == [] and "No runs" in text_of(nothing)


# --------------------------------------------------------------------------------------------
# Errors


async def call_error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    text = text_of(result)
    assert result.is_error, text
    assert "Traceback" not in text and "bug in Quorum" not in text and "pydantic.dev" not in text
    return text


async def test_every_error_comes_back_in_words(
    fast: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the project the client started the server in
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    plan = write(tmp_path / "plan.md", "the plan")
    async with connected(fast) as client:

        async def ask(**arguments: Any) -> str:
            return await call_error(client, "consensus", {"question": "Ship it?", **arguments})

        unknown = await ask(models=[{"model": "demo-atlass"}])
        assert "unknown model 'demo-atlass'" in unknown and "closest: demo-atlas" in unknown
        stance = await ask(models=[{"model": "demo-atlas"}, {"model": "demo-bolt", "stance": "maybe"}])
        assert "models[2] (demo-bolt): unknown stance 'maybe'" in stance
        assert "for, against or neutral" in stance and "support, favor, pro = for" in stance
        key = await ask(models=[{"model": "demo-atlas"}, {"model": "claude-sonnet", "stance": "for"}])
        assert "claude-sonnet: ANTHROPIC_API_KEY is not set" in key
        synth = await ask(synthesizer="gpt-sol")
        assert "gpt-sol: OPENAI_API_KEY is not set" in synth
        missing = await ask(files=[str(plan), str(tmp_path / "nope.md")])
        assert "cannot attach" in missing and "nope.md: no such file" in missing
        assert "binary" in await ask(files=[str(binary)])
        assert "is a directory" in await ask(files=[str(tmp_path)])
        # An agent cannot be talked into sending a file from outside the project to the panel.
        secret = write(tmp_path.parent / "outside" / "id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----")
        (tmp_path / "link.md").symlink_to(secret)
        for path in (str(secret), "../outside/id_ed25519", "link.md", "~/.ssh/id_ed25519", "/etc/passwd"):
            outside = await ask(files=[path])
            assert "only files inside the project the server was started in" in outside, path
            assert "BEGIN OPENSSH" not in outside
        assert "the question is empty" in await ask(question="   ")
        assert "question: String should have at least 1 character" in await ask(question="")
        assert "no run with id 'ffffff'" in await ask(continuation_id="ffffff")
        extra = await ask(models=[{"model": "demo-atlas", "stnace": "for"}])
        assert "models[1].stnace: unknown key (closest: stance)" in extra
        assert "max_rounds: Input should be less than or equal to 10 (got 11)" in await ask(max_rounds=11)
        assert "token_budget: Input should be greater than 0 (got 0)" in await ask(token_budget=0)
        assert "wait_seconds: Input should be greater than or equal to 0 (got -1)" in await ask(
            wait_seconds=-1
        )
        assert "wait_seconds: Input should be less than or equal to 1800 (got 99999)" in await ask(
            wait_seconds=99999
        )
        assert "wait_seconds: Input should be a valid number" in await ask(wait_seconds="soon")
        assert "mode: Input should be 'consult', 'deliberate', 'vote', 'debate' or 'council'" in await ask(
            mode="parliament"
        )
        assert "question: Field required" in await call_error(client, "consensus", {})

        result_error = await call_error(client, "consensus_result", {"run_id": "0000"})
        assert "no run with id '0000'" in result_error
        assert "wait_seconds" in await call_error(
            client, "consensus_result", {"run_id": "x", "wait_seconds": -5}
        )
        assert "limit: Input should be greater than or equal to 1 (got 0)" in await call_error(
            client, "history", {"limit": 0}
        )
        # Nothing was started by any of them.
        assert (await client.call_tool("history", {})).structured_content == {"runs": []}


async def test_what_the_schema_does_not_take_is_refused_in_one_numbering(fast: Path) -> None:
    """An empty panel, a misspelt argument and a misspelt member key are refused (naming the
    closest known name), each member numbered from 1 as the other member errors are; the stance
    enum is exact, so the description does not promise any case."""
    async with connected(fast) as client:
        stance = next(t for t in (await client.list_tools()).tools if t.name == "consensus").input_schema
        stance = stance["$defs"]["MemberEntry"]["properties"]["stance"]
        assert all(word == word.lower() for word in stance["enum"])
        assert "case-insensitive" not in stance["description"].lower()

        async def ask(**arguments: Any) -> str:
            return await call_error(client, "consensus", {"question": "Ship it?", **arguments})

        empty = await ask(models=[])
        assert empty.count("\n") == 0 and "models: " in empty and "at least one member" in empty
        assert "leave models out for the default panel" in empty
        misspelt = await ask(wait_second=5)
        assert "wait_second: unknown argument (closest: wait_seconds)" in misspelt
        assert "unknown argument" in await call_error(client, "history", {"filter": "", "limt": 3})
        member = await ask(models=[{"model": "demo-atlas"}, {"model": "demo-bolt", "stnace": "for"}])
        assert "models[2].stnace: unknown key (closest: stance)" in member
        assert "models.1" not in member
        assert (await client.call_tool("history", {})).structured_content == {"runs": []}


async def test_without_a_history_runs_are_still_followed_by_id(tmp_path: Path) -> None:
    config = demo_config(tmp_path, FAST_SPEED, "[store]\nenabled = false\n")
    async with connected(config) as client:
        started = await client.call_tool("consensus", {"question": "No history?", "wait_seconds": 0})
        run_id = (started.structured_content or {})["run_id"]
        done = await client.call_tool("consensus_result", {"run_id": run_id[:4], "wait_seconds": 60})
        assert (done.structured_content or {})["status"] == "success", text_of(done)
        assert "turned off" in await call_error(client, "history", {})
        follow = await call_error(client, "consensus", {"question": "And?", "continuation_id": run_id})
        assert "a follow-up needs the run history" in follow
        assert "history is turned off" in await call_error(client, "consensus_result", {"run_id": "ffff"})


async def test_a_bug_is_reported_as_one_without_its_traceback(
    fast: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError(f"boom near {FAKE_KEY}")

    monkeypatch.setattr("tui.mcp.server.build_request", broken)
    async with connected(fast) as client:
        result = await client.call_tool("consensus", {"question": "Ship it?"})
    text = text_of(result)
    assert result.is_error and "internal error (a bug in Quorum" in text and "RuntimeError: boom" in text
    assert "Traceback" not in text and FAKE_KEY not in text


async def test_a_running_run_cannot_be_followed_up_yet(slow: Path) -> None:
    async with connected(slow) as client:
        first = await client.call_tool("consensus", {"question": "Shard?", "wait_seconds": 0})
        run_id = (first.structured_content or {})["run_id"]
        text = await call_error(client, "consensus", {"question": "And then?", "continuation_id": run_id})
    assert f"run {run_id} is still running" in text and "consensus_result" in text


async def test_no_key_ever_leaves_the_server(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key in the environment, in the question (the demo answers quote it) and in a provider's
    error (a careless proxy echoes credentials): it is in no text, structured content, progress
    message or error the client gets."""
    config = demo_config(tmp_path, FAST_SPEED, "[providers.openai]\nmax_retries = 0\n")
    with WireServer() as wire:
        wire.script("gpt-5.1", Scenario(failure="status", status=401, echo_credentials=True))
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", wire.openai_base_url)
        progress = Progress()
        seen: list[str] = []
        async with connected(config) as client:
            seen += [tool.model_dump_json() for tool in (await client.list_tools()).tools]
            panel = [{"model": "demo-atlas", "stance": "for"}, {"model": "gpt-sol", "stance": "against"}]
            calls: list[tuple[str, dict[str, Any]]] = [
                ("consensus", {"question": f"Is {FAKE_KEY} safe to commit?", "models": panel}),
                ("consensus", {"question": "Ship?", "models": [{"model": f"x{FAKE_KEY}"}]}),
                ("consensus", {"question": "Ship?", "files": [f"/nope/{FAKE_KEY}"]}),
                ("consensus_result", {"run_id": FAKE_KEY}),
                ("history", {}),
                ("list_models", {}),
            ]
            for tool, arguments in calls:
                result = await client.call_tool(tool, arguments, progress_callback=progress)
                seen.append(result.model_dump_json())
        seen += [message or "" for _, _, message in progress.seen]
    assert len(wire.requests) >= 1  # the member was really asked, and its key was really sent
    assert wire.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    everything = "\n".join(seen)
    assert "demo-atlas" in everything and "[redacted]" in everything
    assert FAKE_KEY not in everything and FAKE_KEY[8:] not in everything


# --------------------------------------------------------------------------------------------
# The real command


def test_quorum_run_never_imports_the_mcp_sdk(tmp_path: Path, isolated_home: Path) -> None:
    """The SDK takes a second or more to import: only `quorum mcp` may load it."""
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    script = (
        "import sys\n"
        "from tui.cli.main import main\n"
        f"code = main(['--config', {str(config)!r}, 'run', '-q', '--json', 'Is it fast?'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types', 'tui'))\n"
        "print('LOADED', [m for m in loaded if not m.startswith('tui') or m.startswith('tui.mcp')], "
        "file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr


def test_a_bad_config_stops_quorum_mcp_before_it_serves(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", "[run]\nmax_rounds = 99\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "--config", str(bad), "mcp"],
        capture_output=True,
        text=True,
        input="",
        env=os.environ.copy(),
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "configuration error" in proc.stderr and "run.max_rounds" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_quorum_mcp_over_stdio(fast: Path, tmp_path: Path, isolated_home: Path) -> None:
    """The real command, spawned as a client spawns it: `quorum mcp` answers over stdin/stdout."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tui", "--config", str(fast), "mcp"],
        # The files' folder as its working directory; the same source as this test imports.
        env={**os.environ, "QUORUM_HOME": str(isolated_home), "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    write(tmp_path / "plan.md", "Move the queue to Postgres with SKIP LOCKED.")
    progress = Progress()
    with (tmp_path / "server-stderr.txt").open("w+") as errors:
        async with Client(stdio_client(params, errlog=errors), mode="legacy") as client:
            assert client.server_info is not None and client.server_info.name == "quorum"
            assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
            result = await client.call_tool(
                "consensus",
                {"question": "Is the plan sound?", "files": ["plan.md"]},
                progress_callback=progress,
            )
        errors.seek(0)
        stderr = errors.read()
    data = result.structured_content
    assert data is not None and data["status"] == "success", text_of(result) + stderr
    assert data["origin"] == "mcp" and progress.seen
    assert "Traceback" not in stderr
    with closing(history(isolated_home)) as store:
        asked = store.load(data["run_id"]).asked
        assert asked is not None and [f.path for f in asked.files] == ["plan.md"]


async def test_quorum_mcp_home_names_the_home_a_minimal_environment_drops(
    fast: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients start the server with a few variables only (no QUORUM_HOME, no XDG_*): `--home`
    puts its runs in the history `quorum watch` reads, as QUORUM_HOME would."""
    home = tmp_path / "agent-home"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tui", "--config", str(fast), "mcp", "--home", str(home)],
        # The SDK's own minimal environment (PATH, HOME, ...), as a client passes it, plus the source.
        env={"PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "user"), "QUORUM_NO_PROJECT": "1"},
        cwd=tmp_path,
    )
    with (tmp_path / "server-stderr.txt").open("w+") as errors:
        async with Client(stdio_client(params, errlog=errors), mode="legacy") as client:
            result = await client.call_tool("consensus", {"question": "Where do my runs go?"})
        errors.seek(0)
        stderr = errors.read()
    data = result.structured_content
    assert data is not None and data["status"] == "success", text_of(result) + stderr
    monkeypatch.setenv("QUORUM_HOME", str(home))
    with closing(history(home)) as store:
        assert [run.id for run in store.list_runs()] == [data["run_id"]]
    assert not (tmp_path / "user").exists() or not any((tmp_path / "user").rglob("history.sqlite3"))


async def test_the_kinds_of_call_the_four_clients_make(
    slow: Path, tmp_path: Path, isolated_home: Path
) -> None:
    """The real command over stdio, called as each client calls it (docs/mcp.md's table): an
    agent's SDK client lists the tools and polls a run with consensus_result, hearing its
    progress; a one-call client (the Inspector's CLI) asks once and exits, which cancels its
    run, recorded as cancelled for the next client to read. (A client cancelling the call it
    waits in: `test_a_client_cancelling_cancels_the_run_and_keeps_what_arrived`.)"""
    quorum = ["--config", str(slow), "mcp", "--home", str(isolated_home)]

    @asynccontextmanager
    async def spawned(*command: str) -> AsyncIterator[Client]:
        params = StdioServerParameters(
            command=sys.executable,
            args=[*command, *quorum],
            env={"PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "user"), "QUORUM_NO_PROJECT": "1"},
            cwd=ROOT,
        )
        with (tmp_path / "server-stderr.txt").open("a") as errors:
            async with Client(stdio_client(params, errlog=errors), mode="legacy") as client:
                yield client

    # An agent (SDK 2.x and 1.x, fastmcp): the tools, then a run polled until it ends.
    progress = Progress()
    async with spawned("-m", "tui") as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
        first = await client.call_tool(
            "consensus", {"question": "Poll me?", "mode": "consult", "wait_seconds": 0}
        )
        run_id = (first.structured_content or {})["run_id"]
        now = first
        while (now.structured_content or {})["status"] == "running":
            now = await client.call_tool(
                "consensus_result", {"run_id": run_id, "wait_seconds": 5}, progress_callback=progress
            )
    assert (now.structured_content or {})["status"] == "success", text_of(now)
    assert progress.seen and (progress.seen[-1][2] or "").startswith("Complete")

    # The Inspector's CLI: one call, then it exits and the server with it (its members held, so
    # the run is still going whatever the machine's load).
    async with spawned("-m", "tests.held_run", "") as client:
        once = await client.call_tool("consensus", {"question": "Once?", "wait_seconds": 0})
    left = once.structured_content or {}
    assert left["status"] == "running" and "the run is cancelled" in left["next_step"]
    async with spawned("-m", "tui") as client:
        later = await client.call_tool("consensus_result", {"run_id": left["run_id"], "wait_seconds": 0})
    assert (later.structured_content or {})["status"] == "cancelled", text_of(later)


async def test_a_long_lived_server_frees_the_runs_it_no_longer_keeps(
    fast: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's engine objects refer to each other (the run, its lifecycle, its calls, the server's
    record of it), so only the cycle collector frees them; left to its own pace it frees them
    hundreds of runs later, and the server grows by ~0.12 MB a run. A run the server stops
    keeping is freed at once."""
    import gc

    from tui.engine.orchestrator import Run
    from tui.mcp import runs

    monkeypatch.setattr(runs, "KEEP_FINISHED", 2)
    gc.collect()
    gc.disable()  # the collector's own pace is not to be counted on either way
    try:
        async with connected(fast) as client:
            for number in range(6):
                result = await client.call_tool("consensus", {"question": f"Question number {number}?"})
                assert not result.is_error, text_of(result)
            alive = sum(isinstance(thing, Run) for thing in gc.get_objects())
    finally:
        gc.enable()
    assert alive <= 2 + 1  # those kept, and the last one started (finished after it forgot the oldest)
