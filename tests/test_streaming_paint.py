"""What a streaming panel repaints: only what changed, and never the whole screen's layout.

Eight panes streaming repaint four times a second; each of these guards a cost that profiling
found: a border title set to the same words repainted the whole pane, the info block
re-rendered all its lines for a clock tick, a scrollbar appearing as the text outgrew its view
laid the whole screen out again (a 30-55 ms stall per pane), and every scrollbar was redrawn
through a console at every flush whether its thumb moved or not.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from tests.dashboard import cells, make_app
from tui.dashboard.widgets.info_lines import InfoLines
from tui.dashboard.widgets.row_scrollbar import RowScrollBar
from tui.render.words import CallState


def strip_text(strip: Strip) -> str:
    return "".join(segment.text for segment in strip)


class Spy:
    """Counts calls of a widget's `refresh`, with their regions, and passes them on."""

    def __init__(self, widget: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[Region, ...]] = []
        original = widget.refresh

        def refresh(*regions: Region, **options: Any) -> Any:
            self.calls.append(regions)
            return original(*regions, **options)

        monkeypatch.setattr(widget, "refresh", refresh)


async def test_a_clock_tick_repaints_one_info_line_not_the_pane(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        pane = app.panes[0]
        info = pane.query_one(InfoLines)
        pane_spy, info_spy = Spy(pane, monkeypatch), Spy(info, monkeypatch)
        pane.refresh_info()  # nothing changed: nothing repainted
        assert pane_spy.calls == [] and info_spy.calls == []
        pane.status = CallState.STREAMING  # the status line changes, the three others do not
        pane.refresh_info()
        assert pane_spy.calls == []  # the border title is the same: the pane is not repainted
        assert [region.y for (region,) in info_spy.calls] == [1]
        pane.rename("alpha (for)")  # a new name on the border does repaint the pane
        assert len(pane_spy.calls) == 1


async def mounted_info(app: Any, pilot: Any, width: int, height: int) -> InfoLines:
    """An info block of its own, `width` by `height`, on the app's screen."""
    info = InfoLines()
    info.styles.width = width
    info.styles.height = height
    await app.screen.mount(info)
    await pilot.pause()
    return info


async def test_the_info_block_shows_text_literally_and_cuts_it_by_cells() -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        info = await mounted_info(app, pilot, 12, 3)
        info.show(Text("[bold]not markup[/bold]\n日本語の長い行です\nok\n"))
        lines = [strip_text(strip) for strip in info.render_lines(Region(0, 0, 12, 3))]
        assert lines[0] == "[bold]not m…"  # markup in the text is text
        assert cell_len(lines[1]) == 12 and lines[1].startswith("日本語の長")
        assert lines[1].rstrip().endswith("…")
        assert lines[2] == "ok" + " " * 10
        # The trailing newline ends the last line; it does not start another.
        assert info.text == "[bold]not markup[/bold]\n日本語の長い行です\nok"


async def test_the_info_block_draws_each_line_as_richs_own_split_of_it_would() -> None:
    """Lines are drawn from their spans directly (Rich's split of a line is a third of the info
    block's drawing); random lines, styled and not, wide and narrow, must come out cell for cell
    as Rich's render of them, cut and padded as `Strip` would."""
    rng = random.Random(5)
    words = ["ok", " · ", "日本", "3.4 s", "é", " ", "~1,234 tokens", "[bold]x[/]", "\u200b"]
    styles = [None, Style(color="red", bold=True), Style(color="grey50"), Style(italic=True)]
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        info = await mounted_info(app, pilot, 17, 4)
        base = info.rich_style
        for _ in range(300):
            lines = []
            for _ in range(4):
                line = Text()
                for _ in range(rng.randint(0, 7)):
                    line.append(rng.choice(words), rng.choice(styles))
                if rng.random() < 0.1:  # overlapping spans and named styles: Rich's own split
                    line.stylize("underline" if rng.random() < 0.5 else Style(dim=True), 1, 5)
                lines.append(line)
            text = Text("\n").join(lines)
            info.show(text)
            assert info.text == text.plain.removesuffix("\n")  # (a last empty line is no line)
            for y, line in enumerate(lines):
                expected = line.copy()
                expected.truncate(17, overflow="ellipsis")
                segments = [segment for segment in expected.render(app.console) if segment.text]
                reference = Strip(segments).apply_style(base).crop_extend(0, 17, base)
                assert cells(info.render_line(y)) == cells(reference), repr(line.plain)


async def test_text_outgrowing_its_view_lays_out_nothing_and_the_scrollbar_matches_textuals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(60, 30)) as pilot:
        body = app.panes[0].body
        await pilot.pause()
        assert body.show_vertical_scrollbar  # there from the start, on a track the pane's colour
        layouts = 0
        refresh_layout = app.screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal layouts
            layouts += 1
            return refresh_layout(*args, **kwargs)

        monkeypatch.setattr(app.screen, "_refresh_layout", counted)
        # The app's own start-up may still lay out late on a busy machine (focus settling redraws
        # the footer): count only once the screen has been quiet for several turns of the loop.
        quiet = 0
        for _ in range(200):
            before = layouts
            await pilot.pause()
            quiet = quiet + 1 if layouts == before else 0
            if quiet == 5:
                break
        assert quiet == 5, "the dashboard never stopped laying itself out"
        layouts = 0
        for n in range(60):
            body.append(f"line {n}\n")
            await pilot.pause()
        assert body.max_scroll_y > 0 and body.scroll_y == body.max_scroll_y
        assert layouts == 0
        bar = body.vertical_scrollbar
        assert isinstance(bar, RowScrollBar)
        height = bar.size.height
        ours = bar.render_lines(Region(0, 0, 1, height))
        textuals = [ScrollBar.render_line(bar, y) for y in range(height)]
        assert [list(strip) for strip in ours] == [list(strip) for strip in textuals]
        assert any(segment.style and segment.style.color for strip in ours for segment in strip)  # a thumb


