"""Stance words and the per-(model, stance) instance limit."""

from __future__ import annotations

from collections.abc import Sequence

from tui.engine.types import Member, SkippedMember, Stance
from tui.errors import StanceError

STANCE_SYNONYMS: dict[str, Stance] = {
    "for": Stance.FOR,
    "support": Stance.FOR,
    "favor": Stance.FOR,
    "pro": Stance.FOR,
    "against": Stance.AGAINST,
    "oppose": Stance.AGAINST,
    "critical": Stance.AGAINST,
    "con": Stance.AGAINST,
    "neutral": Stance.NEUTRAL,
    "balanced": Stance.NEUTRAL,
}


def accepted_stance_words() -> str:
    """The stances, then their synonyms, for error messages and help:
    `for, against or neutral (or a synonym: support, favor, pro = for; …; balanced = neutral)`."""
    synonyms: dict[Stance, list[str]] = {}
    for word, stance in STANCE_SYNONYMS.items():
        if word != stance.value:
            synonyms.setdefault(stance, []).append(word)
    names = [stance.value for stance in Stance]
    listed = "; ".join(f"{', '.join(words)} = {stance.value}" for stance, words in synonyms.items())
    return f"{', '.join(names[:-1])} or {names[-1]} (or a synonym: {listed})"


def normalize_stance(word: str | Stance) -> Stance:
    """Map a stance word or synonym (any case, surrounding space ignored) to its stance."""
    if isinstance(word, Stance):
        return word
    stance = STANCE_SYNONYMS.get(word.strip().lower())
    if stance is None:
        raise StanceError(f"unknown stance {word!r}: use {accepted_stance_words()}")
    return stance


def apply_instance_limit(members: Sequence[Member], limit: int) -> tuple[list[Member], list[SkippedMember]]:
    """Keep at most `limit` members per (model, stance) pair, in panel order; report the rest,
    naming the model and the seats it already has when they go by other aliases."""
    seated: dict[tuple[str, str, Stance], list[str]] = {}
    kept: list[Member] = []
    skipped: list[SkippedMember] = []
    for member in members:
        aliases = seated.setdefault((member.provider, member.model_id.lower(), member.stance), [])
        if len(aliases) < limit:
            aliases.append(member.alias)
            kept.append(member)
            continue
        if aliases == [member.alias] * len(aliases):
            sits = f"{member.alias} already sits on the panel {limit}x"
        else:  # another alias of the same model: say which model, and who holds its seats
            sits = (
                f"{member.alias} is {member.model_id} on {member.provider}, which already sits on the "
                f"panel {limit}x ({', '.join(aliases)})"
            )
        skipped.append(
            SkippedMember(
                alias=member.alias,
                stance=member.stance,
                reason=(
                    f"{sits} as {member.stance.value}; at most {limit} members may share a model and stance"
                ),
            )
        )
    return kept, skipped
