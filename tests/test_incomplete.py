"""Statuses that tell the truth: an answer cut off at the token limit, stopped by a content filter or
refused is `incomplete` (text kept, reason shown) everywhere, never `done`; and an error event
inside a stream says so, with the provider's message, never "server error (HTTP 200)"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard import CALM_POSITION, make_app
from tests.fakes import FakeProvider, Script, lookup, request
from tests.test_providers_wire import chat, collect, make
from tests.wire_server import Scenario, WireServer
from tui.cli.main import main
from tui.cli.progress import ProgressPrinter
from tui.engine import events as ev
from tui.engine.orchestrator import Run, run_panel
from tui.engine.provider import ErrorKind, ProviderError
from tui.engine.types import (
    CallResult,
    CallStatus,
    Member,
    Mode,
    Outcome,
    Phase,
    RunRequest,
    RunStatus,
    VoteValue,
)
from tui.history.recorder import RunRecorder
from tui.history.replay import replay_events
from tui.history.store import RunStore
from tui.render.report import render_markdown
from tui.render.words import CALL_MARKS, CallState, call_state, call_summary

CUT_4096 = "cut off at the 4,096-token output limit"
FILTERED = "stopped by the provider's content filter"
REFUSED = "refused by the model"


def scripts(**kw: Script) -> dict[str, Script]:
    return {"synth": Script(), **kw}


# ------------------------------------------------------------------------------------------------
# 1. the real SDKs against the wire server


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear()


def wire_member(kind: str, model: str, max_output: int = 4_096) -> Member:
    return Member(
        alias=f"{kind}-{model}",
        model_id=model,
        provider=kind,
        max_output_tokens=max_output,
        input_price=2.0,
        output_price=10.0,
    )


@pytest.mark.parametrize(
    ("kind", "finish", "refusal", "word", "reason"),
    [
        ("openai", "length", False, "length", CUT_4096),
        ("anthropic", "length", False, "max_tokens", CUT_4096),
        ("openai", "content_filter", False, "content_filter", FILTERED),
        ("anthropic", "refusal", False, "refusal", REFUSED),
        # an OpenAI model declines in `delta.refusal`, with finish_reason stop
        ("openai", "stop", True, "refusal", REFUSED),
    ],
)
async def test_a_cut_off_or_filtered_answer_is_incomplete_with_its_text_and_reason(
    server: WireServer, kind: str, finish: str, refusal: bool, word: str, reason: str
) -> None:
    server.script("ok", Scenario(text="A whole answer.", input_tokens=1000, output_tokens=100))
    server.script(
        "cut",
        Scenario(text="The answer starts well but", finish_reason=finish, refusal=refusal, output_tokens=80),
    )
    provider = make(kind, server)
    req = RunRequest(
        question="q",
        mode=Mode.CONSULT,
        members=[wire_member(kind, "ok"), wire_member(kind, "cut")],
        synthesizers=[wire_member(kind, "ok")],
    )
    try:
        result = await run_panel(req, lookup(provider))
    finally:
        await provider.aclose()
    ok, cut = result.positions
    assert ok is not None and ok.status is CallStatus.SUCCESS and ok.error is None
    assert cut is not None and cut.status is CallStatus.INCOMPLETE
    assert cut.content == "The answer starts well but"  # the text is kept
    assert cut.error == reason and cut.finish_reason == word
    assert cut.output_tokens == 80 and cut.cost_usd > 0  # billed like any answer
    # it still counts as a position: the synthesizer read it, told that it is incomplete
    synthesis_prompt = next(r for r in server.requests if "The answer starts well but" in json.dumps(r.body))
    assert reason in json.dumps(synthesis_prompt.body)
    assert result.status is RunStatus.SUCCESS and result.synthesis_incomplete is None


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("error_type", ["server_error", "api_error", "overloaded_error", "rate_limit_error"])
async def test_an_error_event_mid_stream_says_so_with_its_message(
    server: WireServer, kind: str, error_type: str
) -> None:
    server.script(
        "m1", Scenario(failure="error_event", error_type=error_type, error_message="upstream model crashed")
    )
    with pytest.raises(ProviderError) as info:
        await collect(make(kind, server), chat())
    message = str(info.value)
    assert "HTTP 200" not in message
    assert f"{kind} reported an error mid-answer" in message
    assert "upstream model crashed" in message


async def test_a_mid_stream_error_still_fails_the_call_keeping_the_text(server: WireServer) -> None:
    server.script("bad", Scenario(failure="error_event", text="abcdefghij", error_message="boom"))
    server.script("ok", Scenario())
    provider = make("anthropic", server)
    req = RunRequest(
        question="q",
        mode=Mode.CONSULT,
        members=[wire_member("anthropic", "ok"), wire_member("anthropic", "bad")],
        synthesizers=[wire_member("anthropic", "ok")],
    )
    try:
        result = await run_panel(req, lookup(provider))
    finally:
        await provider.aclose()
    bad = result.positions[1]
    assert bad is not None and bad.status is CallStatus.ERROR and bad.error_kind == "server"
    assert bad.error is not None and "reported an error mid-answer" in bad.error and "boom" in bad.error
    assert bad.content == "abcd"


# ------------------------------------------------------------------------------------------------
# 2. the engine's rules, with fakes


async def test_an_incomplete_position_counts_and_is_marked_for_the_synthesizer() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(position="A says yes."), b=Script(position="B says no, because", finish_reason="length")
        )
    )
    events: list[ev.Event] = []
    result = await run_panel(request(["a", "b"], mode=Mode.CONSULT), lookup(provider), events.append)
    b = result.positions[1]
    assert b is not None and b.status is CallStatus.INCOMPLETE and b.error == CUT_4096
    assert b.content == "B says no, because" and b.finish_reason == "length"
    finished = [e.result for e in events if isinstance(e, ev.CallFinished) and e.result.alias == "b"]
    assert [c.status for c in finished] == [CallStatus.INCOMPLETE]
    [synthesis] = [r for r in provider.requests if r.phase == "draft"]
    user = synthesis.messages[0].content
    assert "B says no, because" in user and CUT_4096 in user and "A says yes." in user
    assert result.status is RunStatus.SUCCESS and result.synthesis_incomplete is None


async def test_the_output_limit_in_the_reason_is_the_one_the_request_sent() -> None:
    provider = FakeProvider(scripts(a=Script(finish_reason="max_tokens")))
    req = request(["a"], mode=Mode.CONSULT)
    req.members[0].max_output_tokens = 128_000
    result = await run_panel(req, lookup(provider))
    a = result.positions[0]
    assert a is not None and a.error == "cut off at the 128,000-token output limit"
    assert [r.max_output_tokens for r in provider.requests if r.phase == "position"] == [128_000]


@pytest.mark.parametrize(("finish", "reason"), [("content_filter", FILTERED), ("refusal", REFUSED)])
async def test_a_filtered_or_refused_answer_with_no_text_is_an_empty_answer_error(
    finish: str, reason: str
) -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(position="", finish_reason=finish)))
    result = await run_panel(request(["a", "b"], mode=Mode.CONSULT), lookup(provider))
    b = result.positions[1]
    assert b is not None and b.status is CallStatus.ERROR and b.error_kind == ErrorKind.EMPTY.value
    assert b.error is not None and reason in b.error
    assert result.status is RunStatus.SUCCESS


async def test_a_cut_off_vote_is_invalid_even_when_its_verdict_line_is_there() -> None:
    """Only a whole reply is read as a vote: what the cut took (a second verdict?) is unknown."""
    provider = FakeProvider(
        scripts(
            a=Script(votes=["VERDICT: ACCEPT\n- one small thing, the rollb"], finish_reason="length"),
            b=Script(),
            c=Script(),
        )
    )
    result = await run_panel(request(["a", "b", "c"], max_rounds=1), lookup(provider))
    votes = {v.alias: v for v in result.rounds[0].votes}
    assert (votes["a"].value, votes["a"].reason) == (VoteValue.INVALID, CUT_4096)
    a_review = next(c for c in result.calls if c.alias == "a" and c.phase is Phase.VOTE)
    assert a_review.status is CallStatus.INCOMPLETE and a_review.error == CUT_4096
    assert a_review.content.startswith("VERDICT: ACCEPT")  # its text kept as it came
    assert result.outcome is Outcome.MAJORITY  # 2 of 3 accepted: not unanimous


async def test_a_refused_vote_is_invalid_and_says_it_was_refused() -> None:
    provider = FakeProvider(
        scripts(a=Script(votes=["I can't help with that."], finish_reason="refusal", finish_phases=("vote",)))
    )
    result = await run_panel(request(["a"], max_rounds=1), lookup(provider))
    [vote] = result.rounds[0].votes
    assert (vote.value, vote.reason) == (VoteValue.INVALID, REFUSED)
    position = result.positions[0]
    assert position is not None and position.status is CallStatus.SUCCESS


async def test_a_refusal_with_no_words_is_an_invalid_vote_too() -> None:
    """The member answered, by refusing: its vote is invalid for that reason, not a failed call's."""
    provider = FakeProvider(scripts(a=Script(votes=[""], finish_reason="refusal", finish_phases=("vote",))))
    result = await run_panel(request(["a"], max_rounds=1), lookup(provider))
    [vote] = result.rounds[0].votes
    assert (vote.value, vote.reason) == (VoteValue.INVALID, REFUSED)


