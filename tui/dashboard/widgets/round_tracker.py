"""The round tracker: each round's tally and outcome (and who the outcome rests on), the round
count, and the run's mode."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from tui.engine.types import Mode, Outcome, RoundResult, RoundStatus, RunStatus
from tui.render.words import OUTCOME_WORDS, ROUND_WORDS, invalid_votes_words, run_word

ENDED_EARLY = (RunStatus.ERROR, RunStatus.CANCELLED, RunStatus.INTERRUPTED)

OUTCOME_CLASSES = {
    Outcome.UNANIMOUS: "round-tracker--unanimous",
    Outcome.MAJORITY: "round-tracker--majority",
    Outcome.CURATOR_OVERRIDE: "round-tracker--curator",
    Outcome.PLURALITY: "round-tracker--majority",  # a vote's answer given by the most seats
    Outcome.NO_QUORUM: "round-tracker--failed",  # not a decision
}


class RoundTracker(Static):
    """One line: `deliberate · Round 2/3 │ R1 1✓ 2✗ → next │ R2 …in progress │ R3 ·`; the deciding
    round says who its outcome rests on (`R1 2✓ 0✗ unanimous · 2 of 3 voted (beta failed)`), and a
    consult run whom its synthesis does (`· 2 of 3 answered (beta failed)`)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "round-tracker--unanimous",
        "round-tracker--majority",
        "round-tracker--curator",
        "round-tracker--progress",
        "round-tracker--failed",
        "round-tracker--invalid",
        "round-tracker--muted",
        "round-tracker--following",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = Mode.DELIBERATE
        self.max_rounds = 3
        self.rounds: dict[int, RoundResult] = {}
        # Who each decided round's outcome rests on, in words (`2 of 3 voted (beta failed)`); for
        # a consult run, under 0: whom its synthesis rests on.
        self.rests_on: dict[int, str] = {}
        self.current = 0
        self.outcome: Outcome | None = None
        self.state: RunStatus | None = None  # None: nothing has run yet
        self.agreement: str | None = None
        # A small screen: no mode word, thin separators, and a round that went on to the next
        # is only its arrow, so the line still reaches the deciding round's outcome.
        self.compact = False
        # Where the run on screen comes from when another process records it (full, short), or
        # what watch mode waits for; first on the line. Kept across `reset`: the app sets it.
        self.source: tuple[str, str] | None = None
        self.source_live = False  # the run it names is being followed now (else: waiting)

    def show_source(self, full: str | None, short: str = "", *, live: bool = False) -> None:
        """Say (first on the line) where the run on screen comes from, or what is awaited; None: nothing."""
        self.source = None if full is None else (full, short or full)
        self.source_live = live
        self.refresh_view()

    def reset(self, mode: Mode, max_rounds: int) -> None:
        self.mode, self.max_rounds = mode, max_rounds
        self.rounds.clear()
        self.rests_on.clear()
        self.current, self.outcome, self.state, self.agreement = 0, None, None, None
        self.refresh_view()

    def start(self) -> None:
        self.state = RunStatus.RUNNING
        self.refresh_view()

    def round_started(self, number: int, max_rounds: int) -> None:
        self.current, self.max_rounds = number, max_rounds
        self.refresh_view()

    def round_decided(self, round_: RoundResult, rests_on: str | None = None) -> None:
        """A round ended; `rests_on` says who its outcome rests on, in words."""
        self.rounds[round_.number] = round_
        if round_.outcome is not None:
            self.outcome = round_.outcome
        if rests_on is not None:
            self.rests_on[round_.number] = rests_on
        self.refresh_view()

    def finish(self, state: RunStatus, outcome: Outcome | None = None, rests_on: str | None = None) -> None:
        """The run ended; for a consult run, `rests_on` says whom its synthesis rests on."""
        self.state = state
        self.outcome = outcome or self.outcome
        if rests_on is not None:
            self.rests_on[0] = rests_on
        self.refresh_view()

    def render_text(self) -> Text:
        style = self.get_component_rich_style
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.source is not None:
            full, short = self.source
            mark = "● " if self.source_live else ""
            label = style("round-tracker--following" if self.source_live else "round-tracker--muted")
            text.append(f"{mark}{short if self.compact else full}", label)
            text.append(" │ " if self.compact else "  │  ", style("round-tracker--muted"))
        if self.mode is Mode.CONSULT:
            text.append("consult", style("round-tracker--muted"))
            ended = None if self.state is RunStatus.RUNNING else self.state
            if not self.compact:
                text.append(" · one pass, one synthesis")
            elif ended is not None:  # the outcome before the agreement, which may be long
                text.append(f" · {run_word(ended)}", style(_state_class(ended)))
            if 0 in self.rests_on:
                text.append(f" · {self.rests_on[0]}")
            if self.agreement:
                text.append(f" · {self.agreement}")
            if ended is not None and not self.compact:
                text.append(f" · {run_word(ended)}", style(_state_class(ended)))
            return text
        separator = " │ " if self.compact else "  │  "
        if not self.compact:
            text.append("deliberate", style("round-tracker--muted"))
            text.append(" · ")
        if self.current:
            text.append(f"Round {self.current}/{self.max_rounds}")
        else:
            text.append(f"up to {self.max_rounds} round{'s' if self.max_rounds != 1 else ''}")
        for number in range(1, self.max_rounds + 1):
            text.append(separator, style("round-tracker--muted"))
            text.append(f"R{number} ")
            round_ = self.rounds.get(number)
            went_on = round_ is not None and round_.outcome is None and round_.status is RoundStatus.CONTINUE
            if round_ is not None and round_.votes and not (self.compact and went_on):
                tally = round_.tally
                text.append(f"{tally.accept}✓ {tally.reject}✗")
                if tally.invalid:
                    text.append(f" {tally.invalid}?")
                if tally.none:
                    text.append(f" {tally.none}·")
                text.append(" ")
            if round_ is not None and round_.outcome is not None:
                text.append(f"{OUTCOME_WORDS[round_.outcome]}", style(OUTCOME_CLASSES[round_.outcome]))
                if number in self.rests_on:
                    text.append(f" · {self.rests_on[number]}")
            elif round_ is not None and round_.status is RoundStatus.CONTINUE:
                text.append("→" if self.compact else "→ next", style("round-tracker--muted"))
            elif round_ is not None and round_.status is RoundStatus.FAILED:
                text.append(ROUND_WORDS[RoundStatus.FAILED], style("round-tracker--failed"))
            elif number == self.current and self.state is RunStatus.RUNNING:
                text.append(ROUND_WORDS[RoundStatus.IN_PROGRESS], style("round-tracker--progress"))
            elif number == self.current and self.state in ENDED_EARLY:
                text.append(run_word(self.state), style("round-tracker--failed"))
            else:
                text.append("·", style("round-tracker--muted"))
        if self.state in ENDED_EARLY:
            text.append(f"{separator}run {run_word(self.state)}", style("round-tracker--failed"))
        for rounds, why in self._invalid_votes():
            text.append(separator, style("round-tracker--muted"))
            text.append(f"{rounds}: {why}", style("round-tracker--invalid"))
        return text

    def _invalid_votes(self) -> list[tuple[str, str]]:
        """How many votes of each round were invalid and why, rounds that say the same said once:
        `[("R1, R2", "2 invalid votes: no verdict line, both words")]`. Last on the line, so a
        narrow screen's ellipsis cuts the explanation, never a round's outcome."""
        grouped: dict[str, list[int]] = {}
        for number, round_ in sorted(self.rounds.items()):
            why = invalid_votes_words(round_.votes)
            if why:
                grouped.setdefault(why, []).append(number)
        return [(", ".join(f"R{n}" for n in numbers), why) for why, numbers in grouped.items()]

    def refresh_view(self) -> None:
        self.update(self.render_text(), layout=False)


def _state_class(state: RunStatus) -> str:
    return "round-tracker--failed" if state in ENDED_EARLY else "round-tracker--unanimous"
