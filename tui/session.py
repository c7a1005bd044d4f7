"""A session's working state, without Textual: the panel being edited, the run on screen, and what
a rerun may reuse.

A session starts from what a front end was asked (`tui.ask.Ask`: the panel, files, images, focus
areas, answer shape, and the mode, round limit and budget where given) and prepares the engine's
`RunRequest` for each question from its state (`prepare`). A follow-up that takes over the run it
follows (MCP's, the dashboard's F3) asks what that run asked, except what the ask gives itself
(`take_over`); `quorum run --follow-up` carries the thread only and asks as it is asked here.

The panel is a list of seats (model alias, stance, optional custom stance prompt). A run is
built from the seats as they are when it starts; a partial rerun carries over the successful
positions of the seats it does not rerun, as long as those seats and the question are unchanged.
The run on screen is one thing — live (its `Run`) or opened from the history (its record) — and
everything that acts on "the run on screen" (rerun, follow-up, export) reads it from there.
Opening a recorded run takes over everything it asked — panel, mode, files (the text it sent),
images (those still on disk as they were: the history keeps an image's hash, not its bytes),
focus areas, the asking team's context, round limit, budget, majority threshold, synthesizer
chain and answer shape — so a rerun or a follow-up asks the same again. A context taken over
that is not the one the configuration gives now is said when the run is opened and in every run
asked with it, until the project's is taken back (`use_project_context`).

A session asked for a declared answer shape (a question with one right answer) seats a panel
nobody chose — the default one, or the offline demo panel — all neutral: their stances were
Quorum's rotation, and a neutral seat under an answer shape is asked with no stance at all
(`tui.engine.prompts.member_system_prompt`). A panel asked for keeps the stances it was given.

Every front end starts a request's run here too (`start_run`: the engine's `Run`, its events going
to the front end's sinks and to the history's recorder), in the history `open_store` opens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui.ask import Ask
from tui.attachments.images import MAX_IMAGES, MAX_IMAGES_BYTES, read_image, recover_image
from tui.attachments.text import attachment_changes, read_attachment
from tui.config import paths
from tui.config.catalog import Catalog, choose_panel, secret_values, synthesizer_chain
from tui.config.schema import MemberSpec, Settings
from tui.config.snapshot import settings_snapshot
from tui.engine import events as ev
from tui.engine.context import TeamContext
from tui.engine.mode_options import unused_in_mode
from tui.engine.provider import ErrorKind, ProviderError
from tui.engine.stance import apply_instance_limit
from tui.engine.types import (
    DEBATE_ROUNDS,
    ROUNDS_MODES,
    Attachment,
    CallResult,
    CallStatus,
    Image,
    ImageRecord,
    Member,
    Mode,
    Origin,
    PriorTurn,
    RunRequest,
    RunResult,
    SkippedMember,
    Stance,
)
from tui.errors import AttachmentError, UsageError, redact
from tui.history.replay import follow_up_thread, replay_request
from tui.history.store import RunStore
from tui.render.context import context_chip

STANCE_CYCLE = [Stance.FOR, Stance.AGAINST, Stance.NEUTRAL]

MODE_CYCLE = (Mode.DELIBERATE, Mode.CONSULT, Mode.VOTE, Mode.DEBATE, Mode.COUNCIL)
"""The modes the dashboard's mode key goes through, in turn."""

if TYPE_CHECKING:  # a live run's engine loads only when a run starts (never for a cache hit)
    from tui.engine.orchestrator import ProviderLookup, Run


QUESTION_REDACTED = (
    "the question held a key or token: every member was sent it as [redacted], and so it is recorded"
)


@dataclass
class PreparedRun:
    """A request ready to run, with which seat each of its members sits in."""

    request: RunRequest
    seat_of_member: list[int]
    skipped_seats: dict[int, SkippedMember]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ShownRun:
    """The run on screen: a live `Run` (its result grows as events arrive) or a recorded result."""

    prepared: PreparedRun
    source: Run | RunResult

    @property
    def result(self) -> RunResult:
        return self.source if isinstance(self.source, RunResult) else self.source.result

    @property
    def run(self) -> Run | None:
        """The live run, or None for a run opened from the history."""
        return None if isinstance(self.source, RunResult) else self.source

    @property
    def live(self) -> bool:
        """Still running: its calls may still change what is shown."""
        return not isinstance(self.source, RunResult) and self.source.phase != "done"