async def test_an_incomplete_draft_is_voted_on_as_such_and_the_result_says_the_synthesis_is_incomplete() -> (
    None
):
    provider = FakeProvider(
        {"a": Script(), "b": Script(), "synth": Script(draft="DRAFT: adopt X in", finish_reason="length")}
    )
    events: list[ev.Event] = []
    result = await run_panel(request(["a", "b"]), lookup(provider), events.append)
    assert result.status is RunStatus.SUCCESS and result.outcome is Outcome.UNANIMOUS
    assert result.synthesis == "DRAFT: adopt X in"  # the text is kept
    assert result.synthesis_incomplete == CUT_4096
    # the voters were told the draft is cut off
    reviews = [r for r in provider.requests if r.phase == "vote"]
    assert reviews and all(CUT_4096 in r.messages[0].content for r in reviews)
    [finished] = [e for e in events if isinstance(e, ev.SynthesisFinished)]
    assert finished.incomplete == CUT_4096
    # the next run's synthesis that is whole says nothing of the kind
    whole = await run_panel(request(["a"]), lookup(FakeProvider({"a": Script(), "synth": Script()})))
    assert whole.synthesis_incomplete is None


async def test_an_incomplete_revision_is_replaced_by_a_whole_one() -> None:
    """Only the text that ends the run decides whether the synthesis is incomplete."""
    synth = Script(draft="DRAFT", finish_reason="length", finish_phases=("draft",), curator="CURATOR: whole")
    provider = FakeProvider({"a": Script(votes=["VERDICT: REJECT\n- no"]), "synth": synth})
    result = await run_panel(request(["a"], max_rounds=1), lookup(provider))
    assert result.outcome is Outcome.CURATOR_OVERRIDE and result.synthesis == "CURATOR: whole"
    assert result.synthesis_incomplete is None
    draft = next(c for c in result.calls if c.phase is Phase.DRAFT)
    assert draft.status is CallStatus.INCOMPLETE


