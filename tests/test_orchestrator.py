"""The orchestrator: concurrency, ordering, failures, blind first round, rounds, cancel, budget."""

from __future__ import annotations

import asyncio

import pytest

from tests.fakes import FakeProvider, Script, lookup, rate_limited, request
from tui.engine import events as ev
from tui.engine.orchestrator import Run, run_panel
from tui.engine.provider import ErrorKind, ProviderError
from tui.engine.quorum import standing
from tui.engine.types import CallStatus, Mode, Outcome, Phase, RoundStatus, RunStatus, Stance, VoteValue


def scripts(**kw: Script) -> dict[str, Script]:
    return {"synth": Script(), **kw}


# --- the concurrency design: parallel phases, panel order, one failure, cancelling -----------


async def test_wall_time_is_close_to_the_slowest_member_not_the_sum() -> None:
    provider = FakeProvider(scripts(a=Script(delay_s=0.3), b=Script(delay_s=0.3), c=Script(delay_s=0.3)))
    events: list[ev.Event] = []
    result = await run_panel(request(["a", "b", "c"], mode=Mode.CONSULT), lookup(provider), events.append)
    assert result.status is RunStatus.SUCCESS
    # The positions run side by side: all three start before the first one finishes. Read from
    # the order of events, not a stopwatch, so a busy machine cannot fail (or pass) this by luck.
    marks = [
        "start" if isinstance(e, ev.CallStarted) else "end"
        for e in events
        if (isinstance(e, ev.CallStarted) and e.phase is Phase.POSITION)
        or (isinstance(e, ev.CallFinished) and e.result.phase is Phase.POSITION)
    ]
    assert marks == ["start"] * 3 + ["end"] * 3, marks


async def test_one_failing_member_does_not_stop_synthesis() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(fail=rate_limited()), c=Script()))
    result = await run_panel(request(["a", "b", "c"]), lookup(provider))
    assert result.status is RunStatus.SUCCESS
    assert result.synthesis == "DRAFT proposal"
    failed = result.positions[1]
    assert failed is not None and failed.status is CallStatus.ERROR
    assert failed.error_kind == "rate_limit" and "429" in (failed.error or "")
    # a member whose position failed does not vote
    assert [v.alias for v in result.rounds[0].votes] == ["a", "c"]


async def test_all_members_failing_fails_the_run_with_every_error() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(fail=rate_limited()),
            b=Script(
                fail=ProviderError(ErrorKind.AUTH, "fake rejected the API key (HTTP 401); check FAKE_KEY")
            ),
        )
    )
    events: list[ev.Event] = []
    result = await run_panel(request(["a", "b"]), lookup(provider), events.append)
    assert result.status is RunStatus.ERROR
    assert result.synthesis is None
    assert any("a: rate limited" in e for e in result.errors)
    assert any("b: fake rejected the API key" in e and "FAKE_KEY" in e for e in result.errors)
    failed = [e for e in events if isinstance(e, ev.RunFailed)]
    assert len(failed) == 1 and len(failed[0].errors) == 3
    # no synthesizer call was wasted on nothing
    assert all(r.phase == "position" for r in provider.requests)


async def test_panel_order_is_kept_when_delays_invert_completion_order() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(delay_s=0.15, position="A"),
            b=Script(delay_s=0.10, position="B"),
            c=Script(delay_s=0.05, position="C"),
            d=Script(delay_s=0.0, position="D"),
        )
    )
    finished: list[str] = []
    result = await run_panel(
        request(["a", "b", "c", "d"], mode=Mode.CONSULT),
        lookup(provider),
        lambda e: finished.append(e.result.alias) if isinstance(e, ev.CallFinished) else None,
    )
    assert finished[:4] == ["d", "c", "b", "a"]  # completion order really was inverted
    assert [p.content for p in result.positions if p] == ["A", "B", "C", "D"]
    assert [p.alias for p in result.positions if p] == ["a", "b", "c", "d"]


# --- round 1 is blind ------------------------------------------------------------------------


