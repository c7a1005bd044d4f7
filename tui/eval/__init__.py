"""Evaluation: whether a panel beats its best member asked once, or a plain vote, on questions
with known answers.

The pure core of `quorum eval`, with no Textual, no SQL and no network:

- `datasets` — the items: inspect-style JSONL or GSM8K's own lines, the shipped `gsm8k`, the
  generated `arithmetic`, and the seeded choice of a development slice and the scored items;
- `scoring` — the scorers: the answer shape each item is asked in, and whether the answer read
  from a reply (`tui.engine.answers` reads it, or says why it cannot) is right for its target;
- `modes` — the modes measured: `single` and every mode the engine has, `vote` first;
- `stats` — intervals, McNemar's exact test, the paired bootstrap, oracle, flips,
  unanimous-and-wrong, percentiles (the plurality and its tie rule are the engine's:
  `tui.engine.answers`, which a vote run counts with);
- `results` — per-item outcomes made into per-mode summaries and paired comparisons;
- `report` — the tables, the verdict in words, the chart of accuracy against tokens, as plain text.

Running one, through the session and the history like any run:

- `plan` — the runs an evaluation makes, in the order they start;
- `runner` — making them, concurrently, bounded by a cost, interruptible;
- `log` — the per-item JSONL log every finished run is appended to, resumed under the same
  header, and the summary computed from it;
- `estimate` — what it will cost, from a rehearsal of each mode against stand-in members.
"""
