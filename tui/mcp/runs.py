"""The runs an MCP client asks for: their requests, the tasks that run them, and following them.

A tool call must not own its run: clients cut calls short (about a minute), so a deliberation
that takes longer goes on as a task of the `RunManager`, which any later call can wait on. While
it runs, its events become `Milestone`s (a member answered, a round was decided, the synthesis,
the end) that a waiting call reports as progress. A run that another process is recording
(another `quorum mcp`, `quorum run`, the dashboard) is followed through the history instead.

Nothing here imports the MCP SDK: `tui.mcp.server` turns tool calls into these calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tui.ask import Ask
from tui.cache import warm_embedder
from tui.config.catalog import Catalog
from tui.config.schema import MemberSpec, Settings
from tui.engine import events as ev
from tui.engine.names import member_labels, synthesizer_name
from tui.engine.orchestrator import Run
from tui.engine.types import (
    ROUNDS_MODES,
    CallResult,
    Member,
    Mode,
    Outcome,
    Phase,
    RoundStatus,
    RunRequest,
    RunResult,
    RunStatus,
)
from tui.engine.validators import warm_validators
from tui.errors import StoreError, UsageError
from tui.files import NUL_IN_PATH
from tui.history.follow import RunFollower, RunGone
from tui.history.recorder import CLOSING_WAIT_S, finish_recording
from tui.history.store import RunRecord, RunStore
from tui.pool import ProviderPool
from tui.render.formatting import completion_line, seconds
from tui.render.words import (
    NOT_A_DECISION,
    call_summary,
    debate_round_words,
    outcome_word,
    queue_wait_words,
    rests_on_words,
    retried_words,
    retry_words,
    round_ended_words,
    round_word,
)
from tui.session import FollowedRun, Session, followed_run, open_store, start_run

log = logging.getLogger(__name__)

POLL_S = 0.5
"""How often a run another process records is read again (its recorder writes every 0.5 s)."""

SETTLE_S = 10.0
"""How long a cancelled run is given to stop its calls and record what had arrived."""

KEEP_FINISHED = 32
"""Finished runs kept in memory (the history has them all; without one, these are what is left)."""


# --------------------------------------------------------------------------------------------
# Requests


async def build_request(settings: Settings, store: RunStore | None, ask: Ask) -> RunRequest:
    """The request for `ask`, built as `quorum run` and the dashboard build theirs (a `Session`).

    Raises `UsageError` in the CLI's words: an empty question, an unknown alias (with the closest
    ones), a file or image that cannot be read or lies outside the project, an unknown run to
    follow up. A follow-up asks what its run asked (panel, mode, files, images, focus areas,
    rounds, budget, synthesizer, answer shape), as the dashboard's F3 does, except what `ask`
    gives itself.

    The history is read here, on the server's loop, whose connection it is; the files and images
    (those named and a follow-up's recorded ones) are read in a worker thread, so a file that
    takes its time (a hung network mount) holds up this call only, never the server's other tools.
    """
    if not ask.question.strip():
        raise UsageError("the question is empty")
    followed = _followed_run(store, ask.follow_up, settings.run.follow_up_depth) if ask.follow_up else None
    return await asyncio.to_thread(_request, settings, ask, followed)


def _followed_run(store: RunStore | None, run: str, depth: int) -> FollowedRun:
    """The run `run` names, and its thread, from the history; refused while it still runs."""
    followed = followed_run(store, run, depth)
    if followed.parent.status is RunStatus.RUNNING:
        raise still_running(followed.parent.run_id)
    return followed


def _request(settings: Settings, ask: Ask, followed: FollowedRun | None) -> RunRequest:
    """`build_request`'s part that reads files: the session, its files and images, the request."""
    for path in ask.files:
        _inside_project(path, "cannot attach", "--file")
    for path in ask.images:
        _inside_project(path, "cannot attach image", "--image")
    session = Session(settings, ask)
    # A follow-up's panel is its run's unless `models` is given: then the default panel's notes
    # (which only a default panel has) do not apply.
    notes = session.take_over(followed, ask) if followed is not None else list(session.notes)
    request = session.prepare(ask.question.strip()).request
    # A follow-up's run says what became of its parent's files and images as it adopts them, and
    # the request again as it is built: once is enough.
    return request.model_copy(update={"notes": list(dict.fromkeys([*notes, *request.notes]))})


def _inside_project(path: str, refused: str, option: str) -> None:
    """Refuse a file outside the directory the server was started in (the client's project),
    saying `refused` (`cannot attach`) and the path.

    An agent reads what it is told to, including instructions planted in a file or a web page:
    a path like ~/.ssh/id_ed25519 or ../.env would send that file to every model on the panel.
    The folder the client started the server in is the project the agent works on; a file
    outside it (symbolic links followed) is attached by a person, with `quorum run` and `option`.
    """
    root = Path.cwd().resolve()
    try:
        target = Path(path).expanduser().resolve()
    except ValueError:  # a NUL byte: no file has that name, in the project or out of it
        raise UsageError(f"{refused} {path}: {NUL_IN_PATH}") from None
    except (OSError, RuntimeError) as err:
        raise UsageError(f"{refused} {path}: {err}") from None
    if target != root and root not in target.parents:
        raise UsageError(
            f"{refused} {path}: over MCP only files inside the project the server was started "
            f"in ({root}) can be attached; attach others yourself with `quorum run {option}`"
        )


def still_running(run_id: str) -> UsageError:
    """Why a run cannot be followed up yet."""
    return UsageError(f"run {run_id} is still running: wait for it with consensus_result, then follow it up")


# --------------------------------------------------------------------------------------------
# Following a run as it happens


@dataclass(frozen=True)
class Milestone:
    """One step of a run worth telling whoever waits on it, numbered for progress notifications:
    `progress` grows with every step and reaches `total` (an estimate) at the run's end."""

    progress: int
    total: int
    message: str


Report = Callable[[Milestone], Awaitable[None]]


class Milestones:
    """A run's milestones, made from its events: each member's position, each decided round, the
    synthesis and the end, each counted once (a replay from the history may start its events
    over). `total` is an estimate until the end, which always reaches it."""

    def __init__(self) -> None:
        self.items: list[Milestone] = []
        self._request: RunRequest | None = None
        self._total = 0
        self._counted: set[str] = set()  # what has a milestone already: a call, a round, the end

    def add(self, event: ev.Event) -> bool:
        """Take one event; True when it made a milestone."""
        made = self._made(event)
        if made is None:
            return False
        key, message, last = made
        if key in self._counted:
            return False
        self._counted.add(key)
        progress = len(self.items) + 1
        if last:  # the end completes the progress, however many steps the run took
            progress = self._total = max(self._total, progress)
        else:  # every other step leaves room for the end
            self._total = max(self._total, progress + 1)
        self.items.append(Milestone(progress, self._total, message))
        return True

    def _made(self, event: ev.Event) -> tuple[str, str, bool] | None:
        """The milestone `event` makes, as (what it counts, its message, whether it is the end)."""
        match event:
            case ev.RunStarted(request=request) if self._request is None:
                self._request = request
                rounds = request.max_rounds if request.mode in ROUNDS_MODES else 0
                if request.mode is Mode.COUNCIL or (request.mode is Mode.VOTE and request.answer is not None):
                    rounds = 1  # the count of the answers, or of the ballots, decided as a round
                self._total = len(request.members) + rounds + 2  # positions, rounds, synthesis, end
                return None
            case ev.CallFinished(
                result=CallResult(phase=Phase.POSITION, member_index=int() as index) as call
            ) if self._request is not None:
                members = self._request.members
                name = member_labels(members)[index]
                answered = sum(key.startswith("position ") for key in self._counted) + 1
                took = f" in {seconds(call.latency_ms)}" if call.latency_ms is not None else ""
                if call.queued_ms is not None:
                    took += f" ({queue_wait_words(seconds(call.queued_ms))})"
                if retried := retried_words(call):
                    took += f"; {', '.join(retried)}"
                return (
                    f"position {index}",
                    f"position {answered}/{len(members)}: {name} {call_summary(call)}{took}",
                    False,
                )
            case ev.CallRetrying() as retry if self._request is not None:
                # A retry may wait a while (a Retry-After): whoever waits hears why nothing comes.
                members, seat = self._request.members, retry.member_index
                who = (
                    member_labels(members)[seat]
                    if seat is not None
                    else synthesizer_name(members, retry.alias)
                )
                then = retry_words(retry.attempt, retry.of, retry.wait_s)
                return f"retry {retry.call_id} {retry.attempt}", f"{who}: {retry.reason} — {then}", False
            case ev.DebateRoundRead(reading=reading) if self._request is not None:
                # A debate's round is told as it is read (how many agree, who flipped); its
                # decision, the same milestone, adds nothing but the count's outcome.
                said = debate_round_words(reading, self._request.members)
                return f"round {reading.number}", f"round {reading.number}: {said}", False
            case ev.RoundDecided(round=round_, standing=rests_on):
                decided = round_word(round_.status, round_.outcome)
                members = self._request.members if self._request is not None else []
                if round_.status in (RoundStatus.DECIDED, RoundStatus.CONTINUE):
                    decided = rests_on_words(decided, rests_on, members)
                mode = self._request.mode if self._request is not None else Mode.DELIBERATE
                said = round_ended_words(mode, round_, decided)
                return f"round {round_.number}", f"round {round_.number}: {said}", False
            case ev.SynthesisFinished(by=by, outcome=outcome, incomplete=why):
                mode = self._request.mode if self._request is not None else Mode.DELIBERATE
                word = NOT_A_DECISION if outcome is Outcome.NO_QUORUM else outcome_word(outcome, mode)
                return (
                    "synthesis",
                    f"synthesis by {by} ({word}){f', incomplete: {why}' if why else ''}",
                    False,
                )
            case ev.RunFinished(result=result) | ev.RunCancelled(result=result):
                return "end", completion_line(result.totals, result.status), True
            case ev.RunFailed(errors=errors):
                return "end", "run failed: " + "; ".join(errors), True
            case _:
                return None


class TrackedRun:
    """A run this server started: its engine `Run`, the task driving it, and its milestones.

    It is an event sink of the run, and never raises into it.
    """

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.milestones = Milestones()
        self._changed = asyncio.Event()
        self.run: Run
        self.task: asyncio.Task[RunResult]

    def start(self, run: Run, store: RunStore | None) -> None:
        self.run = run
        self.task = asyncio.get_running_loop().create_task(
            self._execute(run, store), name=f"run {run.result.run_id}"
        )
        self.task.add_done_callback(lambda _task: self._wake())

    @staticmethod
    async def _execute(run: Run, store: RunStore | None) -> RunResult:
        """The run to its end, then to its record in the history (a run the history could not
        record ends as failed, saying why)."""
        result = await run.execute()
        await finish_recording(store, result)
        return result

    @property
    def result(self) -> RunResult:
        """The run as it stands (live while it runs)."""
        return self.run.result

    @property
    def done(self) -> bool:
        """Ended, and recorded in the history (or told why not)."""
        return self.task.done()

    @property
    def recording(self) -> bool:
        """Ended, but the history does not hold its end yet."""
        return not self.done and self.result.status is not RunStatus.RUNNING

    def __call__(self, event: ev.Event) -> None:
        try:
            if self.milestones.add(event):
                self._wake()
        except Exception:  # a progress line is a courtesy: it must never stop the run
            log.exception("no progress line for %s", type(event).__name__)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, wait_s: float, report: Report | None = None, *, seen: int | None = None) -> None:
        """Wait until the run ends or `wait_s` seconds pass, handing `report` each milestone after
        the first `seen` (by default, those from now on) as it comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        items = self.milestones.items
        seen = len(items) if seen is None else seen
        while True:
            while report is not None and seen < len(items):
                await report(items[seen])
                seen += 1
            remaining = deadline - loop.time()
            if self.done or remaining <= 0:
                return
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def settle(self, wait_s: float = SETTLE_S) -> None:
        """Wait (at most `wait_s`) for the run to end, as it does once cancelled: every call
        records what it had, and the run is recorded as it ended."""
        await asyncio.wait([self.task], timeout=wait_s)


# --------------------------------------------------------------------------------------------
# The manager


@dataclass(frozen=True)
class Found:
    """A run asked about: this server's own (live or kept), or one read from the history."""

    run_id: str
    tracked: TrackedRun | None


