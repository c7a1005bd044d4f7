"""Members of one alias are told apart wherever a member is named: by stance, and by seat number
when the stance repeats too. A panel of distinct aliases reads as it always has."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FAST_DEMO, write
from tests.dashboard import make_app
from tests.fakes import Script
from tests.test_app import settle
from tests.wire_server import Scenario, WireServer
from tui.cli.main import main
from tui.cli.progress import ProgressPrinter
from tui.config.catalog import Catalog
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.engine.names import member_labels, member_names
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ErrorKind, ProviderError
from tui.engine.types import Member, Mode, RunRequest, RunResult, SkippedMember, Stance
from tui.mcp.results import run_report
from tui.pool import ProviderPool
from tui.render.report import render_markdown


def seat(alias: str, stance: Stance) -> Member:
    return Member(alias=alias, model_id=alias, provider="p", stance=stance)


def test_an_alias_alone_while_it_is_the_only_one() -> None:
    panel = [seat("a", Stance.FOR), seat("b", Stance.AGAINST)]
    assert member_names(panel) == ["a", "b"]
    assert member_labels(panel) == ["a (for)", "b (against)"]


def test_a_repeated_alias_by_stance_and_a_repeated_pair_by_seat() -> None:
    panel = [
        seat("gw-smol", Stance.FOR),
        seat("gw-smol", Stance.AGAINST),
        seat("gw-smol", Stance.NEUTRAL),
        seat("gw-smol", Stance.FOR),
        seat("other", Stance.FOR),
    ]
    assert member_names(panel) == [
        "gw-smol (for) #1",
        "gw-smol (against)",
        "gw-smol (neutral)",
        "gw-smol (for) #4",
        "other",
    ]
    labels = member_labels(panel)
    assert len(set(labels)) == len(labels) and labels[0] == "gw-smol (for) #1"


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        srv.default_scenario = Scenario(text="VERDICT: ACCEPT\n- fine as it is")
        yield srv


async def test_three_seats_of_one_model_are_told_apart_in_report_progress_and_mcp(
    tmp_path: Path, server: WireServer
) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(
        f"""
[providers.gw]
kind = "openai"
base_url = "{server.openai_base_url}"
gateway = "litellm"

[models.gw-smol]
provider = "gw"
id = "smol"
context_window = 8192
max_output = 256
structured_output = "text"
"""
    )
    catalog = Catalog(load_settings(config), environ={})
    members = [catalog.member(parse_member(f"gw-smol:{s}")) for s in ("for", "against", "for")]
    request = RunRequest(
        question="Ship it?", members=members, synthesizers=[members[1]], mode=Mode.DELIBERATE, max_rounds=1
    )
    stderr = io.StringIO()
    pool = ProviderPool(catalog.settings, environ={})
    try:
        result = await run_panel(request, pool, ProgressPrinter(stderr))
    finally:
        await pool.aclose()
    assert result.rounds and len(result.rounds[0].votes) == 3

    markdown = render_markdown(result)
    votes_table = markdown.split("| Member | Vote | Objections |")[1].split("\n\n")[0]
    rows = [line.split("|")[1].strip() for line in votes_table.splitlines() if line.startswith("| gw")]
    assert sorted(rows) == ["gw-smol (against)", "gw-smol (for) #1", "gw-smol (for) #3"]

    progress = stderr.getvalue()
    for name in ("vote gw-smol (for) #1:", "vote gw-smol (for) #3:", "vote gw-smol (against):"):
        assert name in progress, progress
    assert "gw-smol (for) #1 done" in progress and "gw-smol (for) #3 done" in progress

    report = run_report(result)
    assert [m.seat for m in report.members] == [1, 2, 3]
    assert sorted(v.seat or 0 for v in report.rounds[0].votes) == [1, 2, 3]


def test_quorum_run_json_tells_members_and_votes_apart_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three seats of one model: the JSON names each member, vote and member call as the screen
    does, beside the fields it always had; and the JSON still reads back as a run."""
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    seats = ["-m", "demo-atlas:for", "-m", "demo-atlas:for", "-m", "demo-atlas:against"]
    code = main(["--config", str(config), "run", "Shard?", *seats, "--json", "--fresh"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    names = ["demo-atlas (for) #1", "demo-atlas (for) #2", "demo-atlas (against)"]
    assert [m["name"] for m in data["members"]] == names
    assert [m["alias"] for m in data["members"]] == ["demo-atlas"] * 3  # kept as it was
    votes = [vote for round_ in data["rounds"] for vote in round_["votes"]]
    assert votes and all(vote["name"] == names[vote["member_index"]] for vote in votes)
    member_calls = [call for call in data["calls"] if call["member_index"] is not None]
    assert member_calls and all(call["name"] == names[call["member_index"]] for call in member_calls)
    assert [p["name"] for p in data["positions"]] == names
    assert RunResult.model_validate_json(out).members[2].alias == "demo-atlas"


def test_skipped_rows_of_a_repeated_alias_name_their_stance_in_the_report() -> None:
    members = [Member(alias="alpha", model_id="a", provider="p", stance=Stance.FOR)]
    skipped = [
        SkippedMember(alias="alpha", stance=Stance.AGAINST, reason="limit"),
        SkippedMember(alias="solo", stance=Stance.FOR, reason="limit"),
    ]
    result = RunResult(
        run_id="r1",
        question="q",
        mode=Mode.CONSULT,
        members=members,
        skipped=skipped,
        started_at=datetime.now(UTC),
    )
    report = render_markdown(result)
    assert "| – | alpha (against) |" in report and "| – | solo |" in report


async def test_a_synthesizer_that_also_sits_on_the_panel_is_named_as_the_synthesizer() -> None:
    refused = ProviderError(ErrorKind.SERVER, "alpha's server broke")
    app, _ = make_app(
        ["alpha:for", "alpha:against"],
        {"alpha": Script(fail=refused, fail_phases=("draft",))},
        synthesizer="alpha",
    )
    async with app.run_test() as pilot:
        app.submit("Q?")
        await settle(app, pilot)
        assert "alpha (synthesizer) failed: alpha's server broke" in app.synthesis.body.text
