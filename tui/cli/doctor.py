"""`quorum doctor`: is each configured provider usable, and how does it take votes?

For every provider a catalog model uses (or those `--provider` and `--model` name), all at once,
each network step cut off by `--timeout`:

1. the key: set (its variable named, never its value), not set, or not needed (a local server);
2. the server reached and the key accepted, by listing its models (GET /models through the SDK):
   connection refused, host not found, a timeout or a refused key is said as such; a server that
   does not list its models is no failure;
3. one tiny request per catalog model of the provider (or per `--model` asked): the engine's own
   vote request in the model's configured structured form, asked again in the next weaker form
   when the server refuses it, as a run would — `structured votes: json_schema refused →
   json_object ok`.

A provider is usable when its key is set and accepted, its server answers, and at least one of the
models checked answered (or none was checked). A shipped provider nothing of the user's asks for is
not configured — said, not reached, and no failure: a local server (Ollama) the configuration does
not name, and a cloud provider whose key is not set and that no model of the user's, no panel
seat, no synthesizer and no option names (a fresh install, or a user of one provider, is not
told that four others fail). Exit 0 when every configured provider checked is usable, 1
otherwise, 2 for a bad option. Nothing a server says
reaches the terminal before the configured keys' values are taken out of it and its control
characters are made visible.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import math
import os
import shutil
import sys
import textwrap
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TextIO, TypeVar, runtime_checkable

from tui.config.catalog import Catalog, KeyStatus, provider_key_status, secret_values
from tui.config.schema import MemberSpec, ProviderConfig, Settings
from tui.engine.calls import cutoff
from tui.engine.provider import (
    ChatMessage,
    ChatRequest,
    ErrorKind,
    Finished,
    Provider,
    ProviderError,
    StructuredDelta,
    TextDelta,
)
from tui.engine.rules import parse_structured_vote
from tui.engine.types import Member, Phase, VoteForm
from tui.engine.votes import vote_output, weaker_form
from tui.errors import EXIT_FAILED, EXIT_OK, UsageError, hide_values, redact
from tui.pool import ProviderPool
from tui.render.formatting import literal, safe_json

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0

PROBE_MAX_TOKENS = 32
"""The output limit of each check's request: room for `{"verdict": "accept", "objections": []}`
and no more, so that a check costs a few tokens however the model is priced."""

MAX_PROBE_REPLY_CHARS = 2_000
"""A reply is read up to here: 32 tokens are about 130 characters, and a server that ignores the
limit must not stream megabytes into a check."""

LISTED_SHOWN = 8
"""How many of the ids a server lists are named when a catalog model is not among them."""

PROBE_SYSTEM = "This is a connection check from Quorum. Answer as briefly as you can."
PROBE_DRAFT = "Keep the current plan."


@runtime_checkable
class CheckableProvider(Protocol):
    """What `quorum doctor` needs of a provider adapter beyond streaming (the SDK adapters have it)."""

    base_url: str

    async def ready(self) -> None: ...

    async def list_models(self) -> list[str] | None: ...


# --------------------------------------------------------------------------------------------
# What a check found


@dataclass
class ModelCheck:
    """One catalog model's request: which vote forms its server refused, which it answered in."""

    alias: str
    model_id: str
    asked: VoteForm
    """The form its votes are asked in first (the catalog's `structured_output`)."""
    listed: bool | None = None
    """Among the ids its server lists; None when the server does not list models."""
    refused: list[VoteForm] = field(default_factory=list)
    answered: VoteForm | None = None
    """The form the model answered in; None when it did not answer."""
    outside_schema: str | None = None
    """A structured reply that is not a vote, and why: runs read its votes as text."""
    note: str | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None

    @property
    def ok(self) -> bool:
        return self.answered is not None

    @property
    def name(self) -> str:
        return self.alias if self.alias == self.model_id else f"{self.alias} ({self.model_id})"

    @property
    def votes(self) -> str:
        """`json_schema refused → json_object ok`, `text only`, `text (as configured)`."""
        steps = [f"{form.value} refused" for form in self.refused]
        if self.answered is VoteForm.TEXT:
            steps.append("text only" if self.refused else "text (as configured)")
        elif self.answered is not None and self.outside_schema is not None:
            steps.append(f"{self.answered.value} answered outside the schema ({self.outside_schema}) → text")
        elif self.answered is not None:
            steps.append(f"{self.answered.value} ok")
        return " → ".join(steps)


