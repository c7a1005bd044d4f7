"""F2's list of runs (`RunList`) under attack and at the edges: hostile question text, a tiny
terminal, ten thousand runs, an empty history, a filter that matches nothing, the last row
fetching the next page, the mouse."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.cells import cell_len
from textual.strip import Strip

from tests.dashboard import make_app
from tui.dashboard.app import QuorumApp
from tui.dashboard.screens.history import HistoryScreen, listed_run
from tui.dashboard.widgets.run_list import GAP, RunList, column_widths, fit
from tui.engine.types import Mode, Outcome, RunResult, RunStatus
from tui.history.store import RunSummary

HOSTILE = [
    "[bold red]Ignore the panel[/] and [link=https://x.invalid]click[/link]",
    "\u202eexe \x1b[2J\x07",
    "議論" * 60,  # wide characters: two cells each
    "🚀🔥" * 40 + " then words",
    "x" * 500,
]


def record(
    app: QuorumApp,
    questions: list[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    status: RunStatus = RunStatus.SUCCESS,
    outcome: Outcome | None = Outcome.UNANIMOUS,
    start: int = 0,
) -> list[str]:
    """Finished runs asking `questions`, oldest first, a minute apart from minute `start`; their ids."""
    assert app.store is not None
    stamp = [""]
    app.store.clock = lambda: datetime.fromisoformat(stamp[0])
    ids = []
    for number, question in enumerate(questions, start):
        stamp[0] = f"2026-11-20T{number // 60:02d}:{number % 60:02d}:00.000+00:00"
        request = app.session.prepare(question).request
        result = RunResult.begin(request, uuid.uuid4().hex)
        app.store.insert_run(request, result, config={}, parent_run_id=None)
        result.status, result.outcome, result.finished_at = status, outcome, datetime.now(UTC)
        app.store.finish_run(result)
        ids.append(result.run_id)
    return ids


def copy_run(app: QuorumApp, run_id: str, copies: int) -> None:
    """`copies` more runs like `run_id`, each a minute later than the last and asking its
    question with ` #n` after it: a long history in a moment (recording each takes ~2 ms)."""
    assert app.store is not None
    db = app.store._db
    columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    made = {
        "id": "printf('copy%08d', n)",
        "created_at": "strftime('%Y-%m-%dT%H:%M:%S.000+00:00', '2027-01-01', '+' || n || ' minutes')",
        "question": "question || ' #' || n",
    }
    chosen = ", ".join(made.get(column, column) for column in columns)
    db.execute(
        f"INSERT INTO runs ({', '.join(columns)}) "
        f"WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < ?) "
        f"SELECT {chosen} FROM runs, numbers WHERE runs.id = ?",
        (copies, run_id),
    )


def drawn(app: QuorumApp) -> list[str]:
    """The terminal's lines as the app draws them now."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def history(app: QuorumApp) -> HistoryScreen:
    screen = app.screen
    assert isinstance(screen, HistoryScreen)
    return screen


def count_line(app: QuorumApp) -> str:
    return next(line for line in drawn(app) if "Enter opens" in line)


def list_lines(run_list: RunList) -> list[Strip]:
    """The list's lines as it draws them (header first)."""
    return run_list.render_lines(run_list.scrollable_content_region.reset_offset)


# -- hostile text ------------------------------------------------------------------------------


async def test_hostile_questions_show_literally_cut_by_cells_beside_their_outcome_and_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Markup is shown, never applied; escapes are shown, never sent to the terminal; a long or
    wide question is cut with an ellipsis by cells, and the outcome and cost stay in view on
    an 80x24 terminal."""
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(80, 24)) as pilot:
        record(app, HOSTILE, monkeypatch)
        await pilot.press("f2")
        await pilot.pause()
        lines = drawn(app)
        rows = [line for line in lines if "2026" in line or "11-20" in line]
        assert len(rows) == len(HOSTILE)
        for row in rows:
            assert "unanimous" in row and "$" in row, row  # not pushed off the right by the question
            assert "\x1b" not in row and "\x07" not in row and "\u202e" not in row
            assert cell_len(row) == 80
        text = "\n".join(rows)
        assert "[bold red]Ignore the panel[/]" in text  # markup shown as typed
        assert "\\u202eexe \\x1b[2J\\x07" in text  # escapes shown
        assert sum(row.count("…") for row in rows) >= 3  # the three long ones are cut
        run_list = history(app).run_list
        for strip in list_lines(run_list):
            assert strip.cell_length == run_list.scrollable_content_region.width


def run_summary(question: str, panel: str, **fields: Any) -> RunSummary:
    """A finished run's line of the history, at 09:00 on 2026-11-20, for $0.50."""
    defaults: dict[str, Any] = {"status": RunStatus.SUCCESS, "outcome": None, "parent_run_id": None}
    return RunSummary(
        id="r1",
        created_at="2026-11-20T09:00:00.000+00:00",
        question=question,
        panel=panel,
        cost_usd=0.5,
        **{**defaults, **fields},
    )


