"""The offline demo provider: simulated panel members that need no key and no network.

Deterministic for a given prompt, model and seed; stance-aware (an advocate leans favourable, a
critic unfavourable); paced like a real model (a time to first token, then tokens at a steady
rate with small jitter); it casts votes that follow the strict vote format (as JSON when a vote is
asked for as structured output: a demo model set to `structured_output = "json_schema"` shows
that path offline; by default it votes in text), and can be told to
fail (`id = "name?fail=rate_limit"` in the catalog) to show what failures look like. A rate limit
says it asks to wait 2 s (paced like the rest) and every try is refused again, so the engine's
retries show on the pane before the member fails. A demo member the catalog marks vision-capable
says how many images it was shown, and counts them in its usage as a real model would; it never
pretends to have looked at them. Everything it writes says it is a demo, so it is never mistaken
for a real model's opinion.

Questions with known answers: a demo member computes a generated arithmetic item and errs at its
own documented rate (`tui.providers.demo_arithmetic`). Asked for a declared answer shape (the
prompt ends with its `ANSWER: <…>` instruction), it ends its answer with that line — for any
other question too (its confidence for a number, a letter of the question's choices, or its
conclusion). In a deliberation on answers, the synthesizer drafts the plurality of the answers
it was shown (a tie to the first shown; a revision counts the draft's answer and each
objection's), a reviewer accepts a draft whose answer is its own and otherwise rejects it with an
objection naming its own, and the curator takes the plurality of the positions. Reporting a vote
(or a debate) on an open question, the synthesizer counts the answers' leanings: the majority view
and the dissent.

Debates and councils, so that herding and self-preference can be seen and measured offline:
- in a debate's later round a member keeps its answer (an arithmetic value, a declared shape's
  answer, or on an open question its leaning), unless most of the answers it is shown (more than
  half of them) give another: then it changes to that one at its herding rate (`HERDING_RATES`:
  atlas .3, bolt .5, cirrus .6, delta .4, any other .5), drawn from the seed, the member, the round
  and the question (`herds`), and otherwise keeps its own;
- on a council ballot a member ranks first the answers equal to its own (an arithmetic value it
  works out again; on an open question the leaning its stance gives it, none for a neutral seat),
  then the rest, each group in an order drawn from the request (as JSON when the ballot is asked as
  structured output);
- the chairman answers with the top-ranked answer (the first shown to it), and says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePath

from tui.engine.accounting import estimate_tokens
from tui.engine.answers import ANSWER_LABEL, HINTS, plurality, text_key
from tui.engine.ballots import RANKING_LABEL
from tui.engine.prompts import DEBATE_SYNTHESIS_TASK, VOTE_SYNTHESIS_TASK
from tui.engine.provider import (
    ChatRequest,
    ErrorKind,
    Finished,
    ProviderError,
    StreamEvent,
    TextDelta,
    Usage,
    asked_wait,
)
from tui.engine.types import AnswerKind, Phase, VoteForm
from tui.engine.vision import image_tokens
from tui.providers import demo_arithmetic


@dataclass(frozen=True, slots=True)
class Persona:
    ttft_s: float
    tokens_per_s: float
    temperament: float  # added to every acceptance chance: positive is agreeable


PERSONAS: dict[str, Persona] = {
    "atlas": Persona(ttft_s=0.45, tokens_per_s=55.0, temperament=0.05),
    "bolt": Persona(ttft_s=0.25, tokens_per_s=90.0, temperament=0.0),
    "cirrus": Persona(ttft_s=0.8, tokens_per_s=40.0, temperament=-0.05),
    "delta": Persona(ttft_s=0.6, tokens_per_s=65.0, temperament=0.0),
}
DEFAULT_PERSONA = Persona(ttft_s=0.5, tokens_per_s=60.0, temperament=0.0)

_FAILURES: dict[str, tuple[ErrorKind, str]] = {
    "rate_limit": (ErrorKind.RATE_LIMIT, "rate limited by demo (HTTP 429, demo failure)"),
    "auth": (ErrorKind.AUTH, "authentication failed (demo failure): the key was rejected"),
    "server": (ErrorKind.SERVER, "the provider had a server error (HTTP 500, demo failure)"),
    "timeout": (ErrorKind.TIMEOUT, "no answer in time (demo failure)"),
    "truncated": (
        ErrorKind.TRUNCATED,
        "the stream ended without a finish reason: answer truncated (demo failure)",
    ),
}
# What the demo's rate limit asks to wait, in seconds at speed 1: long enough to see the retry on
# the pane, short enough that a demo run with a failing member still ends in a few seconds.
RATE_LIMIT_RETRY_AFTER_S = 2.0

_ADVANTAGES = [
    "it removes a whole class of coordination bugs",
    "the operational model stays simple enough for a small team",
    "it is reversible: the change can be rolled back behind a flag",
    "the cost grows with use rather than up front",
    "it matches how the team already builds and deploys",
]
_RISKS = [
    "migration effort is easy to underestimate",
    "failure modes move somewhere harder to observe",
    "the team has little production experience with it",
    "latency at the tail is not yet measured",
    "it adds a dependency that must be kept patched",
]
_OBJECTIONS = [
    "name an owner and a date for the rollback plan",
    "state the measured latency budget instead of 'fast enough'",
    "say what happens when the dependency is down",
    "put the migration cost in engineer-weeks, not adjectives",
    "add a success metric that would tell us to stop",
    "spell out which data is migrated first",
]


class DemoProvider:
    """Simulated members; `speed` scales every delay (tests use a large one)."""

    name = "demo"
    is_demo = True

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed

    async def aclose(self) -> None:
        return None

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(request)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        name, _, options = request.model_id.partition("?")
        persona = PERSONAS.get(name.lower(), DEFAULT_PERSONA)
        rng = random.Random(_seed(request))
        failure = dict(part.split("=", 1) for part in options.split("&") if "=" in part).get("fail")
        await self._sleep(persona.ttft_s * rng.uniform(0.7, 1.3))
        if failure:
            kind, message = _FAILURES.get(failure, (ErrorKind.SERVER, f"demo failure {failure!r}"))
            if kind is ErrorKind.RATE_LIMIT:
                wait = self._scaled(RATE_LIMIT_RETRY_AFTER_S)
                raise ProviderError(
                    kind, f"{message}; {asked_wait(wait)}", retry_after_s=wait, retryable=True
                )
            raise ProviderError(kind, message)
        text = _compose(request, persona, rng)
        pieces = re.findall(r"\S+\s*|\s+", text)
        for piece in pieces:
            yield TextDelta(piece)
            await self._sleep(rng.uniform(0.6, 1.4) / persona.tokens_per_s)
        images = sum(image_tokens(image, "demo") for m in request.messages for image in m.images)
        yield Usage(
            input_tokens=estimate_tokens(request.system, *(m.content for m in request.messages)) + images,
            output_tokens=estimate_tokens(text),
        )
        yield Finished("stop")

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(self._scaled(seconds))

    def _scaled(self, seconds: float) -> float:
        return seconds / self.speed if self.speed > 0 else 0


def _seed(request: ChatRequest) -> int:
    digest = hashlib.sha256(
        "\x1f".join(
            [request.model_id, request.phase.value, request.stance, str(request.seed), request.system]
            + [m.content for m in request.messages]
        ).encode()
    ).digest()
    return int.from_bytes(digest[:8], "big")


def _topic(request: ChatRequest) -> str:
    """A short quote of the user's question, for answers that read as being about it."""
    content = request.messages[-1].content if request.messages else ""
    match = re.search(r"Question:\n(.+)", content)
    question = (match.group(1) if match else content).strip()
    return question if len(question) <= 90 else question[:87].rstrip() + "…"


