"""The cache: answering a request from the history instead of asking the panel again.

One API for every front end: `Lookup(settings, request, store)`, whose `serve()` answers from an
earlier run (recorded as a hit) or finds nothing, and whose `suggest()` names the most similar
earlier run on a miss (see `tui.cache.lookup`); `warm_embedder` makes the embedder ready ahead of
the first lookup. `embedding` is what the cache asks of an embedder; `vectors` (the numpy side of
the semantic lookup) and `static_embedder` (the offline embedder) are imported only when a
semantic lookup needs them, so an exact hit never loads numpy. The question's own pure parts (its
key terms, the hit check, its keys) are `tui.question`.
"""

from tui.cache.lookup import Lookup, warm_embedder

__all__ = ["Lookup", "warm_embedder"]
