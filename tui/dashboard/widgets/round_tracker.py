"""The round tracker: each round's tally and outcome (and who the outcome rests on), the round
count, and the run's mode; a debate's rounds with how many agree and who flipped; a council's
ballots, its Borda ranking as a table, and its chairman."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from tui.engine.council import Ranking
from tui.engine.debate import DebateRound
from tui.engine.types import Member, Mode, Outcome, Phase, RoundResult, RoundStatus, RunStatus
from tui.render.words import (
    BORDA,
    CALL_MARKS,
    COUNCIL_STAGES,
    OUTCOME_SHORT_WORDS,
    OUTCOME_WORDS,
    RANKING_COLUMNS,
    ROUND_WORDS,
    CallState,
    agree_words,
    ballots_cast_words,
    ballots_read_words,
    flip_count_words,
    invalid_votes_words,
    phase_word,
    ranking_rows,
    round_word,
    run_word,
    ties_words,
)

ENDED_EARLY = (RunStatus.ERROR, RunStatus.CANCELLED, RunStatus.INTERRUPTED)

OUTCOME_CLASSES = {
    Outcome.UNANIMOUS: "round-tracker--unanimous",
    Outcome.MAJORITY: "round-tracker--majority",
    Outcome.CURATOR_OVERRIDE: "round-tracker--curator",
    Outcome.PLURALITY: "round-tracker--majority",  # a vote's answer given by the most seats
    Outcome.NO_QUORUM: "round-tracker--failed",  # not a decision
    Outcome.RANKED: "round-tracker--majority",  # a council's chairman wrote from a ranking
}


class RoundTracker(Static):
    """One line: `deliberate · Round 2/3 │ R1 1✓ 2✗ → next │ R2 …in progress │ R3 ·`; the deciding
    round says who its outcome rests on (`R1 2✓ 0✗ unanimous · 2 of 3 voted (beta failed)`), and a
    consult run whom its synthesis does (`· 2 of 3 answered (beta failed)`). A debate's rounds say
    how many agree and how many flipped (`R2 3 of 3 agree · 1 flip unanimous`); a council says its
    ballots, its chairman and its outcome on the line, and its ranking as a table below it (on a
    small screen, in place order on the line)."""

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
        self.debate: dict[int, DebateRound] = {}  # a debate's rounds, read
        self.ballots_cast = 0  # a council's ballots so far
        self.ranking: Ranking | None = None  # a council's ballots, counted
        self.members: tuple[Member, ...] = ()  # the council's panel, which the ranking names
        self.chair: CallState | None = None  # what a council's chairman is doing
        self.chair_role = ""
        self._lines = 1  # the lines last shown

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
        self.debate.clear()
        self.ballots_cast, self.ranking, self.members, self.chair = 0, None, (), None
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

    def debate_round_read(self, reading: DebateRound) -> None:
        """A debate's round ended and its answers were read."""
        self.debate[reading.number] = reading
        self.refresh_view()

    def ballot_cast(self) -> None:
        self.ballots_cast += 1
        self.refresh_view()

    def ranking_made(self, ranking: Ranking, members: Sequence[Member]) -> None:
        """A council's ballots were counted: `members` is its panel, whose answers were ranked."""
        self.ranking, self.members = ranking, tuple(members)
        self.refresh_view()

    def chair_called(self, role: str) -> None:
        """A council's chairman (`role`: its name for it) was asked for the run's answer."""
        self.chair, self.chair_role = CallState.WAITING, role
        self.refresh_view()

    def chair_streaming(self) -> None:
        self.chair = CallState.STREAMING
        self.refresh_view()

    def chair_finished(self, state: CallState) -> None:
        self.chair = state
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
        if self.mode is Mode.COUNCIL:
            return self._council_text(text, separator)
        if self.mode is Mode.VOTE:
            return self._vote_text(text, separator)
        if not self.compact:
            text.append(self.mode.value, style("round-tracker--muted"))
            text.append(" · ")
        # A small screen's line, once the run ended, starts at its rounds: room for the outcome.
        counted = not (self.compact and self.state not in (None, RunStatus.RUNNING))
        if counted and self.current:
            text.append(f"Round {self.current}/{self.max_rounds}")
        elif counted:
            text.append(f"up to {self.max_rounds} round{'s' if self.max_rounds != 1 else ''}")
        for number in range(1, self.max_rounds + 1):
            if counted or number > 1:
                text.append(separator, style("round-tracker--muted"))
            text.append(f"R{number} ")
            round_ = self.rounds.get(number)
            went_on = round_ is not None and round_.outcome is None and round_.status is RoundStatus.CONTINUE
            reading = self.debate.get(number)
            if reading is not None and not (self.compact and went_on):
                text.append(agree_words(reading))
                if number > 1:
                    text.append(f" · {flip_count_words(reading.flips)}")
                text.append(" ")
            if round_ is not None and round_.votes and not (self.compact and went_on):
                tally = round_.tally
                text.append(f"{tally.accept}✓ {tally.reject}✗")
                if tally.invalid:
                    text.append(f" {tally.invalid}?")
                if tally.none:
                    text.append(f" {tally.none}·")
                text.append(" ")
            if round_ is not None and round_.outcome is not None:
                said = OUTCOME_WORDS[round_.outcome]
                if self.compact:
                    said = OUTCOME_SHORT_WORDS.get(round_.outcome, said)
                text.append(said, style(OUTCOME_CLASSES[round_.outcome]))
                if number in self.rests_on:
                    text.append(f" · {self.rests_on[number]}")
            elif round_ is not None and round_.status is RoundStatus.CONTINUE:
                text.append("→" if self.compact else "→ next", style("round-tracker--muted"))
            elif round_ is not None and round_.status is RoundStatus.FAILED:
                text.append(ROUND_WORDS[RoundStatus.FAILED], style("round-tracker--failed"))
            elif round_ is not None and round_.status is RoundStatus.DECIDED:  # an open debate's last
                # No outcome: the synthesizer reports the majority view and the dissent.
                text.append(f"→ {phase_word(Phase.DRAFT, self.mode)}", style("round-tracker--unanimous"))
                if number in self.rests_on:
                    text.append(f" · {self.rests_on[number]}")
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

    def _vote_text(self, text: Text, separator: str) -> Text:
        """A vote, one pass: `vote · one pass │ majority · 3 of 3 answered` once its answers are
        counted; an open question's `vote · one pass │ 3 of 3 answered · complete` once the
        synthesizer reported them. No rounds: there is only one."""
        style = self.get_component_rich_style
        parts: list[Text] = []
        if not self.compact:
            parts.append(Text.assemble(("vote", style("round-tracker--muted")), " · one pass"))
        round_ = self.rounds.get(1)
        if round_ is not None and round_.outcome is not None:
            said = OUTCOME_WORDS[round_.outcome]
            if self.compact:
                said = OUTCOME_SHORT_WORDS.get(round_.outcome, said)
            outcome = Text(said, style(OUTCOME_CLASSES[round_.outcome]))
            if 1 in self.rests_on:
                outcome.append(f" · {self.rests_on[1]}")
            parts.append(outcome)
        elif self.state is RunStatus.RUNNING:
            parts.append(Text(ROUND_WORDS[RoundStatus.IN_PROGRESS], style("round-tracker--progress")))
        elif self.state is not None:
            ended = Text(f"{self.rests_on[0]} · " if 0 in self.rests_on else "")
            ended.append(run_word(self.state), style(_state_class(self.state)))
            parts.append(ended)
        if not parts:  # a small screen's, before the run
            parts.append(Text("one pass"))
        return text.append_text(Text(separator, style("round-tracker--muted")).join(parts))

    def _council_text(self, text: Text, separator: str) -> Text:
        """A council: `council · Borda: 3 ballots read · 0 abstained │ chairman ✓ done │ ranked · 3
        of 3 voted`, then its ranking as a table. A small screen has one line, the outcome first:
        `ranked │ 1 bolt · 2 atlas · 3 cirrus │ Borda: 3 ballots read · 0 abstained │ chairman ✓ done`."""
        style = self.get_component_rich_style
        muted = style("round-tracker--muted")
        ranking = self.ranking
        parts: list[Text] = []
        if ranking is not None:
            parts.append(Text(f"{BORDA}: {ballots_read_words(ranking)}"))
        elif self.ballots_cast:
            parts.append(Text(ballots_cast_words(self.ballots_cast), style("round-tracker--progress")))
        elif self.state is RunStatus.RUNNING:
            parts.append(Text(ROUND_WORDS[RoundStatus.IN_PROGRESS], style("round-tracker--progress")))
        else:
            parts.append(Text(COUNCIL_STAGES, muted))
        if self.chair is not None:
            chair_style = {
                CallState.DONE: "round-tracker--unanimous",
                CallState.FAILED: "round-tracker--failed",
                CallState.CANCELLED: "round-tracker--failed",
            }.get(self.chair, "round-tracker--progress")
            said = f"{self.chair_role} {CALL_MARKS[self.chair]} {self.chair.value}"
            parts.append(Text(said, style(chair_style)))
        decided = self._council_decided()
        if self.compact:
            if ranking is not None:
                places = [f"{row[0]} {row[1]}" for row in ranking_rows(ranking, self.members)]
                parts.insert(0, Text(" · ".join(places)))
            if decided is not None:
                parts.insert(0, decided[0])
        elif decided is not None:
            parts.append(Text.assemble(*decided))
        if self.state in ENDED_EARLY:
            parts.append(Text(f"run {run_word(self.state)}", style("round-tracker--failed")))
        if not self.compact:
            text.append(self.mode.value, muted)
            text.append(" · ")
        text.append_text(Text(separator, muted).join(parts))
        if ranking is not None and not self.compact:
            rows = [RANKING_COLUMNS, *ranking_rows(ranking, self.members)]
            widths = [max(len(row[column]) for row in rows) for column in range(len(RANKING_COLUMNS))]
            for number, row in enumerate(rows):
                cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                text.append("\n")
                text.append(cells.rstrip(), muted if number == 0 else None)
            for tie in ties_words(ranking, self.members):  # below the places it explains
                text.append(f"\n{tie}", style("round-tracker--invalid"))
        return text

    def _council_decided(self) -> tuple[Text, str] | None:
        """How a council's round ended, in its colour, and who that rests on (` · 3 of 3 voted`);
        None while it has not."""
        round_ = self.rounds.get(1)
        if round_ is None or round_.status is RoundStatus.IN_PROGRESS:
            return None
        if round_.outcome is not None:
            colour = OUTCOME_CLASSES[round_.outcome]
        elif round_.status is RoundStatus.DECIDED:  # too few answers to rank: the chairman's alone
            colour = "round-tracker--unanimous"
        else:
            colour = "round-tracker--failed"
        said = Text(round_word(round_.status, round_.outcome), self.get_component_rich_style(colour))
        return said, f" · {self.rests_on[1]}" if 1 in self.rests_on else ""

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
        text = self.render_text()
        # Only a council's table changes the tracker's height: every other update is a repaint.
        lines = text.plain.count("\n") + 1
        self.update(text, layout=lines != self._lines)
        self._lines = lines


def _state_class(state: RunStatus) -> str:
    return "round-tracker--failed" if state in ENDED_EARLY else "round-tracker--unanimous"