def _images_seen(request: ChatRequest) -> str:
    """What a demo member says of the images it was sent (nothing when none were)."""
    images = [image for message in request.messages for image in message.images]
    if not images:
        return ""
    names = ", ".join(PurePath(image.path).name for image in images)
    count = f"{len(images)} image{'s' if len(images) > 1 else ''}"
    return f"- Images: shown {count} ({names}); a real model would read them, the demo only counts them.\n"


def _compose(request: ChatRequest, persona: Persona, rng: random.Random) -> str:
    topic = _topic(request)
    content = request.messages[-1].content if request.messages else ""
    shaped = f"{ANSWER_LABEL} <" in content  # the prompt asks for the declared answer shape
    if request.phase is Phase.VOTE:
        return _review_of_answers(request, content) or _vote(request, persona, rng)
    if request.phase is Phase.BALLOT:
        return _ballot(request, content, rng)
    if request.phase is Phase.CHAIR:
        return _chairman(content, topic, shaped)
    if shaped and request.phase in (Phase.DRAFT, Phase.CURATOR):
        return _answers_synthesis(request, content, topic)
    if request.phase is Phase.DRAFT and VOTE_SYNTHESIS_TASK in content:
        return _vote_report(content, topic, _REVIEWER, "vote")
    if request.phase is Phase.DRAFT and DEBATE_SYNTHESIS_TASK in content:
        return _vote_report(content, topic, _SEAT, "debate")
    expression = demo_arithmetic.expression_in(content)
    if request.phase is Phase.REVISION and (shaped or expression is not None):
        return _revised_answer(request, content, expression, shaped)
    if expression is not None and request.phase is Phase.POSITION:
        return _arithmetic(request, expression, shaped)
    if request.phase is Phase.DRAFT:
        revising = "Objections from the panel" in (request.messages[-1].content if request.messages else "")
        conditions = "; ".join(rng.sample(_OBJECTIONS, 2))
        open_risks = "; ".join(rng.sample(_RISKS, 2))
        lines = [
            f"[demo synthesis] {'Revised proposal' if revising else 'Proposal'} on: {topic}",
            "",
            f"Recommendation: go ahead in a limited first step, because {rng.choice(_ADVANTAGES)}.",
            f"Conditions: {conditions}.",
            f"Open risks: {open_risks}.",
        ]
        if revising:
            lines.append("Changes in this revision answer the objections raised in the last vote.")
        return "\n".join(lines) + "\n" + _images_seen(request)
    if request.phase is Phase.CURATOR:
        return (
            f"[demo curator decision] on: {topic}\n\n"
            f"Decision: proceed with a reversible pilot. What carried it: {rng.choice(_ADVANTAGES)}.\n"
            f"Overruled: '{rng.choice(_OBJECTIONS)}', because it can be settled during the pilot.\n"
            f"Kept as a condition: {rng.choice(_RISKS)} must be measured before a full rollout.\n"
        )
    lean = _stance_lean(request.stance) or rng.choice(["mixed", "favourable"])
    if request.phase is Phase.REVISION:  # a debate's later round: its own leaning, or the others'
        lean = _revised_lean(request, content, lean)
    confidence = rng.randint(5, 9)
    opener = {
        "favourable": "Yes, with guardrails",
        "unfavourable": "Not as proposed",
        "mixed": "It depends on the constraints",
    }[lean]
    advantages = rng.sample(_ADVANTAGES, 2)
    risks = rng.sample(_RISKS, 2)
    answer_line = f"{ANSWER_LABEL} {_shaped_answer(content, opener, confidence, rng)}\n" if shaped else ""
    return (
        f"Conclusion: {opener} — a demo answer about: {topic}\n"
        f"Lean: {lean}\n"
        f"Analysis: (simulated by the offline demo provider, not a real model)\n"
        f"- In favour: {advantages[0]}; {advantages[1]}.\n"
        f"- Against: {risks[0]}; {risks[1]}.\n"
        f"{_images_seen(request)}"
        f"Confidence: {confidence}/10\n"
        f"Key takeaways:\n- {advantages[0].capitalize()}.\n- Watch for this: {risks[0]}.\n"
        f"{answer_line}"
    )


