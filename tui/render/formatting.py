"""Short human forms of durations, token counts and costs, shared by every front end."""

from __future__ import annotations

import re

from tui.engine.types import RunStatus, Totals
from tui.render.words import run_word

# C0 controls but tab and newline, DEL, and C1 controls: a model's reply printed to a terminal
# must not be able to move the cursor, retitle the window, hide text or plant a link.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def seconds(ms: int | None) -> str:
    if ms is None:
        return "–"
    return f"{ms / 1000:.1f} s" if ms < 60_000 else f"{ms // 60_000} min {ms % 60_000 / 1000:.0f} s"


def tokens(count: int, estimated: bool = False) -> str:
    text = f"{count / 1000:.1f}k" if count >= 1000 else str(count)
    return f"~{text}" if estimated else text


def cost(usd: float) -> str:
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def completion_line(totals: Totals, status: RunStatus = RunStatus.SUCCESS) -> str:
    """`Complete · 3.2 s · $0.09 · 12.4k tokens` (the word is the run's status)."""
    count = totals.input_tokens + totals.output_tokens
    count_text = tokens(count, totals.tokens_estimated)
    parts = [
        run_word(status).capitalize(),
        seconds(totals.wall_ms),
        cost(totals.cost_usd),
        f"{count_text} tokens",
    ]
    return " · ".join(parts)


def literal(text: str) -> str:
    """`text` with every terminal control character shown as `\\xNN` instead of acted on."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