async def test_the_scrollbar_is_repainted_only_when_its_look_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(60, 30)) as pilot:
        body = app.panes[0].body
        await pilot.pause()
        body.append("".join(f"line {n}\n" for n in range(500)))  # the thumb is down to one cell
        for _ in range(100):
            await pilot.pause()
            if body.settled and body.scroll_y == body.max_scroll_y:
                break
        await pilot.pause()
        repaints = 0
        textual_refresh = ScrollBar.refresh

        def counted(self: ScrollBar, *regions: Region, **options: Any) -> Any:
            nonlocal repaints
            repaints += 1
            return textual_refresh(self, *regions, **options)

        monkeypatch.setattr(ScrollBar, "refresh", counted)
        for n in range(5):  # a longer text, the same one-cell thumb at the bottom
            body.append(f"more {n}\n")
            await pilot.pause()
        assert repaints == 0
        body.scroll_to(y=0, animate=False, immediate=True)  # the thumb moves to the top
        await pilot.pause()
        assert repaints >= 1


async def test_the_embedder_is_read_after_the_first_frame_not_during_a_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The embedder's weights (and numpy) are read in a thread while the user types: read while
    the first run streamed, they stalled the event loop for 110-130 ms."""
    from tui.cache import lookup

    class Loading:
        name = "static:wordllama-l2-supercat-256"

        def __init__(self) -> None:
            self.loaded_in: list[str] = []
            self.done = threading.Event()

        def load(self) -> None:
            self.loaded_in.append(threading.current_thread().name)
            self.done.set()

        def embed(self, texts: list[str]) -> list[list[float]]:
            return [[1.0, 0.0] for _ in texts]

    embedder = Loading()
    monkeypatch.setitem(lookup._embedders, "static", embedder)
    app, _ = make_app(["alpha"], cache={"embedder": "static"})
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert embedder.done.wait(10)
        assert embedder.loaded_in == ["quorum embedder warm"]
        app.submit("Should we shard the queue?")
        await app.workers.wait_for_complete()
        await app.workers.wait_for_complete()  # the run the cache's lookup started
        await pilot.pause()
        assert embedder.loaded_in == ["quorum embedder warm"]  # the run's scan did not read it again


def test_no_embedder_to_read_when_the_cache_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.dashboard import fake_settings
    from tui.cache import warm_embedder

    assert warm_embedder(fake_settings(["alpha"], cache={"enabled": False})) is None
    assert warm_embedder(fake_settings(["alpha"], cache={"embedder": ""})) is None


async def test_a_theme_chosen_while_text_is_shown_repaints_it_in_the_new_colours() -> None:
    """The views keep their drawn lines and their base style: a new theme must reach them all."""
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.panes[0]
        pane.body.append("".join(f"line {n}\n" for n in range(60)))
        await pilot.pause()
        region = Region(0, 0, pane.body.size.width, pane.body.size.height)

        def backgrounds() -> set[Any]:
            strips = [*pane.body.render_lines(region), *pane.query_one(InfoLines).render_lines(region)]
            strips += pane.body.vertical_scrollbar.render_lines(Region(0, 0, 1, region.height))
            return {segment.style.bgcolor for strip in strips for segment in strip if segment.style}

        dark = backgrounds()
        app.theme = "quorum-light"
        await pilot.pause()
        await pilot.pause()
        light = backgrounds()
        assert dark and light and not dark & light, (dark, light)


async def test_the_scrollbar_is_repainted_in_new_colours_when_only_its_colours_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bar told only of new numbers keeps its painted colours; a theme change, a hover or a
    grab changes the colours alone, and must still reach the screen."""
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.panes[0]
        pane.body.append("".join(f"line {n}\n" for n in range(60)))
        await pilot.pause()
        bar = pane.body.vertical_scrollbar
        assert isinstance(bar, RowScrollBar)
        drawn: list[Strip] = []
        draw = bar.render_line

        def render_line(y: int) -> Strip:
            drawn.append(draw(y))
            return drawn[-1]

        monkeypatch.setattr(bar, "render_line", render_line)

        def colours() -> set[Any]:
            return {(s.style.color, s.style.bgcolor) for strip in drawn for s in strip if s.style}

        async def drawn_after(change: Callable[[], object]) -> set[Any]:
            drawn.clear()
            change()
            await pilot.pause()
            await pilot.pause()
            return colours()

        assert await drawn_after(bar.refresh) == set()  # told of nothing new: nothing drawn
        plain = bar.render_lines(Region(0, 0, 1, bar.size.height))
        plain_colours = {(s.style.color, s.style.bgcolor) for strip in plain for s in strip if s.style}
        hovered = await drawn_after(lambda: setattr(bar, "mouse_over", True))
        assert hovered and hovered != plain_colours
        assert await drawn_after(lambda: setattr(bar, "mouse_over", False)) == plain_colours

        def light_theme() -> None:
            app.theme = "quorum-light"

        light = await drawn_after(light_theme)
        assert light and not light & plain_colours
