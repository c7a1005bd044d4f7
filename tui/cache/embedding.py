"""What the cache asks of an embedder: text in, one unit vector per text out.

Implementations read weight files or call an endpoint: the offline
`tui.cache.static_embedder` and the OpenAI-compatible `tui.providers.openai_embeddings`. Vectors
of different embedders are never compared: each is stored with its embedder's `name`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

OFFLINE_EMBEDDER = "static:wordllama-l2-supercat-256"
"""The offline embedder's name (`[cache] embedder = "static"`), as its vectors are stored."""


class Embedder(Protocol):
    """Turns questions into vectors whose cosine says how alike two questions are."""

    @property
    def name(self) -> str:
        """What made the vectors (`static:wordllama-l2-supercat-256`, `text-embedding-3-small`):
        stored with each vector, so vectors of another embedder are never compared."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalized vector per text, in order (blocking: call it off the event loop)."""
        ...