async def test_round_one_members_see_only_the_question() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(position="SECRET-FROM-A"),
            b=Script(position="SECRET-FROM-B", delay_s=0.05),
        )
    )
    req = request(["a", "b"], stances=[Stance.FOR, Stance.AGAINST], focus=["cost"])
    await run_panel(req, lookup(provider))
    positions = [r for r in provider.requests if r.phase == "position"]
    assert len(positions) == 2
    for sent in positions:
        text = sent.system + "".join(m.content for m in sent.messages)
        assert "Should we adopt X?" in text and "cost" in text
        assert "SECRET-FROM" not in text
    assert "advocate" in positions[0].system and "critic" in positions[1].system
    # later phases do carry the positions
    drafts = [r for r in provider.requests if r.phase == "draft"]
    assert (
        "SECRET-FROM-A" in drafts[0].messages[0].content and "SECRET-FROM-B" in drafts[0].messages[0].content
    )


# --- rounds and outcomes ---------------------------------------------------------------------


async def test_unanimous_in_round_one_ends_the_run() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    result = await run_panel(request(["a", "b"]), lookup(provider))
    assert result.outcome is Outcome.UNANIMOUS and result.rounds_used == 1
    assert result.rounds[0].tally.accept == 2


async def test_majority_in_last_round() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(votes=["VERDICT: ACCEPT"]),
            b=Script(votes=["VERDICT: ACCEPT"]),
            c=Script(votes=["VERDICT: REJECT\n- too vague"]),
        )
    )
    result = await run_panel(request(["a", "b", "c"], max_rounds=2), lookup(provider))
    assert result.outcome is Outcome.MAJORITY and result.rounds_used == 2
    assert result.rounds[0].status is RoundStatus.CONTINUE
    revisions = [r for r in provider.requests if r.phase == "draft"]
    assert len(revisions) == 2 and "too vague" in revisions[1].messages[0].content


async def test_curator_decides_without_majority() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(votes=["VERDICT: ACCEPT"]),
            b=Script(votes=["VERDICT: REJECT\n- no"]),
            c=Script(votes=["I think it is fine"]),  # invalid, never an accept
        )
    )
    result = await run_panel(request(["a", "b", "c"], max_rounds=1), lookup(provider))
    assert result.outcome is Outcome.CURATOR_OVERRIDE
    assert result.synthesis == "CURATOR decision"
    votes = result.rounds[0].votes
    assert [v.value for v in votes] == [VoteValue.ACCEPT, VoteValue.REJECT, VoteValue.INVALID]
    curator = [r for r in provider.requests if r.phase == "curator"]
    assert len(curator) == 1 and "no majority" in curator[0].messages[0].content


async def test_failed_vote_is_no_vote() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(),
            b=Script(fail=rate_limited(), fail_phases=("vote",)),
            c=Script(votes=["VERDICT: REJECT\n- no"]),
        )
    )
    result = await run_panel(request(["a", "b", "c"]), lookup(provider))
    tally = result.rounds[0].tally
    assert (tally.accept, tally.reject, tally.none) == (1, 1, 1)
    assert result.rounds[0].votes[1].reason and "429" in result.rounds[0].votes[1].reason
    # b was asked to vote and did not accept: never unanimous, and 1 of 3 is no majority (2 valid
    # votes of 3 seats are a quorum, so the curator decides)
    assert [r.status for r in result.rounds[:2]] == [RoundStatus.CONTINUE, RoundStatus.CONTINUE]
    assert result.outcome is Outcome.CURATOR_OVERRIDE and result.rounds_used == 3


# The reported run: one valid accept, no reject, and four members who did not vote properly.
SPOILT = {
    "b": "VERDICT: REJECT\n- no rollback plan\nOn reflection, VERDICT: ACCEPT\nVERDICT: REJECT",
    "c": "I think the draft is fine overall.",
    "d": "VERDICT: ACCEPT REJECT",
    "e": "Mostly good.\nVERDICT: ACCEPT",
}
SPOILT_WHY = "4 invalid votes: two verdict lines, no verdict line, both words, verdict after prose"


def spoilt_panel(**instead: Script) -> FakeProvider:
    """a accepts, b to e spoil their votes; `instead` gives some of them other scripts."""
    spoilt = {alias: Script(votes=[reply]) for alias, reply in SPOILT.items()}
    return FakeProvider(scripts(a=Script(), **{**spoilt, **instead}))