async def test_consult_synthesis_cut_off_is_incomplete() -> None:
    provider = FakeProvider({"a": Script(), "synth": Script(draft="Synth", finish_reason="content_filter")})
    result = await run_panel(request(["a"], mode=Mode.CONSULT), lookup(provider))
    assert result.status is RunStatus.SUCCESS and result.synthesis == "Synth"
    assert result.synthesis_incomplete == FILTERED


# ------------------------------------------------------------------------------------------------
# 3. the words, the progress lines and the report


def incomplete_call(**extra: Any) -> CallResult:
    fields: dict[str, Any] = {
        "call_id": "r-1",
        "round": 1,
        "phase": Phase.POSITION,
        "member_index": 0,
        "alias": "a",
        "model_id": "a",
        "provider": "fake",
        "stance": None,
        "status": CallStatus.INCOMPLETE,
        "content": "half an answer",
        "error": CUT_4096,
        "finish_reason": "length",
        "ttft_ms": 300,
        "latency_ms": 2000,
        "input_tokens": 100,
        "output_tokens": 4096,
        "cost_usd": 0.01,
    }
    return CallResult(**{**fields, **extra})


def test_incomplete_has_its_own_word_and_mark() -> None:
    call = incomplete_call()
    assert call_state(call) is CallState.INCOMPLETE and CallState.INCOMPLETE.value == "incomplete"
    assert CALL_MARKS[CallState.INCOMPLETE] not in {
        m for s, m in CALL_MARKS.items() if s is not CallState.INCOMPLETE
    }
    assert call_summary(call) == f"incomplete: {CUT_4096}"


