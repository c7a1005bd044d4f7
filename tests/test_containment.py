"""Failure containment: a broken event sink or a bug in the engine ends the run as failed, visibly.

The sink under test always comes first in `fan_out`, so the second sink (standing in for the
history recorder) shows what the rest of the app still gets. The members that would otherwise
hang have a short deadline only so that a regression fails instead of hanging.
"""

from __future__ import annotations

import logging

import pytest

from tests.fakes import BrokenSink, FakeProvider, Script, lookup, request
from tui.engine import events as ev
from tui.engine import orchestrator
from tui.engine.orchestrator import Run
from tui.engine.types import CallResult, CallStatus, Mode, RunResult, RunStatus

SINK_FAILED = "internal error while showing or recording this run: ValueError: boom (see the log)"


def scripts(**kw: Script) -> dict[str, Script]:
    return {"synth": Script(), **kw}


async def run_with(
    provider: FakeProvider, broken: BrokenSink, mode: Mode = Mode.DELIBERATE
) -> tuple[Run, RunResult, list[ev.Event]]:
    """Run members a and b with `broken` first in the sinks; the run, its result, what sink two saw."""
    seen: list[ev.Event] = []
    run = Run(request(["a", "b"], mode=mode), lookup(provider), ev.fan_out(broken, seen.append))
    for member in run.request.members:
        member.deadline_s = 5.0
    result = await run.execute()
    return run, result, seen


def assert_failed_visibly(run: Run, result: RunResult, seen: list[ev.Event], error: str) -> None:
    """Ended as failed with `error`, the other sink heard it last, and every call was closed."""
    assert run.phase == "done"
    assert result.status is RunStatus.ERROR
    assert result.errors[-1] == error
    assert result.finished_at is not None
    last = seen[-1]
    assert isinstance(last, ev.RunFailed) and last.errors[-1] == error
    started = {e.call_id for e in seen if isinstance(e, ev.CallStarted)}
    finished = {e.result.call_id for e in seen if isinstance(e, ev.CallFinished)}
    assert started == finished == {c.call_id for c in result.calls}
    # The sink's fault is never put on a member.
    assert not [c for c in result.calls if c.status is CallStatus.ERROR]
    assert all("boom" not in (c.error or "") for c in result.calls)


def call_of(result: RunResult, alias: str, phase: str = "position") -> CallResult:
    [call] = [c for c in result.calls if c.alias == alias and c.phase.value == phase]
    return call


# --- fan_out ---------------------------------------------------------------------------------


def test_fan_out_hands_every_event_to_every_sink_then_raises_the_first_error() -> None:
    got: list[str] = []

    def broken(_event: ev.Event) -> None:
        got.append("broken")
        raise ValueError("first")

    def also_broken(_event: ev.Event) -> None:
        got.append("also broken")
        raise KeyError("second")

    sink = ev.fan_out(broken, also_broken, lambda _event: got.append("healthy"))
    with pytest.raises(ValueError, match="first"):
        sink(ev.Notice("hello"))
    assert got == ["broken", "also broken", "healthy"]


# --- a broken sink ---------------------------------------------------------------------------


async def test_sink_failing_on_run_started_fails_the_run_before_any_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    broken = BrokenSink(lambda e: isinstance(e, ev.RunStarted))
    # On the logger itself: the CLI's log set-up (in other tests) stops `tui` records propagating.
    logger = logging.getLogger("tui.engine")
    logger.addHandler(caplog.handler)
    try:
        run, result, seen = await run_with(provider, broken)
    finally:
        logger.removeHandler(caplog.handler)
    assert_failed_visibly(run, result, seen, SINK_FAILED)
    assert isinstance(seen[0], ev.RunStarted)  # the other sink still had it
    assert provider.requests == [] and result.calls == []
    logged = [r for r in caplog.records if "event sink failed on RunStarted" in r.getMessage()]
    assert logged and all(r.exc_info for r in logged)  # with its traceback