async def test_invalid_votes_never_make_a_round_unanimous() -> None:
    provider = spoilt_panel()
    result = await run_panel(request(["a", "b", "c", "d", "e"]), lookup(provider))
    first = result.rounds[0]
    assert (first.tally.accept, first.tally.reject, first.tally.invalid) == (1, 0, 4)
    assert first.outcome is None and first.status is RoundStatus.CONTINUE  # round 1 of 3 goes on
    assert [v.reason for v in first.votes] == [
        None,
        "two verdict lines",
        "no verdict line",
        "both words",
        "verdict after prose",
    ]
    # every round is counted the same way; 1 valid vote of 5 seats is no quorum in any of them,
    # so the last one ends the run with no decision (and no curator: it decides only with a quorum)
    assert [r.status for r in result.rounds] == [
        RoundStatus.CONTINUE,
        RoundStatus.CONTINUE,
        RoundStatus.DECIDED,
    ]
    assert result.outcome is Outcome.NO_QUORUM and result.rounds_used == 3
    assert result.synthesis == "DRAFT proposal"
    assert result.rounds[2].note == "no quorum: 1 of 5 members cast a valid vote, 3 needed"
    # the revision hears why the votes were invalid
    revision = [r for r in provider.requests if r.phase == "draft"][1]
    assert "d: (invalid vote: both words)" in revision.messages[0].content


async def test_last_round_majority_counts_every_member_asked_to_vote() -> None:
    # 2 accepts and 2 invalid votes: unanimous of the valid votes, but 2 valid votes of 4 seats
    # are no quorum: no decision (once, an "accept" of the valid votes alone)
    provider = FakeProvider(
        scripts(a=Script(), b=Script(), c=Script(votes=[SPOILT["c"]]), d=Script(votes=[SPOILT["d"]]))
    )
    result = await run_panel(request(["a", "b", "c", "d"], max_rounds=1), lookup(provider))
    assert result.outcome is Outcome.NO_QUORUM
    # 2 accepts, 1 reject and 2 invalid of 5: a quorum, but 2 of 5 asked is not above half, and
    # the curator is told how the vote went
    provider = spoilt_panel(b=Script(), c=Script(votes=["VERDICT: REJECT\n- no"]))
    result = await run_panel(request(["a", "b", "c", "d", "e"], max_rounds=1), lookup(provider))
    assert result.outcome is Outcome.CURATOR_OVERRIDE
    note = result.rounds[0].note or ""
    assert "2 of 5" in note and "2 invalid" in note
    # 3 accepts of 5 asked is above half: a majority, whatever the other two were
    provider = spoilt_panel(b=Script(), c=Script())
    result = await run_panel(request(["a", "b", "c", "d", "e"], max_rounds=1), lookup(provider))
    assert result.outcome is Outcome.MAJORITY
    assert (result.rounds[0].tally.accept, result.rounds[0].tally.invalid) == (3, 2)


async def test_decorated_votes_count() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(votes=["**VERDICT: ACCEPT**"]),
            b=Script(votes=["## VERDICT: ACCEPT\n- tighten the wording"]),
            c=Script(votes=["VERDICT: **ACCEPT**."]),
        )
    )
    result = await run_panel(request(["a", "b", "c"]), lookup(provider))
    assert result.outcome is Outcome.UNANIMOUS and result.rounds_used == 1
    assert result.rounds[0].votes[1].objections == ["tighten the wording"]


async def test_invalid_votes_are_explained_in_the_report_and_progress() -> None:
    from io import StringIO

    from tui.cli.progress import ProgressPrinter
    from tui.render.report import render_markdown

    stderr = StringIO()
    result = await run_panel(
        request(["a", "b", "c", "d", "e"], max_rounds=2), lookup(spoilt_panel()), ProgressPrinter(stderr)
    )
    report = render_markdown(result)
    assert report.count(SPOILT_WHY) == 2  # once per round
    assert "| b | invalid | two verdict lines |" in report
    rounds = [line for line in stderr.getvalue().splitlines() if "] round 1:" in line]
    assert len(rounds) == 1 and rounds[0].endswith(SPOILT_WHY), rounds