def _vote(request: ChatRequest, persona: Persona, rng: random.Random) -> str:
    round_number = int(request.extra.get("round", "1") or 1)
    base = {"for": 0.85, "neutral": 0.55, "against": 0.25}.get(request.stance, 0.5)
    chance = min(0.97, base + 0.25 * (round_number - 1) + persona.temperament)
    if rng.random() < chance:
        verdict, objections = "accept", [rng.choice(_OBJECTIONS)] if rng.random() < 0.3 else []
    else:
        verdict, objections = "reject", rng.sample(_OBJECTIONS, rng.randint(1, 3))
    if request.structured is not None and request.structured.form is not VoteForm.TEXT:
        return json.dumps({"verdict": verdict, "objections": objections})
    return f"VERDICT: {verdict.upper()}\n" + "".join(f"- {item}\n" for item in objections)


# --------------------------------------------------------------------------------------------
# Questions with known answers

_GIVEN_ANSWER = re.compile(rf"^{re.escape(ANSWER_LABEL)}[ \t]*(?!<)(\S.*?)[ \t]*$", re.MULTILINE)
_REVIEWER = re.compile(r"^--- Reviewer \d+ \((.*)\) ---$", re.MULTILINE)
_SEAT = re.compile(r"^--- (Seat \d+) ---$", re.MULTILINE)
_AGENT = re.compile(r"^--- Agent \d+ ---$", re.MULTILINE)
_LETTER = re.compile(r"^--- Answer ([A-Z]) ---$", re.MULTILINE)
_RANKED_SEAT = re.compile(r"^--- (Seat \d+) \((.*)\) ---$", re.MULTILINE)
_LEAN = re.compile(r"^Lean: (\w+)", re.MULTILINE)
_DEMO_VALUE = re.compile(
    r"^\[demo\] (?:.* = |I keep my answer, |I change my answer from \S+ to )(-?\d+)", re.MULTILINE
)
"""The value in a demo member's own words on a sum (`_arithmetic`, `_revised_answer`)."""
_LETTERED = re.compile(r"^([A-Z])\) ", re.MULTILINE)
_OBJECTION = "the answer should be: "
_OBJECTED = re.compile(rf"^- [^:\n]+: {re.escape(_OBJECTION)}(.+)$", re.MULTILINE)
# Where the reviewers' positions end in a synthesizer's prompt.
_AFTER_POSITIONS = ("\n\nThe latest draft:", "\n\nUnresolved objections:")


