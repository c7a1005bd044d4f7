"""The orchestrator: runs a panel through consult or deliberate mode and reports every step.

Every call of a phase starts at once and results are kept in panel order. A call never raises
into the run: whatever goes wrong becomes a `CallResult` with status `error` and a message the
user can act on, so one member failing never stops the others. Cancelling a run cancels its
in-flight calls and keeps everything that had arrived, including the partial text of the
cancelled calls.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import uuid4

from tui.engine import events as ev
from tui.engine import prompts
from tui.engine.accounting import cost_usd, estimate_tokens
from tui.engine.provider import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    Finished,
    Provider,
    ProviderError,
    TextDelta,
    Usage,
)
from tui.engine.rules import decide_round, parse_vote, read_agreement, tally_votes
from tui.engine.types import (
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
    RunStatus,
    Stance,
    Totals,
    Vote,
    VoteValue,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
ProviderLookup = Callable[[Member], Provider]

# What the look-ahead of the token budget assumes one answer will cost, in output tokens: the
# prompts ask for about 400 words.
EXPECTED_ANSWER_TOKENS = 600


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


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
        self._emit: ev.EventSink = emit or (lambda _event: None)
        self._base_prompt = prompts.validate_base_prompt(base_prompt)
        self._call_numbers = itertools.count(1)
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False
        self._clock = clock  # tests freeze it so latencies (and snapshots) are deterministic
        self._started = 0.0
        self._reuse = {i: c for i, c in (reuse or {}).items() if c.status is CallStatus.SUCCESS}
        self._position_tasks: dict[int, asyncio.Task[CallResult]] = {}
        self._current_position: dict[int, str] = {}
        self._replaced: set[str] = set()
        self.phase: Literal["starting", "positions", "deliberation", "done"] = "starting"
        self.result = RunResult(
            run_id=run_id or uuid4().hex[:12],
            question=request.question,
            mode=request.mode,
            members=list(request.members),
            skipped=list(request.skipped),
            max_rounds=request.max_rounds if request.mode is Mode.DELIBERATE else 1,
            parent_run_id=request.parent_run_id,
            started_at=datetime.now(UTC),
        )
        self._question_block = prompts.user_message(
            request.question, request.attachments, request.focus, request.thread
        )

    # ----------------------------------------------------------------------------------------
    # Entry points

    async def execute(self) -> RunResult:
        """Run to the end (or to cancellation) and return the result; never raises for call failures."""
        self._task = asyncio.current_task()
        self._started = self._clock()
        self._emit(ev.RunStarted(self.result.run_id, self.request))
        if self.request.skipped:
            self._emit(ev.MembersSkipped(tuple(self.request.skipped)))
        log.debug(
            "run %s dispatch mode=%s models=[%s]",
            self.result.run_id,
            self.request.mode.value,
            ",".join(m.alias for m in self.request.members),
        )
        try:
            if self.request.mode is Mode.CONSULT:
                await self._consult()
            else:
                await self._deliberate()
            self.phase = "done"
        except asyncio.CancelledError:
            self.phase = "done"
            self._finish(RunStatus.CANCELLED)
            self._emit(ev.RunCancelled(self.result))
            task = asyncio.current_task()
            if self._cancel_requested and task is not None:
                # Our own cancel(): the caller gets the partial result, not an exception.
                task.uncancel()
                return self.result
            raise
        return self.result

    def replace_members(self, indices: Iterable[int]) -> bool:
        """Rerun these members' positions inside this run, while positions are still being taken.

        Cancels exactly those members' in-flight calls (a finished one is simply redone) and
        starts new ones; nothing else is touched. Returns False once the run has moved past its
        positions, when a rerun must be a new run (see `reuse`).
        """
        if self.phase != "positions":
            return False
        for index in sorted(set(indices)):
            old = self._position_tasks.get(index)
            if old is not None and not old.done():
                if index in self._current_position:
                    self._replaced.add(self._current_position[index])
                old.cancel()
            self._position_tasks[index] = asyncio.ensure_future(self._position_call(index))
        return True

    def cancel(self) -> None:
        """Stop the run: in-flight calls are cancelled, everything received so far is kept."""
        if self._task is not None and not self._task.done():
            self._cancel_requested = True
            self._task.cancel()

    # ----------------------------------------------------------------------------------------
    # Modes

    async def _consult(self) -> None:
        positions = await self._positions()
        if positions is None:
            return
        answers = [(m.alias, m.stance, r.content) for _, m, r in positions]
        self.result.agreement = read_agreement([text for _, _, text in answers])
        self._emit(ev.AgreementRead(self.result.agreement))
        synthesis = await self._synthesize(
            Phase.DRAFT, 1, prompts.consult_synthesis_prompt(self._question_block, answers)
        )
        self.result.rounds_used = 1
        if synthesis is not None:
            self._conclude(synthesis, outcome=None)

    async def _deliberate(self) -> None:
        positions = await self._positions()
        if positions is None:
            return
        position_texts = [(m.alias, m.stance, r.content) for _, m, r in positions]
        # Indices from the panel itself: two seats may hold equal members (same model and stance).
        voters = [(index, m, r.content) for index, m, r in positions]
        draft: CallResult | None = None
        objections: list[tuple[str, list[str]]] = []
        for number in range(1, self.request.max_rounds + 1):
            round_ = self._round(number)
            over_budget = self._budget_exceeded(number, draft, objections, len(voters), position_texts)
            if over_budget:
                round_.note = over_budget
                self.result.notes.append(over_budget)
                self._emit(ev.Notice(over_budget))
                await self._curate(round_, position_texts, draft, objections, over_budget)
                return
            prompt = (
                prompts.draft_prompt(self._question_block, position_texts)
                if draft is None
                else prompts.revision_prompt(self._question_block, draft.content, objections)
            )
            new_draft = await self._synthesize(Phase.DRAFT, number, prompt)
            if new_draft is None:
                round_.status = RoundStatus.FAILED
                self._emit(ev.RoundDecided(round_))
                return
            draft = new_draft
            round_.draft, round_.draft_by = draft.content, draft.alias
            votes = await self._gather(
                [self._review(number, index, member, own, draft.content) for index, member, own in voters]
            )
            round_.votes = list(votes)
            round_.tally = tally_votes(votes)
            outcome = decide_round(
                number, self.request.max_rounds, round_.tally, self.request.majority_threshold
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
            if outcome is Outcome.CURATOR_OVERRIDE:
                reason = (
                    f"no majority after {number} round{'s' if number > 1 else ''}: "
                    f"{round_.tally.accept} of {round_.tally.valid} valid votes accepted"
                )
                objections = self._objections(votes)
                await self._curate(round_, position_texts, draft, objections, reason)
                return
            if outcome is not None:
                round_.outcome, round_.status = outcome, RoundStatus.DECIDED
                self._emit(ev.RoundDecided(round_))
                self._conclude(draft, outcome)
                return
            round_.status = RoundStatus.CONTINUE
            self._emit(ev.RoundDecided(round_))
            objections = self._objections(votes)

    # ----------------------------------------------------------------------------------------
    # Phases

    async def _positions(self) -> list[tuple[int, Member, CallResult]] | None:
        """Round 1's blind positions; None (and the run failed) when no member answered."""
        self._round(1)
        self.phase = "positions"
        members = self.request.members
        self.result.positions = [None] * len(members)
        for index in range(len(members)):
            reused = self._reuse.get(index)
            if reused is not None:
                self._carry_over(index, reused)
            else:
                self._position_tasks[index] = asyncio.ensure_future(self._position_call(index))
        # Wait until every member's latest call is done: replace_members() may swap tasks meanwhile.
        while pending := [t for t in self._position_tasks.values() if not t.done()]:
            try:
                await asyncio.wait(pending)
            except asyncio.CancelledError:
                for task in self._position_tasks.values():
                    task.cancel()
                await asyncio.gather(*self._position_tasks.values(), return_exceptions=True)
                raise
        self.phase = "deliberation"
        results = [r for r in self.result.positions if r is not None]
        ok = [
            (index, m, r)
            for index, (m, r) in enumerate(zip(self.request.members, results, strict=True))
            if r.status is CallStatus.SUCCESS
        ]
        log.debug(
            "run %s positions aggregation success=%d error=%d",
            self.result.run_id,
            len(ok),
            len(results) - len(ok),
        )
        if not ok:
            errors = [f"{r.alias}: {r.error or r.status.value}" for r in results]
            self._fail(["every member failed", *errors])
            return None
        return ok

    async def _position_call(self, index: int) -> CallResult:
        member = self.request.members[index]
        system = prompts.member_system_prompt(member, self._base_prompt)
        return await self._call(member, index, Phase.POSITION, 1, system, self._position_message())

    def _carry_over(self, index: int, earlier: CallResult) -> None:
        """Show an earlier run's position as this run's, without sending or paying for it again."""
        call = earlier.model_copy(
            update={"reused_from": earlier.reused_from or earlier.call_id.rsplit("-", 1)[0]}
        )
        self.result.positions[index] = call
        self._emit(ev.CallFinished(call))

    def _position_message(self) -> str:
        return prompts.position_prompt(
            self.request.question, self.request.attachments, self.request.focus, self.request.thread
        )

    async def _review(self, number: int, index: int, member: Member, own: str, draft: str) -> Vote:
        system = prompts.member_system_prompt(member, self._base_prompt)
        call = await self._call(
            member, index, Phase.VOTE, number, system, prompts.vote_prompt(self._question_block, own, draft)
        )
        if call.status is CallStatus.SUCCESS:
            value, objections, reason = parse_vote(call.content)
            vote = Vote(
                member_index=index, alias=member.alias, value=value, objections=objections, reason=reason
            )
        else:
            vote = Vote(
                member_index=index, alias=member.alias, value=VoteValue.NONE, reason=call.error or "no reply"
            )
        self._emit(ev.VoteCast(number, vote))
        return vote

    async def _curate(
        self,
        round_: RoundResult,
        positions: Sequence[tuple[str, Stance, str]],
        draft: CallResult | None,
        objections: list[tuple[str, list[str]]],
        reason: str,
    ) -> None:
        prompt = prompts.curator_prompt(
            self._question_block,
            positions,
            draft.content if draft else None,
            objections,
            reason,
        )
        round_.note = round_.note or reason
        decision = await self._synthesize(Phase.CURATOR, round_.number, prompt)
        if decision is None:
            round_.status = RoundStatus.FAILED
            self._emit(ev.RoundDecided(round_))
            return
        round_.outcome, round_.status = Outcome.CURATOR_OVERRIDE, RoundStatus.DECIDED
        self._emit(ev.RoundDecided(round_))
        self._conclude(decision, Outcome.CURATOR_OVERRIDE)

    async def _synthesize(self, phase: Phase, number: int, prompt: str) -> CallResult | None:
        """One synthesizer call, falling back through the list; None (run failed) if all fail."""
        failures: list[str] = []
        for position, synth in enumerate(self.request.synthesizers):
            call = await self._call(synth, None, phase, number, prompts.SYNTHESIZER_SYSTEM, prompt)
            if call.status is CallStatus.SUCCESS:
                return call
            failures.append(f"{synth.alias}: {call.error}")
            remaining = self.request.synthesizers[position + 1 :]
            if remaining:
                self._emit(
                    ev.Notice(f"Synthesizer {synth.alias} failed ({call.error}); trying {remaining[0].alias}")
                )
        names = ", ".join(s.alias for s in self.request.synthesizers)
        self._fail([f"the synthesizer and its fallbacks all failed ({names})", *failures])
        return None

    # ----------------------------------------------------------------------------------------
    # One call

    @staticmethod
    async def _gather(calls: Sequence[Awaitable[T]]) -> list[T]:
        """Start every call at once and return their results in the order given (panel order)."""
        tasks = [asyncio.ensure_future(call) for call in calls]
        try:
            return list(await asyncio.gather(*tasks))
        except asyncio.CancelledError:
            # gather() has asked its children to stop; let them record what they had before we go on.
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _call(
        self, member: Member, index: int | None, phase: Phase, number: int, system: str, user: str
    ) -> CallResult:
        call_id = f"{self.result.run_id}-{next(self._call_numbers)}"
        call = CallResult(
            call_id=call_id,
            round=number,
            phase=phase,
            member_index=index,
            alias=member.alias,
            model_id=member.model_id,
            provider=member.provider,
            stance=member.stance if index is not None else None,
            demo=member.demo,
            status=CallStatus.CANCELLED,
        )
        self.result.calls.append(call)
        if phase is Phase.POSITION and index is not None:
            self._current_position[index] = call_id
        self._emit(ev.CallStarted(call_id, number, phase, index, member.alias))
        started = self._clock()
        parts: list[str] = []
        usage: Usage | None = None
        try:
            request = ChatRequest(
                model_id=member.model_id,
                system=system,
                messages=(ChatMessage("user", user),),
                max_output_tokens=member.max_output_tokens,
                temperature=member.temperature,
                alias=member.alias,
                phase=phase,
                stance=member.stance.value,
                seed=self.request.seed,
                extra={"round": str(number), "member": str(index)},
            )
            self._preflight(member, system, user)
            provider = self._providers(member)
            finished: Finished | None = None

            async def attempt() -> Finished | None:
                nonlocal usage
                done: Finished | None = None
                async for item in provider.stream(request):
                    if isinstance(item, TextDelta):
                        if not parts:
                            call.ttft_ms = _ms(self._clock() - started)
                            self._emit(ev.FirstToken(call_id, index, call.ttft_ms))
                        parts.append(item.text)
                        if index is None:
                            self._emit(ev.SynthesisDelta(call_id, number, phase, item.text))
                        else:
                            self._emit(ev.TextDelta(call_id, index, phase, item.text))
                    elif isinstance(item, Usage):
                        usage = item
                    elif isinstance(item, Finished):
                        done = item
                return done

            async with asyncio.timeout(member.deadline_s):
                tries = 0
                while True:
                    try:
                        finished = await attempt()
                        break
                    except ProviderError as err:
                        wait = self._retry_wait(err, member, tries, started, bool(parts))
                        if wait is None:
                            raise
                        tries += 1
                        self._emit(
                            ev.CallRetrying(
                                call_id, index, member.alias, tries, member.retries, wait, err.message
                            )
                        )
                        log.debug(
                            "run %s model=%s retry %d in %.1fs: %s",
                            self.result.run_id,
                            member.alias,
                            tries,
                            wait,
                            err.message,
                        )
                        await asyncio.sleep(wait)
            if finished is None:
                raise ProviderError(
                    ErrorKind.TRUNCATED, "the stream ended without a finish reason: answer truncated"
                )
            call.finish_reason = finished.reason
            if not "".join(parts).strip():
                raise ProviderError(ErrorKind.EMPTY, f"{member.alias} returned an empty answer")
            call.status = CallStatus.SUCCESS
        except TimeoutError:
            self._mark_error(
                call,
                ErrorKind.TIMEOUT,
                f"no complete answer within the {member.deadline_s:g} s deadline; the call was stopped",
            )
        except ProviderError as err:
            self._mark_error(call, err.kind, err.message)
        except asyncio.CancelledError:
            call.status = CallStatus.CANCELLED
            call.error = "replaced by a rerun" if call_id in self._replaced else "cancelled"
            self._settle(call, member, started, parts, usage, system, user)
            raise
        except Exception as err:  # an adapter bug must cost one pane, not the run
            log.exception("unexpected failure in %s call %s", member.alias, call_id)
            self._mark_error(call, ErrorKind.INTERNAL, f"internal error: {type(err).__name__}: {err}")
        self._settle(call, member, started, parts, usage, system, user)
        return call

    def _retry_wait(
        self, err: ProviderError, member: Member, tries: int, started: float, answered: bool
    ) -> float | None:
        """Seconds to wait before trying a refused call again, or None to give up now.

        Only a call refused before any text (a partial answer cannot be resumed), only for
        errors worth retrying, at most `member.retries` times, and never into the deadline:
        a Retry-After longer than the time left fails the call at once with the provider's word.
        """
        if answered or not err.retryable or tries >= member.retries:
            return None
        wait = err.retry_after_s if err.retry_after_s is not None else min(8.0, 0.5 * 2**tries)
        if self._clock() - started + wait >= member.deadline_s:
            return None
        return wait

    def _preflight(self, member: Member, system: str, user: str) -> None:
        needed = estimate_tokens(system, user)
        room = member.context_window - min(member.max_output_tokens, member.context_window // 4)
        if needed > room:
            raise ProviderError(
                ErrorKind.CONTEXT_TOO_LONG,
                f"context too long: the prompt is about {needed:,} tokens, and {member.alias}'s "
                f"{member.context_window:,}-token window leaves {room:,} after room for its answer; not sent",
            )

    @staticmethod
    def _mark_error(call: CallResult, kind: ErrorKind, message: str) -> None:
        call.status = CallStatus.ERROR
        call.error_kind = kind.value
        call.error = message

    def _settle(
        self,
        call: CallResult,
        member: Member,
        started: float,
        parts: list[str],
        usage: Usage | None,
        system: str,
        user: str,
    ) -> None:
        call.latency_ms = _ms(self._clock() - started)
        call.content = "".join(parts)
        if usage is not None:
            call.input_tokens, call.output_tokens = usage.input_tokens, usage.output_tokens
        elif parts:
            # Text arrived but no usage (stream cut, or a server that never reports it): the call
            # was billed all the same, so estimate it and say so. A call refused before any text
            # (401, 429, context check) is not billed and counts nothing.
            call.input_tokens = estimate_tokens(system, user)
            call.output_tokens = estimate_tokens(call.content)
            call.tokens_estimated = True
        call.cost_usd = cost_usd(
            call.input_tokens, call.output_tokens, member.input_price, member.output_price
        )
        log.debug(
            "run %s model=%s phase=%s round=%d status=%s latency=%dms ttft=%sms tokens=%d/%d",
            self.result.run_id,
            member.alias,
            call.phase.value,
            call.round,
            call.status.value,
            call.latency_ms,
            call.ttft_ms,
            call.input_tokens,
            call.output_tokens,
        )
        index = call.member_index
        if (
            call.phase is Phase.POSITION
            and index is not None
            and self._current_position.get(index) == call.call_id
        ):
            self.result.positions[index] = call
        self._add_to_round(call)
        self._emit(ev.CallFinished(call))

    # ----------------------------------------------------------------------------------------
    # Bookkeeping

    def _round(self, number: int) -> RoundResult:
        for existing in self.result.rounds:
            if existing.number == number:
                return existing
        round_ = RoundResult(number=number)
        self.result.rounds.append(round_)
        self.result.rounds_used = number
        if self.request.mode is Mode.DELIBERATE:
            self._emit(ev.RoundStarted(number, self.request.max_rounds))
        return round_

    def _add_to_round(self, call: CallResult) -> None:
        round_ = self._round(call.round)
        round_.input_tokens += call.input_tokens
        round_.output_tokens += call.output_tokens
        round_.cost_usd += call.cost_usd

    @staticmethod
    def _objections(votes: Sequence[Vote]) -> list[tuple[str, list[str]]]:
        listed: list[tuple[str, list[str]]] = []
        for vote in votes:
            if vote.value is VoteValue.REJECT:
                listed.append((vote.alias, vote.objections))
            elif vote.value is VoteValue.INVALID:
                listed.append((vote.alias, vote.objections or [f"(invalid vote: {vote.reason})"]))
        return listed

    def _tokens_used(self) -> int:
        return sum(c.input_tokens + c.output_tokens for c in self.result.calls)

    def _budget_exceeded(
        self,
        number: int,
        draft: CallResult | None,
        objections: list[tuple[str, list[str]]],
        voters: int,
        positions: Sequence[tuple[str, Stance, str]],
    ) -> str | None:
        """Why the next round would overrun the token budget, or None if it fits (or there is none)."""
        budget = self.request.token_budget
        if budget is None:
            return None
        used = self._tokens_used()
        if number == 1:
            draft_in = estimate_tokens(self._question_block, *(text for _, _, text in positions))
        else:
            draft_in = estimate_tokens(self._question_block, draft.content if draft else "", str(objections))
        vote_in = voters * (estimate_tokens(self._question_block) + 2 * EXPECTED_ANSWER_TOKENS)
        needed = draft_in + EXPECTED_ANSWER_TOKENS + vote_in + voters * EXPECTED_ANSWER_TOKENS // 4
        if used + needed <= budget:
            return None
        return (
            f"token budget: {used:,} of {budget:,} tokens used and round {number} would need about "
            f"{needed:,} more, so the curator decides now"
        )

    def _conclude(self, call: CallResult, outcome: Outcome | None) -> None:
        self.result.synthesis = call.content
        self.result.synthesizer = call.alias
        self.result.outcome = outcome
        self._emit(ev.SynthesisFinished(call.content, call.alias, outcome))
        self._finish(RunStatus.SUCCESS)
        self._emit(ev.RunFinished(self.result))

    def _fail(self, errors: list[str]) -> None:
        self.result.errors.extend(errors)
        self._finish(RunStatus.ERROR)
        self._emit(ev.RunFailed(self.result, tuple(errors)))

    def _finish(self, status: RunStatus) -> None:
        self.result.status = status
        self.result.finished_at = datetime.now(UTC)
        calls = self.result.calls
        self.result.totals = Totals(
            wall_ms=_ms(self._clock() - self._started),
            input_tokens=sum(c.input_tokens for c in calls),
            output_tokens=sum(c.output_tokens for c in calls),
            cost_usd=sum(c.cost_usd for c in calls),
            tokens_estimated=any(c.tokens_estimated for c in calls),
        )
        for round_ in self.result.rounds:
            if round_.status is RoundStatus.IN_PROGRESS and status is RunStatus.CANCELLED:
                round_.status = RoundStatus.CANCELLED


async def run_panel(
    request: RunRequest, providers: ProviderLookup, emit: ev.EventSink | None = None
) -> RunResult:
    """Run `request` to the end and return its result (the one-call form of `Run`)."""
    return await Run(request, providers, emit).execute()