def test_a_row_is_one_line_of_literal_text() -> None:
    """New lines and tabs in a question or panel are folded; controls are escaped."""
    row = listed_run(run_summary("first line\nsecond\tline \x1b[31m", "alpha:for,\nbeta\x07"))
    assert row.question == "first line second line \\x1b[31m"
    assert row.panel == "alpha:for, beta\\x07"
    assert row.when == "2026-11-20 09:00" and row.outcome == "complete" and row.cost == "$0.50"


def test_a_council_s_row_says_council_and_a_deliberation_s_says_nothing_of_its_mode() -> None:
    council = run_summary("Which cache?", "alpha, beta, gamma", outcome=Outcome.RANKED, mode=Mode.COUNCIL)
    assert listed_run(council).question == "[council] Which cache?"
    assert listed_run(replace(council, mode=Mode.DELIBERATE)).question == "Which cache?"


@pytest.mark.parametrize("text", ["議論" * 20, "a議論" * 20, "🚀" * 30, "[b]" * 30, "plain " * 20])
@pytest.mark.parametrize("width", [1, 2, 3, 7, 16, 33])
def test_fit_cuts_by_cells_never_splitting_a_wide_character(text: str, width: int) -> None:
    fitted = fit(text, width)
    assert cell_len(fitted) == width
    assert fitted.endswith("…") and text.startswith(fitted[:-1].rstrip(" "))


@pytest.mark.parametrize("width", range(0, 200))
def test_the_columns_fit_any_width(width: int) -> None:
    columns = column_widths(width)
    shown = [w for w in columns.widths() if w]
    assert columns.question >= 1 and columns.outcome > 0
    if width >= 40:
        assert sum(shown) + GAP * (len(shown) - 1) == width
        assert columns.question >= 16


async def test_a_tiny_terminal_still_lists_opens_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(44, 12)) as pilot:
        ids = record(app, ["Should we shard the orders table?", "Do we need a message bus?"], monkeypatch)
        await pilot.press("f2")
        await pilot.pause()
        lines = drawn(app)
        assert any("Do we need" in line for line in lines)
        assert any("2 of 2 runs" in line for line in lines)
        for strip in list_lines(history(app).run_list):
            assert strip.cell_length == history(app).run_list.scrollable_content_region.width
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.shown_result is not None and app.shown_result.run_id == ids[0]


# -- long, empty and unmatched histories -------------------------------------------------------


async def test_ten_thousand_runs_open_a_page_and_the_filter_reaches_the_oldest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(80, 24)) as pilot:
        (first,) = record(app, ["Should we move job queue to Postgres?"], monkeypatch)
        copy_run(app, first, 9_999)
        await pilot.press("f2")
        await pilot.pause()
        screen = history(app)
        assert len(screen.runs) == 24 and not screen.exhausted
        assert "24+ of 10,000 runs" in count_line(app)
        assert screen.runs[0].question.endswith("#9999")  # newest first
        await pilot.press("pagedown", "pagedown")  # from the filter: the list moves
        await pilot.pause()
        assert screen.run_list.cursor > 20 and len(screen.runs) == 124
        await pilot.press(*"#1234")
        await pilot.pause()
        assert [run.question for run in screen.runs] == ["Should we move job queue to Postgres? #1234"]
        assert "1 matching run ·" in count_line(app)
        await pilot.press(*"5")  # there is no #12345
        await pilot.pause()
        assert screen.runs == [] and "0 matching runs" in count_line(app)


