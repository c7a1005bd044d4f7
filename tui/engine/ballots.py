"""A council ballot: how a reviewer's ranking is asked for, and read back whole or not at all.

A reviewer is shown the other members' answers under letters (A, B, C… in an order shuffled for
it; `tui.engine.shown`) and ranks them, best first. The ranking is asked for as structured
output where the reviewer's model takes it, in the same forms and with the same fallback chain
as a vote (`tui.engine.votes`): a JSON object `{"ranking": ["B", "A", "C"]}` held to a schema
whose letters are the ones shown, a forced `cast_ranking` tool call for Anthropic, and text last:
a line `FINAL RANKING: B, A, C`.

A ballot counts only whole: every letter shown, each once, and nothing else. Anything short of
that is an abstention with its reason — never a partial ranking, whose missing places would
otherwise count as last:
- `no FINAL RANKING line`, `two ranking lines`, `empty ranking` (text);
- `not JSON`, `broken JSON: …`, `JSON is not an object`, `JSON has no ranking`, `two rankings`,
  `ranking not a list of strings` (structured; such a reply is read as text before it is
  declared unreadable, as a vote's is);
- `unknown label X`, `B twice`, `missing C`, `ranks its own answer` (a word such as `mine`: its
  own answer is never on its ballot);
- `two rankings: text B, A; tool A, B` (words beside a tool call that rank otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tui.engine.calls import ANSWERED, CallSpec, cutoff
from tui.engine.events import EventSink
from tui.engine.provider import StructuredOutput
from tui.engine.rules import json_object
from tui.engine.types import LETTERS, CallResult, VoteForm
from tui.engine.votes import StructuredCall

RANKING_LABEL = "FINAL RANKING:"
"""How the text form's ranking line begins."""

BALLOT_TOOL = "cast_ranking"
BALLOT_TOOL_DESCRIPTION = "Rank the other panel members' answers, best first."