async def test_consult_mode_reads_agreement() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(position="Conclusion: yes\nLean: favourable\nConfidence: 8/10"),
            b=Script(position="Conclusion: no\nLean: unfavourable\nConfidence: 6/10"),
        )
    )
    result = await run_panel(request(["a", "b"], mode=Mode.CONSULT), lookup(provider))
    assert result.outcome is None and result.synthesis == "DRAFT proposal"
    assert result.agreement is not None
    assert (result.agreement.favourable, result.agreement.unfavourable) == (1, 1)
    assert result.agreement.mean_confidence == 7.0


# --- synthesizer fallbacks -------------------------------------------------------------------


async def test_synthesizer_falls_back_in_order() -> None:
    provider = FakeProvider(
        {
            "s1": Script(fail=ProviderError(ErrorKind.SERVER, "fake had a server error (HTTP 500)")),
            "s2": Script(draft="FROM S2"),
            "a": Script(),
        }
    )
    events: list[ev.Event] = []
    result = await run_panel(request(["a"], synth=["s1", "s2"]), lookup(provider), events.append)
    assert result.status is RunStatus.SUCCESS and result.synthesis == "FROM S2" and result.synthesizer == "s2"
    assert any(isinstance(e, ev.Notice) and "trying s2" in e.message for e in events)


async def test_all_synthesizers_failing_fails_the_run_but_keeps_positions() -> None:
    boom = ProviderError(ErrorKind.SERVER, "fake had a server error (HTTP 500)")
    provider = FakeProvider({"s1": Script(fail=boom), "s2": Script(fail=boom), "a": Script(position="KEPT")})
    result = await run_panel(request(["a"], synth=["s1", "s2"]), lookup(provider))
    assert result.status is RunStatus.ERROR
    assert "all failed" in result.errors[0]
    assert result.positions[0] is not None and result.positions[0].content == "KEPT"


async def test_a_failed_draft_is_decided_before_the_run_ends() -> None:
    """The run's end is always its last event, also when its round fails."""
    boom = ProviderError(ErrorKind.SERVER, "fake had a server error (HTTP 500)")
    provider = FakeProvider({"s1": Script(fail=boom), "a": Script()})
    events: list[ev.Event] = []
    result = await run_panel(request(["a"], synth=["s1"]), lookup(provider), events.append)
    assert result.rounds[0].status is RoundStatus.FAILED
    assert [type(e) for e in events[-2:]] == [ev.RoundDecided, ev.RunFailed]


# --- time limits, cancellation ---------------------------------------------------------------


async def test_call_deadline_fails_only_the_hanging_member() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(hang=True)))
    req = request(["a", "b"], mode=Mode.CONSULT)
    req.members[1].deadline_s = 0.2
    # A guard against hanging for ever (the hang is an hour), not a timing assertion.
    result = await asyncio.wait_for(run_panel(req, lookup(provider)), timeout=60)
    hung = result.positions[1]
    assert hung is not None and hung.error_kind == "timeout" and "0.2 s deadline" in (hung.error or "")
    assert hung.content == "partial "  # what arrived is kept
    assert result.status is RunStatus.SUCCESS


async def test_cancel_keeps_what_arrived_and_cancels_in_flight_calls() -> None:
    provider = FakeProvider(scripts(a=Script(position="DONE-A"), b=Script(hang=True)))
    events: list[ev.Event] = []
    run = Run(request(["a", "b"]), lookup(provider), events.append)
    task = asyncio.create_task(run.execute())
    while not any(isinstance(e, ev.CallFinished) for e in events):
        await asyncio.sleep(0.01)
    while not any(isinstance(e, ev.TextDelta) and e.member_index == 1 for e in events):
        await asyncio.sleep(0)  # b's first words, before it hangs
    run.cancel()
    result = await task  # our own cancel returns the result instead of raising
    assert result.status is RunStatus.CANCELLED
    assert provider.cancelled == ["b:position"]
    a, b = result.positions
    assert a is not None and a.status is CallStatus.SUCCESS and a.content == "DONE-A"
    assert b is not None and b.status is CallStatus.CANCELLED and b.content == "partial "
    assert isinstance(events[-1], ev.RunCancelled)


