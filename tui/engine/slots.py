"""How many calls one provider has in flight: a server that answers a few requests at a time gets
no more than that, and the calls beyond it wait in Quorum's own queue, first come, first served.

Why Quorum queues them itself rather than leaving it to the server: a local server (llama.cpp,
Ollama on a small machine) that answers one request at a time keeps the others waiting inside it,
where a call's deadline is already running. A third member queued there behind two answers was
measured waiting 40 s for its first token, and timed out for no fault of its own. Queued here, a
call's deadline, latency and time to first token start when it is actually sent, and the time it
waited is kept apart (`CallResult.queued_ms`) and shown as such.

The slots belong to the provider connection, not to a run (`tui.engine.connection`): two runs in
one process talk to the same server, so they share its limit. A provider without one is never
queued.

Pure asyncio: a queued call waits on a future of its own, woken only when a slot passes to it, so
any number of queued calls cost nothing while they wait.
"""

from __future__ import annotations

import asyncio
from collections import deque


class CallSlots:
    """`limit` calls in flight to one provider at most; the rest wait, in the order they asked.

    A slot given back passes straight to the first call in line (the count of slots taken stays
    as it is), so a call that asks later can never take it first. A call cancelled while it waits
    leaves the line without ever having held a slot.
    """

    def __init__(self, provider: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a provider serves at least 1 call at a time (got {limit})")
        self.provider = provider
        self.limit = limit
        self._taken = 0
        self._line: deque[asyncio.Future[None]] = deque()

    @property
    def taken(self) -> int:
        """Slots held now: calls sent and not yet over."""
        return self._taken

    @property
    def waiting(self) -> int:
        """Calls in line for a slot."""
        return sum(not waiter.done() for waiter in self._line)

    def free(self) -> bool:
        """A call that asks now gets a slot at once: one is free and nobody is in line before it."""
        return self._taken < self.limit and not self.waiting

    async def take(self) -> None:
        """Hold a slot, waiting in line for it if there is none free; `give_back` it when done.

        Cancelled while it waits, the call leaves the line; cancelled in the moment a slot passed to
        it, it passes the slot on. Either way it raises `CancelledError` holding nothing.
        """
        if self.free():
            self._taken += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give_back()  # handed a slot it will not use: the next in line gets it
            elif waiter in self._line:
                self._line.remove(waiter)
            raise

    def give_back(self) -> None:
        """A call that held a slot is over: the first call still in line gets the slot."""
        while self._line:
            waiter = self._line.popleft()
            if not waiter.done():  # a cancelled waiter has left already
                waiter.set_result(None)
                return
        self._taken -= 1
