"""The synthesis pane: drafts streaming in (or a council's chairman's answer, or a vote's or a debate's
count), the final decision with its outcome, the completion line."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text

from tui.dashboard.widgets.round_tracker import OUTCOME_CLASSES
from tui.dashboard.widgets.stream_pane import StreamPane
from tui.engine.types import Mode, Outcome, Phase, RunResult, RunStatus
from tui.render.cache import served_line
from tui.render.formatting import completion_line, literal
from tui.render.words import (
    AWAITING_PANEL,
    CALL_MARKS,
    NOT_A_DECISION,
    OUTCOME_WORDS,
    CallState,
    counted,
    no_synthesis_words,
    phase_word,
    synthesizer_role,
)


class SynthesisPane(StreamPane):
    """What the synthesizer (and curator) writes, with the run's outcome and totals."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "synthesis-pane--muted",
        "round-tracker--unanimous",
        "round-tracker--majority",
        "round-tracker--curator",
        "round-tracker--failed",
        "synthesis-pane--failed",
        "synthesis-pane--incomplete",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.by: str | None = None
        self.outcome: Outcome | None = None
        self.completion: str | None = None
        self.failed: str | None = None
        self.incomplete: str | None = None  # why the run's synthesis is not whole
        self.mode = Mode.DELIBERATE
        # None: no run on screen yet; RUNNING: the run under way; else how it ended.
        self.run: RunStatus | None = None

    def on_mount(self) -> None:
        # Textual calls every class's on_mount in turn (StreamPane's follows): no super() call.
        self.border_title = "Synthesis"

    def reset(self, mode: Mode) -> None:
        self.by = self.outcome = self.completion = self.failed = self.incomplete = None
        self.run = None
        self.mode = mode
        self.body.clear()
        self.refresh_info()

    def run_started(self) -> None:
        self.run = RunStatus.RUNNING
        self.refresh_info()

    def call_started(self, alias: str, phase: Phase, round_number: int, demo: bool) -> None:
        self.flush()
        self.by = alias + (" (demo)" if demo else "")
        if phase is Phase.CURATOR:
            heading = f"── Curator decision by {self.by} ──"
        elif phase is Phase.CHAIR:
            heading = f"── {synthesizer_role(self.mode).capitalize()}'s answer by {self.by} ──"
        elif self.mode is not Mode.DELIBERATE:  # one synthesis: consult, an open vote or debate
            heading = f"── {phase_word(phase, self.mode).capitalize()} by {self.by} ──"
        else:
            heading = (
                f"── Round {round_number} {'draft' if round_number == 1 else 'revision'} by {self.by} ──"
            )
        self.body.add_block(heading)
        self.refresh_info()

    def note(self, message: str, style: str = "note") -> None:
        self.flush()
        self.body.add_block(message, style)

    def call_incomplete(self, reason: str) -> None:
        """The draft, revision, synthesis or decision just written stopped short: flag it."""
        self.note(
            f"{CALL_MARKS[CallState.INCOMPLETE]} incomplete: {reason}; the text above is all there is",
            "warning",
        )

    def finished(
        self,
        outcome: Outcome | None,
        rounds_used: int = 0,
        incomplete: str | None = None,
        *,
        text: str = "",
        by: str = "",
    ) -> None:
        """The run's answer is written: `text`, by `by`. A count (a vote's, a debate's) streams
        nothing before it, and is shown here whole; a model's answer is already on show."""
        self.flush()
        self.outcome, self.incomplete = outcome, incomplete
        if self.by is None and text:
            self.by = by
            self.body.add_block(f"── {by.capitalize()} ──")
            self.buffer(text)
            self.flush()
        above = self._answer_above(rounds_used)
        if outcome is Outcome.CURATOR_OVERRIDE:
            self.body.add_block(
                f"Decision: the curator's, after {counted(rounds_used, 'round')} without a majority", "note"
            )
        elif outcome is Outcome.NO_QUORUM:
            self.body.add_block(f"{NOT_A_DECISION.capitalize()}: {above} is all there is", "warning")
        elif outcome is not None:
            self.body.add_block(f"Decision: {OUTCOME_WORDS[outcome]}, {above}", "note")
        self.refresh_info()

    def _answer_above(self, rounds_used: int) -> str:
        """What the decision below the text is about: a deliberation's last draft, a council's
        chairman's answer, or a vote's or a debate's count."""
        if self.mode is Mode.COUNCIL:
            return f"the {synthesizer_role(self.mode)}'s answer above"
        if self.mode in (Mode.VOTE, Mode.DEBATE):
            return "the count above"
        return f"the round {rounds_used} draft above"

    def run_ended(self, result: RunResult) -> None:
        self.flush()
        self.run = result.status
        self.completion = (
            served_line(result.cache) if result.cache.hit else completion_line(result.totals, result.status)
        )
        if result.status is RunStatus.ERROR:
            self.failed = "; ".join(result.errors)
            self.body.add_block(self.failed, "error")
        if self.body.text:  # it closes what the pane says; the info block says it over an empty one
            self.body.add_block(self.completion, "heading")
        self.refresh_info()

    def info_text(self) -> Text:
        style = self.get_component_rich_style
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.outcome is not None:
            text.append(f" {OUTCOME_WORDS[self.outcome].upper()} ", style(OUTCOME_CLASSES[self.outcome]))
            text.append(" ")
        elif self.failed:
            text.append(" FAILED ", style("synthesis-pane--failed"))
            text.append(" ")
        if self.incomplete:
            text.append(" INCOMPLETE ", style("synthesis-pane--incomplete"))
            text.append(" ")
        text.append(self._who(), style("synthesis-pane--muted"))
        text.append("\n")
        text.append(self.completion or "", style("synthesis-pane--muted"))
        return text

    def _who(self) -> str:
        """Who writes the synthesis, or why nobody does (yet)."""
        if self.by:
            return f"by {literal(self.by)}"
        if self.run is None:
            return CallState.READY.value
        return AWAITING_PANEL if self.run is RunStatus.RUNNING else no_synthesis_words(self.run)
