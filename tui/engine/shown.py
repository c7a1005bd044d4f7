"""Whose answers a member is shown, and in what order: anonymized, and shuffled for each member.

A debate shows each member the other members' answers of the round before; a council shows each
reviewer the other members' answers to rank. Never its own (a model recognises its own text,
whatever it is called), and never whose each is: an answer is `agent 1` or `answer B`, no alias.
The order is shuffled for each member: one order for everyone would put the same answer first on
every ballot, and with it whatever advantage the first place carries. Each shuffle is seeded by
the run's seed, the stage, the round and the member's seat, so the same request shows everyone
the same again; the order each member saw is recorded with its round (`Shown`, `Ballot.shown`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def others_shuffled(
    viewer: int, seats: Sequence[int], *, seed: int, stage: str, round_number: int
) -> list[int]:
    """The seats of `seats` but `viewer`'s own, in the order `viewer` is shown them."""
    others = [seat for seat in seats if seat != viewer]
    # A string seed is hashed (SHA-512) by `random`: the same in every process, whatever PYTHONHASHSEED.
    random.Random(f"quorum/{stage}/{seed}/{round_number}/{viewer}").shuffle(others)
    return others
