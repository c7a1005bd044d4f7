"""The streaming text view's word wrap: complete, within width, and stable under appends."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from textual.strip import Strip

from tests.dashboard import cells, make_app
from tests.fakes import Script
from tui.dashboard.widgets import stream_view
from tui.dashboard.widgets.stream_view import StreamView, wrap_spans
from tui.engine.types import CallStatus

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
        streamed = body.plain_lines()
        fresh = StreamView()
        await app.panes[0].mount(fresh)
        await pilot.pause()
        fresh.set_text("".join(pieces))
        assert fresh.plain_lines() == streamed
        assert body.text == "".join(pieces).replace("\t", "    ")


# --- a huge answer: linear work, bounded steps, only the visible lines rendered -----------------

MEGABYTE = 1_000_000
WIDE = "aé日\u200bb"  # one-cell ASCII, one-cell accented, two-cell CJK, zero-width: no whitespace


def wide_text(size: int) -> str:
    return (WIDE * (size // len(WIDE) + 1))[:size]


def test_wrapping_a_whitespace_free_line_measures_each_character_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Folding a long word must not re-measure what is left of it after every cut (quadratic)."""
    measured = [0]
    real = cell_len

    def counting(text: str, *args: Any) -> int:
        measured[0] += len(text)
        return real(text, *args)

    monkeypatch.setattr(stream_view, "cell_len", counting)
    for text in ("x" * 200_000, wide_text(200_000)):
        measured[0] = 0
        spans = wrap_spans(text, 80)
        assert "".join(text[a:b] for a, b in spans) == text
        assert measured[0] <= 4 * len(text), f"{measured[0]:,} characters measured for {len(text):,}"


def test_wrapping_time_grows_linearly_with_the_text() -> None:
    """A ratio, not a stopwatch: 8x the text may take about 8x the time, never 64x (quadratic)."""

    def cost(size: int) -> float:
        text = wide_text(size)
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            wrap_spans(text, 80)
            best = min(best, time.process_time() - started)
        return max(best, 1e-6)

    small, large = cost(40_000), cost(320_000)
    assert large / small < 24, f"{small * 1000:.1f} ms for 40 kB, {large * 1000:.1f} ms for 320 kB"


def test_wrap_spans_can_stop_early_and_resume() -> None:
    """Wrapping a prefix and resuming from its last line's start gives the one-shot result."""
    rng = random.Random(5)
    for _ in range(200):
        text = random_text(rng, rng.randint(0, 80))
        width = rng.randint(1, 20)
        whole = wrap_spans(text, width)
        cut = rng.randint(0, len(text))
        head = wrap_spans(text, width, 0, cut)
        assert head[-1][1] == cut
        assert head[:-1] + wrap_spans(text, width, head[-1][0]) == whole


def strips_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the strips the stream view makes from now on (in the one-item list returned): it
    makes each line's strip in `_draw`, only for a line it has not kept."""
    built = [0]
    draw = StreamView._draw

    def counting_draw(view: StreamView, index: int, scroll_x: int) -> Strip:
        built[0] += 1
        return draw(view, index, scroll_x)

    monkeypatch.setattr(StreamView, "_draw", counting_draw)
    return built


async def wait_laid_out(pilot: Any, view: StreamView) -> None:
    for _ in range(2000):
        if not view.laying_out:
            return
        await pilot.pause(0.001)
    raise AssertionError("the view never finished laying out its text")


ORDINARY = ("The queue drains before the window closes, and the rollback is tested. " * 12 + "\n") * 1200