@dataclass(frozen=True)
class FollowedRun:
    """What a follow-up needs from the history: the thread it follows up (its parent last), the
    parent run, and the thread the parent itself followed up on."""

    thread: list[PriorTurn]
    parent: RunResult
    parent_thread: list[PriorTurn]


def followed_run(store: RunStore | None, run: str, depth: int) -> FollowedRun:
    """The run `run` names (an id, or the start of one) and its thread, from the history, at most
    `depth` runs back; `UsageError` when there is no such run or no history."""
    thread = follow_up_thread(store, run, depth)  # the history is needed: says so
    assert store is not None
    parent = store.load(thread[-1].run_id)
    parent_thread: list[PriorTurn] = []
    if parent.parent_run_id is not None:
        with contextlib.suppress(UsageError):  # the run it followed up on is gone: it alone is context
            parent_thread = follow_up_thread(store, parent.parent_run_id, depth)
    return FollowedRun(thread, parent, parent_thread)


class Session:
    """The panel, the mode and the last run: everything the keys act on."""

    def __init__(self, settings: Settings, ask: Ask | None = None, catalog: Catalog | None = None) -> None:
        """The session `ask` starts (its question is the front end's to put: `prepare`): its panel,
        files, images, focus areas and answer shape; its mode, round limit and budget where given,
        else the settings'."""
        ask = ask or Ask()
        self.settings = settings
        self.origin = ask.origin  # the front end this session's runs are started from
        self.catalog = catalog or Catalog(settings)
        panel = choose_panel(self.catalog, list(ask.members), ask.synthesizer)
        self.notes = panel.notes
        chosen = bool(ask.members) or bool(settings.panel.members)  # else Quorum chose the panel, stances too
        self.seats: list[MemberSpec] = [
            MemberSpec(
                model=m.alias,
                stance=m.stance if chosen or ask.answer is None else Stance.NEUTRAL,
                stance_prompt=m.stance_prompt,
            )
            for m in panel.members
        ]
        # The shape the next runs' answers are asked in; None: an open question.
        self.answer = ask.answer
        self.synthesizer = ask.synthesizer
        # None: the configured fallbacks; a recorded run's chain once one is opened.
        self.synthesizer_fallbacks: list[str] | None = None
        self.mode: Mode = ask.mode or settings.run.mode
        # The user chose the mode (Ctrl+O) for the next run: opening a recorded run keeps it.
        self.mode_chosen = False
        self.max_rounds = ask.max_rounds if ask.max_rounds is not None else settings.run.max_rounds
        # The round limit the ask gave (`quorum --rounds N`), while it is the one the next run asks
        # with: said to have no effect whenever the mode has no rounds (see `unused_options`).
        self.rounds_given = ask.max_rounds
        # Someone set the round limit (the ask, a follow-up's ask, a recorded debate's): a debate
        # asks with it, not with its own default (see `rounds_for`).
        self.rounds_set = ask.max_rounds is not None
        self.majority_threshold = settings.run.majority_threshold
        self.quorum = settings.run.quorum
        self.token_budget = ask.token_budget if ask.token_budget is not None else settings.run.token_budget
        self.files: list[Attachment] = [read_attachment(path) for path in ask.files]
        # The run whose recorded files `files` are (None: read from disk at start-up).
        self.files_from: str | None = None
        # The images the next run sends: read from disk (an `Image`), or a recorded run's that is
        # no longer on disk as it was (an `ImageRecord`, with what became of it: not sent, and said).
        self.images: list[ImageRecord] = []
        self.images_gone: dict[str, str] = {}  # by SHA-256: why a recorded image cannot be sent
        self.images_from: str | None = None  # the run whose recorded images `images` are
        for path in ask.images:
            self.attach_image(path)
        self.focus: list[str] = list(ask.focus)
        # The asking team's context the next run is asked with: the configuration's, or a recorded
        # run's once one is opened (`context_from` names it).
        self.context: TeamContext | None = self.project_context
        self.context_from: str | None = None
        self.shown: ShownRun | None = None
        # A follow-up's context: earlier runs of the thread, oldest first; the last is the parent.
        self.thread: list[PriorTurn] = []
        self.notes = [*self.notes, *self.unused_options()]

    # -- editing the panel ------------------------------------------------------------------

    def member(self, seat: int) -> Member:
        return self.catalog.member(self.seats[seat])

    def members(self) -> list[Member]:
        return [self.catalog.member(spec) for spec in self.seats]

    def cycle_stance(self, seat: int) -> Stance:
        spec = self.seats[seat]
        following = STANCE_CYCLE[(STANCE_CYCLE.index(spec.stance) + 1) % len(STANCE_CYCLE)]
        self.seats[seat] = spec.model_copy(update={"stance": following})
        return following

    def add(self, alias: str, stance: Stance = Stance.NEUTRAL) -> int:
        name, _ = self.catalog.resolve(alias)
        self.seats.append(MemberSpec(model=name, stance=stance))
        return len(self.seats) - 1

    def remove(self, seat: int) -> MemberSpec:
        return self.seats.pop(seat)

    def attach_image(self, path: str) -> Image:
        """Read the image at `path` for the next runs (`AttachmentError` says why it cannot be)."""
        if len(self.images) >= MAX_IMAGES:
            raise AttachmentError(
                f"cannot attach image {path}: at most {MAX_IMAGES} images go with one question "
                "(beyond that Anthropic refuses any image over 2,000 pixels on a side)"
            )
        image = read_image(path)
        together = sum(attached.size for attached in self.images) + image.size
        if together > MAX_IMAGES_BYTES:
            raise AttachmentError(
                f"cannot attach image {path}: the images of one question may come to "
                f"{MAX_IMAGES_BYTES:,} bytes together, and with it they would be {together:,} (each request "
                "of a member that sees them carries them all, and Anthropic refuses a request over 32 MB)"
            )
        self.images.append(image)
        return image

    def detach_images(self) -> list[ImageRecord]:
        """The next runs send no image; returns those that were attached."""
        dropped, self.images, self.images_gone, self.images_from = self.images, [], {}, None
        return dropped

    def images_to_send(self) -> tuple[list[Image], list[str]]:
        """The images the next run sends, and a note for each recorded one it cannot send."""
        sending = [image for image in self.images if isinstance(image, Image)]
        notes = [
            self._image_note(image, self.images_gone.get(image.sha256, "is no longer on disk"))
            for image in self.images
            if not isinstance(image, Image)
        ]
        return sending, notes

    def _image_note(self, image: ImageRecord, became: str) -> str:
        run = self.images_from or "the recorded run"
        if became == "has changed on disk":
            return (
                f"image {image.path} has changed on disk since run {run}: not sent "
                "(attach it again to send it as it is now)"
            )
        if became == "is no longer on disk":
            return (
                f"image {image.path} is no longer on disk: run {run} sent it, this run cannot "
                "(the history keeps its hash, not its bytes)"
            )
        return f"image {image.path} {became}: not sent"

    @property
    def project_context(self) -> TeamContext | None:
        """The context the configuration gives now (a project's `[context]`, usually)."""
        return self.settings.context.team_context()

    def use_project_context(self) -> None:
        """The next runs are asked with the configuration's context, not a recorded run's."""
        self.context, self.context_from = self.project_context, None

    def context_difference(self) -> str | None:
        """How the recorded run's context the next run is asked with differs from the one the
        configuration gives now (`with its context (Go · 2 people), not the one here now (…)`);
        None when the next run is asked with the configuration's."""
        if self.context_from is None or self.context == self.project_context:
            return None
        recorded = f"with its context ({context_chip(self.context)})" if self.context else "with no context"
        now = self.project_context
        return (
            f"{recorded}, not the one here now ({context_chip(now)})"
            if now
            else f"{recorded}; there is none here now"
        )

    def unused_options(self) -> list[str]:
        """A sentence for each option given that the next run's mode ignores (a round limit in
        consult mode), in the words of the front end that gave it (`--rounds`; MCP's `max_rounds`)."""
        if self.origin is Origin.MCP:
            return unused_in_mode(
                self.mode, max_rounds=self.rounds_given, option="max_rounds", mode_option="mode"
            )
        return unused_in_mode(self.mode, max_rounds=self.rounds_given)

    def rounds_for(self, mode: Mode) -> int:
        """The round limit a run in `mode` asks with: the one set (configured, given, or a recorded
        run's); a debate nobody set a limit for has its own, shorter default, never more than the
        configured limit."""
        if mode is Mode.DEBATE and not self.rounds_set:
            return min(DEBATE_ROUNDS, self.max_rounds)
        return self.max_rounds

    def toggle_mode(self) -> Mode:
        """The next mode in `MODE_CYCLE` for the next runs (after the last, the first again)."""
        following = MODE_CYCLE.index(self.mode) + 1 if self.mode in MODE_CYCLE else 0
        self.mode = MODE_CYCLE[following % len(MODE_CYCLE)]
        self.mode_chosen = True
        return self.mode

    def panel_for_config(self) -> list[str | dict[str, str]]:
        """The seats as `[panel] members` entries for the user config."""
        out: list[str | dict[str, str]] = []
        for spec in self.seats:
            if spec.stance_prompt:
                out.append(
                    {"model": spec.model, "stance": spec.stance.value, "stance_prompt": spec.stance_prompt}
                )
            else:
                out.append(f"{spec.model}:{spec.stance.value}")
        return out

    # -- building runs -----------------------------------------------------------------------

    def prepare(self, question: str) -> PreparedRun:
        """The request for the seats as they are now (raises `UsageError` for an empty panel).

        A key or token in the question (a configured key's value, a bearer token, anything shaped
        like a key: what `redact` takes out) is replaced by `[redacted]` here, before anything
        else sees it: no member needs a secret's value to answer about it, and a key sent to
        every provider on the panel, or echoed in an answer, is a key leaked. So the question
        the members answer is the one stored, keyed for the cache and shown; a note says so."""
        asked = question
        question = redact(question, secret_values(self.settings))
        members = self.members()
        kept, skipped = apply_instance_limit(members, self.settings.run.max_instances_per_combination)
        if not kept:
            raise UsageError(
                "the panel is empty: add a member (-m ALIAS[:STANCE], or Ctrl+N in the dashboard)"
            )
        kept_ids = {id(m) for m in kept}
        seat_of_member = [seat for seat, m in enumerate(members) if id(m) in kept_ids]
        skipped_seats: dict[int, SkippedMember] = {}
        skipped_iter = iter(skipped)
        for seat, m in enumerate(members):
            if id(m) not in kept_ids:
                skipped_seats[seat] = next(skipped_iter)
        notes = attachment_changes(self.files, self.files_from) if self.files_from else []
        images, unsent = self.images_to_send()
        notes += unsent
        difference = self.context_difference()
        notes += [f"asked as run {self.context_from} was, {difference}"] if difference else []
        if question != asked:
            notes.append(QUESTION_REDACTED)
        request = RunRequest(
            question=question,
            mode=self.mode,
            members=kept,
            skipped=skipped,
            synthesizers=synthesizer_chain(
                self.catalog, members, self.synthesizer, self.synthesizer_fallbacks
            ),
            files=self.files,
            images=images,
            focus=self.focus,
            context=self.context,
            max_rounds=self.rounds_for(self.mode),
            majority_threshold=self.majority_threshold,
            quorum=self.quorum,
            token_budget=self.token_budget,
            seed=self.settings.demo.seed,
            thread=self.thread,
            parent_run_id=self.thread[-1].run_id if self.thread else None,
            notes=notes,
            origin=self.origin,
            answer=self.answer,
        )
        self.mode_chosen = False  # the choice is made: a run now has it
        return PreparedRun(request, seat_of_member, skipped_seats)

    def follow_up(self, thread: list[PriorTurn]) -> None:
        """The next runs follow up on this thread (its last entry is the parent run)."""
        self.thread = list(thread)

    def take_over(self, followed: FollowedRun, ask: Ask) -> list[str]:
        """Follow up `followed.parent` asking what it asked — panel, mode, files, images, focus
        areas, round limit, budget, synthesizer, answer shape — except what `ask` gives itself
        (this session was started from `ask`), as F3 does on a run opened from the history.
        Returns notes for the user: what `adopt` says of the run, and an option its mode ignores."""
        seats, synthesizer = self.seats, self.synthesizer  # what `ask` gave, which the run's does not replace
        files, focus, images = self.files, self.focus, self.images
        notes = self.adopt(followed.parent, followed.parent_thread)
        self.follow_up(followed.thread)
        if ask.members:
            self.seats = seats
        if ask.synthesizer:
            self.synthesizer, self.synthesizer_fallbacks = synthesizer, None
        if ask.files:
            self.files, self.files_from = files, None
        if ask.focus:
            self.focus = focus
        if ask.images:  # its own images, in place of the run's: what became of those is beside the point
            unsent = set(self.images_to_send()[1])
            self.detach_images()
            self.images = images
            notes = [note for note in notes if note not in unsent]
        if ask.answer is not None:
            self.answer = ask.answer
        if ask.mode is not None:
            self.mode = ask.mode
        if ask.max_rounds is not None:
            self.max_rounds = self.rounds_given = ask.max_rounds
            self.rounds_set = True
        if ask.token_budget is not None:
            self.token_budget = ask.token_budget
        return [*notes, *self.unused_options()]

    def adopt(self, result: RunResult, thread: list[PriorTurn] | None = None) -> list[str]:
        """Show a recorded run (opening it from history) and take over everything it asked: panel,
        mode, files, focus areas, the team's context, round limit, budget, threshold, quorum,
        synthesizer chain and answer shape; `thread` is the context it followed up on. Returns
        notes for the user: members whose model has left the catalog (they cannot sit on a new
        run), files changed on disk or gone since (the recorded text is what a rerun sends), a
        recorded context that is not the one here now, and what an older record does not hold."""
        prepared = PreparedRun(replay_request(result, thread), list(range(len(result.members))), {})
        self.shown = ShownRun(prepared, result)
        known = self.catalog.aliases()
        self.seats = [
            MemberSpec(model=m.alias, stance=m.stance, stance_prompt=m.stance_prompt)
            for m in result.members
            if m.alias.lower() in known
        ]
        notes: list[str] = []
        missing = [m.alias for m in result.members if m.alias.lower() not in known]
        if missing:
            notes.append(f"{', '.join(missing)} no longer in the catalog: a rerun of this run leaves it out.")
        if not self.mode_chosen:  # "Next run: consult" holds until that run has started
            self.mode = result.mode
        self.rounds_given = None  # the recorded run's round limit is the next run's, not the flag's
        self.rounds_set = result.mode is Mode.DEBATE  # a debate's limit is its own; another's is not
        asked = result.asked
        self.answer = asked.answer if asked is not None else None
        if asked is None:
            run = self.settings.run
            self.max_rounds = result.max_rounds if result.mode in ROUNDS_MODES else run.max_rounds
            self.majority_threshold, self.token_budget = run.majority_threshold, run.token_budget
            self.quorum = run.quorum
            self.synthesizer_fallbacks = None
            self.files, self.focus, self.files_from = [], [], None
            self.detach_images()
            self.use_project_context()
            notes.append(
                "This run was recorded before Quorum kept attached files, focus areas and the budget: "
                "a rerun sends the question and the panel, with today's settings for the rest."
            )
            return notes
        self.max_rounds = asked.max_rounds
        self.majority_threshold = asked.majority_threshold
        self.quorum = asked.quorum
        self.token_budget = asked.token_budget
        self.files, self.focus = list(asked.files), list(asked.focus)
        self.files_from = result.run_id
        self.context, self.context_from = asked.context, result.run_id
        difference = self.context_difference()
        if difference:
            notes.append(
                f"Run {result.run_id} was asked {difference}: a rerun or follow-up of it is asked so too."
            )
        chain = [alias for alias in asked.synthesizers if alias.lower() in known]
        self.synthesizer = chain[0] if chain else None
        self.synthesizer_fallbacks = chain[1:] if chain else None
        notes += attachment_changes(self.files, result.run_id)
        self._adopt_images(asked.images, result.run_id)
        return notes + self.images_to_send()[1]

    def _adopt_images(self, recorded: list[ImageRecord], run_id: str) -> None:
        """Take over a recorded run's images: each still on disk as it was is read again, to be
        sent; each other is kept as its record, with what became of it (a run says it is not sent)."""
        self.images, self.images_gone, self.images_from = [], {}, run_id
        for record in recorded:
            found = recover_image(record)
            if isinstance(found, str):
                self.images_gone[record.sha256] = found
                self.images.append(record)
            else:
                self.images.append(found)

    def reuse_for(self, prepared: PreparedRun, rerun_seats: set[int]) -> dict[int, CallResult]:
        """Positions of the run on screen that the new run may carry over: same question, same seat
        (model, stance, prompt), a successful answer, and not among the seats being rerun."""
        if self.shown is None:
            return {}
        last, result = self.shown.prepared, self.shown.result
        if last.request.question != prepared.request.question:
            return {}
        if (
            last.request.files != prepared.request.files
            or last.request.focus != prepared.request.focus
            or last.request.context != prepared.request.context
            or last.request.answer != prepared.request.answer
            or _image_hashes(result) != [image.sha256 for image in prepared.request.images]
        ):
            return {}
        earlier: dict[tuple[str, Stance, str | None], CallResult] = {}
        for index, member in enumerate(last.request.members):
            position = result.positions[index] if index < len(result.positions) else None
            if position is not None and position.status is CallStatus.SUCCESS:
                earlier.setdefault((member.alias, member.stance, member.stance_prompt), position)
        reuse: dict[int, CallResult] = {}
        for index, member in enumerate(prepared.request.members):
            if prepared.seat_of_member[index] in rerun_seats:
                continue
            found = earlier.get((member.alias, member.stance, member.stance_prompt))
            if found is not None:
                reuse[index] = found
        return reuse

    def failed_seats(self) -> set[int]:
        """Seats whose position did not succeed in the run on screen (while it is live, a missing
        position is still coming, not failed)."""
        if self.shown is None:
            return set()
        last, result, live = self.shown.prepared, self.shown.result, self.shown.live
        failed: set[int] = set()
        for index, seat in enumerate(last.seat_of_member):
            position = result.positions[index] if index < len(result.positions) else None
            if (position is None and not live) or (
                position is not None and position.status is not CallStatus.SUCCESS
            ):
                failed.add(seat)
        return failed