def _arithmetic(request: ChatRequest, expression: str, shaped: bool) -> str:
    name = request.model_id.partition("?")[0].lower()
    value = demo_arithmetic.answer(name, expression, request.seed)
    rate = demo_arithmetic.error_rate(name)
    line = (
        f"[demo] {expression} = {value} (worked out offline by a simulated member that slips on "
        f"purpose {rate:.0%} of the time)\n"
    )
    return line + (f"{ANSWER_LABEL} {value}\n" if shaped else "")


def _shaped_answer(content: str, opener: str, confidence: int, rng: random.Random) -> str:
    """What a demo member answers in the declared shape to a question it cannot compute: its
    confidence for a number, one of the question's lettered choices, or its conclusion."""
    if HINTS[AnswerKind.NUMERIC] in content:
        return str(confidence)
    if HINTS[AnswerKind.CHOICE] in content:
        return str(rng.choice(_LETTERED.findall(content) or ["A"]))
    return opener


def _first_answer(text: str) -> str | None:
    """The first answer line's value in `text` (an instruction's `<placeholder>` is none)."""
    match = _GIVEN_ANSWER.search(text)
    return match.group(1) if match else None


def _shown_answers(content: str) -> list[str]:
    """The answers a synthesizer was shown: each reviewer's, in order, or (revising) the draft's
    and then each objection's."""
    if "Objections from the panel:" in content:
        draft, _, objections = content.partition("Objections from the panel:")
        shown = [_first_answer(draft.partition("Your current draft:")[2])]
        return [a for a in shown if a is not None] + _OBJECTED.findall(objections)
    for heading in _AFTER_POSITIONS:
        content = content.split(heading, 1)[0]
    sections = _REVIEWER.split(content)[2::2]  # (the text before, then a name and a section each)
    return [a for a in (_first_answer(section) for section in sections) if a is not None]


def _answers_synthesis(request: ChatRequest, content: str, topic: str) -> str:
    """A draft, revision or curator decision that gives the plurality of the answers shown."""
    shown = _shown_answers(content)
    written: dict[str, str] = {}
    for answer in shown:
        written.setdefault(text_key(answer), answer)
    winner = plurality([text_key(answer) for answer in shown])
    if winner.key is not None:
        answer = written[winner.key]
        why = f"the answer given {winner.votes} of {len(shown)} times"
    else:
        expression = demo_arithmetic.expression_in(content)
        name = request.model_id.partition("?")[0].lower()
        answer = str(demo_arithmetic.answer(name, expression, request.seed)) if expression else "unknown"
        why = "no answer was shown: the demo's own"
    kind = "curator decision" if request.phase is Phase.CURATOR else "synthesis"
    return f"[demo {kind}] on: {topic}\n\nThe panel's answer: {answer} ({why}).\n{ANSWER_LABEL} {answer}\n"


