"""Answering a request from the history instead of asking the panel again: one lookup, the same
for every front end.

Before a run starts, the front end (dashboard, `quorum run`, `quorum mcp`) makes a `Lookup` of its
request and awaits `serve()`: an earlier run that answers the request, recorded as a hit, or None.
On a miss it starts the run and, while the panel answers, awaits `suggest()`: the most similar
earlier run, to name, never to serve. `quorum run`, which has no event loop yet, runs both with
`asyncio.run`. Both do their blocking work in a worker thread, and both may be cancelled (a
cancelled `serve()` records nothing). `problem` says why differently worded questions could not
be compared this time (exact matches still were).

A run is served only when it finished with success (never one that was interrupted, failed,
cancelled or whose synthesis is incomplete), in the same scope — mode, the asking team's context,
the attached files and images, the focus areas — by the same panel (`[cache] match_panel`), no
older than `[cache] max_age_days`. A follow-up is never served: its answer depends on its thread.

- **Exact**: the same question after normalization (`tui.question.keys`): an indexed lookup,
  no embedder, no numpy, on the event loop's thread (the history's connection belongs to it).
- **Semantic**: otherwise, when an embedder is configured, the runs whose question has the same
  key terms (`tui.question.terms.signature`: no other run can pass the hit check) — an indexed
  lookup, a handful of rows whatever the size of the history — are compared with the question in
  a worker thread; a run is served only when the similarity reaches `[cache] threshold` *and* the
  hit check passes.
- **Similar**: on a miss, the most similar earlier run of the scope is *suggested*, never served
  (it compares with every question asked in the scope, each once, on a connection of its own, in
  a worker thread while the panel answers). A question's vector is kept by its question key as
  soon as a lookup embeds it.

A hit is served at once as a run of its own, recorded pointing at the original (whose calls it
shows), with what it saved: the original's cost, and its time less the lookup's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

from tui.cache.embedding import OFFLINE_EMBEDDER, Embedder
from tui.config.schema import Settings
from tui.config.snapshot import settings_snapshot
from tui.engine.types import Asked, CacheInfo, CacheKind, Outcome, RunRequest, RunResult, RunStatus, Totals
from tui.errors import QuorumError, StoreError
from tui.history.similar import ScanConnection, Scope, scan_connection, scope_of
from tui.history.store import RunStore, StoredQuestion
from tui.pool import remote_embedder
from tui.question.check import decide
from tui.question.keys import question_key

if TYPE_CHECKING:
    from tui.cache.vectors import Vector

log = logging.getLogger(__name__)

SUGGEST_MARGIN = 0.05
"""A run this much below the threshold (or above it but failing the check) is suggested, not served."""


class Lookup:
    """One request's look in the cache of one history (`store`; None: no history, nothing found)."""

    def __init__(
        self,
        settings: Settings,
        request: RunRequest,
        store: RunStore | None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings, self.request, self.store = settings, request, store
        self._clock = clock
        self.problem: str | None = None
        """Why differently worded questions could not be compared (an embedder that failed, a
        history the scan could not read); exact matches still were."""

    @property
    def _applies(self) -> bool:
        """Whether the cache has a say in the request at all: there is a history, the cache is on,
        and the request is no follow-up (a follow-up's answer depends on its thread: it is never
        served, nor suggested)."""
        return self.store is not None and self.settings.cache.enabled and not self.request.thread

    def _since(self) -> datetime:
        return datetime.now(UTC) - timedelta(days=self.settings.cache.max_age_days)

    async def serve(self) -> RunResult | None:
        """An earlier run's answer to the request, recorded as a run of its own; or None. An exact
        match is read from the history at once; differently worded questions with the same key
        terms are embedded and compared in a worker thread. A history that cannot be read raises
        `StoreError`; an embedder that fails leaves exact matches only, and says so in `problem`."""
        if not self._applies:
            return None
        assert self.store is not None
        started = self._clock()
        since = self._since()
        hit = _exact_hit(self.settings, self.request, self.store, since)
        if hit is not None:
            return _record(
                self.settings, self.request, self.store, hit, CacheKind.EXACT, 1.0, self._took(started)
            )
        plan = _semantic_plan(self.settings, self.request, self.store, since)
        if plan is None:
            return None
        try:
            judgement = await asyncio.to_thread(_judge, self.settings, plan)
        except QuorumError as err:
            self._failed(err)
            return None
        if judgement.new_vectors:
            self.store.save_vectors(plan.embedder_name, judgement.new_vectors)
        for run_id, score in judgement.served:
            original = self.store.load(run_id)
            if servable(original):
                took = self._took(started)
                return _record(
                    self.settings, self.request, self.store, original, CacheKind.SEMANTIC, score, took
                )
        return None

    async def suggest(self) -> CacheInfo:
        """On a miss, the most similar earlier run in the request's scope (`similar_run_id`), not
        served; or nothing. Compared with every question asked there, in a worker thread (the
        scan grows with the history): await it while the panel answers. Only a suggestion:
        nothing that goes wrong is raised into the run it accompanies (`problem` says what did),
        and an embedder that already failed in this lookup is not asked again."""
        if not self._applies or not self.settings.cache.embedder or self.problem is not None:
            return CacheInfo()
        assert self.store is not None
        try:
            return await asyncio.to_thread(
                _find_similar, self.settings, self.request, self.store.path, self._since()
            )
        except (QuorumError, StoreError) as err:
            self._failed(err)
        except Exception:
            log.exception("looking for a similar earlier run failed")
        return CacheInfo()

    def _took(self, started: float) -> float:
        return self._clock() - started

    def _failed(self, err: QuorumError) -> None:
        log.warning("the semantic cache lookup failed (exact matches only): %s", err)
        self.problem = str(err)


# -- the embedders: made once per process, on first use ---------------------------------------

_embedders: dict[str, Embedder] = {}


def embedder_for(settings: Settings) -> Embedder | None:
    """The embedder `[cache] embedder` names, or None for exact matches only. Made on first use
    (the offline one reads its weights only when it first embeds)."""
    name = settings.cache.embedder
    if not name:
        return None
    if name in _embedders:
        return _embedders[name]
    if name == "static":
        from tui.cache.static_embedder import StaticEmbedder

        _embedders[name] = StaticEmbedder()
        return _embedders[name]
    return remote_embedder(settings, name)  # made per lookup: the environment decides key and address


def embedder_name(settings: Settings) -> str:
    """The name vectors are stored under: the offline embedder's, or `provider:model id`."""
    name = settings.cache.embedder
    if name == "static":
        return OFFLINE_EMBEDDER
    config = settings.embedders[name]
    return f"{config.provider}:{config.id}"


def warm_embedder(settings: Settings) -> threading.Thread | None:
    """Start reading the offline embedder's weights (and numpy, and the tokenizer) in a thread of
    its own, so neither the first lookup waits for them nor a run's stream: the reading holds
    Python's lock in long stretches (measured: 110-130 ms stalls of the event loop when it
    overlapped the first run's stream). A long-lived front end calls it once, as it starts; the
    embedder is made in the thread too (a remote one loads its SDK's module)."""
    if not settings.cache.enabled or not settings.cache.embedder:
        return None

    def read() -> None:
        try:
            load = getattr(embedder_for(settings), "load", None)
            if callable(load):
                load()
        except QuorumError:
            return  # a remote embedder without its key, or weights that cannot be read: the lookup says so
        except Exception:  # the lookup that needs the embedder reports what is wrong with it
            log.warning("making the embedder ready ahead of the first lookup failed", exc_info=True)

    thread = threading.Thread(target=read, name="quorum embedder warm", daemon=True)
    thread.start()
    return thread


# -- exact ------------------------------------------------------------------------------------


def servable(original: RunResult) -> bool:
    """Whether a recorded run's answer may be served: it finished with success and a whole synthesis
    that is the panel's answer (a run with no quorum decided nothing: asking again may)."""
    return (
        original.status is RunStatus.SUCCESS
        and original.synthesis is not None
        and original.synthesis_incomplete is None
        and original.outcome is not Outcome.NO_QUORUM
        and not original.cache.hit
    )


def _exact_hit(settings: Settings, request: RunRequest, store: RunStore, since: datetime) -> RunResult | None:
    """The run that asked the same question, if one may be served."""
    for run_id in store.cache_candidates(request, since=since, same_panel=settings.cache.match_panel):
        original = store.load(run_id)
        if servable(original):
            return original
    return None


# -- semantic ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SemanticPlan:
    """What a semantic lookup compares, read from the history on the event loop's thread: the
    runs whose question has the same key terms (no other run can pass the hit check)."""

    question: str
    embedder_name: str
    stored: list[StoredQuestion]


@dataclass
class _Judgement:
    """What comparing found (computed off the event loop): the runs that may be served, most
    similar first, and the vectors embedded on the way, to keep."""

    served: list[tuple[str, float]] = field(default_factory=list)
    new_vectors: list[tuple[str, bytes]] = field(default_factory=list)


def _semantic_plan(
    settings: Settings, request: RunRequest, store: RunStore, since: datetime
) -> _SemanticPlan | None:
    """The runs whose question has the same key terms (an indexed lookup, a handful of rows
    however long the history); None when there are none or no embedder (then nothing is
    embedded, and numpy is not loaded)."""
    if not settings.cache.embedder:
        return None
    name = embedder_name(settings)
    stored = store.same_terms_candidates(request, name, since=since, same_panel=settings.cache.match_panel)
    return _SemanticPlan(request.question, name, stored) if stored else None


def _judge(settings: Settings, plan: _SemanticPlan) -> _Judgement:
    """Embed and compare the question with the runs of the plan (blocking: run in a thread); the
    runs the hit check lets through, most similar first. The question and the runs without a
    usable kept vector go to the embedder together (one request to an endpoint); a kept vector
    that cannot be compared (another length, zero) is embedded again."""
    from tui.cache.vectors import embedded, similarity

    embedder = embedder_for(settings)
    assert embedder is not None  # a plan is made only with an embedder configured
    fresh = {
        key: (vector, kept)
        for key, vector, kept in embedded(
            embedder,
            list(
                dict.fromkeys(
                    [question_key(plan.question), *(e.key for e in plan.stored if e.vector is None)]
                )
            ),
        )
    }
    query = fresh[question_key(plan.question)][0]
    judgement = _Judgement()
    if query is None:
        return judgement

    def score(entry: StoredQuestion) -> float | None:
        if entry.key in fresh:
            vector = fresh[entry.key][0]
            return None if vector is None or len(vector) != len(query) else float(vector @ query)
        return similarity(query, entry.vector)

    again = list(dict.fromkeys(e.key for e in plan.stored if e.key not in fresh and score(e) is None))
    fresh.update((key, (vector, kept)) for key, vector, kept in embedded(embedder, again))
    judgement.new_vectors = [
        (key, kept) for key, (_, kept) in fresh.items() if kept is not None and len(kept) == len(query)
    ]
    scored = [(entry, value) for entry in plan.stored if (value := score(entry)) is not None]
    threshold = settings.cache.threshold
    for entry, value in sorted(scored, key=lambda pair: -pair[1]):
        if decide(entry.question, plan.question, value, threshold).hit:
            judgement.served.append((entry.run_id, value))
    return judgement


# -- suggesting -------------------------------------------------------------------------------

_examining = threading.Lock()
"""Held by the scan that looks through earlier runs for questions without a vector: two scans of
one process (concurrent MCP calls) would embed the same questions."""
CANDIDATES_AT_ONCE = 64
"""The most similar questions whose runs in the scope are looked up in one read."""


def _find_similar(settings: Settings, request: RunRequest, history: Path, since: datetime) -> CacheInfo:
    """The most similar earlier run in the request's scope that was not served (blocking: run in a
    thread), on a connection of its own to the `history` file: the question is compared with every
    vector the embedder has kept, block by block, and the runs of the most similar questions are
    looked up in the scope, best first, until one is found. On the way, questions of earlier runs
    without a vector (a history recorded before, or with the cache off) are embedded, at most
    `MAX_EMBEDDED_PER_LOOKUP` a scan, newest first, together with the question's own if it has
    none (one request to an endpoint), and kept. A failing embedder (`QuorumError`) or history
    (`StoreError`) raise."""
    name = embedder_name(settings)
    scope = scope_of(request, name, since=since, same_panel=settings.cache.match_panel)
    own = question_key(request.question)
    with scan_connection(history) as scan:
        if not scan.asked_in(scope, besides=own):
            return CacheInfo()  # nothing to compare with: neither numpy nor the embedder is loaded
        from tui.cache import vectors

        embedder = embedder_for(settings)
        assert embedder is not None
        # The question's own vector, if this lookup's judging (or an earlier one) kept it: an
        # embedding endpoint is not asked for it twice.
        known = scan.kept_vector(name, own)
        query = vectors.kept_unit(known) if known is not None else None
        examining = _examining.acquire(blocking=False)
        try:
            pending = (
                scan.unexamined(
                    name,
                    keys_at_most=vectors.MAX_EMBEDDED_PER_LOOKUP,
                    runs_at_most=vectors.MAX_EXAMINED_PER_LOOKUP,
                )
                if examining
                else None
            )
            keys = [key for key in pending.keys if key != own] if pending is not None else []
            fresh = vectors.embedded(embedder, keys if query is not None else [own, *keys])
            if query is None:
                query = fresh[0][1]
            if query is None:
                return CacheInfo()  # a question of no known word is like none
            kept = [(key, data) for key, _, data in fresh if data is not None and len(data) == len(query)]
            stored = scan.keep_vectors(name, kept, examined=pending.examined if pending is not None else None)
        finally:
            if examining:
                _examining.release()
        # Embedded but not kept (the history was locked): compared as they are.
        unkept = (
            [] if stored else [(key, vector) for key, vector, _ in fresh if key != own and vector is not None]
        )
        return _most_similar(scan, scope, own, query, name, unkept, settings.cache.threshold - SUGGEST_MARGIN)


def _most_similar(
    scan: ScanConnection,
    scope: Scope,
    own: str,
    query: Vector,
    embedder: str,
    unkept: list[tuple[str, Vector]],
    floor: float,
) -> CacheInfo:
    """The best scored question at or above `floor` that has a run in `scope` (not `own`)."""
    from tui.cache import vectors

    kept = scan.vector_set(embedder)
    ranked = vectors.ranked(vectors.scores(query, kept, scan.blocks(kept)), floor) if kept is not None else []
    extra = sorted(
        ((float(vector @ query), key) for key, vector in unkept if len(vector) == len(query)), reverse=True
    )
    extra = [(score, key) for score, key in extra if score >= floor]
    for start in range(0, max(len(ranked), 1), CANDIDATES_AT_ONCE):
        batch = ranked[start : start + CANDIDATES_AT_ONCE]
        keys = scan.keys_at(kept, [slot for slot, _ in batch]) if kept is not None and batch else {}
        last = start + CANDIDATES_AT_ONCE >= len(ranked)
        lowest = batch[-1][1] if batch and not last else floor
        scored = [(score, keys[slot]) for slot, score in batch if slot in keys]
        scored += [pair for pair in extra if pair[0] >= lowest]
        extra = [pair for pair in extra if pair[0] < lowest]
        scored = sorted((pair for pair in scored if pair[1] != own), key=lambda pair: -pair[0])
        runs = scan.newest_runs(scope, (key for _, key in scored))
        for score, key in scored:
            if key in runs:
                return CacheInfo(similar_run_id=runs[key], similarity=round(score, 4))
    return CacheInfo()


# -- serving ----------------------------------------------------------------------------------


def _record(
    settings: Settings,
    request: RunRequest,
    store: RunStore,
    original: RunResult,
    kind: CacheKind,
    similarity: float,
    took_s: float,
) -> RunResult:
    """`original`'s answer served for `request`, recorded as a run of its own."""
    hit = _served(request, original, kind, similarity, took_s)
    store.record_cache_hit(request, hit, config=settings_snapshot(settings, request))
    return hit


def _served(
    request: RunRequest, original: RunResult, kind: CacheKind, similarity: float, took_s: float
) -> RunResult:
    """`original`'s answer as a run of its own for `request`: asked as `request` asked, answered as
    `original` was, costing nothing and taking the lookup's time."""
    took_ms = max(1, round(took_s * 1000))
    cache = CacheInfo(
        hit=True,
        kind=kind,
        similarity=round(similarity, 4),
        original_run_id=original.run_id,
        saved_usd=round(original.totals.cost_usd, 6),
        saved_seconds=round(max(0.0, original.totals.wall_ms / 1000 - took_s), 1),
    )
    stamp = datetime.now(UTC)
    return original.model_copy(
        deep=True,
        update={
            "run_id": uuid4().hex[:12],
            "question": request.question,
            "asked": Asked.of(request),
            "notes": [*request.notes, f"served from the cache: run {original.run_id} answered it"],
            "errors": [],
            "parent_run_id": None,
            "origin": request.origin,
            "started_at": stamp,
            "finished_at": stamp,
            "totals": Totals(wall_ms=took_ms),
            "cache": cache,
        },
    )
