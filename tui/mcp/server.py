"""`quorum mcp`: Quorum as an MCP server over stdio, for coding agents (Claude Code, Codex, Cursor).

Four tools: `consensus` (put a question to the panel), `consensus_result` (wait for a run),
`list_models` (the catalog, with which keys are set) and `history` (recorded runs). Each has a
pydantic input schema and a published output schema (`tui.mcp.results`), and answers with
structured content and a short Markdown text.

Clients cut a tool call after about a minute and a deliberation can take several, so runs belong
to the server (`tui.mcp.runs.RunManager`), not to the call: `consensus` waits at most
`wait_seconds` and otherwise answers `running`, and `consensus_result` waits again. A client that
cancels a call it is waiting in cancels the run (what arrived is kept and recorded); shutting the
server down cancels every run the same way.

Errors are tool errors in the CLI's words, never a traceback, and nothing that leaves the server
holds the value of a configured key. Stdout is the protocol: logs go to the log file and stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tui import __version__
from tui.ask import Ask
from tui.cache import Lookup
from tui.config.catalog import Catalog, choose_panel, secret_values
from tui.config.schema import MemberSpec, Settings
from tui.engine.stance import STANCE_SYNONYMS, normalize_stance
from tui.engine.types import AnswerShapeError, AnswerSpec, Mode, Origin, RunStatus
from tui.errors import EXIT_OK, QuorumError, StanceError, UsageError, hide_values, redact
from tui.history.recorder import finish_recording
from tui.mcp.results import (
    HistoryReport,
    ModelsReport,
    RunReport,
    history_markdown,
    history_report,
    models_markdown,
    models_report,
    run_markdown,
    run_report,
    scrubbed,
)
from tui.mcp.runs import (
    Milestone,
    Report,
    RunManager,
    TrackedRun,
    build_request,
)
from tui.render.context import context_brief
from tui.session import check_keys

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 50.0
"""Under the ~60 s most clients allow a tool call."""
MAX_WAIT_S = 1800.0
HISTORY_LIMIT = 200

INSTRUCTIONS = (
    "Quorum puts one question to a panel of language models, each with a stance (for, against, "
    "neutral), lets them deliberate in bounded rounds and returns one answer with every position, "
    "vote, failure and cost. Use `consensus` for a plan, design or piece of code you want several "
    "models' opinions on before committing; `list_models` for the model aliases you may name; "
    "`consensus_result` to wait for a run that came back `running`; `history` for earlier runs (and "
    "their ids, to follow one up with `continuation_id`)."
)


class MemberEntry(BaseModel):
    """One panel member, in the parent `consensus` tool's own words."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1,
        description="A model alias from the catalog (case-insensitive); `list_models` lists them.",
    )
    stance: str = Field(
        default="neutral",
        description="for, against or neutral; synonyms: support, favor, pro (for); "
        "oppose, critical, con (against); balanced (neutral). Case-insensitive.",
        json_schema_extra={"enum": list(STANCE_SYNONYMS)},
    )
    stance_prompt: str | None = Field(
        default=None,
        description="Your own instructions for this member, in place of its stance's.",
    )


def _member_spec(number: int, entry: MemberEntry) -> MemberSpec:
    """A `models` entry as a panel seat; a stance that is no stance word is refused naming it."""
    try:
        stance = normalize_stance(entry.stance)
    except StanceError as err:
        raise UsageError(f"models[{number}] ({entry.model}): {err}") from None
    return MemberSpec(model=entry.model, stance=stance, stance_prompt=entry.stance_prompt)


def _answer_shape(shape: str | None) -> AnswerSpec | None:
    """The `answer` shape asked for, or None; a `UsageError` says in one line why it cannot be used."""
    if shape is None:
        return None
    try:
        return AnswerSpec.parse(shape)
    except AnswerShapeError as err:
        raise UsageError(f"answer: {err}") from None


# --------------------------------------------------------------------------------------------
# Tool descriptions (computed when the server starts: which keys are set is part of them)