def test_progress_line_of_an_incomplete_call_gives_the_reason_and_the_bill() -> None:
    class Out:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    out = Out()
    printer = ProgressPrinter(out)  # type: ignore[arg-type]
    printer(ev.CallFinished(incomplete_call(member_index=None, phase=Phase.DRAFT)))
    printer(ev.SynthesisFinished("DRAFT", "synth", Outcome.UNANIMOUS, incomplete=CUT_4096))
    first, second = out.text.splitlines()
    assert f"a (synthesizer) incomplete ({CUT_4096})" in first and "4.2k tokens" in first and "$0.01" in first
    assert "synthesis is incomplete" in second and CUT_4096 in second


async def test_report_shows_incomplete_positions_and_synthesis() -> None:
    provider = FakeProvider(
        {
            "a": Script(position="A cut", finish_reason="length", finish_phases=("position",)),
            "synth": Script(draft="DRAFT cut", finish_reason="refusal", finish_phases=("draft",)),
        }
    )
    result = await run_panel(request(["a"]), lookup(provider))
    report = render_markdown(result)
    assert f"| incomplete: {CUT_4096} |" in report
    assert f"**incomplete:** {CUT_4096}" in report and "> A cut" in report
    assert f"**incomplete:** {REFUSED}" in report.split("## Decision")[1]


# ------------------------------------------------------------------------------------------------
# 4. the history keeps it, and replays it


async def test_history_records_and_loads_incomplete_calls_and_synthesis(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "history.sqlite3")
    try:
        provider = FakeProvider(
            {
                "a": Script(position="A cut", finish_reason="length", finish_phases=("position",)),
                "b": Script(),
                "synth": Script(draft="DRAFT cut", finish_reason="content_filter", finish_phases=("draft",)),
            }
        )
        recorder = RunRecorder(store, config={"models": {"synth": {"id": "synth", "provider": "fake"}}})
        live = await Run(request(["a", "b"]), lookup(provider), recorder).execute()
        assert await store.recorded(live.run_id) is None
        row = store._db.execute(
            "SELECT status, error, content, finish_reason FROM calls WHERE alias = 'a' AND phase = 'position'"
        ).fetchone()
        assert tuple(row) == ("incomplete", CUT_4096, "A cut", "length")
        loaded = store.load(live.run_id)
        assert loaded.model_dump() == live.model_dump()
        assert loaded.positions[0] is not None and loaded.positions[0].status is CallStatus.INCOMPLETE
        assert loaded.synthesis_incomplete == FILTERED
        replayed = [e for e in replay_events(loaded) if isinstance(e, ev.SynthesisFinished)]
        assert [e.incomplete for e in replayed] == [FILTERED]
    finally:
        store.close()