class RunManager:
    """Starts runs as tasks of its own, finds them again by id, and stops them all at shutdown.

    One provider pool (one SDK client per provider) and one history connection serve every run.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = ProviderPool(settings)
        try:
            self.store = open_store(settings)
        except StoreError as err:
            log.warning("%s; running without history", err)
            self.store = None
        self._runs: dict[str, TrackedRun] = {}

    def warm(self) -> None:
        """Start loading the SDKs of the providers whose models are available (a key set, or a
        local server configured), in threads of their own, so the first question does not wait
        for an import."""
        catalog = Catalog(self.settings)
        providers: dict[str, Member] = {}
        for name in filter(catalog.is_available, self.settings.models):
            member = catalog.member(MemberSpec(model=name))
            providers.setdefault(member.provider, member)
        self.pool.warm(providers.values())
        warm_embedder(self.settings)
        warm_validators()

    # -- runs --------------------------------------------------------------------------------

    def start(self, request: RunRequest) -> TrackedRun:
        """Start `request` as a task of this manager (recorded in the history as it happens)."""
        tracked = TrackedRun(request)
        tracked.start(start_run(self.settings, request, self.pool, [tracked], store=self.store), self.store)
        self._runs[tracked.result.run_id] = tracked
        self._forget_old()
        return tracked

    def _forget_old(self) -> None:
        finished = [run_id for run_id, tracked in self._runs.items() if tracked.done]
        forgotten = finished[: max(0, len(finished) - KEEP_FINISHED)]
        for run_id in forgotten:
            del self._runs[run_id]
        if forgotten:
            # A run's engine objects refer to each other (the run and its lifecycle, its calls
            # and their listeners, this record of it), so only the cycle collector frees them,
            # and the process's long-lived objects (the SDKs, the catalog) put its full
            # collections hundreds of runs apart: measured, the server grew 12 MB per 100 runs
            # until one came. Collected now, a forgotten run is freed at once (a few ms).
            gc.collect()

    def find(self, run: str) -> Found:
        """The run `run` names (an id, or the start of one); `UsageError` when there is none."""
        run = run.strip()
        if run in self._runs:
            return Found(run, self._runs[run])
        own = [run_id for run_id in self._runs if run_id.startswith(run)] if run else []
        if self.store is not None:
            try:
                run_id = self.store.resolve(run)
            except KeyError as err:
                if len(own) == 1:  # its row is still on its way to the history (written off the loop)
                    return Found(own[0], self._runs[own[0]])
                raise UsageError(str(err.args[0])) from None
            return Found(run_id, self._runs.get(run_id))
        if len(own) == 1:
            return Found(own[0], self._runs[own[0]])
        if own:
            raise UsageError(f"{run!r} matches more than one run; give more of the id")
        raise UsageError(f"no run with id {run!r} (the run history is turned off: [store] enabled)")

    async def follow_recorded(self, run_id: str, wait_s: float, report: Report | None = None) -> RunRecord:
        """A run another process records, read from the history until it ends or `wait_s` pass,
        handing `report` each milestone from now on (a run whose process is gone ends
        interrupted, as the history marks it)."""
        assert self.store is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        follower, milestones = RunFollower(self.store, run_id), Milestones()
        seen: int | None = None
        while True:
            try:
                events = follower.poll()
            except RunGone as err:
                raise UsageError(str(err)) from None
            for event in events:
                milestones.add(event)
            seen = len(milestones.items) if seen is None else seen  # what was done before the call
            for milestone in milestones.items[seen:]:
                if report is not None:
                    await report(milestone)
                seen += 1
            remaining = deadline - loop.time()
            if follower.ended or remaining <= 0:
                break
            await asyncio.sleep(min(POLL_S, remaining))
        if follower.record is None:  # the history was busy at every poll: one plain read
            return self.store.load_record(run_id)
        return follower.record

    def refuse_follow_up_of_own_running(self, continuation_id: str) -> None:
        """Refuse to follow up a run this server is still running (or recording): the history may
        not hold its row yet."""
        try:
            found = self.find(continuation_id)
        except UsageError:  # no such run: building the follow-up says so
            return
        if found.tracked is not None and not found.tracked.done:
            raise still_running(found.run_id)

    def running(self) -> list[TrackedRun]:
        return [tracked for tracked in self._runs.values() if not tracked.done]

    async def stop_all(self) -> None:
        """Cancel every run still going (each keeps what arrived and is recorded as cancelled) and
        wait for them to record it."""
        running = self.running()
        for tracked in running:
            tracked.run.cancel()
        if running:
            await asyncio.wait([tracked.task for tracked in running], timeout=SETTLE_S)

    async def aclose(self) -> None:
        """Stop every run, then close the providers and the history."""
        await self.stop_all()
        await self.pool.aclose()
        if self.store is not None:
            self.store.close(wait_s=CLOSING_WAIT_S)
            self.store = None
