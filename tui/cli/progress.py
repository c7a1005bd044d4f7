"""`quorum run`'s progress on stderr: one line per state change of the run, never one per token."""

from __future__ import annotations

import time
from typing import TextIO

from tui.engine import events as ev
from tui.engine.answers import read_position
from tui.engine.names import member_labels, seat_name
from tui.engine.quorum import standing as standing_of
from tui.engine.types import (
    CallResult,
    CallStatus,
    Member,
    Mode,
    Outcome,
    Phase,
    RoundStatus,
    RunRequest,
    VoteValue,
)
from tui.engine.vote_count import COUNTED_MODES
from tui.render.formatting import completion_line, cost, literal, seconds, tokens
from tui.render.words import (
    BORDA,
    NOT_A_DECISION,
    ONE_PASS_MODES,
    VOTE_WORDS,
    answer_words,
    ballot_words,
    call_state,
    counted,
    counted_words,
    debate_round_words,
    invalid_votes_words,
    phase_word,
    queue_wait_words,
    queued_words,
    ranking_words,
    rests_on_words,
    retried_words,
    retry_words,
    round_ended_words,
    round_word,
    standing_words,
    synthesizer_role,
    tokens_source_note,
)


class ProgressPrinter:
    """An event sink that writes `[  1.2s] member done · …` lines to `stream`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.request: RunRequest | None = None
        self.closed = False  # the reader of `stream` went away: the run goes on, unprinted

    def _say(self, text: str) -> None:
        self.note(f"[{time.perf_counter() - self.started:5.1f}s] {literal(text)}")

    def note(self, line: str) -> None:
        """Write one line as it is (no timestamp), unless the reader has gone."""
        if self.closed:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except OSError:
            # Progress is a courtesy: a closed pipe (`quorum run … 2>&1 | head -3`) or a full disk
            # must not fail a run that is still being recorded and whose result goes to stdout.
            self.closed = True

    def _mode(self) -> Mode:
        return self.request.mode if self.request is not None else Mode.DELIBERATE

    def _members(self) -> list[Member]:
        return self.request.members if self.request is not None else []

    def _name(self, member_index: int | None, alias: str) -> str:
        if self.request is None or member_index is None:
            return f"{alias} (synthesizer)"
        return member_labels(self.request.members)[member_index]

    def __call__(self, event: ev.Event) -> None:
        line = self._line(event)
        if line is not None:
            self._say(line)
        elif isinstance(event, ev.MembersSkipped):
            for item in event.skipped:
                self._say(f"skipped {item.alias} ({item.stance.value}): {item.reason}")

    def _line(self, event: ev.Event) -> str | None:
        match event:
            case ev.RunStarted(request=request):
                self.request = request
                demo = " · demo members are simulated" if any(m.demo for m in request.members) else ""
                count = len(request.members)
                shape = request.answer
                who = f"{synthesizer_role(request.mode)} {request.synthesizers[0].alias}"
                if shape is not None:
                    # No synthesizer is asked: a vote's answers, or a debate's last round, are counted.
                    counts = request.mode in COUNTED_MODES
                    who = (
                        f"counted in the {shape.name} answer shape"
                        if counts
                        else f"{who} · answer shape {shape.name}"
                    )
                rounds = (
                    f" · up to {counted(request.max_rounds, 'round')}" if request.mode is Mode.DEBATE else ""
                )
                return f"{request.mode.value} · {counted(count, 'member')}{rounds} · {who}{demo}"
            case ev.RoundStarted(number=number, max_rounds=max_rounds):
                return f"round {number}/{max_rounds}"
            case ev.CallStarted(member_index=index, alias=alias, phase=phase):
                return f"{self._name(index, alias)} waiting ({phase_word(phase, self._mode())})"
            case ev.CallQueued(member_index=index, alias=alias, provider=provider, limit=limit):
                return f"{self._name(index, alias)} {queued_words(provider, limit)}"
            case ev.CallRetrying(
                member_index=index, alias=alias, attempt=attempt, of=of, wait_s=wait, reason=why
            ):
                return f"{self._name(index, alias)} {why}; {retry_words(attempt, of, wait)}"
            case ev.CallFinished(result=call):
                return self._finished(call)
            case ev.VoteCast(vote=vote):
                invalid = vote.value in (VoteValue.INVALID, VoteValue.NONE) and vote.reason
                detail = f" ({vote.reason})" if invalid else ""
                extra = f" · {len(vote.objections)} objection(s)" if vote.objections else ""
                voter = seat_name(self.request.members if self.request else [], vote.member_index, vote.alias)
                return f"  vote {voter}: {VOTE_WORDS[vote.value]}{extra}{detail}"
            case ev.DebateRoundRead(reading=reading):
                return f"round {reading.number}: {debate_round_words(reading, self._members())}"
            case ev.BallotCast(ballot=ballot):
                voter = seat_name(self._members(), ballot.member_index, ballot.alias)
                return f"  ballot {voter}: {ballot_words(ballot, self._members())}"
            case ev.RankingMade(ranking=ranking):
                return f"{BORDA}: {ranking_words(ranking, self._members())}"
            case ev.RoundDecided(round=round_, standing=standing):
                decided = round_word(round_.status, round_.outcome)
                if round_.status in (RoundStatus.DECIDED, RoundStatus.CONTINUE):
                    decided = rests_on_words(decided, standing, self._members())
                mode = self._mode()
                if mode is Mode.VOTE:
                    return counted_words(decided)
                if mode is Mode.DEBATE and round_.status is RoundStatus.CONTINUE:
                    return None  # the round read (how many agree, who flipped) said it
                why = invalid_votes_words(round_.votes) if mode is Mode.DELIBERATE else round_.note
                said = round_ended_words(mode, round_, decided)
                return f"round {round_.number}: {said}" + (f" · {why}" if why else "")
            case ev.AgreementRead(agreement=agreement):
                return f"Agreement: {agreement.summary}"
            case ev.SynthesisFinished(by=by, incomplete=why) if why:
                return f"the synthesis is incomplete: {why} (by {by}; its text is kept as it is)"
            case ev.SynthesisFinished(outcome=Outcome.NO_QUORUM) if self._mode() in COUNTED_MODES:
                return f"the answer most given is shown, {NOT_A_DECISION}"
            case ev.SynthesisFinished(by=by, outcome=Outcome.NO_QUORUM) if self._mode() is Mode.COUNCIL:
                return f"the {synthesizer_role(Mode.COUNCIL)}'s answer by {by} is shown, {NOT_A_DECISION}"
            case ev.SynthesisFinished(by=by, outcome=Outcome.NO_QUORUM):
                return f"the synthesis by {by} is the last draft, {NOT_A_DECISION}"
            case ev.RunFinished(result=result) if (
                result.mode in ONE_PASS_MODES and result.outcome is None and result.synthesis
            ):
                rests_on = standing_words(standing_of(result), result.members)
                return f"the synthesis rests on {rests_on} · {completion_line(result.totals, result.status)}"
            case ev.Notice(message=message):
                return message
            case ev.RunFailed(errors=errors):
                return "run failed: " + "; ".join(errors)
            case ev.RunFinished(result=result) | ev.RunCancelled(result=result):
                return completion_line(result.totals, result.status)
            case _:
                return None

    def _finished(self, call: CallResult) -> str:
        name = self._name(call.member_index, call.alias)
        word = call_state(call).value
        # How long it waited in line, and who retried it: told after what became of it.
        after = [queue_wait_words(seconds(call.queued_ms))] if call.queued_ms is not None else []
        after += retried_words(call)
        tail = "".join(f" · {words}" for words in after)
        if call.status in (CallStatus.SUCCESS, CallStatus.INCOMPLETE):
            why = f" ({call.error})" if call.status is CallStatus.INCOMPLETE else ""
            shape = self.request.answer if self.request is not None else None
            if shape is not None and call.phase in (Phase.POSITION, Phase.REVISION):  # what it answered
                why += f" · {answer_words(read_position(call, shape))}"
            toks = tokens(call.input_tokens + call.output_tokens, call.tokens_source)
            toks += f" tokens{tokens_source_note(call.tokens_source)}"
            return (
                f"{name} {word}{why} · first token {seconds(call.ttft_ms)} · {seconds(call.latency_ms)} · "
                f"{toks} · {cost(call.cost_usd)}{tail}"
            )
        if call.status is CallStatus.CANCELLED:
            return f"{name} {word} ({len(call.content)} characters kept){tail}"
        return f"{name} {word}: {call.error}{tail}"