async def test_outer_task_cancellation_propagates_after_recording() -> None:
    provider = FakeProvider(scripts(a=Script(hang=True)))
    run = Run(request(["a"]), lookup(provider))
    task = asyncio.create_task(run.execute())
    while not provider.requests:
        await asyncio.sleep(0)  # the call is made, and hangs
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.result.status is RunStatus.CANCELLED
    assert run.result.positions == [] or run.result.calls[0].status is CallStatus.CANCELLED


async def test_stream_without_finish_is_truncated_not_success() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(no_finish=True)))
    result = await run_panel(request(["a", "b"], mode=Mode.CONSULT), lookup(provider))
    cut = result.positions[1]
    assert cut is not None and cut.status is CallStatus.ERROR and cut.error_kind == "truncated"


async def test_empty_answer_is_an_error() -> None:
    provider = FakeProvider(scripts(a=Script(position="   ")))
    result = await run_panel(request(["a"], mode=Mode.CONSULT), lookup(provider))
    assert result.positions[0] is not None and result.positions[0].error_kind == "empty"
    assert result.status is RunStatus.ERROR


async def test_unexpected_adapter_exception_costs_one_pane() -> None:
    class Broken(FakeProvider):
        async def _stream(self, request):
            if request.model_id == "b":
                raise RuntimeError("adapter bug")
            async for item in super()._stream(request):
                yield item

    provider = Broken(scripts(a=Script(), b=Script()))
    result = await run_panel(request(["a", "b"]), lookup(provider))
    assert result.status is RunStatus.SUCCESS
    assert result.positions[1] is not None and "adapter bug" in (result.positions[1].error or "")


# --- the quorum: a round decides only when more than half of the seats cast a valid vote -----


def phases(provider: FakeProvider, model: str = "synth") -> list[str]:
    return [r.phase.value for r in provider.requests if r.model_id == model]


async def test_a_failed_member_is_missing_from_the_outcome_and_in_the_errors() -> None:
    """The repro: a panel of three where one member failed said UNANIMOUS, success, errors []."""
    provider = FakeProvider(scripts(a=Script(), b=Script(), c=Script(fail=rate_limited())))
    events: list[ev.Event] = []
    result = await run_panel(request(["a", "b", "c"]), lookup(provider), events.append)
    assert (result.status, result.outcome) == (RunStatus.SUCCESS, Outcome.UNANIMOUS)  # 2 of 3 is a quorum
    rests_on = standing(result)
    assert (rests_on.voters, rests_on.seats, rests_on.answered) == (2, 3, 2)
    [missing] = rests_on.missing
    assert (missing.member_index, missing.alias, missing.phase, missing.vote) == (
        2,
        "c",
        Phase.POSITION,
        None,
    )
    assert missing.reason.startswith("rate limited by fake (HTTP 429)")
    assert result.errors == [f"c: position failed: {missing.reason}"]
    # the round's event says the same, derived the same way
    decided = [e for e in events if isinstance(e, ev.RoundDecided)]
    assert [e.standing for e in decided] == [rests_on]


async def test_a_failed_review_is_an_error_and_missing_too() -> None:
    provider = FakeProvider(
        scripts(a=Script(), b=Script(), c=Script(fail=rate_limited(), fail_phases=("vote",)))
    )
    result = await run_panel(request(["a", "b", "c"], max_rounds=1), lookup(provider))
    assert result.outcome is Outcome.MAJORITY  # 2 of 3 asked accepted; 2 valid votes of 3 seats
    [missing] = standing(result).missing
    assert (missing.alias, missing.phase, missing.vote) == ("c", Phase.VOTE, VoteValue.NONE)
    assert result.errors == [f"c: round 1 review failed: {missing.reason}"]


