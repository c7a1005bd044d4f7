"""What an evaluation will cost, told before it starts.

Each mode is rehearsed once: its run is made, on the item whose question is of median length,
against a stand-in for every member that answers at once, and whose every answer is as long as
the engine's budget look-ahead expects one to be (`EXPECTED_ANSWER_TOKENS`, a review a quarter of
that), or as long as the member may write, if that is less. The stand-ins never agree (each
answer differs and each review rejects the draft), so a mode that stops early on agreement runs to
its last round: the calls counted are the most the mode makes. Each call's input is the prompt
the engine actually builds, estimated at four characters a token, and it is priced at its
member's catalog price, as a real run's calls are. A mode's figures times the runs it will make
are the estimate; no mode needs telling apart here, so one the engine gains is estimated as it
runs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from tui.engine.accounting import CHARS_PER_TOKEN, estimate_tokens
from tui.engine.connection import Connection
from tui.engine.deliberation import EXPECTED_ANSWER_TOKENS
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ChatRequest, Finished, StreamEvent, TextDelta, Usage
from tui.engine.types import Mode, Phase, RunRequest, VoteForm

REVIEW_TOKENS = EXPECTED_ANSWER_TOKENS // 4
"""What a review is taken to cost in output tokens, as the budget's look-ahead takes it."""

ESTIMATE_METHOD = (
    "each mode rehearsed once on an item of median length with stand-in members, every answer "
    f"taken as {EXPECTED_ANSWER_TOKENS} tokens and a review as {REVIEW_TOKENS} (or the member's "
    "max_output, if less), every round run, "
    "priced from the catalog"
)


@dataclass(frozen=True)
class Spend:
    """What runs cost: calls, tokens in and out, and USD."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.calls + other.calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_usd + other.cost_usd,
        )

    def times(self, runs: int) -> Spend:
        return Spend(
            self.calls * runs, self.input_tokens * runs, self.output_tokens * runs, self.cost_usd * runs
        )


async def rehearse(request: RunRequest) -> Spend:
    """What one run of `request` costs at most, made against stand-in members."""
    members = [m.model_copy(update={"vote_form": VoteForm.TEXT}) for m in request.members]
    synthesizers = [m.model_copy(update={"vote_form": VoteForm.TEXT}) for m in request.synthesizers]
    rehearsed = request.model_copy(update={"members": members, "synthesizers": synthesizers})
    connection = Connection(StandIn())
    result = await run_panel(rehearsed, lambda _member: connection)
    return Spend(
        calls=len(result.calls),
        input_tokens=result.totals.input_tokens,
        output_tokens=result.totals.output_tokens,
        cost_usd=result.totals.cost_usd,
    )


async def estimate(requests: Mapping[Mode, RunRequest], runs: Mapping[Mode, int]) -> Spend:
    """The cost of `runs[mode]` runs of each mode, each rehearsed with its request in `requests`."""
    total = Spend()
    for mode, count in runs.items():
        if count:
            total += (await rehearse(requests[mode])).times(count)
    return total


class StandIn:
    """A member that answers at once with an answer of the expected length, never the same one
    twice, and rejects every draft it reviews."""

    name = "stand-in"
    is_demo = False

    def __init__(self) -> None:
        self._answers = itertools.count(1)

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        # No reply is longer than the member may write: a model capped at 128 tokens costs that.
        if request.phase is Phase.VOTE:
            text = _padded("VERDICT: REJECT\n- ", "", min(REVIEW_TOKENS, request.max_output_tokens))
        else:
            tokens = min(EXPECTED_ANSWER_TOKENS, request.max_output_tokens)
            text = _padded("", f"\nANSWER: {next(self._answers)}", tokens)
        yield TextDelta(text)
        yield Usage(
            input_tokens=estimate_tokens(request.system, *(m.content for m in request.messages)),
            output_tokens=estimate_tokens(text),
        )
        yield Finished("stop")


def _padded(head: str, tail: str, tokens: int) -> str:
    """`head` and `tail` with filler between them: `tokens` tokens in all, as they are estimated."""
    return head + "x" * (tokens * CHARS_PER_TOKEN - len(head) - len(tail)) + tail
