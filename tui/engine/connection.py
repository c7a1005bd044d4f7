"""A provider as the engine calls it: its adapter, with what is kept for as long as it lives.

The front ends keep one adapter per configured provider for the whole process (the pool,
`tui.pool.ProviderPool`), and two runs in one process (a rerun while the old run winds down, two
`quorum mcp` runs) talk to the same server. So what belongs to the server rather than to a run
lives with the adapter, in a `Connection` the pool hands out with it:

- `slots`: its limit on calls in flight (`max_concurrency`; see `tui.engine.slots`), shared by
  every run: the server's limit is the same whichever run asks;
- `forms`: the vote form each of its models has been found to take (see `tui.engine.votes`), so
  what a server refuses is learned once per process, and said once.

The engine takes both from the lookup it is given (`ProviderLookup`), never from a table of its
own: a fresh pool (a test's) starts knowing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tui.engine.provider import Provider
from tui.engine.slots import CallSlots
from tui.engine.types import Member, VoteForm

_STRENGTH = {VoteForm.JSON_SCHEMA: 3, VoteForm.TOOL: 3, VoteForm.JSON_OBJECT: 2, VoteForm.TEXT: 0}


class FormMemory:
    """The vote form each model of one provider connection has been found to take."""

    def __init__(self) -> None:
        self._learned: dict[str, VoteForm] = {}

    def form_for(self, member: Member) -> VoteForm:
        """The form to ask `member` in: its configured one, or the weaker one its model was moved to."""
        learned = self._learned.get(member.model_id)
        if learned is None or _STRENGTH[learned] >= _STRENGTH[member.vote_form]:
            return member.vote_form
        return learned

    def learn(self, member: Member, form: VoteForm) -> bool:
        """Move `member`'s model down to `form`; False when it is there already (or below): then
        whoever moved it first has said so."""
        if _STRENGTH[form] >= _STRENGTH[self.form_for(member)]:
            return False
        self._learned[member.model_id] = form
        return True


@dataclass(frozen=True, eq=False)
class Connection:
    """One provider's adapter, its queue for calls in flight (None: no limit) and what its models
    take, as the pool hands them out together."""

    provider: Provider
    slots: CallSlots | None = None
    forms: FormMemory = field(default_factory=FormMemory)

    @classmethod
    def limited(cls, provider: Provider, max_concurrency: int | None) -> Connection:
        """A connection to `provider` serving at most `max_concurrency` calls at a time (None: as
        many as are made)."""
        slots = None if max_concurrency is None else CallSlots(provider.name, max_concurrency)
        return cls(provider, slots)


ProviderLookup = Callable[[Member], Connection]
"""How a run finds the connection a member's calls go through."""
