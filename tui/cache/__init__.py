"""The cache: answering a request from the history instead of asking the panel again.

`lookup` finds and serves an earlier run (exact, then semantic) and records the hit; `vectors`
holds the numpy side of the semantic lookup (stored vectors, similarity) and `static_embedder`
the offline embedder, both imported only when a semantic lookup needs them, so an exact hit
never loads numpy.
"""

from tui.cache.lookup import (
    CacheOutcome,
    find_similar_async,
    serve_from_cache,
    serve_from_cache_async,
    warm_embedder,
)

__all__ = [
    "CacheOutcome",
    "find_similar_async",
    "serve_from_cache",
    "serve_from_cache_async",
    "warm_embedder",
]
