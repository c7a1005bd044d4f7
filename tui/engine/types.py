"""The data contract of a run: panel members, requests, per-call results, votes, rounds, runs.

These pydantic models are what the CLI prints as JSON, what the store will persist and what the
dashboard renders. Every list of per-member results is in panel order, whatever order the calls
finished in.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    computed_field,
    model_serializer,
    model_validator,
)

from tui.engine.context import TeamContext
from tui.errors import UsageError


class Stance(StrEnum):
    FOR = "for"
    AGAINST = "against"
    NEUTRAL = "neutral"


class Mode(StrEnum):
    CONSULT = "consult"
    DELIBERATE = "deliberate"
    VOTE = "vote"
    """Every member answers once, blind; the plurality of the answers read in the declared answer
    shape is the run's answer (or, for an open question, the synthesizer reports the majority
    view and the dissent). The honest baseline for every other mode."""
    DEBATE = "debate"
    """Round 1 blind answers; in rounds 2..R every member sees the other members' answers of the
    round before, anonymized and in an order shuffled for it, and answers again; the debate stops
    early once every answer agrees. The run's answer is the plurality of the last round's answers
    read in the declared answer shape (or, for an open question, the synthesizer's report of the
    majority view and the dissent)."""
    COUNCIL = "council"
    """Blind answers; then each member ranks the other members' answers (its own left out, their
    labels shuffled for each reviewer), a Borda count aggregates the ballots, and the chairman (the
    synthesizer) writes the run's answer from the answers, still anonymized, and the ranking."""


ROUNDS_MODES = (Mode.DELIBERATE, Mode.DEBATE)
"""The modes that run in rounds (up to the request's `max_rounds`); the others make one pass."""

DEBATE_ROUNDS = 2
"""How many rounds a debate has when no round limit is set for it (never more than the limit)."""


class Phase(StrEnum):
    POSITION = "position"
    DRAFT = "draft"
    VOTE = "vote"
    CURATOR = "curator"
    REVISION = "revision"
    """A debate member's answer in round 2 or later, given the others' answers of the round before."""
    BALLOT = "ballot"
    """A council member's ranking of the other members' answers."""
    CHAIR = "chair"
    """The council chairman's answer, written from the answers and the ranking."""


