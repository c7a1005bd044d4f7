"""The streaming text view's word wrap: complete, within width, and stable under appends."""

from __future__ import annotations

import random

from rich.cells import cell_len

from tests.dashboard import make_app
from tui.dashboard.widgets.stream_view import StreamView, wrap_spans

ALPHABET = ["a", "bb", "ccc", " ", " ", "  ", "日本", "longwordlongword", "é", "\u200b"]


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def test_wrap_covers_the_text_within_the_width() -> None:
    rng = random.Random(7)
    for _ in range(500):
        text = random_text(rng, rng.randint(0, 60))
        width = rng.randint(1, 30)
        spans = wrap_spans(text, width)
        assert "".join(text[a:b] for a, b in spans) == text
        assert all(a <= b for a, b in spans)
        for a, b in spans:
            assert cell_len(text[a:b].rstrip(" ")) <= max(width, 2)  # a wide char may not fit a 1-cell line


def test_appending_only_rewraps_the_last_line() -> None:
    """Greedy wrapping of a growing paragraph keeps every line but the last."""
    rng = random.Random(11)
    for _ in range(200):
        width = rng.randint(3, 25)
        text = ""
        for _ in range(20):
            text += random_text(rng, rng.randint(1, 6))
            whole = wrap_spans(text, width)
            if len(whole) > 1:
                resumed = wrap_spans(text, width, whole[-1][0])
                assert whole[:-1] + resumed == whole


async def test_stream_view_matches_a_one_shot_render() -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(60, 30)) as pilot:
        body = app.panes[0].body
        pieces = ["Verdict: yes", ", with a staged", " rollout.\nLean: fav", "ourable\n", "x" * 90, "\n\ttab"]
        for piece in pieces:
            body.append(piece)
        streamed = [strip.text for strip in body._lines]
        fresh = StreamView()
        await app.panes[0].mount(fresh)
        await pilot.pause()
        fresh.set_text("".join(pieces))
        assert [strip.text for strip in fresh._lines] == streamed
        assert body.text == "".join(pieces).replace("\t", "    ")
