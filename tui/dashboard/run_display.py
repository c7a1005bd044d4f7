"""The run on screen, on the widgets that show it: the member panes, the round tracker, the synthesis
and the question in the prompt.

A live run and a recorded one (opened from the history, served from the cache, or followed while
another process records it) take one path: their engine events are applied here, as they come or
replayed. Streamed text is buffered by the panes and written on `flush` (the app's clock calls it
a few times a second), so a token never costs a repaint.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

from textual.app import App

from tui.config.schema import Settings
from tui.dashboard.keys import KeyNames
from tui.dashboard.next_question import NextQuestion
from tui.dashboard.widgets.member_pane import ModelPane
from tui.dashboard.widgets.pane_area import PaneArea
from tui.dashboard.widgets.prompt_bar import PromptBar
from tui.dashboard.widgets.round_tracker import RoundTracker
from tui.engine import events as ev
from tui.engine.names import synthesizer_name
from tui.engine.quorum import standing
from tui.engine.types import CallStatus, Mode, Phase, PriorTurn, RunRequest, RunResult, RunStatus
from tui.engine.vision import withheld_note
from tui.errors import UsageError
from tui.history.replay import follow_up_thread, replay_events
from tui.history.store import RunStore
from tui.render.cache import cache_line
from tui.render.report import asked_brief
from tui.render.words import (
    ballot_ranking_words,
    ballot_words,
    call_state,
    debate_answer_words,
    flips_words,
    queued_words,
    retried_words,
    retry_words,
    standing_words,
    synthesizer_role,
)
from tui.session import PreparedRun, Session


class RunDisplay:
    """Shows the session's run on screen (`session.shown`) on the dashboard's widgets."""

    def __init__(
        self,
        app: App[Any],
        settings: Settings,
        session: Session,
        store: RunStore | None,
        *,
        prompt: PromptBar,
        tracker: RoundTracker,
        pane_area: PaneArea,
        next_question: NextQuestion,
        key_names: KeyNames,
    ) -> None:
        self.app, self.settings, self.session, self.store = app, settings, session, store
        self.prompt, self.tracker, self.pane_area = prompt, tracker, pane_area
        self.grid, self.synthesis = pane_area.grid, pane_area.synthesis
        self.next_question, self.key_names = next_question, key_names

    # -- a live run ------------------------------------------------------------------------

    def start(self, prepared: PreparedRun) -> None:
        """A run of `prepared` starts: every seat's pane cleared (a skipped one says why), and the
        tracker and synthesis ready for it."""
        panes = self._panes_for_seats()
        self.grid.run_panes = [panes[seat] for seat in prepared.seat_of_member]
        for seat, pane in enumerate(panes):
            pane.reset(self.session.member(seat))
            if seat in prepared.skipped_seats:
                pane.skip(prepared.skipped_seats[seat].reason)
        self.tracker.reset(prepared.request.mode, prepared.request.max_rounds)
        self.synthesis.reset(prepared.request.mode)

    def _panes_for_seats(self) -> list[ModelPane]:
        """One pane per seat. After a recorded run is shown, the panel may differ from its panes
        (a model it used has left the catalog): then the panes are made anew from the seats."""
        panes = self.grid.panes
        if [pane.member.alias for pane in panes] != [spec.model for spec in self.session.seats]:
            panes = self.grid.replace(self.session.members())
        return panes

    @property
    def says_running(self) -> bool:
        """The screen still says the run is running (its end, if it came, could not be shown)."""
        return self.tracker.state is RunStatus.RUNNING

    def show_failure(self, message: str, *, title: str) -> None:
        """The run on screen failed, and no event of its own says so: the tracker and the
        synthesis say it, and a notification."""
        self.tracker.finish(RunStatus.ERROR)
        self.synthesis.note(message, "error")
        self.app.notify(message, title=title, severity="error", markup=False)

    # -- a recorded run --------------------------------------------------------------------

    def show_recorded(
        self,
        result: RunResult,
        events: list[ev.Event] | None = None,
        *,
        shown: Callable[[RunResult], None] | None = None,
    ) -> None:
        """Show a recorded run, read-only: its panel, answers, votes and synthesis as they were.
        `events` are what shows it: its whole replay by default, or a follower's first poll of a
        run still being recorded. `shown` says what it is once it is on screen (by default, which
        run and what the keys do with it)."""
        thread: list[PriorTurn] = []
        if result.parent_run_id is not None:
            try:  # the context it followed up on: a rerun of it is a follow-up too
                thread = follow_up_thread(self.store, result.parent_run_id, self.settings.run.follow_up_depth)
            except UsageError:
                thread = []
        for note in self.session.adopt(result, thread):
            self.app.notify(note, severity="warning", markup=False, timeout=10)
        reused = self._cleared_panes_for(result)
        self.grid.run_panes = reused if reused is not None else self.grid.replace(result.members)
        self.prompt.show_question(result.question)
        self.next_question.forget_follow_up()  # one asked for before belongs to the run that was on screen
        self.grid.forget_edits()  # the panel is the recorded run's now
        self.next_question.refresh_chips()
        self.tracker.reset(result.mode, result.max_rounds)
        self.synthesis.reset(result.mode)
        served = cache_line(result.cache, self.key_names.first("fresh")) if result.cache.hit else None
        if served is not None:  # first, above the answer it explains
            self.synthesis.note(served, "heading")
        replay = replay_events(result) if events is None else events
        said = shown or self.announce
        if reused is not None:  # the panes are ready: the first frame shows the run, not empty panes
            self._replay(result, replay, said)
        else:  # new panes draw their parts on their first refresh
            self.app.call_after_refresh(self._replay, result, replay, said)

    def _cleared_panes_for(self, result: RunResult) -> list[ModelPane] | None:
        """The panes on screen, cleared, when they seat a recorded run's panel (a cache hit, a
        rerun opened from F2); None when it needs panes of its own. Mounting panes anew costs a
        frame's worth of styling and layout that showing the same panel again need not pay."""
        panes = self.grid.panes
        if [pane.member for pane in panes] != list(result.members):
            return None
        for pane, member in zip(panes, result.members, strict=True):
            pane.reset(member)  # a stance change pending for the next run goes with the old panel
        return panes

    def _replay(self, result: RunResult, events: list[ev.Event], shown: Callable[[RunResult], None]) -> None:
        on_screen = self.session.shown
        if on_screen is None or on_screen.result is not result:
            return  # another run took the screen before this one was drawn
        for event in events:
            self.apply(event, on_screen.prepared.request)
        self.flush()
        self.pane_area.refresh_layout()
        shown(result)

    def announce(self, result: RunResult) -> None:
        """A recorded run is on screen: say which, and what the keys do with it."""
        if result.cache.hit:
            self.app.notify(
                f"{cache_line(result.cache, self.key_names.first('fresh'))}.",
                title="Cache hit",
                markup=False,
                timeout=10,
            )
            return
        when = result.started_at.strftime("%Y-%m-%d %H:%M")
        asked = asked_brief(result.asked) if result.asked is not None else ""
        self.app.notify(
            f"Run {result.run_id} from {when}, read-only{f'; asked with {asked}' if asked else ''}. "
            "Ctrl+R reruns it, F3 asks a follow-up, F5 exports it.",
            title="History",
            markup=False,
        )

    # -- events ----------------------------------------------------------------------------

    def apply(self, event: ev.Event, request: RunRequest) -> None:
        """Show one engine event of the run on screen (live, or replayed from the history)."""
        panes: Sequence[ModelPane] = self.grid.run_panes  # in panel order
        if type(event) is ev.TextDelta:  # nearly every event while streaming: no pattern matching
            panes[event.member_index].buffer(event.text)
            return
        tracker, synthesis = self.tracker, self.synthesis
        match event:
            case ev.RunStarted():
                tracker.start()
                synthesis.run_started()
                for member, pane in zip(request.members, panes, strict=False):
                    pane.run_started(request.mode)
                    seen = member.vision or not request.images
                    pane.withhold_images(None if seen else withheld_note(member, len(request.images)))
            case ev.RoundStarted(number=number, max_rounds=max_rounds):
                tracker.round_started(number, max_rounds)
            case ev.CallStarted(call_id=call_id, member_index=None, alias=alias, phase=phase, round=number):
                demo = any(s.alias == alias and s.demo for s in request.synthesizers)
                synthesis.call_started(alias, phase, number, demo)
                if phase is Phase.CHAIR:
                    tracker.chair_called(synthesizer_role(request.mode))
            case ev.CallStarted(call_id=call_id, member_index=index, phase=phase, round=number):
                if index is not None:
                    panes[index].call_started(call_id, phase, number)
            case ev.CallQueued(member_index=None, alias=alias, provider=provider, limit=limit):
                synthesis.note(f"{synthesizer_name(request.members, alias)}: {queued_words(provider, limit)}")
            case ev.CallQueued(member_index=index, provider=provider, limit=limit) if index is not None:
                panes[index].call_queued(provider, limit)
            case ev.CallDequeued(member_index=index, queued_ms=waited) if index is not None:
                panes[index].call_dequeued(waited)
            case ev.FirstToken(member_index=index, ttft_ms=ttft) if index is not None:
                panes[index].first_token(ttft)
            case ev.FirstToken() if tracker.chair is not None:  # the chairman's answer streams
                tracker.chair_streaming()
            case ev.CallRetrying(
                member_index=None, alias=alias, attempt=attempt, of=of, wait_s=wait, reason=why
            ):
                who = synthesizer_name(request.members, alias)
                synthesis.note(f"{who}: {why} — {retry_words(attempt, of, wait)}")
            case ev.CallRetrying(member_index=index, attempt=attempt, of=of, wait_s=wait, reason=why):
                if index is not None:
                    panes[index].retrying(attempt, of, wait, why)
            case ev.SynthesisDelta(text=text):
                synthesis.buffer(text)
            case ev.CallFinished(result=result) if result.member_index is None:
                if result.phase is Phase.CHAIR:
                    tracker.chair_finished(call_state(result))
                who = synthesizer_name(request.members, result.alias)
                if result.status is CallStatus.ERROR and result.error:
                    synthesis.note(f"{who} failed: {result.error}", "error")
                elif result.status is CallStatus.INCOMPLETE:
                    synthesis.call_incomplete(result.error or "stopped short")
                if retried := retried_words(result):
                    synthesis.note(f"{who}: {' · '.join(retried)}")
            case ev.CallFinished(result=result):
                assert result.member_index is not None
                panes[result.member_index].call_finished(result)
            case ev.VoteCast(round=number, vote=vote):
                panes[vote.member_index].vote_cast(number, vote.value)
            case ev.DebateRoundRead(reading=reading):
                tracker.debate_round_read(reading)
                flips = {flip.member_index: flip for flip in reading.flips}
                for seat, (answer, pane) in enumerate(zip(reading.readings, panes, strict=False)):
                    flip = flips.get(seat)
                    said = None if flip is None else flips_words([flip], request.members)
                    pane.answer_read(reading.number, debate_answer_words(answer), said)
            case ev.BallotCast(ballot=ballot):
                tracker.ballot_cast()
                panes[ballot.member_index].ballot_cast(
                    ballot_ranking_words(ballot, request.members),
                    ballot_words(ballot, request.members),
                    abstained=ballot.abstained,
                )
            case ev.RankingMade(ranking=ranking):
                tracker.ranking_made(ranking, request.members)
            case ev.RoundDecided(round=round_, standing=rests_on):
                tracker.round_decided(round_, standing_words(rests_on, request.members))
            case ev.AgreementRead(agreement=agreement):
                tracker.agreement = agreement.summary
                tracker.refresh_view()
                synthesis.note(f"Agreement: {agreement.summary}")
            case ev.Notice(message=message):
                synthesis.note(message)
            case ev.SynthesisFinished(text=text, by=by, outcome=outcome, incomplete=incomplete):
                synthesis.finished(outcome, tracker.current or 1, incomplete, text=text, by=by)
            case ev.RunFinished(result=result) | ev.RunFailed(result=result) | ev.RunCancelled(result=result):
                self._flush_panes()
                synthesis.run_ended(result)
                # A consult, or a vote on an open question: a synthesis resting on who answered.
                consulted = (
                    result.mode in (Mode.CONSULT, Mode.VOTE)
                    and result.outcome is None
                    and result.synthesis is not None
                )
                said = standing_words(standing(result), result.members) if consulted else None
                tracker.finish(result.status, result.outcome, said)
            case _:
                pass

    def flush(self) -> None:
        """Write every pane's buffered text, move the running clocks, and the small screen's strip
        with them (the app's clock calls it a few times a second)."""
        self._flush_panes()
        self.pane_area.refresh_strip()
        # The young generation is collected here, a quarter second's objects at a time, not when
        # its count reaches the threshold: that came mid-frame, 10-30 ms in one go (measured: the
        # worst lags of a streaming panel). Here it is a millisecond or two, between frames.
        gc.collect(0)

    def _flush_panes(self) -> None:
        for pane in self.grid.run_panes:
            pane.flush()
            pane.tick()
        self.synthesis.flush()
