"""Answering a request from the history instead of asking the panel again.

Before a run starts, the front end (dashboard, `quorum run`, `quorum mcp`) looks for an earlier
run that answers the request: one that finished with success (never one that was interrupted,
failed, cancelled or whose synthesis is incomplete), in the same scope — mode, the asking team's
context, the attached files and images, the focus areas — by the same panel (`[cache]
match_panel`), no older than `[cache] max_age_days`. A follow-up is never served: its answer
depends on its thread.

- **Exact**: the same question after normalization (`tui.question.keys`): an indexed lookup,
  no embedder, no numpy.
- **Semantic**: otherwise, when an embedder is configured, the runs whose question has the same
  key terms (`tui.question.terms.signature`: no other run can pass the hit check) — an indexed
  lookup, a handful of rows whatever the size of the history — are compared with the question; a
  run is served only when the similarity reaches `[cache] threshold` *and* the hit check passes.
  Embedding and comparing block: the async front ends run `judge` in a thread.
- **Similar**: on a miss, the most similar earlier run of the scope is *suggested*, never served
  (`find_similar`: it compares with every question asked in the scope, each once, on a connection
  of its own, in a worker thread while the panel answers). A question's vector is kept by its
  question key as soon as a lookup embeds it.

A hit is served at once as a run of its own, recorded pointing at the original (whose calls it
shows), with what it saved: the original's cost, and its time less the lookup's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

from tui.cache.embedding import OFFLINE_EMBEDDER, Embedder
from tui.config.schema import Settings
from tui.engine.types import Asked, CacheInfo, CacheKind, Outcome, RunRequest, RunResult, RunStatus, Totals
from tui.errors import QuorumError, StoreError
from tui.history.similar import scan_connection, scope_of
from tui.history.store import RunStore, StoredQuestion
from tui.question.check import decide
from tui.question.keys import question_key
from tui.runtime import remote_embedder, settings_snapshot

if TYPE_CHECKING:
    from tui.cache.vectors import Matrix

log = logging.getLogger(__name__)

SUGGEST_MARGIN = 0.05
"""A run this much below the threshold (or above it but failing the check) is suggested, not served."""
MAX_EMBEDDED_PER_LOOKUP = 20_000
"""Stored questions without a vector embedded in one lookup, at most (the rest wait for the next)."""
MAX_COMPARED = 50_000
"""The distinct questions of a scope a suggestion is looked for among, newest first."""


@dataclass
class CacheOutcome:
    """What the lookup found: a hit (recorded, ready to show) or what a miss may say."""

    hit: RunResult | None = None
    miss: CacheInfo = field(default_factory=CacheInfo)
    problem: str | None = None
    """Why differently worded questions could not be compared this time (exact matches still were)."""


@dataclass(frozen=True)
class SemanticPlan:
    """What a semantic lookup compares, read from the history on the event loop's thread: the
    runs whose question has the same key terms (no other run can pass the hit check)."""

    question: str
    embedder_name: str
    stored: list[StoredQuestion]


@dataclass
class Judgement:
    """What comparing found (computed off the event loop): the runs that may be served, most
    similar first, and the vectors embedded on the way, to keep."""

    served: list[tuple[str, float]] = field(default_factory=list)
    new_vectors: list[tuple[str, int, bytes]] = field(default_factory=list)


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


def _since(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(days=settings.cache.max_age_days)


def _applies(settings: Settings, request: RunRequest) -> bool:
    """Whether the cache has a say in `request` at all: it is on, and the request is no follow-up
    (a follow-up's answer depends on its thread: it is never served, nor suggested)."""
    return settings.cache.enabled and not request.thread


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


def exact_hit(
    settings: Settings,
    request: RunRequest,
    store: RunStore | None,
    *,
    clock: Callable[[], float] = time.perf_counter,
    now: datetime | None = None,
) -> RunResult | None:
    """The request answered from a run that asked the same question, recorded; or None."""
    if store is None or not _applies(settings, request):
        return None
    started = clock()
    since = _since(settings, now or datetime.now(UTC))
    for run_id in store.cache_candidates(request, since=since, same_panel=settings.cache.match_panel):
        original = store.load(run_id)
        if servable(original):
            return _record(settings, request, store, original, CacheKind.EXACT, 1.0, clock() - started)
    return None


# -- semantic ---------------------------------------------------------------------------------


def semantic_plan(
    settings: Settings, request: RunRequest, store: RunStore | None, *, now: datetime | None = None
) -> SemanticPlan | None:
    """What a semantic lookup compares: the runs whose question has the same key terms (an indexed
    lookup, a handful of rows however long the history); None when there are none (then nothing
    is embedded, and numpy is not loaded)."""
    if store is None or not _applies(settings, request) or not settings.cache.embedder:
        return None
    name = _embedder_name(settings)
    since = _since(settings, now or datetime.now(UTC))
    stored = store.same_terms_candidates(request, name, since=since, same_panel=settings.cache.match_panel)
    return SemanticPlan(request.question, name, stored) if stored else None


def _embedder_name(settings: Settings) -> str:
    """The name vectors are stored under: the offline embedder's, or `provider:model id`."""
    name = settings.cache.embedder
    if name == "static":
        return OFFLINE_EMBEDDER
    config = settings.embedders[name]
    return f"{config.provider}:{config.id}"


def _embed_with(
    embedder: Embedder,
    question: str,
    keys: Sequence[str],
    stored: Sequence[tuple[bytes | None, int | None]],
    query: list[float] | None = None,
) -> tuple[list[float], Matrix, list[bool], list[tuple[str, int, bytes]]]:
    """The question's vector and the stored ones as unit rows (`keys[i]`'s vector is `stored[i]`):
    the question (unless its vector is given) and the stored keys without a usable vector go to
    the embedder together (one request to an endpoint); a stored vector that turns out corrupt
    (NaN, zero, another length) is embedded again. Also the vectors embedded, to keep."""
    from tui.cache.vectors import stored_matrix, to_blob

    dims = Counter(dim for vector, dim in stored if vector is not None and dim)
    dim = dims.most_common(1)[0][0] if dims else None
    missing = [
        i
        for i, (vector, d) in enumerate(stored)
        if vector is None or d != dim or len(vector) != 4 * (dim or 0)
    ][:MAX_EMBEDDED_PER_LOOKUP]
    query_key = question_key(question)
    asked_for = [keys[i] for i in missing] if query is not None else [query_key, *(keys[i] for i in missing)]
    embedded = embedder.embed(asked_for) if asked_for else []
    kept: list[tuple[str, int, bytes]] = []
    if query is None:
        query, embedded = embedded[0], embedded[1:]
        kept.append((query_key, len(query), to_blob(query)))
    fresh = dict(zip(missing, embedded, strict=True))
    matrix, valid = stored_matrix(stored, len(query), replace=fresh)
    again = [i for i, ok in enumerate(valid) if not ok and i not in fresh][
        : MAX_EMBEDDED_PER_LOOKUP - len(fresh)
    ]
    if again:
        fresh.update(zip(again, embedder.embed([keys[i] for i in again]), strict=True))
        matrix, valid = stored_matrix(stored, len(query), replace=fresh)
    kept += [(keys[i], len(vector), to_blob(vector)) for i, vector in fresh.items() if keys[i] != query_key]
    return query, matrix, valid, kept


def judge(settings: Settings, plan: SemanticPlan) -> Judgement:
    """Embed and compare the question with the runs of the plan (blocking: the async front ends
    call it in a thread); the runs the hit check lets through, most similar first."""
    from tui.cache.vectors import similarities

    embedder = embedder_for(settings)
    assert embedder is not None  # a plan is made only with an embedder configured
    keys = [entry.key for entry in plan.stored]
    query, matrix, valid, kept = _embed_with(
        embedder, plan.question, keys, [(entry.vector, entry.dim) for entry in plan.stored]
    )
    judgement = Judgement(new_vectors=kept)
    scores = similarities(query, matrix)
    threshold = settings.cache.threshold
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        entry, score = plan.stored[i], scores[i]
        if valid[i] and decide(entry.question, plan.question, score, threshold).hit:
            judgement.served.append((entry.run_id, score))
    return judgement


def serve_judgement(
    settings: Settings,
    request: RunRequest,
    store: RunStore,
    plan: SemanticPlan,
    judgement: Judgement,
    took_s: float,
) -> CacheOutcome:
    """Keep the vectors embedded on the way, then serve the best run the judgement allows (if it is
    still servable)."""
    if judgement.new_vectors:
        store.save_vectors(plan.embedder_name, judgement.new_vectors)
    for run_id, score in judgement.served:
        original = store.load(run_id)
        if servable(original):
            return CacheOutcome(
                hit=_record(settings, request, store, original, CacheKind.SEMANTIC, score, took_s)
            )
    return CacheOutcome()


def _exact_or_plan(
    settings: Settings, request: RunRequest, store: RunStore | None, clock: Callable[[], float]
) -> CacheOutcome | SemanticPlan:
    """The lookup up to the judging: an exact hit (or nothing to look in) settles it; else the
    semantic plan, if there is one to judge."""
    hit = exact_hit(settings, request, store, clock=clock)
    if hit is not None or store is None:
        return CacheOutcome(hit=hit)
    plan = semantic_plan(settings, request, store)
    return CacheOutcome() if plan is None else plan


def _judging_failed(err: QuorumError) -> CacheOutcome:
    log.warning("the semantic cache lookup failed (exact matches only): %s", err)
    return CacheOutcome(problem=str(err))


def serve_from_cache(
    settings: Settings,
    request: RunRequest,
    store: RunStore | None,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> CacheOutcome:
    """The whole lookup, blocking, for `quorum run` (it looks before its event loop starts): a hit,
    or on a miss the most similar earlier run, to suggest."""
    started = clock()
    plan = _exact_or_plan(settings, request, store, clock)
    if isinstance(plan, SemanticPlan):
        assert store is not None
        try:
            judgement = judge(settings, plan)
        except QuorumError as err:
            return _judging_failed(err)
        outcome = serve_judgement(settings, request, store, plan, judgement, clock() - started)
    else:
        outcome = plan
    if outcome.hit is not None or store is None:
        return outcome
    return find_similar(settings, request, store.path)


async def serve_from_cache_async(
    settings: Settings,
    request: RunRequest,
    store: RunStore | None,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> CacheOutcome:
    """The lookup for a hit, for a front end on an event loop: the history is read on the loop
    (indexed lookups; its connection belongs to the loop's thread), embedding and comparing run
    in a thread. A miss says nothing yet: `find_similar_async` looks for a run to suggest while the
    panel answers."""
    started = clock()
    plan = _exact_or_plan(settings, request, store, clock)
    if isinstance(plan, CacheOutcome):
        return plan
    assert store is not None
    try:
        judgement = await asyncio.to_thread(judge, settings, plan)
    except QuorumError as err:
        return _judging_failed(err)
    return serve_judgement(settings, request, store, plan, judgement, clock() - started)


# -- suggesting -------------------------------------------------------------------------------


def find_similar(
    settings: Settings, request: RunRequest, history: Path, *, now: datetime | None = None
) -> CacheOutcome:
    """The most similar earlier run in the request's scope that was not served: compared with
    every question asked there (each once), on a connection of its own to the `history` file —
    blocking, so the async front ends call it in a thread. The question's vector is taken as kept
    when it is; the vectors embedded on the way (the question's own among them, so the run now
    asked is compared without embedding it again) are kept. A failing embedder or a busy history
    leave a miss that says so."""
    if not _applies(settings, request) or not settings.cache.embedder:
        return CacheOutcome()
    name = _embedder_name(settings)
    scope = scope_of(
        request, name, since=_since(settings, now or datetime.now(UTC)), same_panel=settings.cache.match_panel
    )
    own = question_key(request.question)
    try:
        with scan_connection(history) as scan:
            asked = [q for q in scan.questions(scope, limit=MAX_COMPARED) if q.key != own]
            if not asked:
                return CacheOutcome()
            embedder = embedder_for(settings)
            assert embedder is not None
            from tui.cache.vectors import from_blob  # numpy: only once there is something to compare

            # The question's own vector, if this lookup's judging (or an earlier one) kept it: an
            # embedding endpoint is not asked for it twice.
            known = scan.kept_vector(name, own)
            query, matrix, valid, kept = _embed_with(
                embedder,
                request.question,
                [q.key for q in asked],
                [(q.vector, q.dim) for q in asked],
                query=from_blob(*known) if known is not None else None,
            )
            scan.keep_vectors(name, kept)
    except (QuorumError, StoreError) as err:
        return _judging_failed(err)
    from tui.cache.vectors import similarities  # numpy: only once there is something to compare

    scores = similarities(query, matrix)
    best = max((i for i in range(len(asked)) if valid[i]), key=lambda i: scores[i], default=None)
    if best is None or scores[best] < settings.cache.threshold - SUGGEST_MARGIN:
        return CacheOutcome()
    return CacheOutcome(miss=CacheInfo(similar_run_id=asked[best].run_id, similarity=round(scores[best], 4)))


async def find_similar_async(settings: Settings, request: RunRequest, store: RunStore | None) -> CacheOutcome:
    """`find_similar` in a worker thread (its scan reads every question of the scope). Only a
    suggestion: whatever goes wrong is logged, never raised into the run it accompanies."""
    if store is None:
        return CacheOutcome()
    try:
        return await asyncio.to_thread(find_similar, settings, request, store.path)
    except Exception:
        log.exception("looking for a similar earlier run failed")
        return CacheOutcome()


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