def _review_of_answers(request: ChatRequest, content: str) -> str | None:
    """A review of a draft when both it and the member's own position give an answer: accept it
    when the answers are the same, else reject it, naming the member's own. None otherwise."""
    own_part, _, draft_part = content.partition("The panel's draft proposal:")
    own = _first_answer(own_part.partition("Your own earlier position:")[2])
    drafted = _first_answer(draft_part)
    if own is None or drafted is None:
        return None
    if text_key(own) == text_key(drafted):
        verdict, objections = "accept", []
    else:
        verdict, objections = "reject", [f"{_OBJECTION}{own}"]
    if request.structured is not None and request.structured.form is not VoteForm.TEXT:
        return json.dumps({"verdict": verdict, "objections": objections})
    return f"VERDICT: {verdict.upper()}\n" + "".join(f"- {item}\n" for item in objections)


def _vote_report(content: str, topic: str, heading: re.Pattern[str], what: str) -> str:
    """A vote (or a debate) on an open question reported: the leaning more than half gave and the
    dissent, or each leaning when none has a majority; each reviewer named as its `heading` names it
    (`atlas`, or `Seat 2`); `what` says which of the two it reports on."""
    parts = heading.split(content)[1:]
    leanings: dict[str, list[str]] = {}
    for who, section in zip(parts[0::2], parts[1::2], strict=True):
        # A demo member's worked sum has no leaning: its value is its view.
        found = _LEAN.search(section) or _DEMO_VALUE.search(section)
        leanings.setdefault(found.group(1) if found else "unclear", []).append(who.partition(",")[0])
    ranked = sorted(leanings.items(), key=lambda item: -len(item[1]))  # stable: first shown first
    (view, holders), dissent = ranked[0], ranked[1:]
    total = sum(len(names) for names in leanings.values())
    lines = [f"[demo synthesis] The {what} on: {topic}", ""]
    if len(holders) * 2 > total:
        lines.append(f"Majority view ({len(holders)} of {total}: {', '.join(holders)}): {view}.")
        lines += [f"Dissent ({', '.join(names)}): {lean}." for lean, names in dissent]
    else:  # one of three is no majority
        lines.append(f"No majority view among the {total}:")
        lines += [f"- {lean} ({', '.join(names)})" for lean, names in ranked]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Debates and councils

HERDING_RATES: dict[str, float] = {"atlas": 0.3, "bolt": 0.5, "cirrus": 0.6, "delta": 0.4}
"""How often each persona, shown answers most of which give another answer than its own, changes
to theirs in a debate's later round."""
DEFAULT_HERDING_RATE = 0.5
"""How often any other demo model does."""


def herds(name: str, seed: int, round_number: int, question: str) -> bool:
    """Whether the demo member `name` goes over to the answer most of those it is shown give, in
    round `round_number` of a debate on `question` (a pure draw: the same again for the same run)."""
    rate = HERDING_RATES.get(name, DEFAULT_HERDING_RATE)
    return demo_arithmetic.unit(f"demo-herding/{seed}/{name}/{round_number}/{question}") < rate


def _name(request: ChatRequest) -> str:
    """The demo model's name (`atlas`), without the options its catalog id may carry."""
    return request.model_id.partition("?")[0].lower()


def _stance_lean(stance: str) -> str | None:
    """The leaning a stance gives a demo member: an advocate's favourable, a critic's unfavourable."""
    return {"for": "favourable", "against": "unfavourable"}.get(stance)


def _sections(content: str, heading: re.Pattern[str]) -> list[str]:
    """The text under each of `heading`'s headings (a heading's groups left out)."""
    parts = heading.split(content)[1:]
    step = heading.groups + 1
    return [parts[i + heading.groups] for i in range(0, len(parts), step)]


