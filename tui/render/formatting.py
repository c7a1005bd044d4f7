"""Short human forms of durations, token counts and costs, shared by every front end."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from tui.engine.types import RunStatus, TokensSource, Totals
from tui.errors import MIN_SECRET_LENGTH, hide_values
from tui.render.words import run_word, tokens_source_note

# C0 controls but tab and newline, DEL, and C1 controls: a model's reply printed to a terminal
# must not be able to move the cursor, retitle the window, hide text or plant a link. Bidi
# overrides and isolates, and zero-width characters, are shown too: they make text read
# differently from what it says (a reversed word, a hidden split in a name).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
# What JSON output escapes beyond what the serializers do: C1 controls (a terminal acts on them
# when the JSON is printed), and the same bidi and zero-width characters.
_JSON_UNSAFE = re.compile(r"[\x80-\x9f\u200b-\u200d\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def seconds(ms: int | None) -> str:
    if ms is None:
        return "–"
    return f"{ms / 1000:.1f} s" if ms < 60_000 else f"{ms // 60_000} min {ms % 60_000 / 1000:.0f} s"


def tokens(count: int, source: TokensSource = TokensSource.PROVIDER) -> str:
    """`412`, `12.4k`; `~412` when Quorum estimated the count (whose count else: `tokens_source_note`)."""
    text = f"{count / 1000:.1f}k" if count >= 1000 else str(count)
    return f"~{text}" if source is TokensSource.ESTIMATED else text


# A rough count of what a stream has written so far, before its provider reports its usage (at
# the end of a call, if at all): about four characters a token in English prose. Display only:
# the engine's accounting never sees it.
CHARS_PER_TOKEN_SHOWN = 4


def streamed_estimate(chars: int) -> str:
    """`~120 tokens (est.)`: what `chars` characters of a stream still being written come to."""
    return f"{tokens(-(-chars // CHARS_PER_TOKEN_SHOWN), TokensSource.ESTIMATED)} tokens (est.)"


def cost(usd: float) -> str:
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def file_size(size: int) -> str:
    """`812 B`, `11.2 KB`, `1.9 MB` (1 KB = 1,000 bytes)."""
    if size < 1000:
        return f"{size} B"
    return f"{size / 1000:.1f} KB" if size < 1_000_000 else f"{size / 1_000_000:.1f} MB"


def completion_line(totals: Totals, status: RunStatus = RunStatus.SUCCESS) -> str:
    """`Complete · 3.2 s · $0.09 · 12.4k tokens` (the word is the run's status; a count that is
    not the providers' own says whose it is)."""
    count = totals.input_tokens + totals.output_tokens
    count_text = tokens(count, totals.tokens_source)
    parts = [
        run_word(status).capitalize(),
        seconds(totals.wall_ms),
        cost(totals.cost_usd),
        f"{count_text} tokens{tokens_source_note(totals.tokens_source)}",
    ]
    return " · ".join(parts)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def literal(text: str) -> str:
    """`text` with every terminal control character shown as `\\xNN` (bidi and zero-width
    characters as `\\uNNNN`) instead of acted on."""
    return _CONTROL.sub(_visible, text)


def safe_json(text: str, secrets: Iterable[str] = ()) -> str:
    """JSON text fit for a terminal and a file: C1 controls, bidi and zero-width characters as
    `\\uNNNN` escapes (the same data, JSON-escaped), and the values of the known keys redacted in
    every string, the last line of defence for a key that got into a result."""
    wanted = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    if any(variant in text for s in wanted for variant in (s, json.dumps(s)[1:-1])):
        data = json.loads(text)
        indent = 2 if text.startswith(("{\n", "[\n")) else None
        text = json.dumps(_hide_in(data, wanted), indent=indent, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _hide_in(data: Any, secrets: set[str]) -> Any:
    if isinstance(data, str):
        return hide_values(data, secrets)
    if isinstance(data, list):
        return [_hide_in(item, secrets) for item in data]
    if isinstance(data, dict):
        return {hide_values(key, secrets): _hide_in(value, secrets) for key, value in data.items()}
    return data
