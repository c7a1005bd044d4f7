"""The rules of a round: strict vote parsing (text and structured), tallying, the decision, and
consult's agreement reading."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from tui.engine.quorum import quorum_met
from tui.engine.types import Agreement, Outcome, Tally, Vote, VoteValue

MAX_OBJECTIONS = 5

# Decoration a model may put around its one verdict line, and strip without changing its meaning:
# a heading or quote mark in front, emphasis or code marks around the label, the word or the whole
# line (not inside a word: `ACC*EPT` stays as written), and a full stop at the end.
_LEADING_MARKS = re.compile(r"^(?:#{1,6}\s*|>\s*)+")
_EMPHASIS = re.compile(r"(?:^|(?<=[\s:]))[*_`]+|[*_`]+(?=[\s:.!]|$)")
_TRAILING_STOP = re.compile(r"\s*[.!]$")
# A line of nothing but markup: a rule (`---`), a code fence, a lone `**`.
_BARE_MARKUP = re.compile(r"^[\s*_`#>=~-]*$")
_VERDICT_LABEL = re.compile(r"^verdict\s*:\s*", re.IGNORECASE)
_ACCEPT = re.compile(r"\baccept", re.IGNORECASE)
_REJECT = re.compile(r"\breject", re.IGNORECASE)
# A list item's mark: decoration too when a line claims a verdict (`- VERDICT: REJECT` is a second
# verdict line), though the one verdict line itself may not be a list item.
_LIST_MARK = re.compile(r"^(?:[-+•]|\d+[.)])\s+")
# A verdict stated anywhere: `verdict` as a label (`VERDICT:`, `"verdict": "reject"`, `verdict =
# reject`, decorated or quoted), then a word that starts with accept or reject.
_STATED = re.compile(
    r"(?<![a-z])verdict(?![a-z])[\"'*_`]*\s*[:=]\s*[\"'*_`]*\s*(accept|reject)", re.IGNORECASE
)


def _undecorated(line: str) -> str:
    """The line without Markdown decoration, its spaces collapsed."""
    text = _EMPHASIS.sub("", _LEADING_MARKS.sub("", line.strip()))
    return re.sub(r"\s+", " ", text).strip()


def looks_like_verdict(line: str) -> bool:
    """Whether a line claims a verdict (`VERDICT:` first, decorated or not), whatever follows."""
    return _VERDICT_LABEL.match(_undecorated(line)) is not None


def _claims_verdict(line: str) -> bool:
    """Whether a line claims a verdict at its start, as a list item too."""
    return looks_like_verdict(line) or looks_like_verdict(_LIST_MARK.sub("", line.strip()))


def stated_verdicts(text: str) -> list[VoteValue]:
    """Every verdict `text` states, in order, in whatever form: a verdict line, a list item, a
    JSON object's `verdict`, a `verdict: …` inside a sentence."""
    return [VoteValue(word.lower()) for word in _STATED.findall(text)]


def two_verdicts(first: VoteValue, second: VoteValue, where: tuple[str, str] | None = None) -> str:
    """Why a reply that states two different verdicts is invalid: `two verdicts: accept, then
    reject`; given where each was, `two verdicts: text accept, tool reject`."""
    if where is None:
        return f"two verdicts: {first.value}, then {second.value}"
    return f"two verdicts: {where[0]} {first.value}, {where[1]} {second.value}"


def _verdict_count(count: int) -> str:
    return "two verdict lines" if count == 2 else f"{count} verdict lines"


