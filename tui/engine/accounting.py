"""Token estimates and cost arithmetic."""

from __future__ import annotations

import math

# About four characters per token for English prose and code: good enough for a pre-flight
# context check and for the budget's look-ahead, never used where the provider reported usage.
CHARS_PER_TOKEN = 4


def estimate_tokens(*texts: str) -> int:
    return sum(math.ceil(len(text) / CHARS_PER_TOKEN) for text in texts)


def cost_usd(input_tokens: int, output_tokens: int, input_price: float, output_price: float) -> float:
    """Cost in USD given prices per million tokens."""
    return (input_tokens * input_price + output_tokens * output_price) / 1_000_000