async def test_one_of_three_answering_is_no_quorum_drafted_once_and_never_voted_on() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(fail=rate_limited()), c=Script(fail=rate_limited())))
    events: list[ev.Event] = []
    result = await run_panel(request(["a", "b", "c"]), lookup(provider), events.append)
    assert (result.status, result.outcome) == (RunStatus.SUCCESS, Outcome.NO_QUORUM)
    assert result.synthesis == "DRAFT proposal" and result.rounds_used == 1  # shown, marked no quorum
    # no round could decide: one draft, and no vote, revision or curator to pay for
    assert phases(provider) == ["draft"] and phases(provider, "a") == ["position"]
    [round_] = result.rounds
    assert (round_.votes, round_.outcome, round_.status) == ([], Outcome.NO_QUORUM, RoundStatus.DECIDED)
    assert round_.note == "no quorum: 1 of 3 members answered, 2 needed; the draft is not put to a vote"
    rests_on = standing(result)
    assert (rests_on.voters, rests_on.answered, [m.alias for m in rests_on.missing]) == (None, 1, ["b", "c"])
    assert [e.split(":")[0] for e in result.errors] == ["b", "c"]
    [finished] = [e for e in events if isinstance(e, ev.SynthesisFinished)]
    assert finished.outcome is Outcome.NO_QUORUM


async def test_votes_that_never_make_a_quorum_end_the_run_without_the_curator() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(votes=[SPOILT["c"]]), c=Script(votes=[SPOILT["d"]])))
    result = await run_panel(request(["a", "b", "c"]), lookup(provider))
    # 1 valid vote of 3 seats: each round goes on while a quorum is possible, the last one ends it
    assert [r.status for r in result.rounds] == [
        RoundStatus.CONTINUE,
        RoundStatus.CONTINUE,
        RoundStatus.DECIDED,
    ]
    assert result.outcome is Outcome.NO_QUORUM and result.status is RunStatus.SUCCESS
    assert "curator" not in phases(provider) and result.synthesis == "DRAFT proposal"
    assert result.rounds[-1].note == "no quorum: 1 of 3 members cast a valid vote, 2 needed"
    assert result.errors == []  # invalid votes are no failures: missing, with their reasons
    assert [m.reason for m in standing(result).missing] == ["no verdict line", "both words"]


async def test_a_quorum_of_every_seat_is_configurable() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(), c=Script(fail=rate_limited())))
    result = await run_panel(request(["a", "b", "c"], quorum=1.0), lookup(provider))
    assert result.outcome is Outcome.NO_QUORUM and phases(provider) == ["draft"]
    assert (
        result.rounds[0].note
        == "no quorum: 2 of 3 members answered, 3 needed; the draft is not put to a vote"
    )
    assert result.asked is not None and result.asked.quorum == 1.0


async def test_the_budget_does_not_call_the_curator_without_a_quorum() -> None:
    spoilt = Script(votes=[SPOILT["c"]])
    provider = FakeProvider(scripts(a=spoilt, b=spoilt))
    events: list[ev.Event] = []
    # enough for round 1, not for round 2
    result = await run_panel(
        request(["a", "b"], token_budget=4000, max_rounds=5), lookup(provider), events.append
    )
    assert result.outcome is Outcome.NO_QUORUM and result.rounds_used == 2
    assert "curator" not in phases(provider)
    note = result.rounds[-1].note or ""
    assert note.startswith("token budget: ") and note.endswith(
        f"and round {result.rounds_used - 1} had no quorum: no decision"
    )


# --- accounting and budget -------------------------------------------------------------------


async def test_tokens_and_cost_per_call_round_and_run() -> None:
    provider = FakeProvider(scripts(a=Script(usage=(1000, 500)), b=Script(usage=(1000, 500))))
    result = await run_panel(request(["a", "b"]), lookup(provider))
    # each call: 1000 in at $1/M + 500 out at $2/M = $0.002
    position = result.positions[0]
    assert position is not None and position.cost_usd == pytest.approx(0.002)
    calls = result.calls
    assert result.totals.input_tokens == sum(c.input_tokens for c in calls)
    assert result.totals.cost_usd == pytest.approx(sum(c.cost_usd for c in calls))
    assert result.rounds[0].input_tokens == result.totals.input_tokens
    assert not result.totals.tokens_estimated


async def test_missing_usage_is_estimated_and_flagged() -> None:
    provider = FakeProvider(scripts(a=Script(usage=None)))
    result = await run_panel(request(["a"], mode=Mode.CONSULT), lookup(provider))
    assert result.positions[0] is not None and result.positions[0].tokens_estimated
    assert result.totals.tokens_estimated


