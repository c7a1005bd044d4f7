"""`quorum run`: a run without the dashboard. Progress on stderr, the result on stdout."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from tui.config.schema import MemberSpec, Settings
from tui.engine import events as ev
from tui.engine.types import CallStatus, Mode, Phase, RunRequest, RunResult, RunStatus, VoteValue
from tui.errors import StoreError
from tui.history.store import RunStore
from tui.render.formatting import completion_line, cost, literal, seconds, tokens
from tui.render.report import render_markdown
from tui.render.words import round_word, tally_words
from tui.runtime import ProviderPool, follow_up_thread, open_store, start_run
from tui.session import Session

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class RunOptions:
    question: str
    members: list[MemberSpec] = field(default_factory=list)
    synthesizer: str | None = None
    files: list[str] = field(default_factory=list)
    focus: list[str] = field(default_factory=list)
    as_json: bool = False
    quiet: bool = False
    follow_up: str | None = None


def build_request(
    settings: Settings, options: RunOptions, store: RunStore | None = None
) -> tuple[RunRequest, list[str]]:
    """The RunRequest for these options, and notes for the user. Raises ValueError-family errors.

    Built the same way as the dashboard builds its runs: through a `Session`.
    """
    session = Session(
        settings,
        seats=options.members,
        synthesizer=options.synthesizer,
        files=options.files,
        focus=options.focus,
    )
    if options.follow_up:
        session.follow_up(follow_up_thread(store, options.follow_up, settings.run.follow_up_depth))
    return session.prepare(options.question).request, session.notes


class ProgressPrinter:
    """Turns engine events into one line per state change on stderr (no per-token output)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.perf_counter()
        self.request: RunRequest | None = None

    def _say(self, text: str) -> None:
        self.stream.write(f"[{time.perf_counter() - self.started:5.1f}s] {literal(text)}\n")
        self.stream.flush()

    def _name(self, member_index: int | None, alias: str) -> str:
        if self.request is None or member_index is None:
            return f"{alias} (synthesizer)"
        return self.request.members[member_index].label

    def __call__(self, event: ev.Event) -> None:
        match event:
            case ev.RunStarted(request=request):
                self.request = request
                demo = " · demo members are simulated" if any(m.demo for m in request.members) else ""
                self._say(
                    f"{request.mode.value} · {len(request.members)} members · "
                    f"synthesizer {request.synthesizers[0].alias}{demo}"
                )
            case ev.MembersSkipped(skipped=skipped):
                for item in skipped:
                    self._say(f"skipped {item.alias} ({item.stance.value}): {item.reason}")
            case ev.RoundStarted(number=number, max_rounds=max_rounds):
                self._say(f"round {number}/{max_rounds}")
            case ev.CallStarted(member_index=index, alias=alias, phase=phase):
                consult = self.request is not None and self.request.mode is Mode.CONSULT
                what = {
                    Phase.POSITION: "position",
                    Phase.VOTE: "review",
                    Phase.DRAFT: "synthesis" if consult else "draft",
                    Phase.CURATOR: "curator decision",
                }[phase]
                self._say(f"{self._name(index, alias)} waiting ({what})")
            case ev.CallRetrying(
                member_index=index, alias=alias, attempt=attempt, of=of, wait_s=wait, reason=why
            ):
                self._say(f"{self._name(index, alias)} {why}; retry {attempt} of {of} in {wait:g} s")
            case ev.CallFinished(result=call):
                name = self._name(call.member_index, call.alias)
                if call.status is CallStatus.SUCCESS:
                    toks = tokens(call.input_tokens + call.output_tokens, call.tokens_estimated)
                    self._say(
                        f"{name} done · first token {seconds(call.ttft_ms)} · {seconds(call.latency_ms)} · "
                        f"{toks} tokens · {cost(call.cost_usd)}"
                    )
                elif call.status is CallStatus.CANCELLED:
                    self._say(f"{name} cancelled ({len(call.content)} characters kept)")
                else:
                    self._say(f"{name} FAILED: {call.error}")
            case ev.VoteCast(vote=vote):
                detail = (
                    f" ({vote.reason})"
                    if vote.value in (VoteValue.INVALID, VoteValue.NONE) and vote.reason
                    else ""
                )
                extra = f" · {len(vote.objections)} objection(s)" if vote.objections else ""
                self._say(f"  vote {vote.alias}: {vote.value.value}{extra}{detail}")
            case ev.RoundDecided(round=round_):
                counts = tally_words(round_.tally)
                self._say(f"round {round_.number}: {counts} → {round_word(round_.status, round_.outcome)}")
            case ev.AgreementRead(agreement=agreement):
                self._say(f"Agreement: {agreement.summary}")
            case ev.Notice(message=message):
                self._say(message)
            case ev.RunFinished(result=result):
                self._say(completion_line(result.totals))
            case ev.RunFailed(result=result, errors=errors):
                self._say("run failed: " + "; ".join(errors))
            case ev.RunCancelled(result=result):
                self._say(completion_line(result.totals, result.status))
            case _:
                pass


async def _execute(
    request: RunRequest, settings: Settings, progress: ev.EventSink | None, store: RunStore | None
) -> tuple[RunResult, bool]:
    pool = ProviderPool(settings)
    sinks = [progress] if progress is not None else []
    run = start_run(settings, request, pool, sinks, store=store)
    interrupted = False
    try:
        await run.execute()
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancelled us. The run has stopped its calls and kept what arrived.
        interrupted = True
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
    finally:
        await pool.aclose()
    return run.result, interrupted


def run_command(
    settings: Settings, options: RunOptions, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        store = open_store(settings)
    except StoreError as err:
        stderr.write(f"quorum: {err}; running without history\n")
        store = None
    try:
        outcome = _run_and_report(settings, options, store, stdout, stderr)
    finally:
        if store is not None:
            store.close()
    return outcome


def _run_and_report(
    settings: Settings, options: RunOptions, store: RunStore | None, stdout: TextIO, stderr: TextIO
) -> int:
    try:
        request, notes = build_request(settings, options, store)
    except ValueError as err:
        stderr.write(f"quorum: {err}\n")
        return EXIT_USAGE
    progress: ev.EventSink | None = None
    if not options.quiet:
        for note in notes:
            stderr.write(f"note: {note}\n")
        progress = ProgressPrinter(stderr)
    try:
        result, interrupted = asyncio.run(_execute(request, settings, progress, store))
    except KeyboardInterrupt:
        stderr.write("quorum: interrupted\n")
        return EXIT_INTERRUPTED
    result.notes[:0] = notes
    stdout.write(result.model_dump_json(indent=2) + "\n" if options.as_json else render_markdown(result))
    stdout.flush()
    if interrupted or result.status is RunStatus.CANCELLED:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.status is RunStatus.SUCCESS else EXIT_FAILED


def question_from(args: Sequence[str], stdin: TextIO) -> str:
    """The question words joined; `-` reads it from standard input."""
    if list(args) == ["-"]:
        return stdin.read().strip()
    return " ".join(args).strip()