async def test_sink_failing_on_streamed_text_cancels_the_calls_instead_of_failing_the_member() -> None:
    provider = FakeProvider(scripts(a=Script(position="AAAA-BBBB-CCCC"), b=Script(hang=True)))
    broken = BrokenSink(lambda e: isinstance(e, ev.TextDelta) and e.member_index == 0)
    run, result, seen = await run_with(provider, broken)
    assert_failed_visibly(run, result, seen, SINK_FAILED)
    a, b = call_of(result, "a"), call_of(result, "b")
    assert a.status is CallStatus.CANCELLED and a.content == "AAAA"  # what arrived is kept
    assert b.status is CallStatus.CANCELLED and b.content == "partial "
    assert provider.cancelled == ["b:position"]
    assert not [r for r in provider.requests if r.phase != "position"]


async def test_sink_failing_on_one_members_call_finished_stops_the_others() -> None:
    provider = FakeProvider(scripts(a=Script(position="DONE-A"), b=Script(hang=True)))
    broken = BrokenSink(lambda e: isinstance(e, ev.CallFinished) and e.result.alias == "a")
    run, result, seen = await run_with(provider, broken)
    assert_failed_visibly(run, result, seen, SINK_FAILED)
    a, b = result.positions
    assert a is not None and a.status is CallStatus.SUCCESS and a.content == "DONE-A"
    assert b is not None and b.status is CallStatus.CANCELLED and b.content == "partial "
    assert provider.cancelled == ["b:position"]


async def test_sink_failing_on_the_synthesizers_text_keeps_what_it_wrote() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    broken = BrokenSink(lambda e: isinstance(e, ev.SynthesisDelta))
    run, result, seen = await run_with(provider, broken, mode=Mode.CONSULT)
    assert_failed_visibly(run, result, seen, SINK_FAILED)
    draft = call_of(result, "synth", "draft")
    assert draft.status is CallStatus.CANCELLED
    assert draft.content and "DRAFT proposal".startswith(draft.content)  # what arrived is kept
    assert result.synthesis is None


async def test_sink_failing_on_run_finished_turns_the_run_into_a_failure() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    broken = BrokenSink(lambda e: isinstance(e, ev.RunFinished))
    run, result, seen = await run_with(provider, broken)
    assert_failed_visibly(run, result, seen, SINK_FAILED)
    assert [type(e) for e in seen[-2:]] == [ev.RunFinished, ev.RunFailed]
    assert result.synthesis == "DRAFT proposal"  # the answer is kept, the run still failed


async def test_sink_failing_on_every_event_still_ends_the_run() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    broken = BrokenSink(lambda _e: True)
    run, result, seen = await run_with(provider, broken)
    assert_failed_visibly(run, result, seen, SINK_FAILED)
    assert result.errors == [SINK_FAILED]  # one line, however often the sink failed
    assert isinstance(broken.raised_on[-1], ev.RunFailed)  # it was told, and failing again was only logged


async def test_a_cancel_with_a_healthy_sink_is_still_a_cancel() -> None:
    provider = FakeProvider(scripts(a=Script(hang=True)))
    seen: list[ev.Event] = []

    def cancel_once_streaming(event: ev.Event) -> None:
        seen.append(event)
        if isinstance(event, ev.FirstToken):
            run.cancel()

    run = Run(request(["a"]), lookup(provider), cancel_once_streaming)
    result = await run.execute()
    assert run.phase == "done"
    assert result.status is RunStatus.CANCELLED and result.errors == []
    assert isinstance(seen[-1], ev.RunCancelled)


# --- a bug in the engine ---------------------------------------------------------------------


async def test_a_bug_in_the_engine_fails_the_run_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_rule(*_args: object, **_named: object) -> None:
        raise RuntimeError("rule bug")

    monkeypatch.setattr(orchestrator, "decide_round", broken_rule)
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    run, result, seen = await run_with(provider, BrokenSink(lambda _e: False))
    assert_failed_visibly(run, result, seen, "internal error: RuntimeError: rule bug (see the log)")
    assert result.rounds[0].status.value == "failed"


async def test_a_bug_in_one_review_stops_the_other_reviews(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_parser(_reply: str) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(orchestrator, "parse_vote", broken_parser)
    provider = FakeProvider(scripts(a=Script(), b=Script(hang=True, fail_phases=("vote",))))
    run, result, seen = await run_with(provider, BrokenSink(lambda _e: False))
    assert_failed_visibly(run, result, seen, "internal error: RuntimeError: parser bug (see the log)")
    vote = call_of(result, "b", "vote")
    assert vote.status is CallStatus.CANCELLED and vote.content == "partial "
    assert provider.cancelled == ["b:vote"]
