"""Engine events onto the dashboard's widgets: the member panes, the round tracker, the synthesis."""

from __future__ import annotations

from collections.abc import Sequence

from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.round_tracker import RoundTracker
from tui.dashboard.widgets.synthesis_pane import SynthesisPane
from tui.engine import events as ev
from tui.engine.names import synthesizer_name
from tui.engine.quorum import standing
from tui.engine.types import CallStatus, Mode, RunRequest
from tui.engine.vision import withheld_note
from tui.render.words import queued_words, retried_words, retry_words, standing_words


class RunDisplay:
    """Applies one run's events to the widgets that show it (live, or replayed from history)."""

    def __init__(self, tracker: RoundTracker, synthesis: SynthesisPane) -> None:
        self.tracker = tracker
        self.synthesis = synthesis

    def apply(self, event: ev.Event, request: RunRequest, panes: Sequence[ModelPane]) -> None:
        """Show one engine event (live, or replayed from the history); `panes` are in panel order."""
        if type(event) is ev.TextDelta:  # nearly every event while streaming: no pattern matching
            panes[event.member_index].buffer(event.text)
            return
        match event:
            case ev.RunStarted():
                self.tracker.start()
                for member, pane in zip(request.members, panes, strict=False):
                    seen = member.vision or not request.images
                    pane.withhold_images(None if seen else withheld_note(member, len(request.images)))
            case ev.RoundStarted(number=number, max_rounds=max_rounds):
                self.tracker.round_started(number, max_rounds)
            case ev.CallStarted(call_id=call_id, member_index=None, alias=alias, phase=phase, round=number):
                demo = any(s.alias == alias and s.demo for s in request.synthesizers)
                self.synthesis.call_started(alias, phase, number, demo)
            case ev.CallStarted(call_id=call_id, member_index=index, phase=phase, round=number):
                if index is not None:
                    panes[index].call_started(call_id, phase, number)
            case ev.CallQueued(member_index=None, alias=alias, provider=provider, limit=limit):
                self.synthesis.note(
                    f"{synthesizer_name(request.members, alias)}: {queued_words(provider, limit)}"
                )
            case ev.CallQueued(member_index=index, provider=provider, limit=limit) if index is not None:
                panes[index].call_queued(provider, limit)
            case ev.CallDequeued(member_index=index, queued_ms=waited) if index is not None:
                panes[index].call_dequeued(waited)
            case ev.FirstToken(member_index=index, ttft_ms=ttft) if index is not None:
                panes[index].first_token(ttft)
            case ev.CallRetrying(
                member_index=None, alias=alias, attempt=attempt, of=of, wait_s=wait, reason=why
            ):
                who = synthesizer_name(request.members, alias)
                self.synthesis.note(f"{who}: {why} — {retry_words(attempt, of, wait)}")
            case ev.CallRetrying(member_index=index, attempt=attempt, of=of, wait_s=wait, reason=why):
                if index is not None:
                    panes[index].retrying(attempt, of, wait, why)
            case ev.SynthesisDelta(text=text):
                self.synthesis.buffer(text)
            case ev.CallFinished(result=result) if result.member_index is None:
                who = synthesizer_name(request.members, result.alias)
                if result.status is CallStatus.ERROR and result.error:
                    self.synthesis.note(f"{who} failed: {result.error}", "error")
                elif result.status is CallStatus.INCOMPLETE:
                    self.synthesis.call_incomplete(result.error or "stopped short")
                if retried := retried_words(result):
                    self.synthesis.note(f"{who}: {' · '.join(retried)}")
            case ev.CallFinished(result=result):
                assert result.member_index is not None
                panes[result.member_index].call_finished(result)
            case ev.VoteCast(round=number, vote=vote):
                panes[vote.member_index].vote_cast(number, vote.value)
            case ev.RoundDecided(round=round_, standing=rests_on):
                self.tracker.round_decided(round_, standing_words(rests_on, request.members))
            case ev.AgreementRead(agreement=agreement):
                self.tracker.agreement = agreement.summary
                self.tracker.refresh_view()
                self.synthesis.note(f"Agreement: {agreement.summary}")
            case ev.Notice(message=message):
                self.synthesis.note(message)
            case ev.SynthesisFinished(outcome=outcome, incomplete=incomplete):
                self.synthesis.finished(outcome, self.tracker.current or 1, incomplete)
            case ev.RunFinished(result=result) | ev.RunFailed(result=result) | ev.RunCancelled(result=result):
                self.flush(panes)
                self.synthesis.run_ended(result)
                consulted = result.mode is Mode.CONSULT and result.synthesis is not None
                said = standing_words(standing(result), result.members) if consulted else None
                self.tracker.finish(result.status, result.outcome, said)
            case _:
                pass

    def flush(self, panes: Sequence[ModelPane]) -> None:
        """Write every pane's buffered text and move the running clocks."""
        for pane in panes:
            pane.flush()
            pane.tick()
        self.synthesis.flush()
