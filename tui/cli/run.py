"""`quorum run`: a run without the dashboard. Progress on stderr, the result on stdout."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import BinaryIO, TextIO

from tui.ask import Ask
from tui.cache import Lookup
from tui.cli.output import OutputLost
from tui.cli.progress import ProgressPrinter
from tui.config.catalog import secret_values
from tui.config.schema import Settings
from tui.engine import events as ev
from tui.engine.context import TeamContext
from tui.engine.types import Outcome, RunRequest, RunResult, RunStatus
from tui.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_QUORUM,
    EXIT_OK,
    StoreError,
    UsageError,
    hide_values,
)
from tui.files import NotText, read_at_most, utf8_text
from tui.history.recorder import NOT_RECORDED, finish_recording, not_recorded
from tui.history.store import RunStore
from tui.pool import ProviderPool
from tui.render.cache import cache_line
from tui.render.context import context_chip
from tui.render.formatting import literal
from tui.render.report import render_markdown
from tui.render.run_json import run_json
from tui.session import Session, check_keys, followed_run, open_store, start_run

MAX_QUESTION_BYTES = 2_000_000
"""The most a question read from standard input may hold: as much as an attached file (about
500,000 tokens, more than most members can read). Reading stops one byte past it, so a question
piped from an endless source is refused, not read to the end."""


def build_request(
    settings: Settings, ask: Ask, store: RunStore | None = None
) -> tuple[RunRequest, list[str]]:
    """The RunRequest for `ask`, and notes for the user; raises a `UsageError` for a bad member,
    file, image or follow-up. Built the same way as the dashboard builds its runs: a `Session`.
    A follow-up carries the thread of the run it follows, and is asked as this command is asked."""
    session = Session(settings, ask)
    notes = list(session.notes)
    if ask.follow_up:
        followed = followed_run(store, ask.follow_up, settings.run.follow_up_depth)
        session.follow_up(followed.thread)
        notes += _context_change(followed.parent, session.context)
    return session.prepare(ask.question).request, notes


def _context_change(parent: RunResult, context: TeamContext | None) -> list[str]:
    """A follow-up from the command line is asked with the context here now: a note when the run
    it follows up was asked with another one (or none)."""
    if parent.asked is None or parent.asked.context == context:
        return []
    then = f"its context ({context_chip(parent.asked.context)})" if parent.asked.context else "no context"
    now = (
        f"the context here now ({context_chip(context)})"
        if context
        else "no context (there is none here now)"
    )
    return [f"run {parent.run_id} was asked with {then}; this follow-up is asked with {now}"]


def run_command(
    settings: Settings,
    ask: Ask,
    *,
    as_json: bool = False,
    quiet: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the panel to the end, print the report (or, `as_json`, the JSON; `quiet`: no progress),
    and return the exit code (see `tui.cli.main`; `EXIT_NO_QUORUM` for a run that ended with no
    quorum)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        store = open_store(settings)
    except StoreError as err:
        stderr.write(f"quorum: {err}; running without history\n")
        store = None
    try:
        return _run_and_report(settings, ask, store, stdout, stderr, as_json=as_json, quiet=quiet)
    finally:
        if store is not None:
            store.close()


def _run_and_report(
    settings: Settings,
    ask: Ask,
    store: RunStore | None,
    stdout: TextIO,
    stderr: TextIO,
    *,
    as_json: bool,
    quiet: bool,
) -> int:
    request, notes = build_request(settings, ask, store)
    progress: ev.EventSink | None = None
    printer = ProgressPrinter(stderr)
    if not quiet:
        if request.context is not None:
            sources = ", ".join(str(path) for path in settings.context_files)
            printer.note(
                f"context: {context_chip(request.context)}"
                + (f" (from {literal(sources)})" if sources else "")
            )
        for note in notes:
            printer.note(f"note: {literal(note)}")
        progress = printer
    # The cache is looked in before the run's event loop starts: a hit (unless the ask is fresh),
    # or a similar run to name.
    lookup = Lookup(settings, request, store)
    hit = None if ask.fresh else asyncio.run(lookup.serve())
    if hit is not None:
        if not quiet:
            printer.note(f"{cache_line(hit.cache)} (--fresh asks the panel again)")
        result = hit
        interrupted = asyncio.run(_wait_for_record(store, result, stderr))
    else:
        pool = ProviderPool(settings)
        try:
            check_keys(request, pool, synthesizer_named=bool(ask.synthesizer))
        except UsageError:
            asyncio.run(pool.aclose())  # the adapters of the members checked before it
            raise
        similar = asyncio.run(lookup.suggest())
        suggestion = cache_line(similar)
        if suggestion is not None and not quiet:
            printer.note(literal(suggestion))
        if lookup.problem is not None and not quiet:
            printer.note(f"cache: {literal(lookup.problem)}; only exact matches were looked for")
        try:
            result, interrupted = asyncio.run(_execute(request, settings, pool, progress, store, stderr))
        except KeyboardInterrupt:
            stderr.write("quorum: interrupted\n")
            return EXIT_INTERRUPTED
        result.cache = similar
    result.notes[:0] = notes
    secrets = secret_values(settings)  # a last line of defence: no configured key is ever printed
    unrecorded = [error for error in result.errors if error.startswith(NOT_RECORDED)]
    try:
        if as_json:
            stdout.write(run_json(result, secrets) + "\n")
        else:
            stdout.write(hide_values(render_markdown(result), secrets))
        stdout.flush()
    except OutputLost as err:
        # The run itself is done and recorded as it went: say where to read it instead.
        kept = "the history is off: it is not kept"
        if unrecorded:
            kept = f"and the run was {unrecorded[0]}: it is lost"
        elif store is not None:
            kept = f"the run is recorded: quorum show {result.run_id}"
        raise OutputLost(f"{err.why}; {kept}", what="the report") from err
    if unrecorded:  # the answer is printed above, and nowhere else
        stderr.write(f"quorum: run {result.run_id} was {unrecorded[0]}\n")
    if interrupted or result.status is RunStatus.CANCELLED:
        return EXIT_INTERRUPTED
    if result.status is not RunStatus.SUCCESS:
        return EXIT_FAILED
    return EXIT_NO_QUORUM if result.outcome is Outcome.NO_QUORUM else EXIT_OK


async def _execute(
    request: RunRequest,
    settings: Settings,
    pool: ProviderPool,
    progress: ev.EventSink | None,
    store: RunStore | None,
    stderr: TextIO,
) -> tuple[RunResult, bool]:
    run = start_run(settings, request, pool, [progress] if progress is not None else [], store=store)
    interrupted = False
    try:
        await run.execute()
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancelled us. The run has stopped its calls and kept what arrived.
        interrupted = True
        _uncancel()
    finally:
        await pool.aclose()
    stopped_waiting = await _wait_for_record(store, run.result, stderr)
    return run.result, interrupted or stopped_waiting


async def _wait_for_record(store: RunStore | None, result: RunResult, stderr: TextIO) -> bool:
    """Wait until the history holds `result` (a run that it could not record ends as failed,
    saying why); True when Ctrl-C stopped the wait: the answer is printed all the same."""

    def waiting(why: str) -> None:
        stderr.write(f"quorum: {why} (Ctrl-C stops waiting)\n")
        stderr.flush()

    try:
        await finish_recording(store, result, waiting=waiting)
    except asyncio.CancelledError:
        _uncancel()
        not_recorded(result, "Quorum stopped waiting for it (Ctrl-C)")
        if store is not None:
            store.close(wait_s=0)  # its writes are left: a run reads as interrupted
        return True
    return False


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def question_from(args: Sequence[str], stdin: BinaryIO | None) -> str:
    """The question words joined; `-` reads it from standard input (its bytes: `stdin`), which
    must be UTF-8 text of at most `MAX_QUESTION_BYTES`. A `UsageError` says, in one line, why
    not: too long, binary, or the first byte that is not UTF-8, with its offset and line. A
    leading byte order mark (what some Windows tools write) is not part of the question."""
    if list(args) != ["-"]:
        return " ".join(args).strip()
    where = "the question on standard input"
    if stdin is None:
        raise UsageError(
            "no standard input to read the question from (it is closed): give the question as words"
        )
    try:
        data = read_at_most(stdin.read, MAX_QUESTION_BYTES)
    except OSError as err:
        raise UsageError(f"cannot read {where}: {err.strerror or err}") from None
    if len(data) > MAX_QUESTION_BYTES:
        raise UsageError(
            f"{where} is more than {MAX_QUESTION_BYTES:,} bytes, the limit for a question "
            "(as for a file attached with --file)"
        )
    try:
        return utf8_text(data).removeprefix("\ufeff").strip()
    except NotText as err:
        raise UsageError(f"{where}: {err}") from None
