"""The numpy side of the semantic lookup: questions embedded, their vectors as the history keeps
them (`tui.history.vector_format`), and their similarity to a question's — one by one for the few
runs a lookup may serve, block by block for the scan of a whole vector set. Imported only when a
semantic lookup runs (numpy takes ~100 ms to load).

A scan holds one block at a time (1,024 vectors of the offline embedder: 256 KiB, widened to 1 MiB
of float32 for the product) and one score a question (4 bytes): its memory does not grow with the
history beyond those 4 bytes, and it never makes a Python object a vector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tui.history.vector_format import decode, encode

if TYPE_CHECKING:
    from tui.cache.embedding import Embedder
    from tui.history.vectors import VectorSet

Vector = npt.NDArray[np.float32]

MAX_EMBEDDED_PER_LOOKUP = 1_000
"""Questions of earlier runs without a vector embedded by one scan, at most: ~0.13 s of the offline
embedder on the development machine, ~250 KB kept. The rest wait for the next scans."""
MAX_EXAMINED_PER_LOOKUP = 10_000
"""Runs one scan looks through for questions without a vector, at most."""
NO_SCORE = -2.0
"""The score of a kept vector that cannot be compared (another length, zero): below any cosine."""


def unit(vector: Sequence[float] | Vector) -> Vector | None:
    """`vector` scaled to length 1, or None when it is no usable vector (empty, zero, not finite)."""
    values = np.asarray(vector, dtype=np.float32)
    if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
        return None
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 0 and np.isfinite(norm) else None


def kept_unit(kept: bytes) -> Vector | None:
    """A kept vector as a unit vector, or None for a zero one."""
    return unit(decode(kept))


def embedded(embedder: Embedder, keys: Sequence[str]) -> list[tuple[str, Vector | None, bytes | None]]:
    """Each key embedded (one call to the embedder: one request to an endpoint), as (key, its unit
    vector or None, its bytes to keep or None)."""
    if not keys:
        return []
    vectors = embedder.embed(list(keys))
    return [(key, unit(vector), encode(vector)) for key, vector in zip(keys, vectors, strict=True)]


def similarity(query: Vector, kept: bytes | None) -> float | None:
    """The cosine of `query` (a unit vector) with a kept vector, or None when that vector cannot be
    compared (none, another length, zero)."""
    if kept is None or len(kept) != len(query):
        return None
    stored = kept_unit(kept)
    return None if stored is None else float(stored @ query)


def scores(
    query: Vector, vectors: VectorSet, blocks: Iterable[tuple[int, bytes | None]]
) -> npt.NDArray[np.float32]:
    """The cosine of `query` with each slot of a vector set, read block by block (a damaged
    block's slots, and zero vectors, score `NO_SCORE`; all do when the set's vectors are of
    another length than the query)."""
    out = np.full(vectors.size, NO_SCORE, dtype=np.float32)
    if vectors.dim != len(query):
        return out
    for block, data in blocks:
        start = block * vectors.block_slots
        if data is None or start >= vectors.size:
            continue
        rows = np.frombuffer(data, dtype=np.int8).reshape(-1, vectors.dim)[: vectors.size - start]
        widened = rows.astype(np.float32)
        dots = widened @ query
        norms = np.sqrt(np.einsum("ij,ij->i", widened, widened))
        np.divide(dots, norms, out=out[start : start + len(rows)], where=norms > 0)
    return out


def ranked(scored: npt.NDArray[np.float32], floor: float) -> list[tuple[int, float]]:
    """The slots that score at least `floor`, best first, with their scores."""
    above = np.flatnonzero(scored >= floor)
    order = above[np.argsort(-scored[above], kind="stable")]
    return [(int(slot), float(scored[slot])) for slot in order]
