"""Evaluation: whether a panel beats its best member asked once, or a plain vote, on questions
with known answers.

The pure core of `quorum eval`, with no Textual, no SQL and no network:

- `datasets` — the items: inspect-style JSONL or GSM8K's own lines, the shipped `gsm8k`, the
  generated `arithmetic`, and the seeded choice of a development slice and the scored items;
- `scoring` — the one answer shape every seat is asked for, and the scorers that read an answer
  from a reply (or say why it cannot be read) and judge it against the target;
- `stats` — intervals, McNemar's exact test, the paired bootstrap, plurality with its tie rule,
  oracle, flips, unanimous-and-wrong, percentiles;
- `results` — per-item outcomes made into per-mode summaries and paired comparisons;
- `report` — the tables, the verdict in words, the chart of accuracy against tokens, as plain text.
"""
