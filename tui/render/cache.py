"""What people read about the cache: one line for a hit, one for a similar run that was not served."""

from __future__ import annotations

import math

from tui.engine.types import CacheInfo, CacheKind
from tui.render.formatting import cost


def match_percent(similarity: float | None) -> str:
    """`94% match`, rounded down, and at most 99%: a question worded otherwise is never shown as
    a 100% match, even one whose words are all the same in another order (the same embedding,
    and perhaps the opposite meaning: the check may refuse it)."""
    return f"{min(99, math.floor((similarity or 0.0) * 100 + 1e-9))}% match"


def _hit_words(cache: CacheInfo) -> list[str]:
    """How a hit matched and what it saved: `exact match`, `saved $0.08`, `4.2 s faster`."""
    how = "exact match" if cache.kind is CacheKind.EXACT else match_percent(cache.similarity)
    words = [how, f"saved {cost(cache.saved_usd or 0)}"]
    if cache.saved_seconds:
        words.append(f"{cache.saved_seconds:.1f} s faster")
    return words


def served_line(cache: CacheInfo) -> str:
    """The completion line of a run served from the cache, in place of its (zero) totals:
    `Served from the cache · 94% match · saved $0.08 · 4.2 s faster`."""
    return " · ".join(["Served from the cache", *_hit_words(cache)])


def cache_line(cache: CacheInfo, fresh_key: str | None = None) -> str | None:
    """`Cache hit (exact match, saved $0.08, 4.2 s faster) — original run 3f2a1c9e0b7d`, with how
    to run it fresh when `fresh_key` is given; for a miss, the similar earlier run if there is one
    (`A similar earlier run: 3f2a1c9e0b7d (91% match), not served`); None for a plain miss."""
    if not cache.hit:
        if cache.similar_run_id is None:
            return None
        match = f" ({match_percent(cache.similarity)})" if cache.similarity is not None else ""
        return (
            f"A similar earlier run: {cache.similar_run_id}{match}, not served "
            f"(`quorum show {cache.similar_run_id}`)"
        )
    line = f"Cache hit ({', '.join(_hit_words(cache))}) — original run {cache.original_run_id}"
    return line + (f", {fresh_key} runs it fresh" if fresh_key else "")
