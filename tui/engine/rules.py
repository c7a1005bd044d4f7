"""The rules of a round: strict vote parsing, tallying, the decision, and consult's agreement reading."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tui.engine.types import Agreement, Outcome, Tally, Vote, VoteValue

MAX_OBJECTIONS = 5

_VERDICT_LINE = re.compile(r"^\s*verdict\s*:", re.IGNORECASE)
_EXACT_VERDICT = re.compile(r"^verdict: (accept|reject)$", re.IGNORECASE)


def parse_vote(reply: str) -> tuple[VoteValue, list[str], str | None]:
    """Read a review reply as (vote, objections, reason-if-invalid).

    Strict on purpose: the first non-empty line must be exactly `VERDICT: ACCEPT` or
    `VERDICT: REJECT` (any case), and no other line may claim a verdict. Anything else — an empty
    reply, prose, both words, a hedged or decorated line — is invalid and never counts as accept.
    """
    lines = [line.strip() for line in reply.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return VoteValue.INVALID, [], "empty reply"
    verdict_lines = [line for line in lines if _VERDICT_LINE.match(line)]
    if not verdict_lines:
        return VoteValue.INVALID, [], "no VERDICT line"
    if len(verdict_lines) > 1:
        return VoteValue.INVALID, [], "more than one VERDICT line"
    if not _VERDICT_LINE.match(lines[0]):
        return VoteValue.INVALID, [], "the VERDICT line is not the first line"
    match = _EXACT_VERDICT.match(re.sub(r"\s+", " ", lines[0]))
    if match is None:
        return VoteValue.INVALID, [], f"verdict line is not exactly ACCEPT or REJECT: {lines[0][:80]!r}"
    value = VoteValue.ACCEPT if match.group(1).lower() == "accept" else VoteValue.REJECT
    objections = [re.sub(r"^[-*•]\s*|^\d+[.)]\s*", "", line) for line in lines[1:]]
    return value, [o for o in objections if o][:MAX_OBJECTIONS], None


def tally_votes(votes: Sequence[Vote]) -> Tally:
    tally = Tally()
    for vote in votes:
        setattr(tally, vote.value.value, getattr(tally, vote.value.value) + 1)
    return tally


def decide_round(
    round_number: int, max_rounds: int, tally: Tally, majority_threshold: float = 0.5
) -> Outcome | None:
    """The outcome of a round, or None when deliberation goes on to the next round.

    Before the last round only a unanimous accept of the valid votes ends the run. In the last
    round: unanimous; else accepts strictly above `majority_threshold` of the valid votes is a
    majority; else the curator decides. Invalid and missing votes are never accepts, and a round
    with no valid vote at all cannot be unanimous.
    """
    unanimous = tally.valid > 0 and tally.reject == 0
    if unanimous:
        return Outcome.UNANIMOUS
    if round_number < max_rounds:
        return None
    if tally.valid > 0 and tally.accept > majority_threshold * tally.valid:
        return Outcome.MAJORITY
    return Outcome.CURATOR_OVERRIDE


_LEAN = re.compile(r"^\s*\**\s*lean\s*\**\s*:\s*\**\s*([a-z]+)", re.IGNORECASE | re.MULTILINE)
_CONFIDENCE = re.compile(r"confidence\s*\**\s*:\s*\**\s*(\d+(?:\.\d+)?)\s*/\s*10", re.IGNORECASE)
_LEAN_WORDS = {
    "favourable": "favourable",
    "favorable": "favourable",
    "unfavourable": "unfavourable",
    "unfavorable": "unfavourable",
    "mixed": "mixed",
}


def read_agreement(answers: Sequence[str]) -> Agreement:
    """Consult mode: count the answers' own `Lean:` lines and average their `Confidence: X/10`."""
    agreement = Agreement()
    confidences: list[float] = []
    for answer in answers:
        lean_match = _LEAN.search(answer)
        lean = _LEAN_WORDS.get(lean_match.group(1).lower(), "unclear") if lean_match else "unclear"
        setattr(agreement, lean, getattr(agreement, lean) + 1)
        conf_match = _CONFIDENCE.search(answer)
        if conf_match and 0 <= float(conf_match.group(1)) <= 10:
            confidences.append(float(conf_match.group(1)))
    if confidences:
        agreement.mean_confidence = round(sum(confidences) / len(confidences), 1)
    total = len(answers)
    counts = {
        "favourable": agreement.favourable,
        "unfavourable": agreement.unfavourable,
        "mixed": agreement.mixed,
        "unclear": agreement.unclear,
    }
    leading, count = max(counts.items(), key=lambda item: item[1]) if total else ("unclear", 0)
    if total == 0:
        agreement.summary = "no answers to compare"
    elif count == total:
        agreement.summary = f"all {total} answers lean {leading}"
    else:
        parts = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        agreement.summary = f"split: {parts}"
    if agreement.mean_confidence is not None:
        agreement.summary += f" (mean confidence {agreement.mean_confidence}/10)"
    return agreement