def consensus_description(settings: Settings) -> str:
    """The `consensus` tool's description: what a run is, what to expect of client time limits,
    and the models an agent can name now, so it does not guess."""
    catalog = Catalog(settings)
    entries = catalog.entries()
    ready = [e.alias for e in entries if not e.demo and catalog.is_available(e.alias)]
    demo = [e.alias for e in entries if e.demo]
    panel = choose_panel(catalog)
    default = ", ".join(f"{m.alias}:{m.stance.value}" for m in panel.members)
    models = (
        f"Models whose keys are set (or local servers configured): {', '.join(ready)}."
        if ready
        else "No model's key is set in the server's environment: only the offline demo models can run."
    )
    context = settings.context.team_context()
    if context is not None:  # the agent should not restate what every member is told already
        models += (
            " Every member also receives the project's team context (.quorum.toml [context]), so the "
            f"question need not repeat it: {context_brief(context)}."
        )
    return f"""\
Put a question to a panel of language models (Quorum) and get one answer. Each member answers \
blind with its stance (for / against / neutral); in deliberate mode (the default) a synthesizer \
drafts a proposal and the members vote on it, round after round (at most max_rounds): \
unanimous ends it, in the last round a majority decides, otherwise the curator does. Consult \
mode is one pass and one synthesis. Vote mode is one pass too: with an answer shape (a question \
with one right answer) the plurality of the answers read is the answer, no synthesizer asked; \
without one the synthesizer reports the majority view and the dissent. Debate mode: each \
member answers blind, then again in each later round shown the others' answers anonymized \
(2 rounds unless max_rounds says, stopping early once every answer agrees); the plurality of the \
last round is the answer (with an answer shape), else the synthesizer reports its majority and \
dissent; who changed its answer is recorded. Council mode: each member answers blind, ranks the \
others' answers (never its own, labels shuffled for it), the ranking is a Borda count, and the \
chairman (the synthesizer) writes the answer. Returns the run id, status, outcome, each round's \
votes and objections (a debate's rounds with their flips, a council's ballots and ranking), each \
member's position summary (stance, status, error), the synthesis, and the totals (wall time, \
tokens, cost). Every run is recorded \
in Quorum's history.

Time limits: a deliberation can take minutes, and MCP clients cut a tool call after a limit \
(often about 60 s). This tool waits at most wait_seconds (default {DEFAULT_WAIT_S:g}); a run not \
finished by then comes back with status "running", its run_id and what has arrived, and goes on \
inside the server: call consensus_result with that run_id to wait for the rest. Keep \
wait_seconds under your client's limit: cancelling this call cancels the run (what arrived is \
kept and recorded as cancelled).

{models} Offline demo models (simulated answers, no key): {", ".join(demo)}. Default panel \
(when models is not given): {default}. list_models gives the whole catalog with prices."""


CONSENSUS_RESULT_DESCRIPTION = f"""\
Wait for a Quorum run and return it as it stands: finished, or still running with what has \
arrived. Works for any run in the history (one `consensus` returned as "running", or one being \
recorded by another Quorum process). Waits at most wait_seconds (default {DEFAULT_WAIT_S:g}); \
call it again while the status is "running". Cancelling this call while it waits on a run this \
server started cancels that run."""

LIST_MODELS_DESCRIPTION = """\
The model catalog: each alias with its provider, model id, context window, prices (USD per \
million tokens) and whether its key is set in the server's environment (only usable models can \
sit on a panel), and the default panel."""

HISTORY_DESCRIPTION = """\
Recorded Quorum runs, newest first (from every front end: the dashboard, `quorum run`, agents): \
id, time, question, panel, status, outcome and cost. Pass a run id to consensus_result to read \
it, or as continuation_id to follow it up."""


# --------------------------------------------------------------------------------------------
# The server