@pytest.mark.parametrize("answer", ["x" * MEGABYTE, ORDINARY], ids=["no-whitespace", "ordinary"])
async def test_a_megabyte_is_laid_out_in_bounded_steps_and_only_visible_lines_are_rendered(
    answer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapped: list[int] = []  # characters each call to the wrap function went through
    real_wrap = stream_view.wrap_spans

    def counting_wrap(text: str, width: int, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        wrapped.append((len(text) if end is None else end) - start)
        return real_wrap(text, width, start) if end is None else real_wrap(text, width, start, end)

    built = strips_built(monkeypatch)
    monkeypatch.setattr(stream_view, "wrap_spans", counting_wrap)
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(60, 30)) as pilot:
        body = app.panes[0].body
        await pilot.pause()
        built[0] = 0
        body.append(answer)
        # The call that took the text did a bounded share of the work, and drew nothing yet.
        assert sum(wrapped) <= 2 * stream_view.LAYOUT_SLICE
        assert built[0] == 0
        assert body.laying_out
        await wait_laid_out(pilot, body)
        assert max(wrapped) <= 2 * stream_view.LAYOUT_SLICE
        assert sum(wrapped) <= 2 * len(answer)  # every character wrapped about once
        # Every line of the answer is there, as a one-shot wrap would have it...
        width = body.size.width - 1
        expected = [
            paragraph[a:b].rstrip(" ")
            for paragraph in answer.split("\n")
            for a, b in real_wrap(paragraph, width)
        ]
        assert body.plain_lines() == expected
        # ...but only the lines on screen were ever rendered: a few frames' worth, not 18,000.
        await pilot.pause()
        height = body.size.height
        assert 0 < built[0] < len(expected) // 4
        # Following the stream, the view shows its end.
        assert body.scroll_y == body.max_scroll_y > 0
        built[0] = 0
        body.refresh()  # the same lines again: drawn already
        await pilot.pause()
        assert built[0] == 0
        body.scroll_to(y=0, animate=False, immediate=True)  # new lines on screen: drawn once each
        await pilot.pause()
        assert 0 < built[0] <= height + 2


async def test_a_repaint_after_scrolling_far_draws_nothing_however_many_lines_went_by(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The drawn-line cache is trimmed to what is on screen, never emptied: whether a repaint
    draws again must not depend on how many frames the text took to stream (a flake in CI)."""
    built = strips_built(monkeypatch)
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(60, 30)) as pilot:
        body = app.panes[0].body
        body.append("\n".join(f"line {n}" for n in range(2000)))
        await wait_laid_out(pilot, body)
        height = body.size.height
        for y in range(height // 2, 12 * height, height // 2):  # frame after frame of new lines
            built[0] = 0
            body.scroll_to(y=y, animate=False, immediate=True)
            await pilot.pause()
            assert 0 < built[0] <= height  # the lines scrolled into view, drawn once each
            built[0] = 0
            body.refresh()  # and at every count of lines gone by since, the same view: drawn already
            await pilot.pause()
            assert built[0] == 0, f"redrawn after scrolling to {y}"


@pytest.mark.parametrize("width", [1, 2, 9, 31])
async def test_each_line_is_drawn_as_strip_would_style_cut_and_pad_it(width: int) -> None:
    """Lines are built as drawn (the line, then its blank) rather than through `Strip`'s restyling
    and cropping passes: cell for cell, they must be what those passes give, for body text and
    every block style, wide characters in narrow views, and a view scrolled sideways."""
    rng = random.Random(width)
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(60, 30)) as pilot:
        view = StreamView()
        view.styles.width = width + 1  # (and the scrollbar's column)
        view.styles.height = 40
        await app.screen.mount(view)
        await pilot.pause()
        for style in ["", "heading", "note", "warning", "error"]:
            text = random_text(rng, 80)
            if style:
                view.add_block(text, style)
            else:
                view.append(text + "\n")
        await wait_laid_out(pilot, view)
        base = view.rich_style
        for scroll_x in [0, 1, 3]:
            for index in range(view.virtual_size.height + 2):
                if index < view.virtual_size.height:
                    text, name = view._line(index)
                    drawn_in = view.get_component_rich_style(name) if name else None
                    line = Strip([Segment(text, drawn_in)]).apply_style(base)
                else:
                    line = Strip.blank(0, base)
                expected = line.crop_extend(scroll_x, scroll_x + view.size.width, base)
                assert cells(view._draw(index, scroll_x)) == cells(expected), (index, scroll_x)


async def test_a_huge_answer_does_not_fail_another_member_by_its_deadline() -> None:
    """One member's megabyte (no whitespace) reaches its pane in one go; another member, answering
    while that text is laid out, still makes its short deadline: the view never stalls the loop."""
    huge = "y" * MEGABYTE
    app, _ = make_app(
        ["alpha", "beta"],
        {"alpha": Script(position=huge, chunks=4), "beta": Script(delay_s=0.5)},
        run={"call_deadline_s": 5.0, "max_rounds": 1},
    )
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Q?")
        await app.workers.wait_for_complete()
        await app.workers.wait_for_complete()  # the run the cache's lookup started
        await pilot.pause()
        result = app.shown_result
        assert result is not None
        alpha, beta = result.positions
        assert beta is not None and beta.status is CallStatus.SUCCESS, beta and beta.error
        assert alpha is not None and alpha.status is CallStatus.SUCCESS and len(alpha.content) == MEGABYTE
        alpha_body = app.panes[0].body
        await wait_laid_out(pilot, alpha_body)
        assert sum(len(line) for line in alpha_body.plain_lines()) >= MEGABYTE


async def test_a_streamed_line_is_in_view_in_the_frame_that_draws_it() -> None:
    """Following the stream, the view scrolls to its new end in the same step that lays out the
    text, not after the next refresh: a flush that scrolled a frame later drew every pane twice.
    A reader who has scrolled up stays where they are."""
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(60, 30)) as pilot:
        body = app.panes[0].body
        await pilot.pause()
        body.append("\n".join(f"line {n}" for n in range(100)))
        await wait_laid_out(pilot, body)
        for _ in range(50):  # the scrollbar appeared: that scroll waits for a layout
            if body.scroll_y == body.max_scroll_y > 0:
                break
            await pilot.pause(0.01)
        assert body.scroll_y == body.max_scroll_y > 0
        body.append("\none more line")  # no refresh between the text and the check
        assert body.scroll_y == body.max_scroll_y
        assert body.plain_lines()[-1] == "one more line"
        body.scroll_to(y=body.max_scroll_y - 20, animate=False, immediate=True)
        reading = body.scroll_y
        body.append("\nand another")
        await pilot.pause()
        assert body.scroll_y == reading < body.max_scroll_y