ListingState = Literal["listed", "not listed", "failed", "not checked"]


@dataclass
class ProviderCheck:
    """One provider: its key, its server, its models, and what keeps it from being usable."""

    name: str
    kind: str
    key: KeyStatus
    key_env: str | None
    base_url: str | None = None
    """Where it was reached, with any user-info redacted."""
    problem: str | None = None
    """Why it is not usable at all (a key not set or refused, a server out of reach)."""
    listing: ListingState = "not checked"
    listed: list[str] = field(default_factory=list)
    listing_error: str | None = None
    models: list[ModelCheck] = field(default_factory=list)
    configured: bool = True
    """False for a shipped local server (Ollama) the user's configuration does not name: no one's
    server yet, so it is not reached, and is no failure."""

    @property
    def demo(self) -> bool:
        return self.kind == "demo"

    @property
    def usable(self) -> bool:
        return self.problem is None and (not self.models or any(m.ok for m in self.models))

    @property
    def hint(self) -> str | None:
        """A likely cause that no single answer names: an OpenAI-compatible server answering 404
        to the listing and to every model is usually one whose base_url misses its `/v1`."""
        if (
            self.kind == "openai"
            and self.listing == "not listed"
            and self.models
            and all(m.error_kind is ErrorKind.UNKNOWN_MODEL for m in self.models)
        ):
            return (
                "the server answers 404 to the model listing and to every model: is its base_url "
                "right? (an OpenAI-compatible one usually ends in /v1)"
            )
        return None


# --------------------------------------------------------------------------------------------
# The command


def add_doctor_parser(commands: Any) -> None:
    """`quorum doctor`'s options, on the sub-command parsers of `quorum`."""
    doctor = commands.add_parser(
        "doctor",
        help="check each provider: key, server, models, structured votes",
        description="Check each configured provider (every one a catalog model uses), all at once: is its "
        "key set (the variable is named, never its value) and accepted, is its server reachable, which "
        "models does it list, and does it take votes as structured output. For that it sends one tiny "
        f"request (at most {PROBE_MAX_TOKENS} output tokens) to each catalog model of the provider, or "
        "only to the --model ones, asked again in the next weaker form when a form is refused "
        "(json_schema → json_object → text; tool → text), as a run would. "
        "A shipped provider nothing of yours names (the local server until your config does, a cloud "
        "provider without its key that no seat, synthesizer, model of yours or option uses) is shown "
        "as not configured, no failure. "
        "Exit 0 when every configured provider checked is usable, 1 otherwise.",
    )
    doctor.add_argument(
        "--provider",
        dest="providers",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this provider (repeat); also one no catalog model uses yet, to see what it lists",
    )
    doctor.add_argument(
        "--model",
        dest="models",
        action="append",
        default=[],
        metavar="ALIAS",
        help="send the request only to this model (repeat); its provider is checked",
    )
    doctor.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"the longest any one step may take (default {DEFAULT_TIMEOUT_S:g})",
    )
    doctor.add_argument("--json", action="store_true", help="print a machine-readable report")


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return seconds


