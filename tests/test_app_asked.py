"""Nothing the user asked for is lost: a run opened from the history and rerun (Ctrl+R) or followed
up (F3) asks again with its files (the text it sent), focus areas, round limit and budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input

from tests.conftest import write
from tests.dashboard import enter_question, make_app
from tests.test_app import settle
from tui.attachments.text import read_attachment
from tui.dashboard.app import QuorumApp
from tui.engine.types import RunResult

QUESTION = "Does the attached spec need event sourcing?"
SPEC = "The billing service appends every change as an event.\n" * 200


async def _record(spec: Path, **settings: Any) -> RunResult:
    """A run with a file, two focus areas and one round (as `quorum run ... --rounds 1` makes)."""
    app, _ = make_app(["alpha:for", "beta:against"], run={"max_rounds": 1, **settings})
    app.session.files = [read_attachment(spec)]
    app.session.focus = ["audit trail", "cost"]
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit(QUESTION)
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.max_rounds == 1
        return app.shown_result


async def _open_from_history(app: QuorumApp, pilot: Any) -> None:
    """F2 and Enter in a dashboard started later, with the default settings (3 rounds, no files)."""
    await pilot.press("f2")
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)


def _first_message(provider: Any) -> str:
    return str(next(r for r in provider.requests if r.phase == "position").messages[0].content)


def _notes(app: QuorumApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_ctrl_r_of_a_run_opened_from_history_keeps_its_files_focus_and_rounds(tmp_path: Path) -> None:
    spec = write(tmp_path / "big.txt", SPEC)
    recorded = await _record(spec, token_budget=90_000)
    app, provider = make_app(["alpha:for", "beta:against"])
    async with app.run_test(size=(160, 50)) as pilot:
        await _open_from_history(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == recorded.run_id
        assert any("big.txt (10.8 KB) · focus: audit trail; cost · up to 1 round" in n for n in _notes(app))
        provider.requests.clear()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        rerun = app.shown_result
        assert rerun is not None and rerun.run_id != recorded.run_id
        sent = _first_message(provider)
        assert SPEC.strip() in sent and "audit trail" in sent and "cost" in sent
        assert rerun.max_rounds == 1 and app.tracker.max_rounds == 1  # not Round 1/3
        assert rerun.asked is not None and recorded.asked is not None
        assert rerun.asked == recorded.asked  # files, focus, rounds, budget, synthesizer chain
        assert app.store is not None and app.store.load(rerun.run_id).asked == recorded.asked


async def test_f3_on_a_run_opened_from_history_carries_its_files_focus_and_rounds(tmp_path: Path) -> None:
    spec = write(tmp_path / "big.txt", SPEC)
    recorded = await _record(spec)
    app, provider = make_app(["alpha:for", "beta:against"])
    async with app.run_test(size=(160, 50)) as pilot:
        await _open_from_history(app, pilot)
        provider.requests.clear()
        await pilot.press("f3")
        await enter_question(pilot, "And the read side?")
        await settle(app, pilot)
        child = app.shown_result
        assert child is not None and child.parent_run_id == recorded.run_id
        sent = _first_message(provider)
        assert SPEC.strip() in sent and "audit trail" in sent and QUESTION in sent
        assert child.max_rounds == 1 and child.asked is not None
        assert [f.sha256 for f in child.asked.files] == [read_attachment(spec).sha256]


async def test_a_file_changed_or_gone_since_is_sent_as_recorded_and_said(tmp_path: Path) -> None:
    spec = write(tmp_path / "big.txt", SPEC)
    gone = write(tmp_path / "notes.txt", "Old notes.\n")
    app, _ = make_app(["alpha:for", "beta:against"])
    app.session.files = [read_attachment(spec), read_attachment(gone)]
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit(QUESTION)
        await settle(app, pilot)
        recorded = app.shown_result
        assert recorded is not None
    spec.write_text("A different spec.\n")
    gone.unlink()
    app, provider = make_app(["alpha:for", "beta:against"])
    async with app.run_test(size=(160, 50)) as pilot:
        await _open_from_history(app, pilot)
        notes = _notes(app)
        assert any(f"{spec} has changed on disk since run {recorded.run_id}" in n for n in notes), notes
        assert any(f"{gone} is no longer on disk" in n for n in notes), notes
        provider.requests.clear()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        sent = _first_message(provider)
        assert SPEC.strip() in sent and "A different spec." not in sent and "Old notes." in sent
        rerun = app.shown_result
        assert rerun is not None
        assert any(f"{spec} has changed on disk" in n for n in rerun.notes)  # in its report, too
        assert any(f"{gone} is no longer on disk" in n for n in rerun.notes)


async def test_ctrl_r_of_a_follow_up_opened_from_history_is_a_follow_up_again() -> None:
    app, provider = make_app(["alpha:for", "beta:against"])
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Should we shard the orders table?")
        await settle(app, pilot)
        parent = app.shown_result
        assert parent is not None
        await pilot.press("f3")
        await enter_question(pilot, "And the replicas?")
        await settle(app, pilot)
        child = app.shown_result
        assert child is not None and child.parent_run_id == parent.run_id
        app.submit("Unrelated?")
        await settle(app, pilot)
        await pilot.press("f2")
        await pilot.pause()
        app.screen.query_one(Input).value = "replicas"  # F2's filter, as a paste sets it
        await pilot.pause()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.shown_result is not None and app.shown_result.run_id == child.run_id
        provider.requests.clear()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        rerun = app.shown_result
        assert rerun is not None and rerun.run_id != child.run_id
        assert rerun.parent_run_id == parent.run_id
        assert "Should we shard the orders table?" in _first_message(provider)


async def test_ctrl_s_saves_the_panel_and_the_next_start_has_all_of_it() -> None:
    from tui.config.loading import load_settings
    from tui.session import Session

    panel = ["demo-atlas:for", "demo-bolt:against", "demo-cirrus:neutral", "demo-delta:for"]
    app, _ = make_app(panel)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
    next_start = Session(load_settings())
    assert [f"{s.model}:{s.stance.value}" for s in next_start.seats] == panel
