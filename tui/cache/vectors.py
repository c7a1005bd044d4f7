"""The numpy side of the semantic lookup: stored vectors in and out of their BLOBs, the questions
without a usable one embedded, and their similarity to a question's. Imported only when a semantic
lookup runs (numpy takes ~100 ms to load)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tui.question.keys import question_key

if TYPE_CHECKING:
    from tui.cache.embedding import Embedder

Matrix = npt.NDArray[np.float32]

MAX_EMBEDDED_PER_LOOKUP = 20_000
"""Stored questions without a vector embedded in one lookup, at most (the rest wait for the next)."""


def to_blob(vector: Sequence[float]) -> bytes:
    """A vector as the history stores it: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes | None, dim: int | None) -> list[float] | None:
    """A kept vector back, if it is one: `dim` finite float32 values, not all zero; else None."""
    if blob is None or not dim or len(blob) != 4 * dim:
        return None
    vector = np.frombuffer(blob, dtype="<f4")
    if not np.isfinite(vector).all() or not vector.any():
        return None
    values: list[float] = vector.tolist()
    return values


def stored_matrix(
    stored: Sequence[tuple[bytes | None, int | None]],
    dim: int,
    replace: Mapping[int, Sequence[float]] | None = None,
) -> tuple[Matrix, list[bool]]:
    """The stored vectors of length `dim` as the unit rows of one matrix, and which rows are
    usable. A vector of another length, the wrong number of bytes, NaN or infinite values, or no
    length at all is not (a corrupt vector is treated as absent, never trusted); its row is zero.
    `replace` gives rows embedded just now in place of unusable ones."""
    size = dim * 4
    rows = np.zeros((len(stored), dim), dtype=np.float32)
    usable = [isinstance(blob, bytes) and d == dim and len(blob) == size for blob, d in stored]
    picked = [i for i, ok in enumerate(usable) if ok]
    if picked:
        joined = b"".join(blob for blob, _ in (stored[i] for i in picked) if blob is not None)
        rows[picked] = np.frombuffer(joined, dtype="<f4").reshape(len(picked), dim)
    for i, vector in (replace or {}).items():
        if len(vector) == dim:
            rows[i] = np.asarray(vector, dtype=np.float32)
            usable[i] = True
    with np.errstate(invalid="ignore", over="ignore"):
        norms = np.linalg.norm(rows, axis=1)
    good = np.isfinite(rows).all(axis=1) & np.isfinite(norms) & (norms > 0)
    rows[~good] = 0.0
    rows[good] /= norms[good, None]
    return rows, [bool(ok and fine) for ok, fine in zip(usable, good.tolist(), strict=True)]


def similarities(query: Sequence[float], matrix: Matrix) -> list[float]:
    """The cosine of `query` with each (unit) row; 0 for a zero row, -1 for all when the query
    itself is no usable vector."""
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if norm == 0.0 or not np.isfinite(q).all():
        return [-1.0] * len(matrix)
    scores: list[float] = (matrix @ (q / norm)).tolist()
    return scores


def embed_and_compare(
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