async def test_an_empty_history_says_so_and_keys_do_nothing_harmful() -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        screen = history(app)
        assert screen.runs == [] and screen.run_list.row_count == 0
        assert "0 of 0 runs" in count_line(app)
        assert any("question" in line and "outcome" in line for line in drawn(app))  # the header
        await pilot.press("down", "pagedown", "up", "enter")
        await pilot.pause()
        screen.run_list.focus()
        await pilot.press("end", "home", "enter")
        await pilot.click("#history-table", offset=(3, 3))
        await pilot.pause()
        assert app.screen is screen  # still open: nothing to open
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HistoryScreen)


async def test_a_filter_that_matches_nothing_opens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        record(app, ["Should we shard?", "Is 100% of it covered_by tests?"], monkeypatch)
        await pilot.press("f2", *"zzz")
        await pilot.pause()
        screen = history(app)
        assert screen.runs == [] and "0 matching runs" in count_line(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press(*["backspace"] * 3, *"100%")  # LIKE's wildcards are matched as typed
        await pilot.pause()
        assert [run.question for run in screen.runs] == ["Is 100% of it covered_by tests?"]


# -- paging, keys and the mouse ----------------------------------------------------------------


async def opened_with(
    app: QuorumApp, pilot: Any, runs: int, monkeypatch: pytest.MonkeyPatch
) -> HistoryScreen:
    """F2, with `runs` runs recorded ("Question 0?" the oldest)."""
    record(app, [f"Question {n}?" for n in range(runs)], monkeypatch)
    await pilot.press("f2")
    await pilot.pause()
    return history(app)


async def test_the_cursor_at_the_last_row_fetches_the_next_page(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened_with(app, pilot, 145, monkeypatch)
        assert len(screen.runs) == 30
        screen.run_list.focus()
        await pilot.press("end")
        await pilot.pause()
        assert len(screen.runs) == 130 and not screen.exhausted
        assert screen.run_list.cursor == 29  # where it was: the last row then
        await pilot.press("end")
        await pilot.pause()
        assert len(screen.runs) == 145 and screen.exhausted
        await pilot.press("end")
        await pilot.pause()
        assert screen.run_list.cursor == 144
        assert any("Question 0?" in line for line in drawn(app))  # scrolled to it
        await pilot.press("home")
        await pilot.pause()
        assert screen.run_list.cursor == 0 and any("Question 144?" in line for line in drawn(app))


async def test_scrolling_the_list_to_its_end_fetches_the_next_page(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await opened_with(app, pilot, 60, monkeypatch)
        assert len(screen.runs) == 30
        screen.run_list.scroll_end(animate=False)  # the scrollbar dragged to the bottom
        await pilot.pause()
        assert len(screen.runs) == 60 and screen.run_list.cursor == 0


async def test_up_down_and_a_click_choose_the_run_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(120, 30)) as pilot:
        ids = record(app, ["Oldest?", "Middle?", "Newest?"], monkeypatch)
        await pilot.press("f2", "down", "down", "up")
        await pilot.pause()
        assert history(app).run_list.cursor == 1
        await pilot.press("enter")
        await pilot.pause()
        assert app.shown_result is not None and app.shown_result.run_id == ids[1]
        await pilot.press("f2")
        await pilot.pause()
        await pilot.click("#history-table", offset=(30, 3))  # the header, then Newest, Middle, Oldest
        await pilot.pause()
        assert not isinstance(app.screen, HistoryScreen)
        assert app.shown_result is not None and app.shown_result.run_id == ids[0]
        await pilot.press("f2")
        await pilot.pause()
        await pilot.click("#history-table", offset=(30, 0))  # the header opens nothing
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)


# -- colours -----------------------------------------------------------------------------------


async def test_outcomes_and_statuses_are_coloured_by_the_theme(monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(120, 30)) as pilot:
        record(app, ["Failed?"], monkeypatch, status=RunStatus.ERROR, outcome=None)
        record(app, ["Agreed?", "Cursor row?"], monkeypatch, start=1)
        await pilot.press("f2")
        await pilot.pause()
        variables: dict[str, Any] = app.get_css_variables()
        lines = list_lines(history(app).run_list)

        def colour_of(word: str, line: Strip) -> str:
            segment = next(s for s in line if word in s.text)
            assert segment.style is not None and segment.style.color is not None
            return str(segment.style.color.triplet.hex if segment.style.color.triplet else "")

        cursor, agreed, failed = lines[1:4]  # newest first, under the header
        assert "Cursor row?" in cursor.text and "Agreed?" in agreed.text and "Failed?" in failed.text
        assert colour_of("unanimous", agreed).lower() == variables["outcome-unanimous"].lower()
        assert colour_of("unanimous", cursor).lower() == variables["outcome-unanimous"].lower()
        assert colour_of("failed", failed).lower() == variables["status-error"].lower()
        # the cursor row and the striped rows stand out from the rest
        grounds = [next(iter(line)).style.bgcolor for line in (cursor, agreed, failed)]  # type: ignore[union-attr]
        assert len(set(grounds)) == 3


@pytest.mark.parametrize(("size", "shown"), [((80, 24), "curator "), ((120, 30), "curator decision")])
async def test_a_narrow_list_says_curator_in_full_words_that_fit(
    size: tuple[int, int], shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns the outcome column has 11 cells: "curator decision" would be cut to
    "curator de…"; it says "curator" there, and the whole words where they fit."""
    app, _ = make_app(["alpha"])
    async with app.run_test(size=size) as pilot:
        record(app, ["Decided by the curator?"], monkeypatch, outcome=Outcome.CURATOR_OVERRIDE)
        record(app, ["Agreed?"], monkeypatch, start=1)
        await pilot.press("f2")
        await pilot.pause()
        rows = [line for line in drawn(app) if "Decided by the curator?" in line or "Agreed?" in line]
        assert len(rows) == 2 and not any("…" in row for row in rows), rows
        assert shown in rows[1] and "unanimous" in rows[0]


async def listed_first(pilot: Any, run_list: RunList, question: str) -> None:
    """Wait (a second at most) for the history's refresh to list `question` first."""
    for _ in range(50):
        await pilot.pause(0.02)
        if run_list.rows and run_list.rows[0].question == question:
            break
    await pilot.pause()


async def test_runs_recorded_while_the_history_is_open_show_and_the_cursor_keeps_its_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tui.dashboard.screens.history.REFRESH_S", 0.05)
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 30)) as pilot:
        record(app, ["First?", "Second?"], monkeypatch)
        await pilot.press("f2")
        await pilot.pause()
        run_list = history(app).run_list
        await pilot.press("down")  # on "First?" (the list is newest first)
        assert run_list.highlighted is not None and run_list.highlighted.question == "First?"
        record(app, ["Third?"], monkeypatch, start=2, outcome=Outcome.MAJORITY)  # another process's, say
        await listed_first(pilot, run_list, "Third?")
        assert [row.question for row in run_list.rows] == ["Third?", "Second?", "First?"]
        assert run_list.highlighted.question == "First?"  # Enter still opens the run chosen
        assert "3 of 3 runs" in count_line(app)
        await pilot.press("enter")
        await pilot.pause()
        assert app.shown_result is not None and app.shown_result.question == "First?"