def parse_vote(reply: str) -> tuple[VoteValue, list[str], str | None]:
    """Read a review reply as (vote, objections, reason-if-invalid).

    Strict about ambiguity: the first line with words must be the one verdict line, `VERDICT:`
    followed by exactly `ACCEPT` or `REJECT` (any case). One reply is one vote: no other line may
    claim a verdict (a list item `- VERDICT: REJECT` is a verdict line too, whatever it says), and
    no other verdict may be stated in any form (a JSON object's `"verdict": "reject"`, fenced or
    not, or `verdict: reject` inside a sentence); the same verdict named again inside a line
    changes nothing and is allowed. Markdown decoration of the one verdict line does not change
    what it says and is allowed (`**VERDICT: ACCEPT**`, `## VERDICT: REJECT`, `VERDICT: **ACCEPT**.`).
    Anything else is invalid and never counts as accept; the reason says why in a few words, the
    same words for the same fault, so a round can list them: empty reply, no verdict line, two
    verdict lines, verdict after prose, both words, not ACCEPT or REJECT, two verdicts: accept,
    then reject.
    """
    lines = [line.strip() for line in reply.splitlines()]
    lines = [line for line in lines if not _BARE_MARKUP.match(line)]
    if not lines:
        return VoteValue.INVALID, [], "empty reply"
    verdict_lines = [line for line in lines if _claims_verdict(line)]
    if not verdict_lines:
        return VoteValue.INVALID, [], "no verdict line"
    if len(verdict_lines) > 1:
        return VoteValue.INVALID, [], _verdict_count(len(verdict_lines))
    if not looks_like_verdict(lines[0]):
        # a list item alone is no verdict line (as before), a verdict line after prose is late
        late = looks_like_verdict(verdict_lines[0])
        return VoteValue.INVALID, [], "verdict after prose" if late else "no verdict line"
    verdict = _TRAILING_STOP.sub("", _VERDICT_LABEL.sub("", _undecorated(lines[0]), count=1))
    if verdict.lower() not in ("accept", "reject"):
        both = _ACCEPT.search(verdict) and _REJECT.search(verdict)
        return VoteValue.INVALID, [], "both words" if both else "not ACCEPT or REJECT"
    value = VoteValue.ACCEPT if verdict.lower() == "accept" else VoteValue.REJECT
    other = next((v for v in stated_verdicts("\n".join(lines[1:])) if v is not value), None)
    if other is not None:
        return VoteValue.INVALID, [], two_verdicts(value, other)
    objections = [re.sub(r"^[-*•]\s*|^\d+[.)]\s*", "", line) for line in lines[1:]]
    return value, [o for o in objections if o][:MAX_OBJECTIONS], None