def _herded(request: ChatRequest, own: str | None, shown: list[str], question: str) -> str | None:
    """What a debating member answers now, given its own answer and those it is shown: theirs when
    more than half of them give the same other one and it herds, else its own."""
    if not shown:
        return own
    winner = plurality([text_key(answer) for answer in shown])
    most = next((answer for answer in shown if text_key(answer) == winner.key), None)
    majority = winner.key is not None and not winner.tied and winner.votes * 2 > len(shown)
    if most is None or not majority or (own is not None and text_key(own) == winner.key):
        return own
    round_number = int(request.extra.get("round", "2") or 2)
    return most if own is None or herds(_name(request), request.seed, round_number, question) else own


def _revised_answer(request: ChatRequest, content: str, expression: str | None, shaped: bool) -> str:
    """A debate's later round on a question with an answer: its own answer kept, or the others'."""
    own_part, _, others = content.partition("Other members of the panel answered")
    own = _first_answer(own_part.partition("Your answer in the last round:")[2])
    if own is None and expression is not None:
        own = str(demo_arithmetic.answer(_name(request), expression, request.seed))
    shown = [a for a in (_first_answer(section) for section in _sections(others, _AGENT)) if a is not None]
    now = _herded(request, own, shown, expression or _topic(request)) or "unknown"
    changed = own is not None and text_key(now) != text_key(own)
    said = (
        f"[demo] I change my answer from {own} to {now}: most of the other answers I was shown give it."
        if changed
        else f"[demo] I keep my answer, {now}."
    )
    return f"{said}\n" + (f"{ANSWER_LABEL} {now}\n" if shaped else "")


def _revised_lean(request: ChatRequest, content: str, lean: str) -> str:
    """A debate's later round on an open question: its own leaning kept, or the others'."""
    own_part, _, others = content.partition("Other members of the panel answered")
    own = _LEAN.search(own_part)
    shown = [found.group(1) for found in (_LEAN.search(s) for s in _sections(others, _AGENT)) if found]
    return _herded(request, own.group(1) if own else lean, shown, _topic(request)) or lean


def _own_answer(request: ChatRequest, content: str) -> str | None:
    """What a demo member on a council answered itself: an arithmetic item's value, worked out
    again, or on an open question the leaning its stance gives it."""
    expression = demo_arithmetic.expression_in(content)
    if expression is not None:
        return str(demo_arithmetic.answer(_name(request), expression, request.seed))
    return _stance_lean(request.stance)


def _said(text: str) -> str | None:
    """What an answer shown to a member says: its answer line's value, else its leaning."""
    lean = _LEAN.search(text)
    return _first_answer(text) or (lean.group(1) if lean else None)


def _ballot(request: ChatRequest, content: str, rng: random.Random) -> str:
    """A council ballot: the answers equal to its own first, then the rest, each in a drawn order."""
    own = _own_answer(request, content)
    parts = _LETTER.split(content)[1:]
    said = {letter: _said(text) for letter, text in zip(parts[0::2], parts[1::2], strict=True)}
    same = [
        letter
        for letter, answer in said.items()
        if own is not None and answer is not None and text_key(answer) == text_key(own)
    ]
    rest = [letter for letter in said if letter not in same]
    rng.shuffle(same)
    rng.shuffle(rest)
    ranking = same + rest
    if request.structured is not None and request.structured.form is not VoteForm.TEXT:
        return json.dumps({"ranking": ranking})
    why = f"answers that agree with mine ({own}) first" if same else "no answer agrees with mine"
    return f"[demo ballot] {why}, the rest in a drawn order.\n{RANKING_LABEL} {', '.join(ranking)}\n"


def _chairman(content: str, topic: str, shaped: bool) -> str:
    """The chairman takes the top-ranked answer (the first it is shown), and says so."""
    found = _RANKED_SEAT.search(content)
    seat, place = (found.group(1), found.group(2)) if found else ("Seat 1", "not ranked")
    section = _sections(content, _RANKED_SEAT)[0] if found else ""
    said = f"[demo chairman] on: {topic}\n\nThe council's answer follows {seat} ({place})."
    if shaped:
        return f"{said}\n{ANSWER_LABEL} {_first_answer(section) or 'unknown'}\n"
    conclusion = next((line for line in section.splitlines() if line.startswith("Conclusion:")), None)
    return f"{said} {conclusion}\n" if conclusion else f"{said}\n"
