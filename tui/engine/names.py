"""How a member is named where people read it, so that two seats are never the same name.

A panel may seat one model more than once (three `gw-smol` members, for, against and neutral; or
two `gw-smol:for`), and a name that is only the alias then says nothing about which seat voted
or failed. A name is the alias alone while the alias is the panel's only one of its kind; the
alias and stance when the alias repeats; and with its seat number too (`#2`, counted from 1)
when alias and stance both repeat. A panel of distinct aliases reads as it always has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tui.engine.types import Member, SkippedMember


def member_names(members: Sequence[Member]) -> list[str]:
    """Each member's name, in seat order: its alias, with as much more as tells it apart."""
    aliases = Counter(member.alias for member in members)
    pairs = Counter((member.alias, member.stance) for member in members)
    names = []
    for seat, member in enumerate(members, start=1):
        if aliases[member.alias] == 1:
            names.append(member.alias)
        elif pairs[(member.alias, member.stance)] == 1:
            names.append(f"{member.alias} ({member.stance.value})")
        else:
            names.append(f"{member.alias} ({member.stance.value}) #{seat}")
    return names


def member_labels(members: Sequence[Member]) -> list[str]:
    """Each member's label for progress lines, `alias (stance[, demo])`, with its seat number
    (`alias (stance) #2`) when another seat has the same alias and stance."""
    pairs = Counter((member.alias, member.stance) for member in members)
    return [
        member.label + (f" #{seat}" if pairs[(member.alias, member.stance)] > 1 else "")
        for seat, member in enumerate(members, start=1)
    ]


def seat_name(members: Sequence[Member], index: int | None, alias: str) -> str:
    """The name of the member at `index` (its alias when the index is not one of the panel's)."""
    if index is None or not 0 <= index < len(members):
        return alias
    return member_names(members)[index]


def synthesizer_name(members: Sequence[Member], alias: str) -> str:
    """The synthesizer's name in notes about its calls: its alias, marked `(synthesizer)` when a
    panel seat has the same alias (then the alias alone would name a member too)."""
    return f"{alias} (synthesizer)" if any(member.alias == alias for member in members) else alias


def skipped_name(members: Sequence[Member], skipped: Sequence[SkippedMember], index: int) -> str:
    """The name of the `index`-th seat left out before the run: its alias, with its stance when
    the alias also sits on the panel or is left out more than once."""
    seat = skipped[index]
    repeats = any(m.alias == seat.alias for m in members) or sum(s.alias == seat.alias for s in skipped) > 1
    return f"{seat.alias} ({seat.stance.value})" if repeats else seat.alias