class JSONObject(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, in order: a key given twice stays visible."""

    def fields(self, name: str) -> list[Any]:
        """Every value of the field `name`, in any case."""
        return [value for key, value in self if key.strip().lower() == name]


# A whole reply in one Markdown code fence (```json ... ```): models not held to a format add it.
_FENCE = re.compile(r"^```[A-Za-z]*[ \t]*\n(.*?)\n?[ \t]*```$", re.DOTALL)


def json_object(reply: str) -> tuple[JSONObject | None, str | None]:
    """The JSON object a structured reply is, or why it is none, in the same few words for the
    same fault: empty reply, not JSON, broken JSON: <what>, JSON is not an object. A code fence
    around the whole reply and a line break inside a string are let be."""
    text = reply.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text:
        return None, "empty reply"
    try:
        # strict=False: a raw line break inside a string is a model's slip, not an ambiguity.
        data = json.loads(text, object_pairs_hook=JSONObject, strict=False)
    except json.JSONDecodeError as err:
        if not text.startswith(("{", "[")):
            return None, "not JSON"
        what = re.sub(r"\s+(?:starting\s+)?at$", "", err.msg).lower()
        return None, f"broken JSON: {what}"
    if not isinstance(data, JSONObject):
        return None, "JSON is not an object"
    return data, None


def parse_structured_vote(reply: str) -> tuple[VoteValue, list[str], str | None]:
    """Read a structured vote, a JSON object `{"verdict": "accept"|"reject", "objections": [...]}`,
    as (vote, objections, problem-if-unusable).

    As strict about ambiguity as the text protocol, and as forgiving of what cannot change the
    meaning: the names and the verdict in any case, a full stop after the verdict, a code fence
    around the whole reply, other fields (ignored), no `objections` or null (none), a line break
    inside a string. Objections are each put on one line and capped at five, as in text. The
    problem, when there is one, is a few words, the same for the same fault: not JSON, broken
    JSON: <what>, JSON is not an object, JSON has no verdict, two verdicts, verdict not accept
    or reject, objections not a list of strings, two objection lists.
    """
    data, problem = json_object(reply)
    if data is None:
        return VoteValue.INVALID, [], problem
    verdicts, listed = data.fields("verdict"), data.fields("objections")
    if not verdicts:
        return VoteValue.INVALID, [], "JSON has no verdict"
    if len(verdicts) > 1:
        return VoteValue.INVALID, [], "two verdicts"
    verdict = verdicts[0]
    word = _TRAILING_STOP.sub("", verdict.strip()).lower() if isinstance(verdict, str) else None
    if word not in ("accept", "reject"):
        return VoteValue.INVALID, [], "verdict not accept or reject"
    if len(listed) > 1:
        return VoteValue.INVALID, [], "two objection lists"
    items = listed[0] if listed and listed[0] is not None else []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return VoteValue.INVALID, [], "objections not a list of strings"
    objections = [" ".join(item.split()) for item in items]
    value = VoteValue.ACCEPT if word == "accept" else VoteValue.REJECT
    return value, [o for o in objections if o][:MAX_OBJECTIONS], None


def render_vote(value: VoteValue, objections: Sequence[str]) -> str:
    """A valid vote as people read it, in the text protocol's own shape: the verdict line, then one
    `- ` line per objection. `parse_vote` reads it back as the same vote, or, when an objection
    itself reads as a verdict line, as an invalid one: never as another verdict."""
    return "\n".join([f"VERDICT: {value.value.upper()}", *(f"- {o}" for o in objections)])


def tally_votes(votes: Sequence[Vote]) -> Tally:
    tally = Tally()
    for vote in votes:
        setattr(tally, vote.value.value, getattr(tally, vote.value.value) + 1)
    return tally


def decide_round(
    round_number: int,
    max_rounds: int,
    tally: Tally,
    majority_threshold: float = 0.5,
    *,
    seats: int,
    quorum: float = 0.5,
) -> Outcome | None:
    """The outcome of a round, or None when deliberation goes on to the next round.

    A round decides only with a quorum: valid votes from more than `quorum` of the panel's
    `seats` (see `tui.engine.quorum`). Without one it goes on to the next round while the members
    asked to vote could still make one, and otherwise (and in the last round) the run ends with
    no quorum: not a decision, and not the curator's to make.

    With a quorum, every member asked to vote counts: a round is unanimous only when each of them
    returned a valid ACCEPT, so an invalid vote (or a review that failed) is never ignored. Before
    the last round only that ends the run. In the last round: unanimous; else accepts strictly
    above `majority_threshold` of all members asked to vote is a majority; else the curator decides.
    """
    if not quorum_met(tally.valid, seats, quorum):
        possible = quorum_met(tally.asked, seats, quorum)
        return None if round_number < max_rounds and possible else Outcome.NO_QUORUM
    if tally.accept == tally.asked:
        return Outcome.UNANIMOUS
    if round_number < max_rounds:
        return None
    if tally.accept > majority_threshold * tally.asked:
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


def read_lean(answer: str) -> str | None:
    """The answer's own leaning, from its `Lean:` line: favourable, unfavourable or mixed (either
    spelling); None when it has no such line or its word is none of them."""
    found = _LEAN.search(answer)
    return _LEAN_WORDS.get(found.group(1).lower()) if found else None


def read_agreement(answers: Sequence[str]) -> Agreement:
    """Consult mode: count the answers' own `Lean:` lines and average their `Confidence: X/10`."""
    agreement = Agreement()
    confidences: list[float] = []
    for answer in answers:
        lean = read_lean(answer) or "unclear"
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
        agreement.summary = (
            f"all {total} answers lean {leading}" if total > 1 else f"the one answer leans {leading}"
        )
    else:
        parts = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        agreement.summary = f"split: {parts}"
    if agreement.mean_confidence is not None:
        agreement.summary += f" (mean confidence {agreement.mean_confidence}/10)"
    return agreement
