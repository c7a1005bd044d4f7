"""The cache's hit check: whether a recorded run's answer may be served for a new question.

The embedder proposes; this module disposes. An embedding similarity alone cannot tell
"migrate REST to GraphQL" from "migrate GraphQL to REST" (a bag of word vectors scores them 1.000),
nor "MD5 for passwords" from "bcrypt for passwords". So a semantic hit must also pass a lexical
guard that near-misses fail: both questions are reduced to their key terms (`tui.question.terms`),
and the guard passes only when

- the multisets of key terms are identical (any differing word — a swapped technology, a changed
  constraint or number, a negation — rejects: "synonyms only" means "only differences the
  synonym table removes"), and
- the key-term sequence (conjunctions left out) of one question is the other's or a rotation
  of it: moving a leading or trailing clause ("For X, should we Y?" vs "Should we Y for X?")
  rotates the sequence, while swapping the ends of a relation ("from A to B" vs "from B to A",
  "A calls B" vs "B calls A") never does for three or more terms. With two terms a rotation
  is a swap ("Postgres for analytics?" vs "Analytics for Postgres?"), so two-term sequences must
  match exactly.

Precision first: any doubt rejects. Measured on the labelled set in `benchmarks/data/`
(`benchmarks/bench_cache.py`): no near-miss served at the default threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.question.terms import key_terms

__all__ = ["DEFAULT_THRESHOLD", "Decision", "decide", "guard"]

DEFAULT_THRESHOLD = 0.92


def _order_ok(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when ``b`` equals ``a`` or one rotation of it (one leading/trailing clause moved)."""
    if a == b:
        return True
    if len(a) != len(b) or len(a) < 3:
        return False  # with two terms a rotation is a swap: "Postgres for analytics?"
    return any(a[i:] + a[:i] == b for i in range(1, len(a)))


# -------------------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class Decision:
    """Whether to serve a stored run for a new question, and why."""

    hit: bool
    """Serve the stored answer."""
    reason: str
    """One line a person can read: why it was or was not served."""


def guard(question_a: str, question_b: str) -> tuple[bool, str]:
    """The lexical check alone: (passes, reason). Symmetric."""
    ka, kb = key_terms(question_a), key_terms(question_b)
    bag_a, bag_b = ka.bag, kb.bag  # conjunctions included
    if bag_a != bag_b:
        only_a = sorted((bag_a - bag_b).elements())
        only_b = sorted((bag_b - bag_a).elements())
        return False, f"differing key terms: {only_a} vs {only_b}"
    if not ka.sequence:
        return False, "no key terms to compare"
    if not _order_ok(ka.ordered, kb.ordered):
        return False, "order of key terms differs: " + " ".join(ka.ordered) + " | " + " ".join(kb.ordered)
    return True, "same key terms in the same order"


def decide(
    question_a: str,
    question_b: str,
    similarity: float | None,
    threshold: float = DEFAULT_THRESHOLD,
    use_guard: bool = True,
) -> Decision:
    """Decide whether the run stored for ``question_a`` may be served for ``question_b``.

    Args:
        question_a: The stored question (same context and mode already established by the caller).
        question_b: The new question.
        similarity: Cosine similarity of the two questions' embeddings, or None when no embedder
            is available (then only an exact match after normalisation is served).
        threshold: Minimum similarity for a semantic hit.
        use_guard: False disables the lexical guard (for measuring what it adds; never in use).

    Returns:
        A :class:`Decision`. An exact match after normalisation is always a hit.
    """
    ka, kb = key_terms(question_a), key_terms(question_b)
    if ka.normalized and ka.normalized == kb.normalized:
        return Decision(True, "exact match after normalisation")
    if similarity is None:
        return Decision(False, "no embedder: only exact matches are served")
    if similarity < threshold:
        return Decision(False, f"similarity {similarity:.3f} below {threshold:.2f}")
    if not use_guard:
        return Decision(True, f"similarity {similarity:.3f} >= {threshold:.2f} (guard off)")
    ok, why = guard(question_a, question_b)
    if ok:
        return Decision(True, f"similarity {similarity:.3f} and {why}")
    return Decision(False, f"similar ({similarity:.3f}) but {why}")