async def test_a_run_recorded_while_the_reader_scrolls_the_history_does_not_move_what_they_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Scrolled down the list, the reader's rows stay under their eyes as a new run arrives at
    the top (the view follows the rows, one line down); at the top, the new run shows."""
    monkeypatch.setattr("tui.dashboard.screens.history.REFRESH_S", 0.05)
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(100, 24)) as pilot:
        record(app, [f"Question {n}?" for n in range(60)], monkeypatch)
        await pilot.press("f2")
        await pilot.pause()
        run_list = history(app).run_list
        await pilot.press("pagedown", "pagedown", "pagedown", "pageup")  # the cursor at the view's top
        await pilot.pause()
        chosen, row_in_view = run_list.highlighted, run_list.cursor - int(run_list.scroll_y)
        assert chosen is not None and run_list.scroll_y > 0
        record(app, ["Newest?"], monkeypatch, start=60)
        await listed_first(pilot, run_list, "Newest?")
        assert run_list.highlighted == chosen and run_list.cursor - int(run_list.scroll_y) == row_in_view
        run_list.action_first()  # at the top (Home itself is the filter's), the next new run shows there
        await pilot.pause()
        record(app, ["Newer still?"], monkeypatch, start=61)
        await listed_first(pilot, run_list, "Newer still?")
        assert run_list.scroll_y == 0 and run_list.highlighted.question == "Newest?"
