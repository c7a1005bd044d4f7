"""How the history stores a question's vector: one signed byte a dimension.

A vector is scaled so that its largest component is ±127 and rounded to int8. The scale is not
kept: the cache compares directions (the cosine), which a scale does not change, so a stored
vector is normalized when it is compared. Measured on the labelled pairs of
`benchmarks/bench_cache.py` (325 with the adversarial ones): the cosine moves by 0.0009 at most
(0.0001 on average) and no decision to serve changes; float16 moved it less (0.00002) but costs
twice the bytes and, in numpy, ten times the time to widen for the product. 256 bytes a question
for the offline embedder, a quarter of float32's.

Imported only where vectors are made or moved (numpy takes ~100 ms to load).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def encode(vector: Sequence[float] | npt.NDArray[np.floating]) -> bytes | None:
    """A vector as the history keeps it, or None for one that cannot be (empty, not finite). A zero
    vector (a question of no known word) is kept as zeros: it is like nothing."""
    values = np.asarray(vector, dtype=np.float32)
    if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
        return None
    peak = float(np.abs(values).max())
    scaled = values * (127.0 / peak) if peak > 0 else values
    return np.rint(scaled).astype(np.int8).tobytes()


def decode(data: bytes) -> npt.NDArray[np.float32]:
    """A kept vector as float32, in the scale it was kept at (normalize it to compare)."""
    return np.frombuffer(data, dtype=np.int8).astype(np.float32)
