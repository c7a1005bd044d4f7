"""What each part of the cache's hit check is worth: each part taken out in turn, and the decision
to serve measured again on the labelled pairs and the adversarial probes of `benchmarks/data/`.

For each part: the paraphrases served and the near-misses served, by the check alone (as if every
pair were similar: what the check itself decides) and by the offline embedder with the check at
the default threshold (what the product does), over the 272 labelled pairs and the 53 adversarial
probes. A part whose removal serves a near-miss guards precision; one whose removal serves fewer
paraphrases buys recall; one that changes nothing earns nothing on this set. `--entries` also
takes out each entry of each word table, one at a time, and counts the entries that change a
decision.

    python benchmarks/bench_cache_parts.py [--entries]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cache import pairs

from tui.question import check, terms
from tui.question.keys import question_key

Patch = tuple[Any, str, Any]
NEVER = re.compile(r"(?!)")


def _rotating_two_terms(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return a == b or (len(a) == len(b) and any(a[i:] + a[:i] == b for i in range(1, len(a))))


#: Each part of the check, and how it is taken out.
PARTS: dict[str, list[Patch]] = {
    "the whole check (similarity alone)": [(check, "guard", lambda a, b: (True, "guard off"))],
    "Go with a capital is the language": [(terms, "_GO_LANGUAGE_RE", NEVER)],
    "contractions expanded": [(terms, "_CONTRACTIONS", ())],
    "greeting + audience dropped": [(terms, "_GREETING_RE", NEVER)],
    '"quick question" dropped': [(terms, "_GENERIC_QUESTION_RE", NEVER)],
    "filler clauses dropped": [(terms, "_is_filler_clause", lambda words: False)],
    "phrases (multi-word synonyms)": [(terms, "_phrase_sub", lambda text: text)],
    "number words as digits": [(terms, "NUMBER_WORDS", {})],
    "stop words": [(terms, "STOP_WORDS", frozenset())],
    "framing words": [(terms, "FRAMING_WORDS", frozenset())],
    "synonyms": [(terms, "SYNONYMS", {})],
    "passive made active": [(terms, "_activate", lambda words: words)],
    "stemmer": [(terms, "_stem", lambda word: word)],
    '"to" after a verb of movement': [(terms, "_MOVEMENT_STEMS", frozenset())],
    "conjunctions out of the order": [(terms, "_CONJUNCTIONS", frozenset())],
    "order check": [(check, "_order_ok", lambda a, b: True)],
    "rotations (a moved clause)": [(check, "_order_ok", lambda a, b: a == b)],
    "two terms must not rotate": [(check, "_order_ok", _rotating_two_terms)],
}

#: The word tables whose entries `--entries` takes out one at a time.
TABLES = [
    "STOP_WORDS",
    "FRAMING_WORDS",
    "FILLER_WORDS",
    "PHRASES",
    "SYNONYMS",
    "NUMBER_WORDS",
    "_MOVEMENT_STEMS",
]


@contextmanager
def taken_out(patches: Sequence[Patch]) -> Iterator[None]:
    """The check with `patches` applied (and its cached key terms forgotten before and after)."""
    terms.key_terms.cache_clear()
    with ExitStack() as stack:
        for module, name, value in patches:
            stack.enter_context(mock.patch.object(module, name, value))
        if any(name == "PHRASES" for _module, name, _value in patches):
            phrases = next(value for _module, name, value in patches if name == "PHRASES")
            stack.enter_context(mock.patch.object(terms, "_PHRASE_RE", _phrase_re(phrases)))
        try:
            yield
        finally:
            terms.key_terms.cache_clear()


def _phrase_re(phrases: dict[str, str]) -> re.Pattern[str]:
    if not phrases:
        return NEVER
    alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
    return re.compile(r"(?<![\w.-])(" + alternatives + r")(?![\w-])")


class Measure:
    """The decisions on every pair, with the offline embedder's vectors made once per text."""

    def __init__(self) -> None:
        from tui.cache.static_embedder import StaticEmbedder

        self.labelled = pairs("cache_pairs.jsonl")
        self.adversarial = pairs("cache_adversarial.jsonl")
        self.embedder = StaticEmbedder()
        self.vectors: dict[str, list[float]] = {}

    def similarity(self, a: str, b: str) -> float:
        """The cosine of the two questions as the lookup embeds them (by their question keys)."""
        keys = [question_key(a), question_key(b)]
        missing = [k for k in keys if k not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.embedder.embed(missing), strict=True))
        va, vb = (self.vectors[k] for k in keys)
        return float(sum(x * y for x, y in zip(va, vb, strict=True)))

    def decisions(self) -> list[tuple[bool, bool]]:
        """(served by the check alone, served with the embedder) for every pair, labelled first."""
        return [
            (
                check.decide(r["a"], r["b"], 1.0).hit,
                check.decide(r["a"], r["b"], self.similarity(r["a"], r["b"])).hit,
            )
            for r in [*self.labelled, *self.adversarial]
        ]

    def row(self, decided: list[tuple[bool, bool]]) -> str:
        """Paraphrases / near-misses served: labelled (alone, embedder), adversarial (alone, embedder)."""
        rows = [*self.labelled, *self.adversarial]
        cells = []
        for subset in ("labelled", "adversarial"):
            chosen = [
                (r, d)
                for r, d in zip(rows, decided, strict=True)
                if (r["split"] == "adversarial") == (subset == "adversarial")
            ]
            for column in (0, 1):
                hits = sum(d[column] for r, d in chosen if r["label"] == "hit")
                bad = sum(d[column] for r, d in chosen if r["label"] == "miss")
                cells.append(f"{hits:3d} / {bad:<2d}")
        return "   ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", action="store_true", help="also each entry of each word table")
    args = parser.parse_args()
    measure = Measure()
    base = measure.decisions()
    hits = sum(r["label"] == "hit" for r in measure.labelled)
    probes = sum(r["label"] == "hit" for r in measure.adversarial)
    print("Paraphrases served / near-misses served, by the check alone | the offline embedder + the check,")
    labelled, adversarial = len(measure.labelled), len(measure.adversarial)
    print(
        f"on {labelled} labelled pairs ({hits} paraphrases) and {adversarial} adversarial probes ({probes}):"
    )
    print(f"{'':42} {'labelled':^21}   {'adversarial':^21}")
    print(f"{'the check as it is':42} {measure.row(base)}")
    for part, patches in PARTS.items():
        with taken_out(patches):
            print(f"{'without ' + part:42} {measure.row(measure.decisions())}")
    if args.entries:
        print("\nEntries of each word table that change a decision when taken out alone:")
        for table in TABLES:
            entries = getattr(terms, table)
            earning = []
            for entry in sorted(entries):
                reduced: Any = (
                    {k: v for k, v in entries.items() if k != entry}
                    if isinstance(entries, dict)
                    else frozenset(entries - {entry})
                )
                with taken_out([(terms, table, reduced)]):
                    if measure.decisions() != base:
                        earning.append(entry)
            print(f"  {table:16} {len(earning):3d} of {len(entries):3d}: {', '.join(earning)}")


if __name__ == "__main__":
    main()