async def test_refused_call_costs_nothing() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script(fail=rate_limited())))
    result = await run_panel(request(["a", "b"], mode=Mode.CONSULT), lookup(provider))
    refused = result.positions[1]
    assert refused is not None and (refused.input_tokens, refused.output_tokens, refused.cost_usd) == (
        0,
        0,
        0,
    )


async def test_token_budget_goes_to_the_curator_early_and_says_why() -> None:
    provider = FakeProvider(
        scripts(a=Script(votes=["VERDICT: REJECT\n- no"]), b=Script(votes=["VERDICT: REJECT\n- no"]))
    )
    events: list[ev.Event] = []
    result = await run_panel(
        request(["a", "b"], token_budget=2500, max_rounds=5), lookup(provider), events.append
    )
    assert result.outcome is Outcome.CURATOR_OVERRIDE
    assert result.rounds_used < 5
    assert any("token budget" in note for note in result.notes)
    assert any(isinstance(e, ev.Notice) and "token budget" in e.message for e in events)


async def test_context_too_long_is_not_sent() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    req = request(["a", "b"], mode=Mode.CONSULT)
    req.members[1].context_window = 50
    result = await run_panel(req, lookup(provider))
    tiny = result.positions[1]
    assert tiny is not None and tiny.error_kind == "context_too_long" and "not sent" in (tiny.error or "")
    assert [r.model_id for r in provider.requests if r.phase == "position"] == ["a"]


# --- the event stream ------------------------------------------------------------------------


async def test_event_stream_tells_the_whole_story() -> None:
    provider = FakeProvider(scripts(a=Script(), b=Script()))
    events: list[ev.Event] = []
    result = await run_panel(request(["a", "b"]), lookup(provider), events.append)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    for needed in (
        "RoundStarted",
        "CallStarted",
        "FirstToken",
        "TextDelta",
        "SynthesisDelta",
        "CallFinished",
        "VoteCast",
        "RoundDecided",
        "SynthesisFinished",
    ):
        assert needed in kinds, needed
    deltas = "".join(
        e.text
        for e in events
        if isinstance(e, ev.TextDelta) and e.member_index == 0 and e.phase is Phase.POSITION
    )
    assert result.positions[0] is not None and deltas == result.positions[0].content
    started = {e.call_id for e in events if isinstance(e, ev.CallStarted)}
    finished = {e.result.call_id for e in events if isinstance(e, ev.CallFinished)}
    assert started == finished == {c.call_id for c in result.calls}


# --- partial reruns --------------------------------------------------------------------------


async def test_rerun_reuses_positions_and_sends_only_the_rest() -> None:
    provider = FakeProvider(scripts(a=Script(position="A1"), b=Script(fail=rate_limited())))
    first = await run_panel(request(["a", "b"]), lookup(provider))
    assert first.positions[1] is not None and first.positions[1].status is CallStatus.ERROR
    provider.scripts["b"] = Script(position="B2")
    provider.requests.clear()
    events: list[ev.Event] = []
    reuse = {i: p for i, p in enumerate(first.positions) if p is not None}
    second = await Run(request(["a", "b"]), lookup(provider), events.append, reuse=reuse).execute()
    sent = [(r.model_id, r.phase) for r in provider.requests if r.phase == "position"]
    assert sent == [("b", "position")]  # a's position was carried over, not re-sent
    a, b = second.positions
    assert a is not None and a.content == "A1" and a.reused_from == first.run_id
    assert b is not None and b.content == "B2" and b.reused_from is None
    assert a.call_id not in {c.call_id for c in second.calls}  # not paid for twice
    assert second.status is RunStatus.SUCCESS and second.rounds_used == 1
    drafts = [r for r in provider.requests if r.phase == "draft"]
    assert "A1" in drafts[0].messages[0].content and "B2" in drafts[0].messages[0].content


