"""One request from every front end: what an `Ask` gives reaches the engine's request under the
same names, what it leaves out is the settings', and a follow-up that takes over its run keeps
what the ask gives itself."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write
from tui.ask import Ask
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.engine.types import AnswerSpec, Mode, Origin, RunResult
from tui.session import FollowedRun, Session

PANEL = (parse_member("demo-atlas:for"), parse_member("demo-bolt:against"))


def test_what_an_ask_gives_reaches_the_request_under_the_same_names(tmp_path: Path) -> None:
    spec = write(tmp_path / "spec.md", "# Billing\n")
    ask = Ask(
        question="Shard the users table?",
        origin=Origin.CLI,
        members=PANEL,
        synthesizer="demo-bolt",
        mode=Mode.VOTE,
        max_rounds=2,
        token_budget=9000,
        files=(str(spec),),
        focus=("cost",),
        answer=AnswerSpec.parse("numeric"),
    )
    request = Session(load_settings(), ask).prepare(ask.question).request
    assert [(m.alias, m.stance, m.stance_prompt) for m in request.members] == [
        (spec.model, spec.stance, spec.stance_prompt) for spec in PANEL
    ]
    assert request.synthesizers[0].alias == "demo-bolt"
    assert (request.mode, request.max_rounds, request.token_budget) == (Mode.VOTE, 2, 9000)
    assert [f.path for f in request.files] == [str(spec)] and request.focus == ["cost"]
    assert request.answer == ask.answer and request.origin is Origin.CLI


def test_what_an_ask_leaves_out_is_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path / "c.toml", '[run]\nmode = "consult"\nmax_rounds = 4\ntoken_budget = 7000\n')
    )
    request = Session(settings, Ask(members=PANEL)).prepare("q").request
    assert (request.mode, request.max_rounds, request.token_budget) == (Mode.CONSULT, 4, 7000)
    assert request.origin is None and request.answer is None and request.files == []


def test_a_round_limit_its_mode_ignores_is_said_in_the_words_of_the_front_end_that_gave_it() -> None:
    settings = load_settings()
    [cli] = Session(settings, Ask(origin=Origin.CLI, members=PANEL, mode=Mode.CONSULT, max_rounds=2)).notes
    [mcp] = Session(settings, Ask(origin=Origin.MCP, members=PANEL, mode=Mode.CONSULT, max_rounds=2)).notes
    assert cli.startswith("--rounds 2 has no effect in consult mode") and "set --mode deliberate" in cli
    assert mcp.startswith("max_rounds 2 has no effect in consult mode") and "set mode deliberate" in mcp


def test_a_follow_up_that_takes_over_its_run_keeps_what_the_ask_gives_itself() -> None:
    settings = load_settings()
    earlier = Session(settings, Ask(members=PANEL, mode=Mode.CONSULT, focus=("cost",), token_budget=5000))
    parent = RunResult.begin(earlier.prepare("First?").request, "parent000001")
    followed = FollowedRun(thread=[], parent=parent, parent_thread=[])

    ask = Ask(origin=Origin.MCP, focus=("latency",), max_rounds=2)
    session = Session(settings, ask)
    notes = session.take_over(followed, ask)
    request = session.prepare("And then?").request
    # the run's panel, mode and budget; the ask's focus areas and round limit (said to do nothing
    # in the run's consult mode, in MCP's words)
    assert [m.alias for m in request.members] == ["demo-atlas", "demo-bolt"]
    assert (request.mode, request.token_budget) == (Mode.CONSULT, 5000)
    assert (request.focus, request.max_rounds) == (["latency"], 2)
    assert any(note.startswith("max_rounds 2 has no effect in consult mode") for note in notes)