# ------------------------------------------------------------------------------------------------
# 5. the CLI: progress, --json, show


def test_cli_run_and_show_say_incomplete(
    server: WireServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-FAKE-0001")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-FAKE-0002")
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
    server.script("gpt-6-sol", Scenario(text="Sol starts and is cut", finish_reason="length"))
    server.default_scenario = Scenario(text="A whole synthesis.")
    argv = ["run", "Ship it?", "-m", "gpt-sol", "--synthesizer", "claude-sonnet", "--mode", "consult"]
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    sent = next(r for r in server.requests if r.body.get("model") == "gpt-6-sol")
    limit = sent.body["max_completion_tokens"]
    reason = f"cut off at the {limit:,}-token output limit"
    data = json.loads(out)
    position = data["positions"][0]
    assert position["status"] == "incomplete" and position["error"] == reason
    assert position["content"] == "Sol starts and is cut" and position["finish_reason"] == "length"
    assert data["status"] == "success" and data["synthesis_incomplete"] is None
    assert f"gpt-sol (neutral) incomplete ({reason})" in err

    assert main(["show", data["run_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["positions"][0]["status"] == "incomplete" and shown["positions"][0]["error"] == reason
    assert main(["show", data["run_id"]]) == 0
    assert f"incomplete: {reason}" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# 6. the dashboard


async def settle(app: Any, pilot: Any) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush_now()
    await pilot.pause()


async def test_member_pane_and_synthesis_pane_flag_incomplete() -> None:
    app, _ = make_app(
        ["alpha:for", "beta:against"],
        {
            "beta": Script(position=CALM_POSITION, finish_reason="length", finish_phases=("position",)),
            "synth": Script(draft="DRAFT: stage it and", finish_reason="length", finish_phases=("draft",)),
        },
    )
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Adopt X?")
        await settle(app, pilot)
        alpha, beta = app.panes
        assert alpha.status is CallState.DONE
        # the cut-off answer stays marked through its review, which succeeded
        assert beta.status is CallState.INCOMPLETE
        info = beta.info_text().plain
        assert f"{CALL_MARKS[CallState.INCOMPLETE]} incomplete" in info
        reason = "cut off at the 1,000-token output limit"
        assert reason in beta.body.text and "staged rollout" in beta.body.text
        assert app.synthesis.incomplete == reason
        assert "INCOMPLETE" in app.synthesis.info_text().plain
        assert reason in app.synthesis.body.text
        assert app.shown_result is not None and app.shown_result.synthesis_incomplete == reason


def test_snapshot_incomplete(snap_compare: Any) -> None:
    """You should see beta's pane '◐ incomplete' in the warning colour with the cut-off reason under
    its answer, and the synthesis pane's UNANIMOUS badge followed by an INCOMPLETE one, with the
    reason flagged under the draft."""
    app, _ = make_app(
        ["alpha:for", "beta:against", "gamma:neutral"],
        {
            "beta": Script(position=CALM_POSITION, finish_reason="length", finish_phases=("position",)),
            "synth": Script(draft="DRAFT: stage it and", finish_reason="length", finish_phases=("draft",)),
        },
    )

    async def run_before(pilot: Any) -> None:
        question = "Should we move the job queue to Postgres?"
        pilot.app.query_one("#prompt").load_text(question)
        pilot.app.submit(question)
        await pilot.app.workers.wait_for_complete()
        await pilot.app.workers.wait_for_complete()  # the run the cache's lookup started
        await pilot.pause()
        pilot.app.flush_now()
        pilot.app.set_focus(None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 50), run_before=run_before)
