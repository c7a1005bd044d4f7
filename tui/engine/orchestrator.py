"""The orchestrator: runs a panel through consult, deliberate, vote, debate or council mode and
reports every step.

Every call of a phase starts at once and results are kept in panel order. A call never raises
into the run (see `tui.engine.calls`), so one member failing never stops the others. Cancelling
a run cancels its in-flight calls and keeps everything that had arrived, including the partial
text of the cancelled calls.

Nothing else may stop a run half-way without a word either. When the event sink raises (a
display or the history recorder is broken) or the engine's own code fails, the run stops its
calls as a cancel would, ends as failed with one line saying why, and `execute()` returns.

An `incomplete` call (cut off at the output limit, stopped by a content filter, refused; see
`tui.engine.calls`) has an answer, only not a whole one, and the run uses what is there, saying
so wherever it goes:
- a position counts as a position: its member votes, and the synthesizer reads it with a note
  at its end that it is incomplete, and why (`as_read`);
- a review is not: only a whole reply is a vote (one reply, one vote), so a refused or filtered
  review is an invalid vote (`refused by the model`), and so is one cut off at the output limit,
  even when its verdict had arrived (`cut off at the 4,096-token output limit`);
- a draft or decision is used, not retried with a fallback synthesizer (the next one would hit
  the same limit): members review it with the same note, and when it is the run's answer the
  run still succeeds, with `RunResult.synthesis_incomplete` (and `SynthesisFinished.incomplete`)
  giving the reason. A later whole revision or curator decision clears it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Literal, TypeVar
from uuid import uuid4

from tui.engine import events as ev
from tui.engine import prompts, vision
from tui.engine.answers import round_answers
from tui.engine.ballots import ballot_call, labels_for, read_ballot
from tui.engine.calls import ANSWERED, CallSpec, ModelCall, as_read, cutoff
from tui.engine.connection import ProviderLookup
from tui.engine.council import FEWEST_TO_RANK, council_ranking
from tui.engine.debate import (
    DEBATE_COUNT,
    DebateRound,
    debate_round,
    debate_rounds,
    debate_synthesis,
    round_tokens,
)
from tui.engine.deliberation import EXPECTED_ANSWER_TOKENS, Deliberation
from tui.engine.lifecycle import Lifecycle
from tui.engine.names import member_names
from tui.engine.quorum import quorum_met, quorum_needed, standing
from tui.engine.rules import decide_round, parse_vote, read_agreement, tally_votes
from tui.engine.shown import others_shuffled
from tui.engine.types import (
    Ballot,
    CallResult,
    CallStatus,
    Member,
    Mode,
    Outcome,
    Phase,
    RoundResult,
    RoundStatus,
    RunRequest,
    RunResult,
    Shown,
    Vote,
    VoteForm,
    VoteValue,
)
from tui.engine.vote_count import VOTE_COUNT, count_answers, vote_synthesis
from tui.engine.votes import VoteCall

__all__ = ["EXPECTED_ANSWER_TOKENS", "ProviderLookup", "Run", "run_panel"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Run:
    """One run of a panel. `await run.execute()` returns the `RunResult`; `run.result` is live."""

    def __init__(
        self,
        request: RunRequest,
        providers: ProviderLookup,
        emit: ev.EventSink | None = None,
        *,
        base_prompt: str = prompts.DEFAULT_BASE_PROMPT,
        run_id: str | None = None,
        reuse: Mapping[int, CallResult] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`reuse` carries successful positions over from an earlier run, by panel index: a partial
        rerun sends only the other members' calls and redoes everything that depends on them."""
        self.request = request
        self._providers = providers
        self._base_prompt = prompts.validate_base_prompt(base_prompt)
        self._call_numbers = itertools.count(1)
        self._clock = clock  # tests freeze it so latencies (and snapshots) are deterministic
        self._life = Lifecycle(request, emit, clock, run_id or uuid4().hex[:12])
        self.result = self._life.result
        self._emit = self._life.emit
        self._reuse = {i: c for i, c in (reuse or {}).items() if c.status is CallStatus.SUCCESS}
        self._position_tasks: dict[int, asyncio.Task[CallResult]] = {}
        self._position_calls: dict[int, ModelCall] = {}
        self.phase: Literal["starting", "positions", "deliberation", "done"] = "starting"
        self._question_block = prompts.user_message(
            request.question,
            request.files,
            request.focus,
            request.thread,
            request.images,
            request.context,
        )

    # ----------------------------------------------------------------------------------------
    # Entry points

    async def execute(self) -> RunResult:
        """Run to the end and return the result.

        Never raises for a failed call, a failing event sink or a bug in the engine (the last two
        end the run as failed; see `Lifecycle`). After `cancel()` it returns the partial result;
        a cancellation from outside is raised again once the run has recorded it.
        """
        try:
            return await self._life.drive(self._run)
        finally:
            self.phase = "done"

    def replace_members(self, indices: Iterable[int]) -> bool:
        """Rerun these members' positions inside this run, while positions are still being taken.

        Cancels exactly those members' in-flight calls (a finished one is simply redone) and
        starts new ones; nothing else is touched. Returns False once the run has moved past its
        positions (or is stopping), when a rerun must be a new run (see `reuse`).
        """
        if self.phase != "positions" or self._life.stopping:
            return False
        for index in sorted(set(indices)):
            old = self._position_tasks.get(index)
            if old is not None and not old.done():
                if index in self._position_calls:
                    self._position_calls[index].cancel_reason = "replaced by a rerun"
                old.cancel()
            self._position_tasks[index] = asyncio.ensure_future(self._position_call(index))
        return True

    def cancel(self) -> None:
        """Stop the run: in-flight calls are cancelled, everything received so far is kept."""
        self._life.cancel()

    # ----------------------------------------------------------------------------------------
    # Modes

    async def _run(self) -> None:
        self._emit(ev.RunStarted(self.result.run_id, self.request))
        if self.request.skipped:
            self._emit(ev.MembersSkipped(tuple(self.request.skipped)))
        for note in vision.withheld_notes(self.request):
            self._note(note)
        log.debug(
            "run %s dispatch mode=%s models=[%s]",
            self.result.run_id,
            self.request.mode.value,
            ",".join(m.alias for m in self.request.members),
        )
        body = {
            Mode.CONSULT: self._consult,
            Mode.VOTE: self._vote,
            Mode.DEBATE: self._debate,
            Mode.COUNCIL: self._council,
        }.get(self.request.mode, self._deliberate)
        await body()

    async def _consult(self) -> None:
        positions = await self._positions()
        if positions is None:
            return
        answers = [(m.alias, m.stance, as_read(r)) for _, m, r in positions]
        if self.request.answer is None:  # an answer shape asks for no `Lean:` line to read
            self.result.agreement = read_agreement([text for _, _, text in answers])
            self._emit(ev.AgreementRead(self.result.agreement))
        synthesis = await self._synthesize(
            Phase.DRAFT,
            1,
            prompts.consult_synthesis_prompt(self._question_block, answers, self.request.answer),
        )
        self.result.rounds_used = 1
        if synthesis is not None:
            self._life.conclude(synthesis, outcome=None)

    async def _vote(self) -> None:
        """Every member answers once. With an answer shape the answers are counted (no synthesizer
        is asked: `tui.engine.vote_count`); without one the synthesizer reports the majority view
        and the dissent, and the run has no outcome, as in consult mode."""
        positions = await self._positions()
        if positions is None:
            return
        self.result.rounds_used = 1
        count = count_answers(self.result)
        if count is None:
            answers = [(m.alias, m.stance, as_read(r)) for _, m, r in positions]
            synthesis = await self._synthesize(
                Phase.DRAFT, 1, prompts.vote_synthesis_prompt(self._question_block, answers)
            )
            if synthesis is not None:
                self._life.conclude(synthesis, outcome=None)
            return
        round_ = self._life.round(1)
        round_.outcome, round_.status = count.outcome, RoundStatus.DECIDED
        self._round_decided(round_)
        text = vote_synthesis(count, self.request.members, self.result.errors)
        self._life.conclude_with(text, VOTE_COUNT, count.outcome)

    async def _debate(self) -> None:
        """Round 1's blind answers; then, round after round, every member still debating answers
        again given the others' answers of the round before (anonymized, in an order shuffled for
        it), until every answer agrees or the rounds run out (`tui.engine.debate`). Then the count
        of the last round's answers decides (with an answer shape), or the synthesizer reports its
        majority view and dissent. A member whose answer fails leaves the debate."""
        positions = await self._positions()
        if positions is None:
            return
        latest = {index: call for index, _, call in positions}
        reading = self._debate_round_read(1)
        stopped: str | None = None
        for number in range(2, self.request.max_rounds + 1):
            stopped = self._debate_stops(number, reading, latest)
            if stopped is not None:
                break
            previous = self._life.round(number - 1)
            previous.status = RoundStatus.CONTINUE
            self._round_decided(previous)
            latest = await self._debate_round(number, latest)
            reading = self._debate_round_read(number)
        await self._debate_decides(reading.number, stopped)

    def _debate_round_read(self, number: int) -> DebateRound:
        reading = debate_round(self.result, number)
        self._emit(ev.DebateRoundRead(reading))
        return reading

    def _debate_stops(
        self, number: int, reading: DebateRound, latest: Mapping[int, CallResult]
    ) -> str | None:
        """Why the debate stops before round `number`, or None when it goes on."""
        done = f"the debate stops after round {number - 1} of {self.request.max_rounds}"
        if reading.agreed:
            return f"every answer agrees ({reading.agreeing} of {reading.answered}): {done}"
        if len(latest) < 2:
            return f"{len(latest)} member is still debating, with no one to debate with: {done}"
        seats = len(self.request.members)
        if self.request.answer is not None and not self._quorum(len(latest)):
            return (
                f"no quorum: {len(latest)} of {seats} members are still debating, {self._needed()} "
                f"needed: {done}"
            )
        budget, used = self.request.token_budget, self._life.tokens_used()
        if budget is not None:
            texts = [as_read(call) for call in latest.values()]
            debaters = [self.request.members[index] for index in latest]
            needed = round_tokens(self._question_block, texts, debaters, self.request.images)
            if used + needed > budget:
                return (
                    f"token budget: {used:,} of {budget:,} tokens used and round {number} would need "
                    f"about {needed:,} more: {done}"
                )
        return None

    async def _debate_round(self, number: int, latest: Mapping[int, CallResult]) -> dict[int, CallResult]:
        """Round `number`: every member still debating answers again, shown the others' answers of
        the round before; returns the answers of those who answered."""
        round_ = self._life.round(number)
        debaters = sorted(latest)
        round_.shown = [
            Shown(
                member_index=index,
                seats=others_shuffled(
                    index, debaters, seed=self.request.seed, stage="debate", round_number=number
                ),
            )
            for index in debaters
        ]
        self._emit(ev.AnswersShown(number, tuple(round_.shown)))
        calls = await self._gather([self._revision(number, shown, latest) for shown in round_.shown])
        names = member_names(self.request.members)
        self.result.errors += [
            f"{names[shown.member_index]}: round {number} answer failed: {call.error}"
            for shown, call in zip(round_.shown, calls, strict=True)
            if call.status is CallStatus.ERROR
        ]
        return {
            shown.member_index: call
            for shown, call in zip(round_.shown, calls, strict=True)
            if call.status in ANSWERED
        }

    async def _revision(self, number: int, shown: Shown, latest: Mapping[int, CallResult]) -> CallResult:
        index = shown.member_index
        member = self.request.members[index]
        prompt = prompts.debate_prompt(
            self._question_block,
            as_read(latest[index]),
            [as_read(latest[seat]) for seat in shown.seats],
            self.request.answer,
        )
        return await self._call(member, index, Phase.REVISION, number, self._system_prompt(member), prompt)

    async def _debate_decides(self, last: int, stopped: str | None) -> None:
        """The debate's last round decides: its count (with an answer shape) or the synthesizer's
        report of its majority view and dissent (an open question, no outcome)."""
        round_ = self._life.round(last)
        round_.note = stopped
        count = count_answers(self.result)
        if count is not None:
            round_.outcome, round_.status = count.outcome, RoundStatus.DECIDED
            self._round_decided(round_)
            members, errors = self.request.members, self.result.errors
            text = debate_synthesis(count, debate_rounds(self.result), members, errors)
            self._life.conclude_with(text, DEBATE_COUNT, count.outcome)
            return
        answers = [
            (index, as_read(call))
            for index, call in enumerate(round_answers(self.result, last))
            if call is not None and call.status in ANSWERED
        ]
        synthesis = await self._synthesize(
            Phase.DRAFT, last, prompts.debate_synthesis_prompt(self._question_block, answers)
        )
        round_.status = RoundStatus.FAILED if synthesis is None else RoundStatus.DECIDED
        self._round_decided(round_)
        if synthesis is not None:
            self._life.conclude(synthesis, outcome=None)

    async def _council(self) -> None:
        """Blind answers; each member ranks the others' answers (its own left out, under letters
        shuffled for it), a Borda count aggregates the readable ballots (`tui.engine.council`), and
        the chairman (the synthesizer chain) writes the run's answer from the answers, still
        anonymized, and the ranking: `ranked` when a quorum of the seats' ballots could be read,
        `no quorum` when too few could (or too few members answered), no outcome when there were
        too few answers to rank at all. A chairman whose chain all fails fails the run; the
        ballots and their ranking are kept."""
        positions = await self._positions()
        if positions is None:
            return
        answers = {index: call for index, _, call in positions}
        round_ = self._life.round(1)
        seats = len(self.request.members)
        outcome: Outcome | None = Outcome.NO_QUORUM
        if not self._quorum(len(answers)):
            round_.note = (
                f"no quorum: {len(answers)} of {seats} members answered, {self._needed()} needed; "
                "no ballots are asked"
            )
        elif len(answers) - 1 < FEWEST_TO_RANK:
            outcome = None
            round_.note = (
                f"{len(answers)} answers: each reviewer would be shown only one other, and a ranking of "
                "one ranks nothing, so no ballots are asked"
            )
        else:
            round_.ballots = await self._gather([self._ballot(index, answers) for index in sorted(answers)])
        ranking = council_ranking(self.result)
        if ranking is not None:
            self._emit(ev.RankingMade(ranking))
            if self._quorum(ranking.ballots):
                outcome = Outcome.RANKED
            else:
                round_.note = (
                    f"no quorum: {ranking.ballots} of {seats} members cast a readable ballot, "
                    f"{self._needed()} needed"
                )
        texts = {index: as_read(call) for index, call in answers.items()}
        prompt = prompts.chair_prompt(self._question_block, texts, ranking, round_.note, self.request.answer)
        chair = await self._synthesize(Phase.CHAIR, 1, prompt)
        if chair is None:
            round_.status = RoundStatus.FAILED
            self._round_decided(round_)
            return
        round_.outcome, round_.status = outcome, RoundStatus.DECIDED
        self._round_decided(round_)
        self._life.conclude(chair, outcome)

    async def _ballot(self, index: int, answers: Mapping[int, CallResult]) -> Ballot:
        """A member's ballot on the others' answers, asked as structured output where its model
        takes one (see `tui.engine.ballots`): its ranking, or its abstention and why."""
        member = self.request.members[index]
        shown = others_shuffled(
            index, sorted(answers), seed=self.request.seed, stage="council", round_number=1
        )
        labels = labels_for(len(shown))
        texts = [as_read(answers[seat]) for seat in shown]

        def prompt_for(form: VoteForm) -> str:
            return prompts.ballot_prompt(self._question_block, texts, form)

        system = self._system_prompt(member)
        spec = self._spec(member, index, Phase.BALLOT, 1, system, prompt_for(member.vote_form))
        asked = ballot_call(spec, self._emit, self._clock, prompt_for, self._note, labels)
        call = await self._run_call(asked)
        letters, reason = read_ballot(asked, call, labels)
        if call.status is CallStatus.ERROR:
            name = member_names(self.request.members)[index]
            self.result.errors.append(f"{name}: ballot failed: {call.error}")
        ranking = [shown[labels.index(letter)] for letter in letters] if letters is not None else None
        ballot = Ballot(member_index=index, alias=member.alias, shown=shown, ranking=ranking, reason=reason)
        self._emit(ev.BallotCast(ballot))
        return ballot

    async def _deliberate(self) -> None:
        positions = await self._positions()
        if positions is None:
            return
        state = Deliberation(
            self._question_block,
            positions=[(m.alias, m.stance, as_read(r)) for _, m, r in positions],
            voters=[(index, m, as_read(r)) for index, m, r in positions],
            images=self.request.images,
            synthesizer=self.request.synthesizers[0],
            answer=self.request.answer,
        )
        if not self._quorum(len(state.voters)):
            await self._draft_without_quorum(state)
            return
        for number in range(1, self.request.max_rounds + 1):
            if await self._deliberation_round(number, state):
                return

    def _quorum(self, count: int) -> bool:
        """Whether `count` of the panel's seats are a quorum."""
        return quorum_met(count, len(self.request.members), self.request.quorum)

    def _needed(self) -> int:
        return quorum_needed(len(self.request.members), self.request.quorum)

    async def _draft_without_quorum(self, state: Deliberation) -> None:
        """Too few members answered for any round to decide: their positions are drafted once into
        the run's synthesis, which is shown as no decision and not put to a vote (no vote could
        decide, so none is paid for)."""
        round_ = self._life.round(1)
        draft = await self._synthesize(Phase.DRAFT, 1, state.draft_prompt())
        if draft is None:
            round_.status = RoundStatus.FAILED
            self._round_decided(round_)
            return
        round_.draft, round_.draft_by = draft.content, draft.alias
        seats = len(self.request.members)
        why = (
            f"no quorum: {len(state.voters)} of {seats} members answered, {self._needed()} needed; "
            "the draft is not put to a vote"
        )
        self._end_without_quorum(round_, draft, why)

    def _end_without_quorum(self, round_: RoundResult, synthesis: CallResult, why: str) -> None:
        """The run ends with no decision: `synthesis` (the last draft) is its answer, marked so."""
        round_.note = round_.note or why
        round_.outcome, round_.status = Outcome.NO_QUORUM, RoundStatus.DECIDED
        self._round_decided(round_)
        self._life.conclude(synthesis, Outcome.NO_QUORUM)

    def _round_decided(self, round_: RoundResult) -> None:
        self._emit(ev.RoundDecided(round_, standing(self.result, round_)))

    async def _deliberation_round(self, number: int, state: Deliberation) -> bool:
        """Draft (or revise), review and decide; True once the run is decided or has failed."""
        round_ = self._life.round(number)
        over_budget = state.budget_overrun(number, self._life.tokens_used(), self.request.token_budget)
        if over_budget:
            previous = self._life.round(number - 1) if number > 1 else None
            # The curator decides only where a vote had a quorum; without one, no decision.
            no_quorum = previous is not None and not self._quorum(previous.tally.valid)
            why = f"{over_budget}, " + (
                f"and round {number - 1} had no quorum: no decision"
                if no_quorum
                else "so the curator decides now"
            )
            round_.note = why
            self.result.notes.append(why)
            self._emit(ev.Notice(why))
            if no_quorum and state.draft is not None:
                self._end_without_quorum(round_, state.draft, why)
            else:
                await self._curate(round_, state, why)
            return True
        draft = await self._synthesize(Phase.DRAFT, number, state.draft_prompt())
        if draft is None:
            round_.status = RoundStatus.FAILED
            self._round_decided(round_)
            return True
        state.draft = draft
        round_.draft, round_.draft_by = draft.content, draft.alias
        votes = await self._gather(
            [self._review(number, index, member, own, as_read(draft)) for index, member, own in state.voters]
        )
        return await self._decide(round_, draft, votes, state)

    async def _decide(
        self, round_: RoundResult, draft: CallResult, votes: list[Vote], state: Deliberation
    ) -> bool:
        """Count the votes on `draft` and act on them; True once the run is decided or has failed."""
        round_.votes = list(votes)
        round_.tally = tally_votes(votes)
        number = round_.number
        outcome = decide_round(
            number,
            self.request.max_rounds,
            round_.tally,
            self.request.majority_threshold,
            seats=len(self.request.members),
            quorum=self.request.quorum,
        )
        log.debug(
            "run %s round %d aggregation accept=%d reject=%d invalid=%d none=%d outcome=%s",
            self.result.run_id,
            number,
            round_.tally.accept,
            round_.tally.reject,
            round_.tally.invalid,
            round_.tally.none,
            outcome,
        )
        state.take_objections(votes)
        if outcome is Outcome.CURATOR_OVERRIDE:
            reason = self._no_majority(number, round_)
            await self._curate(round_, state, reason)
            return True
        if outcome is Outcome.NO_QUORUM:
            valid, seats = round_.tally.valid, len(self.request.members)
            why = f"no quorum: {valid} of {seats} members cast a valid vote, {self._needed()} needed"
            self._end_without_quorum(round_, draft, why)
            return True
        if outcome is not None:
            round_.outcome, round_.status = outcome, RoundStatus.DECIDED
            self._round_decided(round_)
            self._life.conclude(draft, outcome)
            return True
        round_.status = RoundStatus.CONTINUE
        self._round_decided(round_)
        return False

    def _no_majority(self, number: int, round_: RoundResult) -> str:
        """Why the last round's vote did not decide: counted against every member asked to vote."""
        tally = round_.tally
        share = f"{self.request.majority_threshold:.0%}"
        missing = [f"{tally.invalid} invalid"] if tally.invalid else []
        missing += [f"{tally.none} with no vote"] if tally.none else []
        return (
            f"no majority after {number} round{'s' if number > 1 else ''}: "
            f"{tally.accept} of {tally.asked} members asked to vote accepted, more than {share} needed"
            + (f" ({', '.join(missing)})" if missing else "")
        )

    # ----------------------------------------------------------------------------------------
    # Phases

    async def _positions(self) -> list[tuple[int, Member, CallResult]] | None:
        """Round 1's blind positions (whole or incomplete); None (and the run failed) when no
        member answered."""
        self._life.round(1)
        self.phase = "positions"
        self.result.positions = [None] * len(self.request.members)
        try:
            await self._take_positions()
        except BaseException:
            # Stopped (cancelled, or failed): stop every call and let each record what it had.
            for task in self._position_tasks.values():
                task.cancel()
            await asyncio.gather(*self._position_tasks.values(), return_exceptions=True)
            raise
        self.phase = "deliberation"
        results = [r for r in self.result.positions if r is not None]
        ok = [
            (index, m, r)
            for index, (m, r) in enumerate(zip(self.request.members, results, strict=True))
            if r.status in ANSWERED
        ]
        log.debug(
            "run %s positions aggregation success=%d error=%d",
            self.result.run_id,
            len(ok),
            len(results) - len(ok),
        )
        names = member_names(self.request.members)  # seats of one alias told apart
        if not ok:
            errors = [f"{names[index]}: {r.error or r.status.value}" for index, r in enumerate(results)]
            self._life.fail(["every member failed", *errors])
            return None
        # A run that goes on without them still says who failed, whatever it ends with.
        self.result.errors += [
            f"{names[index]}: position failed: {r.error}"
            for index, r in enumerate(results)
            if r.status is CallStatus.ERROR
        ]
        return ok

    async def _take_positions(self) -> None:
        for index in range(len(self.request.members)):
            reused = self._reuse.get(index)
            if reused is not None:
                self._carry_over(index, reused)
            else:
                self._position_tasks[index] = asyncio.ensure_future(self._position_call(index))
        # Wait until every member's latest call is done: replace_members() may swap tasks meanwhile.
        while pending := [t for t in self._position_tasks.values() if not t.done()]:
            await asyncio.wait(pending)
        for task in self._position_tasks.values():
            task.result()  # a call that raised is a bug of the engine's: it fails the run

    async def _position_call(self, index: int) -> CallResult:
        member = self.request.members[index]
        system = self._system_prompt(member)
        # The question block is made once per run: it hashes every attached file for its fence.
        message = prompts.position_prompt(self._question_block, self.request.answer)
        return await self._call(member, index, Phase.POSITION, 1, system, message)

    def _system_prompt(self, member: Member) -> str:
        return prompts.member_system_prompt(member, self._base_prompt, self.request.answer)

    def _carry_over(self, index: int, earlier: CallResult) -> None:
        """Show an earlier run's position as this run's, without sending or paying for it again."""
        call = earlier.model_copy(
            update={"reused_from": earlier.reused_from or earlier.call_id.rsplit("-", 1)[0]}
        )
        self.result.positions[index] = call
        self._emit(ev.CallFinished(call))

    async def _review(self, number: int, index: int, member: Member, own: str, draft: str) -> Vote:
        """The member's review of the draft, asked as a structured vote where its model takes one
        (see `tui.engine.votes`), read as its vote."""
        system = self._system_prompt(member)

        def prompt_for(form: VoteForm) -> str:
            return prompts.vote_prompt(self._question_block, own, draft, form)

        spec = self._spec(member, index, Phase.VOTE, number, system, prompt_for(member.vote_form))
        review = VoteCall(spec, self._emit, self._clock, prompt_for, self._note)
        call = await self._run_call(review)
        value, objections, reason = self._read_review(review, call)
        vote = Vote(member_index=index, alias=member.alias, value=value, objections=objections, reason=reason)
        if value is VoteValue.NONE and call.status is CallStatus.ERROR:
            name = member_names(self.request.members)[index]
            self.result.errors.append(f"{name}: round {number} review failed: {call.error}")
        self._emit(ev.VoteCast(number, vote))
        return vote

    @staticmethod
    def _read_review(review: VoteCall, call: CallResult) -> tuple[VoteValue, list[str], str | None]:
        """A review's vote: the structured vote it gave, or its text read by the text protocol. A
        reply asked for as structured output that could not be used as such is read as text
        before it is declared invalid, and then says both: `broken JSON: unterminated string;
        as text: no verdict line`.

        Only a whole reply is a vote. One the model refused, or the provider's content filter
        stopped, is invalid whatever it said before (`refused by the model`); one cut off at the
        output limit is invalid even when its verdict had arrived (`cut off at the 4,096-token
        output limit`), since what it would have said next (another verdict, a retraction) is
        unknown. A review that failed is no vote (`none`), with its error as the reason.
        """
        finish = call.finish_reason
        stopped = cutoff(finish, review.spec.member.max_output_tokens) if finish is not None else None
        if stopped is not None and stopped[0] in ("refusal", "content_filter"):
            return VoteValue.INVALID, [], stopped[1]  # an empty refusal too: the member answered so
        if call.status not in ANSWERED:
            return VoteValue.NONE, [], call.error or "no reply"
        if review.structured is not None:
            value, objections, reason = review.structured
        else:
            value, objections, reason = parse_vote(call.content)  # shown as it came: the reply itself
            if reason is not None and review.unusable is not None and review.unusable != reason:
                reason = f"{review.unusable}; as text: {reason}"
        if stopped is not None:  # cut off: a verdict that arrived is not counted
            cut = stopped[1]
            return VoteValue.INVALID, [], cut if reason is None else f"{reason} (the reply was {cut})"
        return value, objections, reason

    def _note_unseen_images(self, synthesizer: Member) -> None:
        """A fallback synthesizer takes over: say so if it cannot see the question's images (and
        has not been said to already, as a member or an earlier fallback)."""
        images = self.request.images
        if images and not synthesizer.vision:
            note = vision.withheld_note(synthesizer, len(images), synthesizer=True)
            said = vision.withheld_note(synthesizer, len(images))
            if note not in self.result.notes and said not in self.result.notes:
                self._note(note)

    def _note(self, message: str) -> None:
        """Something the user should know about the run: in its notes, and on every display."""
        self.result.notes.append(message)
        self._emit(ev.Notice(message))

    async def _curate(self, round_: RoundResult, state: Deliberation, reason: str) -> None:
        round_.note = round_.note or reason
        decision = await self._synthesize(Phase.CURATOR, round_.number, state.curator_prompt(reason))
        if decision is None:
            round_.status = RoundStatus.FAILED
            self._round_decided(round_)
            return
        round_.outcome, round_.status = Outcome.CURATOR_OVERRIDE, RoundStatus.DECIDED
        self._round_decided(round_)
        self._life.conclude(decision, Outcome.CURATOR_OVERRIDE)

    async def _synthesize(self, phase: Phase, number: int, prompt: str) -> CallResult | None:
        """One synthesizer (or chairman) call, falling back through the list; None (run failed) if
        all fail."""
        failures: list[str] = []
        role = "chairman" if phase is Phase.CHAIR else "synthesizer"
        for position, synth in enumerate(self.request.synthesizers):
            call = await self._call(synth, None, phase, number, prompts.SYNTHESIZER_SYSTEM, prompt)
            if call.status in ANSWERED:
                return call  # an incomplete one too: see the module's docstring
            failures.append(f"{synth.alias}: {call.error}")
            remaining = self.request.synthesizers[position + 1 :]
            if remaining:
                then = f"trying {remaining[0].alias}"
                self._emit(ev.Notice(f"{role.capitalize()} {synth.alias} failed ({call.error}); {then}"))
                self._note_unseen_images(remaining[0])
        names = ", ".join(s.alias for s in self.request.synthesizers)
        self._life.fail([f"the {role} and its fallbacks all failed ({names})", *failures])
        return None

    # ----------------------------------------------------------------------------------------
    # Calls

    @staticmethod
    async def _gather(calls: Sequence[Awaitable[T]]) -> list[T]:
        """Start every call at once and return their results in the order given (panel order)."""
        tasks = [asyncio.ensure_future(call) for call in calls]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # Cancelled, or one of them failed: stop the others and let each record what it had.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _call(
        self, member: Member, index: int | None, phase: Phase, number: int, system: str, user: str
    ) -> CallResult:
        spec = self._spec(member, index, phase, number, system, user)
        return await self._run_call(ModelCall(spec, self._emit, self._clock))

    def _spec(
        self, member: Member, index: int | None, phase: Phase, number: int, system: str, user: str
    ) -> CallSpec:
        run_id = self.result.run_id
        return CallSpec(
            run_id=run_id,
            call_id=f"{run_id}-{next(self._call_numbers)}",
            member=member,
            index=index,
            phase=phase,
            round=number,
            system=system,
            user=user,
            seed=self.request.seed,
            images=vision.images_for(member, self.request.images),
        )

    async def _run_call(self, call: ModelCall) -> CallResult:
        spec = call.spec
        self.result.calls.append(call.result)
        if spec.phase is Phase.POSITION and spec.index is not None:
            self._position_calls[spec.index] = call
        return await call.run(self._providers, self._book)

    def _book(self, call: CallResult) -> None:
        """File a settled call: as its member's position (unless a rerun replaced it), and in its
        round's totals."""
        index = call.member_index
        if call.phase is Phase.POSITION and index is not None:
            current = self._position_calls.get(index)
            if current is not None and current.result is call:
                self.result.positions[index] = call
        self._life.count(call)


async def run_panel(
    request: RunRequest, providers: ProviderLookup, emit: ev.EventSink | None = None
) -> RunResult:
    """Run `request` to the end and return its result (the one-call form of `Run`)."""
    return await Run(request, providers, emit).execute()
