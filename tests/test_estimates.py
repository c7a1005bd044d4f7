"""Token counts a provider did not report (llama.cpp sends no usage) are estimates, and counts a
gateway reported may be its own; every place that shows a count says so: the member's pane, the
Markdown report, the JSON, and the MCP report."""

from __future__ import annotations

import json

from tests.dashboard import make_app
from tests.fakes import FakeProvider, Script, lookup, request
from tests.test_app import settle
from tui.engine.orchestrator import run_panel
from tui.engine.types import Mode, RunResult
from tui.mcp.results import run_markdown, run_report
from tui.render.report import render_markdown


async def _run_with_one_silent_provider() -> RunResult:
    provider = FakeProvider({"synth": Script(), "a": Script(usage=None), "b": Script(usage=(1000, 500))})
    return await run_panel(request(["a", "b"], mode=Mode.CONSULT), lookup(provider))


async def test_the_json_marks_the_estimated_call_and_the_totals() -> None:
    result = await _run_with_one_silent_provider()
    data = json.loads(result.model_dump_json())
    marked = {c["alias"]: c["tokens_estimated"] for c in data["calls"] if c["phase"] == "position"}
    assert marked == {"a": True, "b": False}
    assert data["totals"]["tokens_estimated"] is True


async def test_the_markdown_report_marks_the_estimated_counts_only() -> None:
    result = await _run_with_one_silent_provider()
    report = render_markdown(result)
    rows = {cells[1]: cells for line in report.splitlines() if len(cells := line.split(" | ")) > 6}
    assert rows["a"][6].count("~") == 2 and rows["b"][6] == "1.0k/500", report
    totals = report.split("## Totals", 1)[1]
    assert "~" in totals, totals


async def test_the_mcp_report_marks_each_estimated_member_and_the_totals() -> None:
    result = await _run_with_one_silent_provider()
    report = run_report(result)
    assert {m.model: m.tokens_estimated for m in report.members} == {"a": True, "b": False}
    assert report.totals.tokens_estimated
    assert "~" in run_markdown(report).splitlines()[-1]


async def test_a_finished_pane_marks_a_count_the_provider_did_not_report() -> None:
    app, _ = make_app(["alpha", "beta"], {"beta": Script(usage=None)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        assert "~" not in app.panes[0].info_text().plain
        silent = app.panes[1].info_text().plain
        assert "~" in silent, silent


async def test_a_finished_pane_says_a_count_is_the_gateways() -> None:
    app, _ = make_app(["alpha", "beta"], {"beta": Script(usage=(1200, 495), usage_by_gateway=True)})
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        assert "gateway's count" not in app.panes[0].info_text().plain
        counted = app.panes[1].info_text().plain  # its answer and its vote, 495 out each
        assert "990 out (gateway's count)" in counted and "~" not in counted, counted