class QuorumMCPServer(MCPServer[None]):
    """The SDK's server, with argument errors told as `field: problem (got value)` lines rather
    than pydantic's dump."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[None, Any] | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as err:
            if isinstance(err.__cause__, ValidationError):
                problems = argument_problems(err.__cause__)
                raise ToolError(f"Error executing tool {name}: {problems}") from err.__cause__
            raise


def argument_problems(error: ValidationError) -> str:
    """Each invalid argument and why, in one line; a short scalar value is quoted back."""
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "arguments"
        value = problem.get("input")
        quoted = isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 40)
        problems.append(f"{where}: {problem['msg']}" + (f" (got {value!r})" if quoted else ""))
    return "; ".join(problems)


class QuorumMCP:
    """Quorum's MCP tools over one configuration, and the runs they start."""

    def __init__(self, settings: Settings, log_path: Path | None = None) -> None:
        self.settings = settings
        self.secrets = secret_values(settings)
        self.log_path = log_path
        self._manager: RunManager | None = None
        self.server = QuorumMCPServer(
            "quorum", instructions=INSTRUCTIONS, version=__version__, lifespan=self._lifespan
        )
        # What each tool does to the world, for a client that asks before it calls: consensus
        # starts a run that calls outside models and spends tokens (adding a run, removing
        # nothing); the other three only read what the server holds.
        starts_a_run = ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
        )
        only_reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
        self.server.add_tool(
            self.consensus,
            name="consensus",
            description=consensus_description(settings),
            annotations=starts_a_run,
        )
        self.server.add_tool(
            self.consensus_result,
            name="consensus_result",
            description=CONSENSUS_RESULT_DESCRIPTION,
            annotations=only_reads,
        )
        self.server.add_tool(
            self.list_models, name="list_models", description=LIST_MODELS_DESCRIPTION, annotations=only_reads
        )
        self.server.add_tool(
            self.history, name="history", description=HISTORY_DESCRIPTION, annotations=only_reads
        )

    @asynccontextmanager
    async def _lifespan(self, _server: MCPServer[None]) -> AsyncIterator[None]:
        manager = self._manager = RunManager(self.settings)
        manager.warm()
        try:
            yield None
        finally:
            # Shutting down (the client closed stdin, or SIGTERM): every run is cancelled and has
            # recorded what it had before the server goes.
            with anyio.CancelScope(shield=True):
                await manager.aclose()
            self._manager = None

    async def stop_runs(self) -> None:
        """Cancel every run still going and wait until each has recorded what it had."""
        if self._manager is not None:
            await self._manager.stop_all()

    @property
    def manager(self) -> RunManager:
        if self._manager is None:
            raise ToolError("the server is starting or shutting down; try again")
        return self._manager

    # -- tools -------------------------------------------------------------------------------

    async def consensus(
        self,
        question: Annotated[
            str,
            Field(
                min_length=1,
                description="The question, plan, design or code decision to put to the panel, "
                "with the context the members need (they see only this, the files and the focus areas).",
            ),
        ],
        ctx: Context,
        models: Annotated[
            list[MemberEntry] | None,
            Field(
                description="The panel: one entry per member. Omitted: the configured panel (or, "
                "for a follow-up, that run's). At most 2 members may share a model and stance; "
                "extras are skipped and reported."
            ),
        ] = None,
        mode: Annotated[
            Mode | None,
            Field(
                description="deliberate (default): positions, then drafts and votes in rounds; "
                "consult: one pass and one synthesis; vote: one pass, then the plurality of the "
                "answers (with an answer shape) or the majority view and the dissent; debate: "
                "answers revised in rounds, each member shown the others' anonymized, then the last "
                "round's plurality or the majority view and the dissent; council: answers, each "
                "member ranks the others' anonymized, a Borda count, the chairman's answer."
            ),
        ] = None,
        answer: Annotated[
            str | None,
            Field(
                description="The question has one right answer, asked for in this shape: numeric, "
                "choice, exact, includes or regex=PATTERN. Every answer ends with an `ANSWER: ...` "
                "line, a vote counts the answers read, and a member without a stance is asked with none."
            ),
        ] = None,
        max_rounds: Annotated[
            int | None,
            Field(
                ge=1,
                le=10,
                description="The round limit of deliberate mode (default 3) and of debate mode (default 2).",
            ),
        ] = None,
        files: Annotated[
            list[str] | None,
            Field(
                description="Text files to attach (UTF-8, up to 2 MB each), inside the project the "
                "server was started in: relative to it, or absolute paths under it."
            ),
        ] = None,
        images: Annotated[
            list[str] | None,
            Field(
                description="Images to attach (PNG, JPEG, WebP or GIF, up to 3.75 MiB and 8,000 pixels a "
                "side; at most 20, 15 MiB together), inside the project the server was started in, as "
                "for files. They are sent to the models list_models marks vision-capable; the others "
                "answer from the text, and the result's notes say so."
            ),
        ] = None,
        focus_areas: Annotated[
            list[str] | None,
            Field(description="Aspects the members should focus on, e.g. 'operational cost'."),
        ] = None,
        synthesizer: Annotated[
            str | None,
            Field(
                description="The model alias that drafts the proposal and, if needed, decides as "
                "curator. Default: the configured one, or the first member."
            ),
        ] = None,
        token_budget: Annotated[
            int | None,
            Field(
                gt=0,
                description="Tokens the whole run may use: when the next round would pass it, the "
                "curator decides at once (and the result says why).",
            ),
        ] = None,
        continuation_id: Annotated[
            str | None,
            Field(
                description="An earlier run's id (or the start of one): this run follows it up. The "
                "members get that run's question, answer and open objections; the panel, mode, files "
                "and focus areas are that run's unless given here."
            ),
        ] = None,
        wait_seconds: Annotated[
            float,
            Field(
                ge=0,
                le=MAX_WAIT_S,
                description="Longest wait for the run to finish before answering with status "
                "running (then call consensus_result). Keep it under your client's tool time limit.",
            ),
        ] = DEFAULT_WAIT_S,
        fresh: Annotated[
            bool,
            Field(
                description="Put the question to the panel even if an earlier run answers it. By default "
                "a question asked before (same wording after normalization, same context, mode, files, "
                "panel) is answered at once from that run, and the result's cache says so."
            ),
        ] = False,
    ) -> Annotated[CallToolResult, RunReport]:
        manager = self.manager
        with self._told_in_words():
            ask = Ask(  # the tool's words (the parent tool's) are Quorum's from here on
                question=question,
                origin=Origin.MCP,
                members=tuple(_member_spec(number, entry) for number, entry in enumerate(models or (), 1)),
                synthesizer=synthesizer,
                mode=mode,
                max_rounds=max_rounds,
                token_budget=token_budget,
                files=tuple(files or ()),
                images=tuple(images or ()),
                focus=tuple(focus_areas or ()),
                answer=_answer_shape(answer),
                follow_up=continuation_id,
                fresh=fresh,
            )
            if continuation_id:
                manager.refuse_follow_up_of_own_running(continuation_id)
            request = await build_request(self.settings, manager.store, ask)
            lookup = Lookup(self.settings, request, manager.store)
            hit = None if ask.fresh else await lookup.serve()
            if hit is not None:  # answered already: no key, no call, no wait but the record's
                await finish_recording(manager.store, hit)
                return self._run_answer(run_report(hit))
            check_keys(
                request,
                manager.pool,
                synthesizer_named=bool(ask.synthesizer),
                hint="`quorum mcp` reads keys from the environment your MCP client starts it with",
            )
            tracked = manager.start(request)
            # A similar earlier run, to name in the answer, is looked for while the panel answers.
            similar = asyncio.ensure_future(lookup.suggest())
            try:
                await self._wait(tracked, wait_seconds, ctx, seen=0)
                report = run_report(tracked.result, recording=tracked.recording)
                if tracked.result.status is not RunStatus.RUNNING:  # answered: the scan is long done
                    report.cache = await similar
            finally:
                similar.cancel()  # still scanning for a run that goes on: not waited for
            return self._run_answer(report)

    async def consensus_result(
        self,
        run_id: Annotated[
            str, Field(min_length=1, description="The run's id, or the start of it (as `history` lists it).")
        ],
        ctx: Context,
        wait_seconds: Annotated[
            float,
            Field(
                ge=0,
                le=MAX_WAIT_S,
                description="Longest wait for the run to finish; 0 returns it as it stands now.",
            ),
        ] = DEFAULT_WAIT_S,
    ) -> Annotated[CallToolResult, RunReport]:
        manager = self.manager
        with self._told_in_words():
            found = manager.find(run_id)
            if found.tracked is not None:
                await self._wait(found.tracked, wait_seconds, ctx)
                return self._run_answer(run_report(found.tracked.result, recording=found.tracked.recording))
            record = await manager.follow_recorded(found.run_id, wait_seconds, self._reporter(ctx))
            return self._run_answer(run_report(record.result, record.in_flight))

    async def list_models(self) -> Annotated[CallToolResult, ModelsReport]:
        with self._told_in_words():
            catalog = Catalog(self.settings)
            entries = catalog.entries()
            panel = [f"{m.alias}:{m.stance.value}" for m in choose_panel(catalog).members]
            return self._answer(models_report(entries, panel), models_markdown(entries, panel))

    async def history(
        self,
        filter: Annotated[
            str, Field(description="Only runs whose question or panel holds this text (case-insensitive).")
        ] = "",
        limit: Annotated[int, Field(ge=1, le=HISTORY_LIMIT, description="At most this many runs.")] = 20,
    ) -> Annotated[CallToolResult, HistoryReport]:
        store = self.manager.store
        if store is None:
            raise ToolError("the run history is turned off ([store] enabled = false)")
        with self._told_in_words():
            store.interrupt_gone()  # a run whose process has died since is not `running`
            report = history_report(store.list_runs(limit=limit, text=filter))
            return self._answer(report, history_markdown(report))

    # -- helpers -----------------------------------------------------------------------------

    async def _wait(self, tracked: TrackedRun, wait_s: float, ctx: Context, seen: int | None = None) -> None:
        """Wait for `tracked` (at most `wait_s`), reporting its milestones as progress. A client
        that cancels the call cancels the run: it stops its calls, keeps what arrived and is
        recorded as cancelled before the cancellation goes on."""
        try:
            await tracked.follow(wait_s, self._reporter(ctx), seen=seen)
        except anyio.get_cancelled_exc_class():
            tracked.run.cancel()
            with anyio.CancelScope(shield=True):
                await tracked.settle()
            raise

    def _reporter(self, ctx: Context) -> Report:
        """What hands a run's milestones to the client as progress notifications (a no-op for a
        client that asked for none)."""
        reporting = True

        async def report(milestone: Milestone) -> None:
            nonlocal reporting
            if not reporting:
                return
            try:
                message = hide_values(milestone.message, self.secrets)
                await ctx.report_progress(milestone.progress, milestone.total, message)
            except Exception:  # the client went away: the run goes on, unreported
                log.warning("progress could not be reported", exc_info=True)
                reporting = False

        return report

    def _run_answer(self, report: RunReport) -> CallToolResult:
        return self._answer(report, run_markdown(report))

    def _answer(self, report: BaseModel, markdown: str) -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text=hide_values(markdown, self.secrets))],
            structured_content=scrubbed(report, self.secrets),
        )

    @contextmanager
    def _told_in_words(self) -> Iterator[None]:
        """A `QuorumError` becomes a tool error in its own words; anything else is a bug, logged
        with its traceback and reported as one, without it."""
        try:
            yield
        except ToolError:
            raise
        except QuorumError as err:
            raise ToolError(redact(str(err), self.secrets)) from None
        except Exception as err:
            log.exception("internal error")
            where = f"; the traceback is in {self.log_path}" if self.log_path else ""
            raise ToolError(
                "internal error (a bug in Quorum, not a problem with your input): "
                + redact(f"{type(err).__name__}: {err}", self.secrets)
                + where
            ) from None


# --------------------------------------------------------------------------------------------
# Serving


class _Redacted(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def _sdk_logs_to_stderr(secrets: tuple[str, ...]) -> None:
    """The SDK's warnings and errors (not its per-request chatter) on stderr, one line each,
    redacted. Done before the server is made, so the SDK's own set-up (Rich, INFO) is skipped."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("quorum mcp: %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redacted(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def serve(settings: Settings, log_path: Path | None = None) -> int:
    """Serve MCP on stdin/stdout until the client closes stdin; then every run still going is
    cancelled and recorded as such. SIGTERM or Ctrl-C does the same, then ends the process by
    that signal: the thread reading stdin cannot be stopped any other way."""
    _sdk_logs_to_stderr(secret_values(settings))
    app = QuorumMCP(settings, log_path)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(_stop_on_signal, app)
            await app.server.run_stdio_async()
            group.cancel_scope.cancel()

    anyio.run(main)
    return EXIT_OK


async def _stop_on_signal(app: QuorumMCP) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for received in signals:
            with anyio.CancelScope(shield=True):
                await app.stop_runs()
            logging.shutdown()
            signal.signal(received, signal.SIG_DFL)
            os.kill(os.getpid(), received)