async def test_replace_member_cancels_exactly_that_call() -> None:
    provider = FakeProvider(scripts(a=Script(delay_s=0.3, position="A"), b=Script(hang=True)))
    events: list[ev.Event] = []
    run = Run(request(["a", "b"]), lookup(provider), events.append)
    task = asyncio.create_task(run.execute())
    while len(provider.requests) < 2:
        await asyncio.sleep(0)  # both calls made
    assert run.phase == "positions"
    provider.scripts["b"] = Script(position="B-again")
    assert run.replace_members([1]) is True
    result = await task
    assert provider.cancelled == ["b:position"]  # a's call was left alone
    a, b = result.positions
    assert a is not None and a.content == "A"
    assert b is not None and b.content == "B-again" and b.status is CallStatus.SUCCESS
    replaced = [c for c in result.calls if c.member_index == 1 and c.status is CallStatus.CANCELLED]
    assert len(replaced) == 1 and replaced[0].error == "replaced by a rerun"
    assert result.status is RunStatus.SUCCESS
    assert run.replace_members([0]) is False  # past the positions: a rerun is a new run


async def test_no_member_is_replaced_while_the_run_is_stopping() -> None:
    provider = FakeProvider(scripts(a=Script(hang=True)))
    run = Run(request(["a"]), lookup(provider))
    task = asyncio.create_task(run.execute())
    while not provider.requests:
        await asyncio.sleep(0)
    run.cancel()
    assert run.replace_members([0]) is False  # a rerun started now would outlive the run
    result = await task
    assert result.status is RunStatus.CANCELLED
    assert len(provider.requests) == 1


async def test_equal_members_keep_their_own_seats() -> None:
    """Two seats may hold the same model and stance; each votes in its own seat."""
    provider = FakeProvider(scripts(a=Script()))
    result = await run_panel(request(["a", "a"]), lookup(provider))
    assert [v.member_index for v in result.rounds[0].votes] == [0, 1]
    assert [c.member_index for c in result.calls if c.phase.value == "vote"] == [0, 1]


# --- retries of refused calls ----------------------------------------------------------------


def limited(after: float | None = 0.05) -> ProviderError:
    return ProviderError(
        ErrorKind.RATE_LIMIT, "rate limited by fake (HTTP 429)", retry_after_s=after, retryable=True
    )


async def test_a_refused_call_is_retried_visibly_and_succeeds() -> None:
    provider = FakeProvider(scripts(a=Script(fail=limited(0.05), fail_times=2, position="AFTER RETRIES")))
    req = request(["a"], mode=Mode.CONSULT)
    req.members[0].retries = 2
    events: list[ev.Event] = []
    result = await run_panel(req, lookup(provider), events.append)
    retries = [e for e in events if isinstance(e, ev.CallRetrying)]
    assert [(e.attempt, e.of, e.wait_s) for e in retries] == [(1, 2, 0.05), (2, 2, 0.05)]
    assert "rate limited" in retries[0].reason
    position = result.positions[0]
    assert (
        position is not None and position.status is CallStatus.SUCCESS and position.content == "AFTER RETRIES"
    )
    assert len([r for r in provider.requests if r.phase == "position"]) == 3  # one call, three attempts


async def test_retries_are_bounded_and_only_for_retryable_errors() -> None:
    provider = FakeProvider(
        scripts(
            a=Script(fail=limited(0.01)),  # always refused: gives up after its retries
            b=Script(fail=ProviderError(ErrorKind.AUTH, "bad key")),  # never retried
            c=Script(fail=limited(60.0), fail_times=1),  # Retry-After beyond the deadline: fail now
        )
    )
    req = request(["a", "b", "c"], mode=Mode.CONSULT)
    for member in req.members:
        member.retries = 2
    req.members[2].deadline_s = 5.0
    # c's Retry-After (60 s) is beyond its deadline: it must fail at once rather than sleep. The
    # guard is the 60 s itself, so a busy machine has all the margin it could want.
    result = await asyncio.wait_for(run_panel(req, lookup(provider), None), timeout=55)
    sent = [r.model_id for r in provider.requests if r.phase == "position"]
    assert sent.count("a") == 3 and sent.count("b") == 1 and sent.count("c") == 1
    a, b, c = result.positions
    assert a is not None and a.error_kind == "rate_limit"
    assert b is not None and b.error_kind == "auth"
    assert (
        c is not None and c.error == "rate limited by fake (HTTP 429)"
    )  # the provider's word, not a timeout
