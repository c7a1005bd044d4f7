"""The numpy side of the semantic lookup: stored vectors in and out of their BLOBs, and the most
similar stored question. Imported only when a semantic lookup runs (numpy takes ~100 ms to load)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


def to_blob(vector: Sequence[float]) -> bytes:
    """A vector as the history stores it: little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes | None, dim: int) -> Matrix | None:
    """A stored vector, or None when it cannot be one (the wrong length, NaN or infinite values, or
    no length at all): a corrupt vector is treated as absent, never trusted."""
    if not isinstance(blob, bytes) or dim <= 0 or len(blob) != dim * 4:
        return None
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(vector).all() or norm == 0.0:
        return None
    return vector / norm


def similarities(query: Sequence[float], stored: Sequence[Matrix]) -> list[float]:
    """The cosine of `query` with each stored (unit) vector of its length; -1 for another length."""
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if not stored or norm == 0.0 or not np.isfinite(q).all():
        return [-1.0] * len(stored)
    q = q / norm
    same = [i for i, v in enumerate(stored) if v.shape == q.shape]
    out = [-1.0] * len(stored)
    if same:
        scores = np.stack([stored[i] for i in same]) @ q
        for i, score in zip(same, scores.tolist(), strict=True):
            out[i] = float(score)
    return out
