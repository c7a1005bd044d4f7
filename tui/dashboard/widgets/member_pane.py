"""One panel member's pane: who it is, what it is doing, what it costs, how it voted (in a debate,
its answer in each round and whether it flipped; on a council, its ballot), what it said."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.content import Content

from tui.dashboard.widgets.stream_pane import StreamPane
from tui.engine.types import CallResult, Member, Mode, Phase, Stance, TokensSource, VoteValue
from tui.render.formatting import cost, literal, seconds, streamed_estimate, tokens
from tui.render.words import (
    ACTIVE_STATES,
    BALLOT,
    CALL_MARKS,
    DEBATE_ANSWERS,
    FLIP_MARK,
    JOINS_NEXT_RUN,
    NO_BALLOT,
    NO_DEBATE_ANSWERS,
    PHASE_WORDS,
    VOTE_MARKS,
    VOTE_WORDS,
    CallState,
    call_state,
    queue_wait_words,
    retried_words,
    retry_made_words,
    retry_words,
    serves_words,
    tokens_source_note,
)


class ModelPane(StreamPane):
    """A member's live pane. The app feeds it engine events; text is buffered and flushed in batches."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "model-pane--alias",
        "model-pane--muted",
        "model-pane--stance-for",
        "model-pane--stance-against",
        "model-pane--stance-neutral",
        "model-pane--demo",
        "model-pane--status-active",
        "model-pane--status-done",
        "model-pane--status-incomplete",
        "model-pane--status-error",
        "model-pane--vote-accept",
        "model-pane--vote-reject",
        "model-pane--vote-invalid",
    }

    def __init__(
        self, member: Member, *, clock: Callable[[], float] = time.perf_counter, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.member = member
        self.clock = clock
        self.status = CallState.READY
        # The member joined the panel after the run on screen started: it takes part in the next.
        self.joins_next_run = False
        self.phase: Phase | None = None
        self.started_at: float | None = None
        self.ttft_ms: int | None = None
        self.latency_ms: int | None = None
        self.position_ttft_ms: int | None = None
        self.position_latency_ms: int | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.tokens_source = TokensSource.PROVIDER  # the least certain of its calls' counts
        self.streamed_chars = 0  # of the call in flight, until its usage arrives with its end
        self.cost_usd = 0.0
        self.votes: dict[int, VoteValue] = {}
        self.mode = Mode.DELIBERATE  # of the run it shows
        # A debate's rounds: its answer in each as read, and whether it changed from the round before.
        self.debate_answers: dict[int, tuple[str, bool]] = {}
        # A council's ballot: its ranking in words (or its abstention and why), and whether it abstained.
        self.ballot: tuple[str, bool] | None = None
        self.answer_cached = False
        self.answer_incomplete = False
        # A retry of Quorum's own under way: its attempt, of how many, and when its wait ends (clock).
        self.retry_due: tuple[int, int, float] | None = None
        # Who retried the last call, and the answer's (Quorum, the gateway behind it): None for nobody.
        self.retried_note: str | None = None
        self.position_retried_note: str | None = None
        # The name on the border: the alias, told apart from other seats of it (see MemberGrid).
        self.shown_name: str | None = None
        # While the call waits in line for its provider: why (`local serves 1 at a time`).
        self.queue_note: str | None = None
        self.queued_ms: int | None = None  # how long the call waited in line before it was sent
        self.position_queued_ms: int | None = None
        self.note: str | None = None  # skip reason or error message
        # Why this member is not sent the question's images (its model takes none), for this run.
        self.images_note: str | None = None
        self._title: str | None = None  # the name on the border now
        self.call_id: str | None = None
        # The stance the seat will argue in the next run, while the pane still shows an answer
        # argued with `member.stance` (None: the same).
        self.next_stance: Stance | None = None

    # -- engine events, translated by the app -----------------------------------------------

    def reset(self, member: Member | None = None) -> None:
        """A new run: keep the seat, forget the last run's state."""
        if member is not None:
            self.member = member
            self.next_stance = None
        self.status, self.phase, self.started_at = CallState.READY, None, None
        self.joins_next_run = False
        self.ttft_ms = self.latency_ms = None
        self.position_ttft_ms = self.position_latency_ms = None
        self.queue_note = None
        self.queued_ms = self.position_queued_ms = None
        self.retried_note = self.position_retried_note = None
        self.input_tokens = self.output_tokens = 0
        self.tokens_source = TokensSource.PROVIDER
        self.streamed_chars = 0
        self.cost_usd = 0.0
        self.votes.clear()
        self.debate_answers.clear()
        self.ballot = None
        self.answer_cached = self.answer_incomplete = False
        self.note = None
        self.images_note = None
        self.call_id = None
        if self._ready:
            self.body.clear()
            self.refresh_info()

    def skip(self, reason: str) -> None:
        self.reset()
        self.status, self.note = CallState.SKIPPED, reason
        self.body.add_block(f"Skipped: {reason}", "note")
        self.refresh_info()

    def run_started(self, mode: Mode) -> None:
        """The run it shows is in `mode`: what its last line lists (votes, a debate's answers, a ballot)."""
        self.mode = mode
        self.refresh_info()

    def withhold_images(self, note: str | None) -> None:
        """This run does (`note`: why) or does not keep the question's images from this member: said
        at the head of its answer, where it is read with it."""
        self.images_note = note

    def call_started(self, call_id: str, phase: Phase, round_number: int) -> None:
        self.flush()
        self.call_id, self.phase = call_id, phase
        self.status, self.started_at = CallState.WAITING, self.clock()
        self.streamed_chars = 0
        self.ttft_ms = self.latency_ms = None
        self.queue_note, self.queued_ms = None, None
        self.retried_note = None
        self.note = None
        if phase is Phase.POSITION:
            self.answer_cached = self.answer_incomplete = False
            self.body.clear()
            if self.images_note:
                self.body.add_block(self.images_note, "note")
            self.input_tokens = self.output_tokens = 0
            self.cost_usd = 0.0
            self.votes.clear()
        elif phase is Phase.BALLOT:  # a council has no rounds
            self.body.add_block(f"── {PHASE_WORDS[phase].capitalize()} ──")
        else:
            self.body.add_block(f"── Round {round_number} {PHASE_WORDS[phase]} ──")
        self.refresh_info()

    def call_queued(self, provider: str, limit: int) -> None:
        """The call waits in line for its provider: say so, with the clock on the wait."""
        self.status, self.started_at = CallState.QUEUED, self.clock()
        self.queue_note = serves_words(provider, limit)
        self.refresh_info()

    def call_dequeued(self, queued_ms: int) -> None:
        """The call was sent after its wait in line: its own clock starts now."""
        self.status, self.started_at = CallState.WAITING, self.clock()
        self.queue_note, self.queued_ms = None, queued_ms
        self.refresh_info()

    def retrying(self, attempt: int, of: int, wait_s: float, reason: str) -> None:
        """A refused call will be tried again: say so, and why, instead of just 'waiting'."""
        self.retry_due = (attempt, of, self.clock() + wait_s)
        self.body.add_block(f"{reason} — {retry_words(attempt, of, wait_s)}", "note")
        self.refresh_info()

    def first_token(self, ttft_ms: int) -> None:
        self.retry_due = None
        self.ttft_ms = ttft_ms
        self.status = CallState.STREAMING
        self.refresh_info()

    def buffer(self, text: str) -> None:
        self.streamed_chars += len(text)
        super().buffer(text)

    def call_finished(self, result: CallResult) -> None:
        self.flush()
        self.queue_note = self.retry_due = None
        self.streamed_chars = 0  # the provider's count (or the engine's estimate) takes over
        self.status = call_state(result)
        if self.status is CallState.CACHED:
            self.body.set_text(result.content)
            self.answer_cached = True
        elif self.status is CallState.DONE and self.answer_cached:
            self.status = CallState.CACHED  # a carried-over answer stays marked cached through its reviews
        elif self.status is CallState.DONE and self.answer_incomplete:
            self.status = CallState.INCOMPLETE  # and a cut-off answer stays marked incomplete
        elif self.status is CallState.INCOMPLETE:
            what = "answer" if result.phase in (Phase.POSITION, Phase.REVISION) else PHASE_WORDS[result.phase]
            if result.phase is Phase.POSITION:
                self.answer_incomplete, self.note = True, result.error
            mark = CALL_MARKS[CallState.INCOMPLETE]
            self.body.add_block(
                f"{mark} {what} incomplete: {result.error}; the text above is all there is", "warning"
            )
        elif self.status is CallState.CANCELLED:
            why = result.error if result.error and result.error != CallState.CANCELLED.value else None
            self.body.add_block(f"Cancelled ({why})" if why else "Cancelled", "note")  # the word once
        elif self.status is CallState.FAILED:
            self.note = result.error
            self.body.add_block(result.error or "failed", "error")
        if result.phase is Phase.POSITION:
            # The header keeps the answer's own timing; reviews only add their tokens and cost.
            self.position_ttft_ms, self.position_latency_ms = result.ttft_ms, result.latency_ms
            self.position_queued_ms = result.queued_ms
            self.position_retried_note = " · ".join(retried_words(result)) or None
        self.ttft_ms, self.latency_ms, self.queued_ms = result.ttft_ms, result.latency_ms, result.queued_ms
        self.retried_note = " · ".join(retried_words(result)) or None
        self.input_tokens += result.input_tokens
        self.output_tokens += result.output_tokens
        self.tokens_source = TokensSource.least_certain((self.tokens_source, result.tokens_source))
        self.cost_usd += result.cost_usd
        self.refresh_info()

    def vote_cast(self, round_number: int, value: VoteValue) -> None:
        self.votes[round_number] = value
        self.refresh_info()

    def answer_read(self, round_number: int, answer: str, flip: str | None) -> None:
        """A debate's round was read: its answer in it (`18`), and, when that changed from its answer
        of the round before, the flip in words for its text (`1 flip: bolt 20 → 18`)."""
        self.flush()
        self.debate_answers[round_number] = (answer, flip is not None)
        if flip is not None:
            self.body.add_block(flip, "note")
        self.refresh_info()

    def ballot_cast(self, ranking: str, said: str, *, abstained: bool) -> None:
        """Its council ballot was read: its ranking (`bolt > cirrus`, or `abstained: why`) for the
        info block, and `said` (with the order its labels were shown in) for its text."""
        self.flush()
        self.ballot = (ranking, abstained)
        self.body.add_block(f"{BALLOT.capitalize()}: {said}", "note")
        self.refresh_info()

    def set_stance(self, stance: Stance) -> None:
        """The seat's stance for the next run. A pane that shows nothing yet simply takes it; one
        that shows an answer keeps that answer's stance and says what comes next."""
        if self.status is CallState.READY:
            self.member = self.member.model_copy(update={"stance": stance})
            self.next_stance = None
        else:
            self.next_stance = None if stance is self.member.stance else stance
        self.refresh_info()

    def take_over(self, removed: ModelPane) -> None:
        """Be the pane `removed` was (a removal undone): its member, its run's state, its text."""
        for name in (
            "member", "status", "phase", "started_at", "ttft_ms", "latency_ms", "position_ttft_ms",
            "position_latency_ms", "input_tokens", "output_tokens", "tokens_source", "streamed_chars",
            "cost_usd", "answer_cached", "answer_incomplete", "retry_due", "note", "call_id", "next_stance",
            "queue_note", "queued_ms", "position_queued_ms",
            "images_note", "retried_note", "position_retried_note", "joins_next_run",
        ):  # fmt: skip
            setattr(self, name, getattr(removed, name))
        self.votes = dict(removed.votes)
        self.mode, self.ballot = removed.mode, removed.ballot
        self.debate_answers = dict(removed.debate_answers)
        self.body.take_over(removed.body)
        self.refresh_info()

    # -- rendering -------------------------------------------------------------------------

    @property
    def in_flight(self) -> bool:
        """A call is under way: waiting in line for its provider, waiting for text, or streaming."""
        return self.status in ACTIVE_STATES or self.queue_note is not None

    def tick(self) -> None:
        """The app's clock: refresh the elapsed time while a call is in flight."""
        if self.in_flight:
            self.refresh_info()

    def elapsed_ms(self) -> int | None:
        """The call's time so far (in line: the wait so far), or the last call's latency."""
        if self.started_at is None:
            return None
        if self.in_flight:
            return round((self.clock() - self.started_at) * 1000)
        return self.latency_ms

    def info_text(self) -> Text:
        style = self.get_component_rich_style
        member = self.member
        text = Text(no_wrap=True, overflow="ellipsis")
        # The stance and the demo label first: they must survive a narrow pane.
        text.append(f" {member.stance.value.upper()} ", style(f"model-pane--stance-{member.stance.value}"))
        if self.next_stance is not None:  # the answer below was argued as above; the next run differs
            text.append(" → ", style("model-pane--muted"))
            following = self.next_stance.value
            text.append(f" {following.upper()} ", style(f"model-pane--stance-{following}"))
            text.append(" next run", style("model-pane--muted"))
        text.append(" ")
        if member.demo:
            text.append(" demo ", style("model-pane--demo"))
            text.append(" simulated offline", style("model-pane--muted"))
        else:
            text.append(literal(member.provider), style("model-pane--alias"))
            text.append(f" · {literal(member.model_id)}", style("model-pane--muted"))
        text.append("\n")
        status_style = {
            CallState.WAITING: "model-pane--status-active",
            CallState.STREAMING: "model-pane--status-active",
            CallState.DONE: "model-pane--status-done",
            CallState.CACHED: "model-pane--status-done",
            CallState.INCOMPLETE: "model-pane--status-incomplete",
            CallState.FAILED: "model-pane--status-error",
        }.get(self.status, "model-pane--muted")
        # Waiting for a retry of Quorum's own: the countdown to it is what the call is doing now.
        retry = self.retry_due if self.status in ACTIVE_STATES else None
        retry_in = round(retry[2] - self.clock(), 1) if retry is not None else 0.0
        joining = self.status is CallState.READY and self.joins_next_run
        label = JOINS_NEXT_RUN if joining else self.status.value
        if retry is not None and retry_in > 0:
            label = retry_words(retry[0], retry[1], retry_in)
        if self.in_flight and self.phase not in (None, Phase.POSITION):
            label += f" ({PHASE_WORDS[self.phase]})"
        text.append(f"{CALL_MARKS[self.status]} {label}", style(status_style))
        # A review or a ballot leaves the answer's own timing on show (a debate's revision is an answer).
        in_review = (
            self.phase in (Phase.VOTE, Phase.BALLOT)
            and not self.in_flight
            and self.position_latency_ms is not None
        )
        elapsed = self.position_latency_ms if in_review else self.elapsed_ms()
        ttft = self.position_ttft_ms if in_review else self.ttft_ms
        queued = self.position_queued_ms if in_review else self.queued_ms
        retried = self.position_retried_note if in_review else self.retried_note
        if retry is not None and retry_in <= 0:  # the retry is made: the call's clock, and which try
            text.append(
                f" {seconds(elapsed or 0)} · {retry_made_words(retry[0], retry[1])}", style(status_style)
            )
        elif elapsed is not None and retry is None:
            text.append(f" {seconds(elapsed)}")
        if self.queue_note:  # after the wait's clock, which a narrow pane must not cut off
            text.append(f" · {self.queue_note}", style(status_style))
        if ttft is not None:
            text.append(f" · first {seconds(ttft)}", style("model-pane--muted"))
        if queued is not None:
            text.append(f" · {queue_wait_words(seconds(queued))}", style("model-pane--muted"))
        if retried is not None and not self.in_flight:
            text.append(f" · {retried}", style("model-pane--muted"))
        text.append("\n")
        if self.input_tokens or self.output_tokens:
            source = self.tokens_source
            text.append(
                f"{tokens(self.input_tokens, source)} in · {tokens(self.output_tokens, source)} out"
                f"{tokens_source_note(source)} · {cost(self.cost_usd)}",
                style("model-pane--muted"),
            )
            if self.streamed_chars:
                text.append(f" · +{streamed_estimate(self.streamed_chars)}", style("model-pane--muted"))
        elif self.streamed_chars:  # streaming: a running estimate until the provider's usage arrives
            text.append(streamed_estimate(self.streamed_chars), style("model-pane--muted"))
        else:
            text.append("no tokens yet", style("model-pane--muted"))
        text.append("\n")
        if self.status is CallState.SKIPPED:
            text.append("not on this run's panel", style("model-pane--muted"))
        elif self.mode is Mode.DEBATE:
            self._debate_line(text)
        elif self.mode is Mode.COUNCIL:
            self._ballot_line(text)
        elif self.votes:
            text.append("votes ", style("model-pane--muted"))
            for number, value in sorted(self.votes.items()):
                text.append(f" R{number} ")
                mark = f"{VOTE_MARKS[value]} {VOTE_WORDS[value]}"
                text.append(mark, style(f"model-pane--vote-{_vote_class(value)}"))
        elif self.mode is Mode.DELIBERATE:  # a consult's and a vote's members cast none
            text.append("no votes yet", style("model-pane--muted"))
        return text

    def _debate_line(self, text: Text) -> None:
        """`answers R1 20 ⇄ R2 18  R3 18`: its answer in each round, a flip marked where it came."""
        style = self.get_component_rich_style
        if not self.debate_answers:
            text.append(NO_DEBATE_ANSWERS, style("model-pane--muted"))
            return
        text.append(f"{DEBATE_ANSWERS} ", style("model-pane--muted"))
        for said, (number, (answer, flipped)) in enumerate(sorted(self.debate_answers.items())):
            if flipped:
                text.append(f" {FLIP_MARK} ", style("model-pane--vote-invalid"))
            elif said:
                text.append("  ")
            text.append(f"R{number} {answer}")

    def _ballot_line(self, text: Text) -> None:
        """`ballot  bolt > cirrus`, or `ballot  abstained: missing B`"""
        style = self.get_component_rich_style
        if self.ballot is None:
            text.append(NO_BALLOT, style("model-pane--muted"))
            return
        ranking, abstained = self.ballot
        text.append(f"{BALLOT}  ", style("model-pane--muted"))
        text.append(ranking, style("model-pane--vote-invalid") if abstained else None)

    def refresh_info(self) -> None:
        super().refresh_info()
        self._show_title(self.shown_name or self.member.alias)

    def rename(self, name: str) -> None:
        """Name the pane `name` (its alias, with its stance and seat when the panel repeats it)."""
        self.shown_name = name
        self._show_title(name)

    def _show_title(self, name: str) -> None:
        # Setting a border title repaints the whole pane, even to the same words: only on a change
        # (the clock refreshes the info block four times a second; measured: a quarter of a frame).
        if name != self._title:
            self._title = name
            self.border_title = Content(name)  # literal: an alias is never read as markup


def _vote_class(value: VoteValue) -> str:
    return {VoteValue.ACCEPT: "accept", VoteValue.REJECT: "reject"}.get(value, "invalid")