class CallStatus(StrEnum):
    SUCCESS = "success"
    INCOMPLETE = "incomplete"
    """The provider ended the answer short of whole: cut off at the output token limit, stopped by
    its content filter, or refused by the model. The text is kept and used; `error` says why."""
    ERROR = "error"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class VoteValue(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    INVALID = "invalid"
    # The member's review call failed or was cancelled: it did not vote.
    NONE = "none"


class VoteForm(StrEnum):
    """How a member's vote is asked for: as structured output, in one of three wire forms, or as text.

    From strongest to weakest for an OpenAI-compatible server: `json_schema` (OpenAI's strict
    `response_format`), `json_object` (`{"type": "json_object", "schema": ...}`, as llama.cpp's
    server takes it), `text` (the `VERDICT:` line protocol); for Anthropic, `tool` (a forced tool
    call whose input is the vote), then `text`.
    """

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    TOOL = "tool"
    TEXT = "text"


class Outcome(StrEnum):
    UNANIMOUS = "unanimous"
    MAJORITY = "majority"
    CURATOR_OVERRIDE = "curator_override"
    PLURALITY = "plurality"
    """A vote's answer given by the most seats, though not by more than half of them (or tied
    with another and chosen by the tie rule)."""
    RANKED = "ranked"
    """A council's answer, written by the chairman from a Borda ranking that a quorum of the
    panel's seats made with readable ballots."""
    NO_QUORUM = "no_quorum"
    """Not a decision: too few of the panel's seats cast a valid vote (or answered at all). The
    run's synthesis is the last draft, shown and marked as such."""


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"
    # Never set by a live run: the history's word for a run whose process stopped mid-run (a
    # crash, kill -9); what had arrived is kept.
    INTERRUPTED = "interrupted"


class Origin(StrEnum):
    """Where a run was started: which front end asked."""

    DASHBOARD = "dashboard"
    CLI = "cli"  # `quorum run`
    MCP = "mcp"  # a coding agent, through `quorum mcp`
    EVAL = "eval"
    """`quorum eval`: a measurement on a question with a known answer. Recorded like any run, and
    left out of every list of runs unless asked for (`quorum history --eval`)."""


class RoundStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    CONTINUE = "continue"
    """No decision yet: the next round revises the draft."""
    DECIDED = "decided"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _Model(BaseModel):
    # defer_build: each model's validator is built on first use, not at import, which keeps
    # about 60 ms off the dashboard's start-up (most of these types appear only once a run starts).
    model_config = ConfigDict(extra="forbid", defer_build=True)


ImageType = Literal["image/png", "image/jpeg", "image/webp", "image/gif"]
"""The image formats every vision-capable provider takes (OpenAI, Anthropic, Gemini)."""


class Member(_Model):
    """One seat on the panel: a catalog model with a stance."""

    alias: str
    model_id: str
    provider: str
    stance: Stance = Stance.NEUTRAL
    stance_prompt: str | None = None
    demo: bool = False
    context_window: int = Field(default=128_000, gt=0)
    max_output_tokens: int = Field(default=4_096, gt=0)
    input_price: float = Field(default=0.0, ge=0, description="USD per million input tokens.")
    output_price: float = Field(default=0.0, ge=0, description="USD per million output tokens.")
    temperature: float | None = None
    deadline_s: float = Field(default=180.0, gt=0, description="Total time one call may take.")
    retries: int = Field(
        default=0, ge=0, le=10, description="How often a refused call (429, 5xx, lost connection) is retried."
    )
    vote_form: VoteForm = Field(
        default=VoteForm.TEXT,
        description="How this member's votes are asked first; a refusal or an answer outside the schema "
        "moves its model to a weaker form for the rest of the process.",
    )
    vision: bool = Field(
        default=False,
        description="The catalog marks its model vision-capable: it is sent the question's images.",
    )
    provider_kind: str = Field(
        default="openai",
        description="Its provider's kind (openai, anthropic, demo, or a plugin's): how its images are "
        "counted in tokens.",
    )

    @property
    def label(self) -> str:
        """How the member is named in progress lines and reports."""
        return f"{self.alias} ({self.stance.value}{', demo' if self.demo else ''})"


class SkippedMember(_Model):
    """A member left out before the run started, and why."""

    alias: str
    stance: Stance
    reason: str


class Attachment(_Model):
    """A file attached to the question: its text as sent, and what the file was (its size and the
    SHA-256 of its bytes, measured from the text when not given), so that a rerun can say whether
    the file on disk has changed since."""

    path: str = Field(description="The path as the user gave it.")
    content: str = Field(description="The text that was sent.")
    size: int = Field(default=0, ge=0, description="The file's size in bytes.")
    sha256: str = Field(default="", description="SHA-256 of the file's bytes, in hex.")
    full_path: str | None = Field(default=None, description="Where the file was, as an absolute path.")

    @model_validator(mode="before")
    @classmethod
    def _measure(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("content"), str) and not data.get("sha256"):
            raw = data["content"].encode("utf-8", "surrogatepass")
            data = {**data, "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
        return data


class ImageRecord(_Model):
    """An image attached to the question, as the history keeps it: what it was (its type, size,
    dimensions and the SHA-256 of its bytes), never the bytes themselves."""

    model_config = ConfigDict(extra="forbid", defer_build=True, frozen=True)

    path: str = Field(description="The path as the user gave it.")
    media_type: ImageType = Field(description="The format its bytes are in (read from them, not its name).")
    size: int = Field(gt=0, description="The file's size in bytes.")
    sha256: str = Field(description="SHA-256 of the file's bytes, in hex.")
    width: int = Field(gt=0, description="Its width in pixels, from the file's header.")
    height: int = Field(gt=0, description="Its height in pixels, from the file's header.")
    full_path: str | None = Field(default=None, description="Where the file was, as an absolute path.")


class Image(ImageRecord):
    """An image attached to the question with its bytes in hand: what is sent to the members who
    can see it. Its size and SHA-256 are measured from the bytes (given ones must agree), so the
    value never says one thing and holds another. Immutable, and its bytes never appear in a dump
    of it (the JSON, the history): only what it was does."""

    data: bytes = Field(repr=False, exclude=True, description="The file's bytes, as read.")

    @classmethod
    def of(
        cls,
        data: bytes,
        *,
        path: str,
        media_type: ImageType,
        width: int,
        height: int,
        full_path: str | None = None,
    ) -> Image:
        """The image of these bytes: its size and SHA-256 measured from them."""
        return cls(
            path=path,
            media_type=media_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            width=width,
            height=height,
            full_path=full_path,
            data=data,
        )

    @model_validator(mode="before")
    @classmethod
    def _measure(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("data"), bytes):
            raw: bytes = data["data"]
            measured = {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
            for key, value in measured.items():
                if data.get(key) not in (None, "", value):
                    raise ValueError(f"{key} {data[key]!r} is not that of the bytes given ({value!r})")
            data = {**data, **measured}
        return data

    def record(self) -> ImageRecord:
        """What the history keeps of it: everything but the bytes."""
        return ImageRecord.model_validate(self.model_dump())

    @cached_property
    def base64(self) -> bytes:
        """The bytes in base64 (ASCII), as both wire formats carry them: made once per image,
        however many calls send it."""
        return base64.b64encode(self.data)


class AnswerKind(StrEnum):
    NUMERIC = "numeric"
    CHOICE = "choice"
    EXACT = "exact"
    INCLUDES = "includes"
    REGEX = "regex"


SHAPES = ("numeric", "choice", "exact", "includes", "regex=PATTERN")
"""The answer shapes as they are named (`AnswerSpec.parse`)."""

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""The letters a choice is named by, in order."""


class AnswerShapeError(UsageError):
    """An answer shape that cannot be used as given: an unknown name, or a bad pattern or choices."""


class AnswerSpec(BaseModel):
    """The one shape a question with one right answer is answered in, and read back by
    (`tui.engine.answers`): its kind, the pattern a `regex` answer is read with, and the choices a
    `choice` answer names by letter (A, B, C… in this order; none listed: any letter)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: AnswerKind
    pattern: str | None = Field(default=None, description="regex: the pattern the answer is read with.")
    choices: tuple[str, ...] | None = Field(
        default=None, description="choice: the options, lettered A, B, C… in order (at most 26)."
    )

    @model_validator(mode="after")
    def _fits_its_kind(self) -> AnswerSpec:
        if self.kind is AnswerKind.REGEX:
            if not self.pattern:
                raise ValueError("regex= needs a pattern after the `=`")
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"regex={self.pattern}: not a regular expression ({err})") from None
        elif self.pattern is not None:
            raise ValueError(f"a pattern is for the regex shape, not {self.kind.value}")
        if self.choices is not None:
            if self.kind is not AnswerKind.CHOICE:
                raise ValueError(f"choices are for the choice shape, not {self.kind.value}")
            if not 1 <= len(self.choices) <= len(LETTERS):
                raise ValueError(f"{len(self.choices)} choices: letters A to Z name 1 to 26")
        return self

    @classmethod
    def parse(cls, text: str, choices: Sequence[str] | None = None) -> AnswerSpec:
        """The shape `text` names: `numeric`, `choice`, `exact`, `includes` or `regex=PATTERN`.
        An `AnswerShapeError` says in one line why it cannot be used."""
        name, sep, pattern = text.partition("=")
        try:
            if sep and name == AnswerKind.REGEX:
                return cls(kind=AnswerKind.REGEX, pattern=pattern)
            if sep or name not in set(AnswerKind) - {AnswerKind.REGEX}:
                raise AnswerShapeError(
                    f"unknown answer shape {text!r}: use {', '.join(SHAPES[:-1])} or {SHAPES[-1]}"
                )
            return cls(kind=AnswerKind(name), choices=tuple(choices) if choices is not None else None)
        except ValidationError as err:
            raise AnswerShapeError(str(err.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    @property
    def name(self) -> str:
        """The shape as `parse` reads it: `numeric`, `regex=(\\d+)`."""
        return f"regex={self.pattern}" if self.kind is AnswerKind.REGEX else self.kind.value


class PriorTurn(_Model):
    """An earlier run of the same thread, as a follow-up's members see it."""

    run_id: str
    question: str
    answer: str | None
    objections: list[str] = Field(default_factory=list)


class RunRequest(_Model):
    """Everything a run needs to start; the orchestrator takes nothing else from the outside."""

    question: str
    mode: Mode = Mode.DELIBERATE
    members: list[Member]
    skipped: list[SkippedMember] = Field(default_factory=list)
    synthesizers: list[Member] = Field(description="The synthesizer (curator) first, then its fallbacks.")
    files: list[Attachment] = Field(default_factory=list, description="The attached files, as sent.")
    images: list[Image] = Field(
        default_factory=list, description="Sent to the vision-capable members (and synthesizer) only."
    )
    focus: list[str] = Field(default_factory=list)
    context: TeamContext | None = Field(
        default=None, description="The asking team's context, sent to every member with the question."
    )
    max_rounds: int = Field(default=3, ge=1, le=10)
    majority_threshold: float = Field(default=0.5, ge=0.0, lt=1.0)
    quorum: float = Field(
        default=0.5,
        ge=0.5,
        le=1.0,
        description="A round decides only when more than this share of the panel's seats cast a valid "
        "vote (or every seat did: 1.0 asks for all of them).",
    )
    token_budget: int | None = Field(default=None, gt=0)
    seed: int = 0
    thread: list[PriorTurn] = Field(
        default_factory=list, description="Earlier runs this one follows up on, oldest first."
    )
    parent_run_id: str | None = None
    notes: list[str] = Field(
        default_factory=list, description="What building the request had to say; the result starts with them."
    )
    origin: Origin | None = Field(default=None, description="Where the run was started (None: not said).")
    answer: AnswerSpec | None = Field(
        default=None,
        description="The shape a question with one right answer is answered in (None: an open question). "
        "Every prompt that produces an answer ends by asking for it in this shape, a neutral seat is "
        "asked without a stance, and a vote counts the answers read in it.",
    )


class Asked(_Model):
    """What the user asked for, whole: the files as sent, the focus areas and every setting of the
    request. Recorded with the run, shown in its report and JSON, and asked again by a rerun or a
    follow-up (the question and the panel, with any custom stance prompts, are the run's own)."""

    files: list[Attachment] = Field(default_factory=list)
    images: list[ImageRecord] = Field(
        default_factory=list, description="The images sent: what each was, by hash and size (not the bytes)."
    )
    focus: list[str] = Field(default_factory=list)
    context: TeamContext | None = Field(
        default=None,
        description="The asking team's context the run was asked with (a project's [context]); None for "
        "none, and for runs recorded before Quorum kept it.",
    )
    mode: Mode
    max_rounds: int = Field(ge=1, le=10, description="The round limit asked for (consult mode runs one).")
    majority_threshold: float = Field(default=0.5, ge=0.0, lt=1.0)
    quorum: float = Field(
        default=0.5, ge=0.5, le=1.0, description="The quorum asked for (0.5 for runs recorded before it)."
    )
    token_budget: int | None = None
    synthesizers: list[str] = Field(
        default_factory=list, description="The synthesizer chain: the synthesizer, then its fallbacks."
    )
    answer: AnswerSpec | None = Field(
        default=None, description="The answer shape the run declared; None for an open question."
    )

    @classmethod
    def of(cls, request: RunRequest) -> Asked:
        return cls(
            files=list(request.files),
            images=[image.record() for image in request.images],
            focus=list(request.focus),
            context=request.context,
            mode=request.mode,
            max_rounds=request.max_rounds,
            majority_threshold=request.majority_threshold,
            quorum=request.quorum,
            token_budget=request.token_budget,
            synthesizers=[s.alias for s in request.synthesizers],
            answer=request.answer,
        )


class TokensSource(StrEnum):
    """Who counted a call's tokens (and so its cost)."""

    PROVIDER = "provider"
    """The provider reported them with its answer."""
    GATEWAY = "gateway"
    """A gateway in front of the provider reported them (a LiteLLM proxy, configured or known by
    its headers). When the provider sent no usage, LiteLLM counts the tokens itself and sends its
    count in the same shape as a passed-on one: they may be the provider's or the gateway's."""
    ESTIMATED = "estimated"
    """No one reported them: Quorum estimated them from the text."""

    @classmethod
    def least_certain(cls, sources: Iterable[TokensSource]) -> TokensSource:
        """What a sum of counts is: estimated if any is, else the gateway's if any is."""
        found = set(sources)
        return next((source for source in (cls.ESTIMATED, cls.GATEWAY) if source in found), cls.PROVIDER)


def _tokens_source_of(data: Any) -> Any:
    """Input with the derived `tokens_estimated` (JSON written by a result, or recorded before
    `tokens_source` was kept) read as the source it stands for."""
    if isinstance(data, dict) and "tokens_estimated" in data:
        data = dict(data)
        estimated = data.pop("tokens_estimated")
        if estimated and "tokens_source" not in data:
            data["tokens_source"] = TokensSource.ESTIMATED
    return data


class CallResult(_Model):
    """One model call: a member's position or vote, or a synthesizer's draft or decision."""

    call_id: str
    round: int
    phase: Phase
    member_index: int | None = Field(description="Index in the panel; None for the synthesizer's calls.")
    alias: str
    model_id: str
    provider: str
    stance: Stance | None
    demo: bool = False
    status: CallStatus
    content: str = ""
    error: str | None = Field(
        default=None, description="Why the call failed, was cancelled, or (incomplete) stopped short."
    )
    error_kind: str | None = Field(
        default=None,
        description="The failure's kind; for an incomplete call length, content_filter or refusal.",
    )
    ttft_ms: int | None = Field(default=None, description="From when the call was sent to its first text.")
    latency_ms: int | None = Field(
        default=None, description="From when the call was sent to its end (0 for one never sent)."
    )
    queued_ms: int | None = Field(
        default=None,
        description="How long the call waited for its provider to serve it (max_concurrency) before it "
        "was sent; None when it was sent at once.",
    )
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_source: TokensSource = Field(
        default=TokensSource.PROVIDER,
        description="Who counted the tokens: the provider, a gateway in front of it (which may have "
        "counted them itself), or Quorum's estimate when no one reported them.",
    )
    cost_usd: float = 0.0
    finish_reason: str | None = None
    reused_from: str | None = Field(
        default=None, description="Run id this result was carried over from by a partial rerun (not re-sent)."
    )
    vote_form: VoteForm | None = Field(
        default=None,
        description="A review asked as structured output: the form it was asked in (after any fallback); "
        "None when it was asked as text.",
    )
    raw_reply: str | None = Field(
        default=None,
        description="A structured vote: the reply as the model sent it (its JSON); `content` shows it "
        "to people as a verdict line and objections.",
    )
    retries: int = Field(
        default=0, ge=0, description="How often Quorum itself sent the call again after a refusal."
    )
    gateway_retries: int | None = Field(
        default=None,
        ge=0,
        description="How often the gateway in front of the provider says it retried the call before "
        "answering (a LiteLLM proxy's x-litellm-attempted-retries), summed over Quorum's tries; None "
        "when no gateway said.",
    )

    @computed_field(description="True when the provider reported no usage and tokens were estimated.")  # type: ignore[prop-decorator]
    @property
    def tokens_estimated(self) -> bool:
        return self.tokens_source is TokensSource.ESTIMATED

    _from_estimated = model_validator(mode="before")(_tokens_source_of)


class Vote(_Model):
    member_index: int
    alias: str
    value: VoteValue
    objections: list[str] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="Why a vote is invalid or absent.")


class Tally(_Model):
    accept: int = 0
    reject: int = 0
    invalid: int = 0
    none: int = 0

    @property
    def valid(self) -> int:
        return self.accept + self.reject

    @property
    def asked(self) -> int:
        """Every member asked to vote, whether its vote was valid, invalid or never came."""
        return self.accept + self.reject + self.invalid + self.none


class Missing(_Model):
    """A seat whose valid vote (or, where nobody voted, whose answer) a round's outcome lacks."""

    member_index: int
    alias: str
    phase: Phase = Field(
        description="position: its position failed, so it was not asked to vote (in a counted vote: its "
        "answer, which is its vote, failed or could not be read); vote: its vote."
    )
    vote: VoteValue | None = Field(
        default=None,
        description="invalid (in a counted vote: its answer could not be read), or none (its review failed); "
        "null when it was not asked to vote.",
    )
    reason: str = Field(description="Why: the failed call's error, or why the vote is invalid.")


class Standing(_Model):
    """Who a round's outcome rests on: of the panel's seats, those who cast a valid vote on its
    draft (or, in a round without a vote, those who answered), and the others with why. Derived
    from the round's votes and the members' positions (`tui.engine.quorum.standing`), never kept."""

    seats: int = Field(description="The panel's seats: the members of the run (skipped ones are none).")
    voters: int | None = Field(
        description="How many seats cast a valid vote (accept or reject); null when no vote was taken."
    )
    answered: int = Field(description="How many seats answered with a position.")
    missing: list[Missing] = Field(default_factory=list)


class Shown(_Model):
    """What a debate member was shown of the other members' answers of the round before: their
    seats, in the order shown (the first is `agent 1`). No alias is ever shown."""

    member_index: int
    seats: list[int]


class Ballot(_Model):
    """A council member's ranking of the other members' answers: the seats it was shown, in the
    order shown (the first labelled A, then B…; its own answer never among them), and its ranking
    of them, best first — or, when the ballot could not be read whole, an abstention and why
    (never a partial ranking)."""

    member_index: int
    alias: str
    shown: list[int] = Field(description="The seats whose answers it ranked, in label order: A, B, C…")
    ranking: list[int] | None = Field(
        default=None, description="Those seats, best first; None when it abstained."
    )
    reason: str | None = Field(
        default=None, description="Why it abstained: the ballot's fault, or its error."
    )

    @property
    def abstained(self) -> bool:
        return self.ranking is None


class RoundResult(_Model):
    number: int
    draft: str | None = None
    draft_by: str | None = None
    votes: list[Vote] = Field(default_factory=list)
    shown: list[Shown] = Field(
        default_factory=list,
        description="A debate's round 2 or later: what each member was shown, in panel order.",
    )
    ballots: list[Ballot] = Field(default_factory=list, description="A council: each ballot, in panel order.")
    tally: Tally = Field(default_factory=Tally)
    outcome: Outcome | None = None
    status: RoundStatus = RoundStatus.IN_PROGRESS
    note: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class Agreement(_Model):
    """Consult mode's reading of how far the answers' own verdicts agree."""

    favourable: int = 0
    unfavourable: int = 0
    mixed: int = 0
    unclear: int = 0
    mean_confidence: float | None = None
    summary: str = ""


class Totals(_Model):
    wall_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    tokens_source: TokensSource = Field(
        default=TokensSource.PROVIDER,
        description="The least certain of the calls' sources: estimated if any call's count is, "
        "else the gateway's if any is.",
    )

    @computed_field(description="True when some call's tokens were estimated.")  # type: ignore[prop-decorator]
    @property
    def tokens_estimated(self) -> bool:
        return self.tokens_source is TokensSource.ESTIMATED

    _from_estimated = model_validator(mode="before")(_tokens_source_of)


class CacheKind(StrEnum):
    EXACT = "exact"
    """The same question after normalization (case, spacing, greetings and thanks dropped)."""
    SEMANTIC = "semantic"
    """A question worded otherwise: its embedding similar enough and the hit check passed."""


class CacheInfo(_Model):
    """Whether a run was served from an earlier one instead of asking the panel. A hit names the
    original and what asking again would have cost; a miss may name a similar earlier run that was
    not close enough to serve (a suggestion, never an answer). Fields that do not apply are left
    out of the JSON, so a plain miss is `{"hit": false}`."""

    hit: bool = False
    kind: CacheKind | None = None
    similarity: float | None = Field(default=None, description="1.0 for an exact hit.")
    original_run_id: str | None = Field(default=None, description="The run whose answer was served.")
    saved_usd: float | None = Field(default=None, description="What the original run cost.")
    saved_seconds: float | None = Field(
        default=None, description="How much sooner the answer came than the original run took."
    )
    similar_run_id: str | None = Field(
        default=None, description="On a miss: an earlier run asking something similar (not served)."
    )

    @model_serializer(mode="wrap")
    def _without_empty(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class RunResult(_Model):
    run_id: str
    question: str
    mode: Mode
    members: list[Member]
    skipped: list[SkippedMember] = Field(default_factory=list)
    asked: Asked | None = Field(
        default=None, description="What was asked; None for a run recorded before Quorum kept it."
    )
    status: RunStatus = RunStatus.RUNNING
    outcome: Outcome | None = None
    rounds_used: int = 0
    max_rounds: int = 3
    positions: list[CallResult | None] = Field(
        default_factory=list, description="Each member's first answer, in panel order."
    )
    rounds: list[RoundResult] = Field(default_factory=list)
    calls: list[CallResult] = Field(default_factory=list, description="Every call, in the order it started.")
    synthesis: str | None = None
    synthesizer: str | None = None
    synthesis_incomplete: str | None = Field(
        default=None, description="Why the synthesis is incomplete (kept as it is), or None when it is whole."
    )
    agreement: Agreement | None = None
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    totals: Totals = Field(default_factory=Totals)
    parent_run_id: str | None = None
    origin: Origin | None = Field(
        default=None, description="Where the run was started; None for runs recorded before Quorum kept it."
    )
    started_at: datetime
    finished_at: datetime | None = None
    cache: CacheInfo = Field(
        default_factory=CacheInfo, description="Whether this run was served from an earlier one."
    )

    @model_validator(mode="before")
    @classmethod
    def _unnamed(cls, data: Any) -> Any:
        """A run read back from the JSON `quorum run --json` printed, without the names it gave
        each member, vote and call, nor who each round and the run rest on, nor the answers read
        in its answer shape (`tui.render.run_json`): they are derived, never kept."""
        if not isinstance(data, dict):
            return data
        data = {key: value for key, value in _without_standing(data).items() if key not in _DERIVED}
        for key in ("members", "positions", "calls"):
            if isinstance(data.get(key), list):
                data[key] = [_without_name(item) for item in data[key]]
        if isinstance(data.get("rounds"), list):
            data["rounds"] = [_round_unnamed(r) for r in data["rounds"]]
        return data

    @classmethod
    def begin(cls, request: RunRequest, run_id: str) -> RunResult:
        """The result of a run that starts now: what was asked, nothing answered yet. One place,
        so the engine's live result and the recorder's copy can never disagree (consult mode has
        one round, whatever the request's round limit says)."""
        return cls(
            run_id=run_id,
            question=request.question,
            mode=request.mode,
            members=list(request.members),
            skipped=list(request.skipped),
            asked=Asked.of(request),
            max_rounds=request.max_rounds if request.mode in ROUNDS_MODES else 1,
            notes=list(request.notes),
            parent_run_id=request.parent_run_id,
            origin=request.origin,
            started_at=datetime.now(UTC),
        )


_STANDING = frozenset(Standing.model_fields)
_DERIVED = frozenset({"answers", "debate", "council"})
"""What a run's JSON adds beside the data contract (`tui.render.run_json`): read from it, never kept."""


def _round_unnamed(data: Any) -> Any:
    """A round's JSON without who it rests on, nor the names of its votes, ballots and shown seats."""
    if not isinstance(data, dict):
        return data
    data = _without_standing(data)
    for key in ("votes", "ballots", "shown"):
        if isinstance(data.get(key), list):
            data[key] = [_without_name(item) for item in data[key]]
    return data


def _without_standing(data: dict[str, Any]) -> dict[str, Any]:
    """A run's or a round's JSON without who it rests on (`seats`, `voters`, `answered`, `missing`)."""
    return {key: value for key, value in data.items() if key not in _STANDING}


def _without_name(item: Any) -> Any:
    """A member, vote or call of a run's JSON without its derived `name`."""
    if isinstance(item, dict) and "name" in item:
        return {key: value for key, value in item.items() if key != "name"}
    return item