def doctor_command(settings: Settings, args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Check the providers asked for (all those in use by default), print each as it is known, in
    the configuration's order, and return 0 when every one is usable, else 1."""
    stdout = stdout or sys.stdout
    catalog = Catalog(settings)
    plan = _plan(settings, catalog, args.providers, args.models)
    secrets = secret_values(settings)
    chosen = _chosen(settings, catalog, args.providers, args.models)
    checks = asyncio.run(
        _check_all(settings, plan, chosen, args.timeout, None if args.json else stdout, secrets)
    )
    usable = all(check.usable for check in checks if check.configured)
    if args.json:
        report = {"usable": usable, "timeout_s": args.timeout, "providers": [_as_json(c) for c in checks]}
        stdout.write(safe_json(json.dumps(report, indent=2, ensure_ascii=False), secrets) + "\n")
    else:
        count = sum(check.usable for check in checks)
        checked = sum(check.configured for check in checks)
        noun = "provider" if checked == 1 else "providers"
        unconfigured = len(checks) - checked
        tail = f" · {unconfigured} not configured" if unconfigured else ""
        _write(stdout, f"{count} of {checked} {noun} usable{tail}", secrets)
    stdout.flush()
    return EXIT_OK if usable else EXIT_FAILED


def _plan(
    settings: Settings, catalog: Catalog, providers: Sequence[str], models: Sequence[str]
) -> dict[str, list[Member]]:
    """Each provider to check, in the configuration's order, with the catalog models to send a
    request to. A `UsageError` for a provider or model the configuration does not have."""
    in_use: dict[str, list[str]] = {}
    for name, model in settings.models.items():
        in_use.setdefault(model.provider, []).append(name)
    for name in providers:
        if name not in settings.providers:
            close = difflib.get_close_matches(name, list(settings.providers), n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UsageError(f"unknown provider {name!r}{hint}; configured: {', '.join(settings.providers)}")
    asked: dict[str, list[str]] = {}
    for alias in models:
        name, model = catalog.resolve(alias)  # an unknown alias is an error naming the closest ones
        if name not in asked.setdefault(model.provider, []):
            asked[model.provider].append(name)
    wanted = set(providers) | set(asked)
    plan: dict[str, list[Member]] = {}
    for provider in settings.providers:
        if wanted and provider not in wanted:
            continue
        if not wanted and provider not in in_use:
            continue  # defined but used by no model: checked only when named
        names = asked.get(provider) or in_use.get(provider, [])
        plan[provider] = [catalog.member(MemberSpec(model=name)) for name in names]
    return plan


def _chosen(
    settings: Settings, catalog: Catalog, providers: Sequence[str], models: Sequence[str]
) -> frozenset[str]:
    """The providers the user asks for: named by an option, or serving a model of their own
    configuration, a seat of their panel, or their synthesizer or its fallbacks. Only these fail
    for a key not set."""
    named = {spec.model for spec in settings.panel.members}
    named |= {settings.run.synthesizer or "", *settings.run.synthesizer_fallbacks, *models}
    named |= settings.own_models
    chosen = set(providers)
    for alias in named - {""}:
        try:
            chosen.add(catalog.resolve(alias)[1].provider)
        except (UsageError, KeyError):
            continue  # a stale name in the config: the run says so; the doctor checks providers
    return frozenset(chosen)


async def _check_all(
    settings: Settings,
    plan: Mapping[str, list[Member]],
    chosen: frozenset[str],
    timeout: float,
    stream: TextIO | None,
    secrets: Sequence[str],
) -> list[ProviderCheck]:
    """Every provider's check at once; each printed to `stream` (when given) as soon as it and
    those before it are done, so the order is the configuration's whatever finishes first."""
    pool = ProviderPool(settings)
    tasks: list[asyncio.Task[ProviderCheck]] = []
    try:
        tasks = [
            asyncio.create_task(
                _check_provider(
                    name, settings.providers[name], members, pool, timeout, settings.own_models, chosen
                )
            )
            for name, members in plan.items()
        ]
        width = max((len(name) for name in plan), default=0)
        checks = []
        for task in tasks:
            check = await task
            verdict = "usable" if check.usable else f"not usable: {check.problem or 'no model answered'}"
            log.info("doctor: %s %s", check.name, verdict)
            if stream is not None:
                for line in _lines(check, width):
                    _write(stream, line, secrets)
            checks.append(check)
        return checks
    finally:
        for task in tasks:
            task.cancel()
        await pool.aclose()


async def _check_provider(
    name: str,
    config: ProviderConfig,
    members: list[Member],
    pool: ProviderPool,
    timeout: float,
    own_models: frozenset[str],
    chosen: frozenset[str],
) -> ProviderCheck:
    check = ProviderCheck(name, config.kind, provider_key_status(config, os.environ), config.api_key_env)
    if check.demo:
        return check
    if check.key == "not needed" and members and not any(m.alias in own_models for m in members):
        check.configured = False
        check.problem = (
            f"not configured: a local server; name it in your config ([providers.{name}]) to use it"
        )
        return check
    if check.key == "missing" and name not in chosen:
        check.configured = False
        check.problem = f"not configured: no key set; export {config.api_key_env} to use it"
        return check
    if check.key == "missing":
        check.problem = f"key not set: export {config.api_key_env}"
        return check
    try:
        provider = pool.named(name)
    except ProviderError as err:  # a plugin kind's adapter that cannot be made says why
        check.problem = err.message
        return check
    # Every SDK adapter lists its models; a plugin kind's adapter may not: its votes still tell.
    if isinstance(provider, CheckableProvider):
        check.base_url = redact(provider.base_url)
        await provider.ready()  # loading the SDK is not the server's time
        try:
            where = f"cannot reach {name} at {check.base_url}: "
            listed = await _within(provider.list_models(), timeout, where)
        except ProviderError as err:
            if err.kind is ErrorKind.AUTH:
                check.problem = f"key refused: {err.message}"
                return check
            if err.kind in (ErrorKind.CONNECTION, ErrorKind.TIMEOUT):
                check.problem = err.message
                return check
            # A listing refused or garbled says nothing yet about chatting: the requests tell.
            check.listing, check.listing_error = "failed", err.message
        else:
            check.listing = "not listed" if listed is None else "listed"
            check.listed = listed or []
    known = set(check.listed)
    for member in members:
        model = await _check_model(provider, member, timeout)
        if check.listing == "listed":
            model.listed = member.model_id in known
        check.models.append(model)
    refusals = [m.error for m in check.models if m.error_kind is ErrorKind.AUTH]
    if check.models and len(refusals) == len(check.models):  # a server without /models said it here
        check.problem = f"key refused: {refusals[0]}"
    return check


async def _check_model(provider: Provider, member: Member, timeout: float) -> ModelCheck:
    """Ask `member`'s model for a vote in its configured form; a form the server refuses is asked
    again at once in the next weaker one, down to text, as a run's vote would be."""
    check = ModelCheck(member.alias, member.model_id, member.vote_form)
    form = member.vote_form
    while True:
        request = probe_request(member, form)
        try:
            reply = await _within(_read_reply(provider, request), timeout)
        except ProviderError as err:
            if err.kind is ErrorKind.FORMAT_REFUSED and form is not VoteForm.TEXT:
                check.refused.append(form)
                form = weaker_form(form)
                continue
            check.error, check.error_kind = err.message, err.kind
            return check
        check.answered = form
        _read_answer(check, reply, request.max_output_tokens)
        return check


def probe_request(member: Member, form: VoteForm) -> ChatRequest:
    """The check's request: a vote on a one-line draft, in `form` (the engine's own structured
    output for votes, `vote_output`), at most `PROBE_MAX_TOKENS` long."""
    if form is VoteForm.TEXT:
        prompt = 'Reply with the single line "VERDICT: ACCEPT" and nothing else.'
    else:
        prompt = f"Cast your vote on this draft: {PROBE_DRAFT!r} Accept it, with no objections."
    return ChatRequest(
        model_id=member.model_id,
        system=PROBE_SYSTEM,
        messages=(ChatMessage("user", prompt),),
        max_output_tokens=min(PROBE_MAX_TOKENS, member.max_output_tokens),
        temperature=member.temperature,
        structured=vote_output(form),
        alias=member.alias,
        phase=Phase.VOTE,
    )


@dataclass
class _Reply:
    text: str
    finish: str | None
    overlong: bool


async def _read_reply(provider: Provider, request: ChatRequest) -> _Reply:
    """The reply's answer: its structured part where the wire keeps one apart (a tool's input),
    else its text."""
    parts: list[str] = []
    structured: list[str] = []
    size = 0
    finish: str | None = None
    stream = provider.stream(request)
    try:
        async for event in stream:
            if isinstance(event, TextDelta | StructuredDelta):
                (structured if isinstance(event, StructuredDelta) else parts).append(event.text)
                size += len(event.text)
                if size > MAX_PROBE_REPLY_CHARS:
                    text = "".join(structured or parts)
                    return _Reply(text[:MAX_PROBE_REPLY_CHARS], None, overlong=True)
            elif isinstance(event, Finished):
                finish = event.reason
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return _Reply("".join(structured or parts), finish, overlong=False)


def _read_answer(check: ModelCheck, reply: _Reply, limit: int) -> None:
    """What the answer says beyond having come: cut short, not a vote, or longer than asked."""
    if reply.overlong:
        check.note = (
            f"the reply ran past {MAX_PROBE_REPLY_CHARS:,} characters, though {limit} tokens were asked: "
            "the server ignores the output limit"
        )
        return
    stopped = cutoff(reply.finish or "", limit)
    if stopped is not None:
        kind, reason = stopped
        check.note = f"the reply was {reason}" + (" of this check" if kind == "length" else "")
        return
    if check.answered is VoteForm.TEXT:
        if not reply.text.strip():
            check.note = "the reply was empty"
        return
    _value, _objections, problem = parse_structured_vote(reply.text)
    check.outside_schema = problem


async def _within(work: Awaitable[T], timeout: float, where: str = "") -> T:
    """`work`, or a `ProviderError(TIMEOUT)` ("`where`no answer within 10 s") once `timeout`
    seconds have passed: a hanging server must not hang the check."""
    try:
        async with asyncio.timeout(timeout):
            return await work
    except TimeoutError:
        # A model on a CPU, or a server serving someone else first, can be this slow and sound.
        message = f"{where}no answer within {timeout:g} s (--timeout allows longer)"
        raise ProviderError(ErrorKind.TIMEOUT, message) from None


# --------------------------------------------------------------------------------------------
# What is printed


def _lines(check: ProviderCheck, width: int) -> list[tuple[str, str]]:
    """(first line, indent of its continuation) for each line of one provider's report."""
    mark = "✓" if check.usable else "✗" if check.configured else "–"
    head = f"{mark} {check.name.ljust(width)}  "
    if check.demo:
        return [(head + "the offline demo: always available (no key, no network)", "")]
    if check.problem is not None and not check.models:
        return [(head + check.problem, " " * min(len(head), 20))]
    key = {"set": f"key set ({check.key_env})", "not needed": "no key needed"}.get(check.key, "key not set")
    summary = " · ".join(part for part in (key, check.base_url) if part)
    failed = sum(not m.ok for m in check.models)
    if check.problem is not None:
        summary = check.problem
    elif failed:
        summary += f" · {failed} of {len(check.models)} model{'s' if len(check.models) > 1 else ''} failed"
    indent = " " * min(len(head), 20)  # a wrapped summary stays in its column
    lines = [(head + summary, indent)]
    lines.append(("  models: " + _listing_words(check), "    "))
    for model in check.models:
        listed = {True: "listed · ", False: "not listed · ", None: ""}[model.listed]
        if model.ok:
            text = f"structured votes: {model.votes}" + (f" ({model.note})" if model.note else "")
        else:
            refused = f"{model.votes} → " if model.refused else ""
            text = f"{refused}failed: {model.error}"
        lines.append((f"  {model.name}: {listed}{text}", "    "))
    if check.hint is not None:
        lines.append((f"  hint: {check.hint}", "    "))
    return lines


def _listing_words(check: ProviderCheck) -> str:
    if check.listing == "failed":
        return f"could not list them: {check.listing_error}"
    if check.listing == "not listed":
        return "the server does not list models"
    if check.listing == "not checked":
        return "its kind does not list models (each is asked for a vote)"
    count = len(check.listed)
    words = f"{count:,} listed"
    missing = [m for m in check.models if m.listed is False]
    if missing or not check.models:
        shown = ", ".join(check.listed[:LISTED_SHOWN]) + (", …" if count > LISTED_SHOWN else "")
        words += f": {shown}" if shown else ""
    return words


def _write(stream: TextIO, line: str | tuple[str, str], secrets: Sequence[str]) -> None:
    """One line, wrapped to the terminal (80 columns when it is not one), its control characters
    shown and the configured keys' values taken out."""
    text, indent = (line, "") if isinstance(line, str) else line
    columns = max(40, shutil.get_terminal_size((80, 24)).columns)
    safe = literal(hide_values(text, secrets))
    wrapped = textwrap.wrap(
        safe, columns, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    stream.write("\n".join(wrapped or [""]) + "\n")
    stream.flush()


def _as_json(check: ProviderCheck) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "usable": check.usable,
        "configured": check.configured,
        "demo": check.demo,
        "key": check.key,
        "key_env": check.key_env,
        "base_url": check.base_url,
        "problem": check.problem,
        "listing": check.listing,
        "models_listed": len(check.listed) if check.listing == "listed" else None,
        "listing_error": check.listing_error,
        "models": [
            {
                "alias": m.alias,
                "id": m.model_id,
                "ok": m.ok,
                "listed": m.listed,
                "form_asked": m.asked.value,
                "forms_refused": [form.value for form in m.refused],
                "form_answered": m.answered.value if m.answered else None,
                "outside_schema": m.outside_schema,
                "votes": m.votes or None,
                "note": m.note,
                "error": m.error,
            }
            for m in check.models
        ],
        "hint": check.hint,
    }