def _image_hashes(result: RunResult) -> list[str]:
    """The images a run's positions answered, by hash (its record says, also for a run opened from
    the history, whose request is rebuilt without the bytes)."""
    return [image.sha256 for image in result.asked.images] if result.asked is not None else []


def open_store(settings: Settings) -> RunStore | None:
    """The history the settings ask for, or None when recording is turned off ([store] enabled)."""
    if not settings.store.enabled:
        return None
    return RunStore(
        paths.history_file(settings.store.path),
        secrets=secret_values(settings),
        lock_wait_s=settings.store.lock_wait_s,
    )


def check_keys(
    request: RunRequest,
    providers: Callable[[Member], object],
    synthesizer_named: bool,
    *,
    hint: str = "",
) -> None:
    """Refuse a run whose members (or the synthesizer asked for) need a key that is not set, in
    the words a member's pane would use (naming the key's variable), before anything is sent or
    recorded: `providers` (a `ProviderPool`, or what reads a member's key) raises the
    `ProviderError`. `hint` adds where this front end reads its keys from. A synthesizer not asked
    for is left to the chain, which passes over one it cannot call."""
    members = [*request.members, *(request.synthesizers[:1] if synthesizer_named else [])]
    for member in members:
        try:
            providers(member)
        except ProviderError as err:
            if err.kind is not ErrorKind.MISSING_KEY:
                continue  # a plugin's adapter that cannot be made costs its own members, in the run
            raise UsageError(f"{member.alias}: {err}" + (f"; {hint}" if hint else "")) from None


def start_run(
    settings: Settings,
    request: RunRequest,
    providers: ProviderLookup,
    sinks: Iterable[ev.EventSink],
    *,
    store: RunStore | None = None,
    reuse: Mapping[int, CallResult] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Run:
    """A `Run` of `request` whose events go to `sinks` and, when there is a history, to a recorder
    (every run is recorded, including one a rerun later replaces). Call `execute()` to run it."""
    # Imported here: a command that is answered without a run (a cache hit) never loads them.
    from tui.engine.orchestrator import Run
    from tui.history.recorder import RunRecorder

    targets = list(sinks)
    if store is not None:
        targets.append(
            RunRecorder(
                store, config=settings_snapshot(settings, request), parent_run_id=request.parent_run_id
            )
        )
    return Run(
        request,
        providers,
        ev.fan_out(*targets),
        base_prompt=settings.prompts.base,
        reuse=reuse,
        clock=clock,
    )