_RANKING_LINE = re.compile(r"^[ \t>#*_`-]*final[ \t]+ranking[ \t*_`]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_ANSWER_WORD = re.compile(r"\b(?:answers?|agents?)\b", re.IGNORECASE)
_NUMBERING = re.compile(r"(?<!\w)\d+[.)]")
_SEPARATORS = re.compile(r"[,;>→\s]+")
_AROUND_LABEL = "*_`()[]{}.'\":"
_OWN = frozenset({"mine", "own", "my", "myself", "me", "self"})


def labels_for(count: int) -> str:
    """The letters `count` answers are shown under: `ABC` for three."""
    return LETTERS[:count]


def ballot_schema(labels: str) -> Mapping[str, Any]:
    """The JSON schema of a ballot over these letters. OpenAI's strict mode takes it as it is:
    every property required, no others; each item one of the letters shown."""
    return {
        "type": "object",
        "properties": {
            "ranking": {
                "type": "array",
                "items": {"type": "string", "enum": list(labels)},
                "description": "every answer's letter exactly once, the best answer first",
            }
        },
        "required": ["ranking"],
        "additionalProperties": False,
    }


def ranking_line(reply: str) -> tuple[list[str] | None, str | None]:
    """The text form: the labels of the reply's one `FINAL RANKING:` line as written, or why
    there is none to read (`no FINAL RANKING line`, `two ranking lines`, `empty ranking`). The same
    ranking written twice is one ranking."""
    lines = [match.group(1) for match in _RANKING_LINE.finditer(reply)]
    if not lines:
        return None, "no FINAL RANKING line"
    rankings = {tuple(_tokens(line)) for line in lines}
    if len(rankings) > 1:
        return None, "two ranking lines"
    tokens = list(rankings.pop())
    return (tokens, None) if tokens else (None, "empty ranking")


def _tokens(line: str) -> list[str]:
    """The labels of a ranking as written: `1. Answer B > answer A` gives B, A."""
    line = _NUMBERING.sub(" ", _ANSWER_WORD.sub(" ", line))
    tokens = (token.strip(_AROUND_LABEL) for token in _SEPARATORS.split(line))
    return [token for token in tokens if token]


def structured_ranking(reply: str) -> tuple[list[str] | None, str | None]:
    """A structured ballot, `{"ranking": [...]}`: its labels as written, or why the reply is not
    one (read as a structured vote is: names in any case, a code fence, other fields let be). An
    empty list is in the schema: the model's ballot, which ranks nothing (an abstention read by
    `whole_ranking`), not a sign that the server ignores the format."""
    data, problem = json_object(reply)
    if data is None:
        return None, problem
    rankings = data.fields("ranking")
    if not rankings:
        return None, "JSON has no ranking"
    if len(rankings) > 1:
        return None, "two rankings"
    items = rankings[0]
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return None, "ranking not a list of strings"
    return [token for item in items for token in _tokens(item)], None


def whole_ranking(tokens: Sequence[str], labels: str) -> tuple[list[str] | None, str | None]:
    """`tokens` as a ranking of every label shown, each once; or why it is not one."""
    if not tokens:
        return None, "empty ranking"
    seen: list[str] = []
    for token in tokens:
        if token.lower() in _OWN:
            return None, "ranks its own answer"
        label = token.upper()
        if len(label) != 1 or label not in labels:
            return None, f"unknown label {token}"
        if label in seen:
            return None, f"{label} twice"
        seen.append(label)
    missing = [label for label in labels if label not in seen]
    if missing:
        return None, f"missing {', '.join(missing)}"
    return seen, None


def two_rankings(text: Sequence[str], structured: Sequence[str], form: VoteForm) -> str:
    """Why a reply that ranks one way in words and another in its structured part is no ballot."""
    return f"two rankings: text {', '.join(text)}; {form.value} {', '.join(structured)}"


def shown_ranking(labels: Sequence[str]) -> str:
    """A ranking as people read it, in the text form's own shape: `FINAL RANKING: B, A, C`."""
    return f"{RANKING_LABEL} {', '.join(labels)}".rstrip()


class BallotKind:
    """A ballot as structured output over the letters shown: its labels as given (whole or not:
    that is read after, `read_ballot`), shown as a `FINAL RANKING:` line."""

    noun = "ballots"

    def __init__(self, labels: str) -> None:
        self.labels = labels

    def output(self, form: VoteForm) -> StructuredOutput | None:
        if form is VoteForm.TEXT:
            return None
        return StructuredOutput(form, BALLOT_TOOL, BALLOT_TOOL_DESCRIPTION, ballot_schema(self.labels))

    def parse(self, reply: str) -> tuple[list[str] | None, str]:
        tokens, problem = structured_ranking(reply)
        if tokens is None:
            return None, problem or "no ranking"
        return tokens, shown_ranking(tokens)

    def contradicted(self, value: list[str], words: str, form: VoteForm) -> str | None:
        said, _ = ranking_line(words)
        if said is None or [t.upper() for t in said] == [t.upper() for t in value]:
            return None
        return two_rankings(said, value, form)


BallotCall = StructuredCall[list[str]]
"""A reviewer's ballot call: a `StructuredCall` of kind `BallotKind`."""


def read_ballot(call: BallotCall, result: CallResult, labels: str) -> tuple[list[str] | None, str | None]:
    """A ballot call's ranking, as letters best first; or None and why it is an abstention.

    As a vote's reading is: a refused or filtered reply is no ballot whatever it said; a failed
    call is none (its error); one cut off at the output limit is none, even with its ranking line
    in (what would have followed is unknown); a structured reply that could not be used as one is
    read as text before it is declared unreadable, and then says both.
    """
    finish = result.finish_reason
    stopped = cutoff(finish, call.spec.member.max_output_tokens) if finish is not None else None
    if stopped is not None and stopped[0] in ("refusal", "content_filter"):
        return None, stopped[1]
    if result.status not in ANSWERED:
        return None, result.error or "no reply"
    if stopped is not None:
        return None, stopped[1]
    if call.value is not None:
        if call.spoilt is not None:
            return None, call.spoilt
        return whole_ranking(call.value, labels)
    tokens, problem = ranking_line(result.content)
    if tokens is None:
        if call.unusable is not None and call.unusable != problem:
            problem = f"{call.unusable}; as text: {problem}"
        return None, problem
    return whole_ranking(tokens, labels)


def ballot_call(
    spec: CallSpec,
    emit: EventSink,
    clock: Callable[[], float],
    prompt_for: Callable[[VoteForm], str],
    note: Callable[[str], None],
    labels: str,
) -> BallotCall:
    """A reviewer's ballot over `labels`, asked as structured output where its model takes it."""
    return StructuredCall(spec, emit, clock, prompt_for, note, BallotKind(labels))
