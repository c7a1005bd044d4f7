"""What a deliberation carries from round to round, and what follows from it.

The positions and the voters are fixed once round 1 is over; the draft and the objections to it
change every round. From them come the synthesizer's next prompt and the token budget's
look-ahead: whether one more round would overrun the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tui.engine import prompts
from tui.engine.accounting import estimate_tokens
from tui.engine.calls import as_read
from tui.engine.types import AnswerSpec, CallResult, Image, Member, Stance, Vote, VoteValue
from tui.engine.vision import images_for, images_tokens

# What the look-ahead of the token budget assumes one answer will cost, in output tokens: the
# prompts ask for about 400 words.
EXPECTED_ANSWER_TOKENS = 600


@dataclass
class Deliberation:
    question_block: str
    # Alias, stance and text of every successful position: what the synthesizer weighs.
    positions: list[tuple[str, Stance, str]]
    # Seat, member and own position of everyone who votes. Seats come from the panel itself:
    # two seats may hold equal members (same model and stance).
    voters: list[tuple[int, Member, str]]
    draft: CallResult | None = None
    objections: list[tuple[str, list[str]]] = field(default_factory=list)
    # The question's images, and the synthesizer: who of them is sent the images counts them.
    images: Sequence[Image] = ()
    synthesizer: Member | None = None
    # The run's declared answer shape: the synthesizer answers in it.
    answer: AnswerSpec | None = None

    def draft_prompt(self) -> str:
        """The first draft from the positions, or a revision of the last draft against its objections."""
        if self.draft is None:
            return prompts.draft_prompt(self.question_block, self.positions, self.answer)
        return prompts.revision_prompt(self.question_block, as_read(self.draft), self.objections, self.answer)

    def curator_prompt(self, reason: str) -> str:
        draft = as_read(self.draft) if self.draft else None
        return prompts.curator_prompt(
            self.question_block, self.positions, draft, self.objections, reason, self.answer
        )

    def take_objections(self, votes: Sequence[Vote]) -> None:
        """Keep what the rejecting (and invalid) votes objected to, for the next revision."""
        listed: list[tuple[str, list[str]]] = []
        for vote in votes:
            if vote.value is VoteValue.REJECT:
                listed.append((vote.alias, vote.objections))
            elif vote.value is VoteValue.INVALID:
                listed.append((vote.alias, vote.objections or [f"(invalid vote: {vote.reason})"]))
        self.objections = listed

    def budget_overrun(self, number: int, used: int, budget: int | None) -> str | None:
        """Why round `number` would overrun the token budget (`token budget: … would need about N
        more`), or None if it fits (or there is none)."""
        if budget is None:
            return None
        if number == 1:
            draft_in = estimate_tokens(self.question_block, *(text for _, _, text in self.positions))
        else:
            draft = self.draft.content if self.draft else ""
            draft_in = estimate_tokens(self.question_block, draft, str(self.objections))
        draft_in += self._images_cost(self.synthesizer)
        voters = len(self.voters)
        vote_in = voters * (estimate_tokens(self.question_block) + 2 * EXPECTED_ANSWER_TOKENS)
        vote_in += sum(self._images_cost(member) for _, member, _ in self.voters)
        needed = draft_in + EXPECTED_ANSWER_TOKENS + vote_in + voters * EXPECTED_ANSWER_TOKENS // 4
        if used + needed <= budget:
            return None
        return (
            f"token budget: {used:,} of {budget:,} tokens used and round {number} would need about "
            f"{needed:,} more"
        )

    def _images_cost(self, member: Member | None) -> int:
        """What the question's images add to one call of `member` (nothing if it is not sent them)."""
        if member is None:
            return 0
        return images_tokens(images_for(member, self.images), member)
