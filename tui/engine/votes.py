"""Structured votes: a review asked for as JSON where the server takes it, and text where it does not.
(A council's ballot is asked and read the same way: `StructuredCall`, with a kind of its own in
`tui.engine.ballots`.)

A member's vote is asked in the form its model is configured for (`Member.vote_form`, from the
catalog's `structured_output`): OpenAI's `response_format` with a strict JSON schema, the
`{"type": "json_object", "schema": ...}` form llama.cpp's server takes, a forced tool call for
Anthropic, or the text protocol (`VERDICT: ACCEPT`). The schema is the same in every form.

Falling back is never silent and never repeated:
- a server that refuses the structured request (`ErrorKind.FORMAT_REFUSED`) is asked again at
  once in the next weaker form (`json_schema` -> `json_object` -> `text`, `tool` -> `text`):
  not a failed attempt, no back-off, within the same deadline and the same slot of a provider
  that serves only so many calls at once (it does not go back to the end of the line);
- a whole reply that is not usable as structured output (prose, broken JSON, outside the schema)
  is read as text before it is declared invalid, and its model is asked in text from then on;
- what a model takes is remembered with the provider connection it was learned on
  (`Connection.forms`), which the front ends keep for the whole process, so a second vote goes
  straight to the form that works; and each change is a notice the dashboard, the progress lines and the run's
  notes carry: `smollm2: structured votes refused (json_schema) → json_object`.

People never read raw JSON as if it were prose: a structured vote is held while it streams and
shown whole as the text protocol's own shape (`VERDICT: ACCEPT` and `- ` objections), which is
the call's `content`; the JSON as sent is kept in `raw_reply`. A reply that turns out not to be
JSON is shown as it came: prose streams as it arrives.

One reply is one vote. Where the wire keeps the structured part apart from the text (Anthropic's
tool call beside a text block), the two stay apart here too: the vote is the tool's input, the
words are shown as they came, and words that state another verdict than the tool's (`VERDICT:
ACCEPT` beside a tool call that rejects) make the vote invalid: `two verdicts: text accept, tool
reject`. The same verdict said in both is one vote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar

from tui.engine import events as ev
from tui.engine.calls import CallSpec, ModelCall, preflight
from tui.engine.connection import Connection, FormMemory, ProviderLookup
from tui.engine.provider import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    Finished,
    ProviderError,
    StructuredOutput,
)
from tui.engine.rules import MAX_OBJECTIONS, parse_structured_vote, render_vote, stated_verdicts, two_verdicts
from tui.engine.types import CallResult, CallStatus, VoteForm, VoteValue

log = logging.getLogger(__name__)

T = TypeVar("T")

VOTE_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {
            "type": "string",
            "enum": ["accept", "reject"],
            "description": "accept: the draft is good enough to act on; reject: it is not",
        },
        "objections": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": MAX_OBJECTIONS,
            "description": "each one change that would make you accept; none is fine",
        },
    },
    # OpenAI's strict mode wants every property required and no others allowed.
    "required": ["verdict", "objections"],
    "additionalProperties": False,
}
"""The vote's JSON schema. `verdict` comes first: servers that hold a reply to a schema with a
grammar (llama.cpp) write the properties in this order."""

# Each objection's length, bounded where the server writes the reply with a grammar built from the
# schema (llama.cpp's json_object form): a small model held to it can otherwise go on writing one
# objection until its output limit cuts the vote off (measured with SmolLM2-135M at 512 tokens).
# Not in the other forms: OpenAI's strict mode refuses `maxLength`.
OBJECTION_MAX_CHARS = 200
_BOUNDED_SCHEMA: Mapping[str, Any] = {
    **VOTE_SCHEMA,
    "properties": {
        **VOTE_SCHEMA["properties"],
        "objections": {
            **VOTE_SCHEMA["properties"]["objections"],
            "items": {"type": "string", "maxLength": OBJECTION_MAX_CHARS},
        },
    },
}

VOTE_TOOL = "cast_vote"

_WEAKER = {
    VoteForm.JSON_SCHEMA: VoteForm.JSON_OBJECT,
    VoteForm.JSON_OBJECT: VoteForm.TEXT,
    VoteForm.TOOL: VoteForm.TEXT,
    VoteForm.TEXT: VoteForm.TEXT,
}


def weaker_form(form: VoteForm) -> VoteForm:
    """The form to ask in when `form` is refused: json_schema -> json_object -> text; tool -> text."""
    return _WEAKER[form]


def vote_schema(form: VoteForm) -> Mapping[str, Any]:
    """The schema a vote is asked to fit in `form`."""
    return _BOUNDED_SCHEMA if form is VoteForm.JSON_OBJECT else VOTE_SCHEMA


def vote_output(form: VoteForm) -> StructuredOutput | None:
    """The structured-output part of a vote request in `form` (None for text)."""
    if form is VoteForm.TEXT:
        return None
    return StructuredOutput(
        form, VOTE_TOOL, "Cast your vote on the panel's draft proposal.", vote_schema(form)
    )


class _HeldView:
    """What to show of a reply as it streams: prose as it arrives, JSON (or a code fence) held.

    Undecided until the first character that is not a space; everything shown is the reply's own
    text, so what was shown is always where the shown text of a vote starts.
    """

    def __init__(self) -> None:
        self.holding: bool | None = None
        self._pending: list[str] = []

    def feed(self, text: str) -> str:
        """The part of `text` to show now."""
        if self.holding is None:
            self._pending.append(text)
            start = "".join(self._pending).lstrip()
            if not start:
                return ""
            self.holding = start.startswith(("{", "`"))
            if self.holding:
                return ""
            shown, self._pending = "".join(self._pending), []
            return shown
        return "" if self.holding else text

    def rest(self, text: str) -> str:
        """What is still to show once the reply is whole, so that all shown is `text`: the vote
        rendered, or (for anything that is not a usable vote) the reply as it came."""
        if self.holding is False:
            return ""  # prose: shown as it came, and prose is never a structured vote
        return text


class StructuredKind(Protocol[T]):
    """What one kind of structured answer is (a review's vote, a council's ballot): how it is
    asked for in each form, read, shown, and told apart from words that contradict it."""

    noun: str
    """What its answers are called in notes: `votes` (`structured votes refused`)."""

    def output(self, form: VoteForm) -> StructuredOutput | None:
        """The structured-output part of the request in `form` (None for text)."""
        ...

    def parse(self, reply: str) -> tuple[T | None, str]:
        """The structured answer `reply` gives, and how it is shown; or None, and why it gives none."""
        ...

    def contradicted(self, value: T, words: str, form: VoteForm) -> str | None:
        """Why `value`, given in `form`, does not count: the words beside it say otherwise."""
        ...


class StructuredCall(ModelCall, Generic[T]):
    """A call whose answer is asked for as structured output where its model takes it: a review's
    vote, a council's ballot. The forms, the fallback chain and what is shown are the same for
    every kind; what the answer is, and how it is read and shown, is its `kind`'s.

    `prompt_for(form)` is the prompt in a form's words; `note` puts a message in the run's notes
    and on every display. Once the reply is whole, `value` is what it gave as structured output
    (and `spoilt` why it does not count: words beside it that say otherwise), or None, and then
    `unusable` says why a reply asked for as structured output could not be used as such (it is
    shown as it came, and the run reads it as text).
    """

    def __init__(
        self,
        spec: CallSpec,
        emit: ev.EventSink,
        clock: Callable[[], float],
        prompt_for: Callable[[VoteForm], str],
        note: Callable[[str], None],
        kind: StructuredKind[T],
    ) -> None:
        super().__init__(spec, emit, clock)
        self.kind = kind
        self.form = spec.member.vote_form
        self.value: T | None = None
        self.spoilt: str | None = None
        self.unusable: str | None = None
        self._prompt_for = prompt_for
        self._note = note
        self._forms = FormMemory()
        self._raw: list[str] = []  # the reply's text, as it came
        self._tool: list[str] = []  # its structured part, where the wire keeps it apart
        self._view = _HeldView()

    async def _answer(self, providers: ProviderLookup) -> CallStatus:
        status = await super()._answer(providers)
        # Only a whole reply says the server answers outside the schema: one cut off at the
        # output limit broke its JSON by being cut.
        if status is CallStatus.SUCCESS and self.unusable is not None:
            why = f"{self.kind.noun[:-1]} answered outside the schema ({self.form.value}: {self.unusable})"
            self._learn(VoteForm.TEXT, why)
        return status

    def _request(self) -> ChatRequest:
        request = super()._request()
        message = ChatMessage("user", self._prompt_for(self.form), self.spec.images)
        return replace(request, messages=(message,), structured=self.kind.output(self.form))

    async def _exchange(self, connection: Connection, request: ChatRequest) -> Finished | None:
        self._forms, provider = connection.forms, connection.provider
        if self._forms.form_for(self.spec.member) is not self.form:
            self.form = self._forms.form_for(self.spec.member)
            request = self._asked_again()
        while True:
            try:
                finished = await self._stream_with_retries(provider, request)
            except ProviderError as err:
                if err.kind is not ErrorKind.FORMAT_REFUSED or self.form is VoteForm.TEXT or self._reply():
                    raise
                log.debug("run %s %s: %s", self.spec.run_id, self.spec.member.alias, err.message)
                self._learn(
                    weaker_form(self.form), f"structured {self.kind.noun} refused ({self.form.value})"
                )
                # Asked again at once in what the memory says now: the next weaker form, or one
                # weaker still if another member's call has found that out meanwhile.
                self.form = self._forms.form_for(self.spec.member)
                request = self._asked_again()
                continue
            self._read()
            return finished

    def _asked_again(self) -> ChatRequest:
        request = self._request()
        preflight(self.spec.member, request)
        return request

    def _learn(self, form: VoteForm, why: str) -> None:
        """Move this model down to `form`, and say so once (the first call to find out says it)."""
        if self._forms.learn(self.spec.member, form):
            self._note(f"{self.spec.member.alias}: {why} → {form.value}")

    def _take(self, text: str) -> None:
        self._raw.append(text)
        self._first_token()
        # A text answer streams as it always has; a structured one is held (see `_HeldView`).
        shown = text if self.form is VoteForm.TEXT else self._view.feed(text)
        if shown:
            self._show(shown)

    def _take_structured(self, text: str) -> None:
        self._tool.append(text)
        self._first_token()  # held until whole, then shown as its kind shows it (see `_read`)

    def _reply(self) -> str:
        """The reply as the model sent it: its text, then its structured part on a line of its own."""
        return _joined("".join(self._raw), "".join(self._tool))

    def _read(self) -> None:
        """The reply is whole: read its structured answer, and show what is still held of it."""
        if self.form is VoteForm.TEXT:
            return
        text, tool = "".join(self._raw), "".join(self._tool)
        value, shown = self.kind.parse(tool or text)
        if value is not None:
            self.value = value
            self.spoilt = self.kind.contradicted(value, text, self.form) if tool else None
        else:
            self.unusable, shown = shown, tool or text
        if tool:  # the words as they came (any still held), then the structured part
            so_far = "".join(self._parts)
            rest = _joined(so_far + self._view.rest(text), shown)[len(so_far) :]
        else:
            rest = self._view.rest(shown)
        if rest:
            self._show(rest)

    def _settle(self, book: Callable[[CallResult], None]) -> None:
        # A text answer is recorded as it always was: nothing new to keep.
        self.result.vote_form = None if self.form is VoteForm.TEXT else self.form
        reply = self._reply()
        if reply != "".join(self._parts):
            self.result.raw_reply = reply
        super()._settle(book)


class _Votes:
    """A review's vote as structured output: `(verdict, objections)`, shown as a verdict line."""

    noun = "votes"

    def output(self, form: VoteForm) -> StructuredOutput | None:
        return vote_output(form)

    def parse(self, reply: str) -> tuple[tuple[VoteValue, list[str]] | None, str]:
        value, objections, problem = parse_structured_vote(reply)
        if problem is not None:
            return None, problem
        return (value, objections), render_vote(value, objections)

    def contradicted(self, value: tuple[VoteValue, list[str]], words: str, form: VoteForm) -> str | None:
        other = next((said for said in stated_verdicts(words) if said is not value[0]), None)
        return None if other is None else two_verdicts(other, value[0], ("text", form.value))


class VoteCall(StructuredCall[tuple[VoteValue, list[str]]]):
    """A member's review of the draft, asked as a structured vote where its model takes one.

    `structured` is the vote it gave as structured output, as (vote, objections,
    reason-if-invalid): invalid when words beside it state another verdict; or None (see
    `StructuredCall.unusable`).
    """

    def __init__(
        self,
        spec: CallSpec,
        emit: ev.EventSink,
        clock: Callable[[], float],
        prompt_for: Callable[[VoteForm], str],
        note: Callable[[str], None],
    ) -> None:
        super().__init__(spec, emit, clock, prompt_for, note, _Votes())

    @property
    def structured(self) -> tuple[VoteValue, list[str], str | None] | None:
        if self.value is None:
            return None
        if self.spoilt is not None:
            return VoteValue.INVALID, [], self.spoilt
        return (*self.value, None)


def _joined(text: str, then: str) -> str:
    """`text`, then `then` on a line of its own (either may be empty)."""
    if text and then and not text.endswith("\n"):
        return f"{text}\n{then}"
    return text + then
