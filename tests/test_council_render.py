"""A council with an abstention and a tie, as every front end shows it: the progress lines, the
report's ballots and Borda table, the JSON and MCP's result. Each says who abstained and why,
and which answers tied and how the tie was broken."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

from tests.fakes import FakeProvider, Script, lookup, member
from tui.cli.progress import ProgressPrinter
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ChatRequest
from tui.engine.types import Mode, Outcome, RunRequest, RunResult
from tui.mcp.results import run_markdown, run_report
from tui.render.report import render_markdown
from tui.render.run_json import run_json


def ranks_first(seat: int) -> Callable[[ChatRequest], str]:
    """A ballot that ranks the answer of `seat` (from 1) first, the rest in the order shown."""

    def ballot(request: ChatRequest) -> str:
        shown = re.findall(r"--- Answer ([A-Z]) ---\nanswer of seat (\d)", request.messages[-1].content)
        best = [letter for letter, s in shown if int(s) == seat]
        return "FINAL RANKING: " + ", ".join(best + [letter for letter, s in shown if int(s) != seat])

    return ballot


async def council_with_an_abstention_and_a_tie() -> tuple[RunResult, str]:
    """alpha abstains; bravo and charlie both rank alpha's answer first: alpha's answer leads with
    1 point a ballot, bravo's and charlie's tie at 0 (bravo's placed first, in panel order)."""
    scripts = {
        "alpha-7": Script(position="answer of seat 1", ballot="I liked them all."),
        "bravo-7": Script(position="answer of seat 2", ballot=ranks_first(1)),
        "charlie-7": Script(position="answer of seat 3", ballot=ranks_first(1)),
        "chair-9": Script(chair="The council's answer."),
    }
    request = RunRequest(
        question="Which plan?",
        mode=Mode.COUNCIL,
        members=[member(alias) for alias in ("alpha-7", "bravo-7", "charlie-7")],
        synthesizers=[member("chair-9")],
    )
    progress = io.StringIO()
    result = await run_panel(request, lookup(FakeProvider(scripts)), ProgressPrinter(progress))
    return result, progress.getvalue()


async def test_the_progress_lines_say_the_abstention_and_the_tie() -> None:
    result, progress = await council_with_an_abstention_and_a_tie()
    assert result.outcome is Outcome.RANKED  # 2 readable ballots of 3 seats make a quorum
    assert re.search(r"ballot alpha-7: abstained: no FINAL RANKING line \(shown A \S+, B \S+\)", progress)
    assert (
        "Borda: alpha-7 1 · bravo-7 0 · charlie-7 0 (points a ballot, 2 readable ballots, 1 abstained) "
        "· tied: bravo-7 and charlie-7, broken first in panel order"
    ) in progress


async def test_the_report_shows_the_abstention_in_the_ballots_and_the_tie_under_the_table() -> None:
    result, _ = await council_with_an_abstention_and_a_tie()
    report = render_markdown(result)
    assert re.search(r"\| alpha-7 \| A \S+, B \S+ \| abstained: no FINAL RANKING line \|", report)
    assert "| 1 | alpha-7 | 2 | 2 | 1 | 2 |" in report
    assert "| 2 | bravo-7 | 0 | 1 | 0 | 0 |" in report and "| 3 | charlie-7 | 0 | 1 | 0 | 0 |" in report
    assert "**Tied:** bravo-7 and charlie-7, placed first in panel order." in report
    assert "**Agreement with the ranking:** 2 of 2 readable ballots." in report


async def test_the_json_and_mcp_say_the_abstention_and_the_tie() -> None:
    result, _ = await council_with_an_abstention_and_a_tie()
    council = json.loads(run_json(result))["council"]
    assert (council["ballots"], council["abstained"], council["ties"]) == (2, 1, [[1, 2]])
    assert council["tie_rule"] == "first in panel order"
    mcp = run_report(result).council
    assert mcp is not None and (mcp.ballots, mcp.abstained, mcp.ties) == (2, 1, [[2, 3]])  # seats from 1
    assert (mcp.cast[0].ranking, mcp.cast[0].abstained) == (None, "no FINAL RANKING line")
    assert "  - alpha-7: abstained: no FINAL RANKING line (shown A " in run_markdown(run_report(result))
