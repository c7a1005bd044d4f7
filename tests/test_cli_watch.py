"""`quorum watch [RUN]`: its routing, its help, and the clear errors before any screen opens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write
from tui.cli.main import SUBCOMMANDS, main, wants_dashboard
from tui.dashboard.app import QuorumApp


def recorded_run(fast_demo_config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The id of a run recorded by `quorum run` (the fast demo panel)."""
    assert main(["--config", str(fast_demo_config), "run", "-q", "Recorded?"]) == 0
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    return str(run["run_id"])


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[QuorumApp]:
    """A terminal (the dashboard's check passes), and a dashboard that records how it was opened
    instead of taking the screen."""
    monkeypatch.setattr("tui.cli.main._need_terminal", lambda: None)
    apps: list[QuorumApp] = []

    def run(self: QuorumApp, *args: Any, **kwargs: Any) -> None:
        apps.append(self)

    monkeypatch.setattr(QuorumApp, "run", run)
    return apps


def test_watch_is_a_sub_command_not_a_question() -> None:
    assert "watch" in SUBCOMMANDS
    assert not wants_dashboard(["watch"]) and not wants_dashboard(["--config", "x.toml", "watch", "abc"])
    assert wants_dashboard(["watch out for what?"])  # a question that starts with the word is a question


def test_watch_opens_the_dashboard_watching_the_run_it_names_by_a_prefix(
    opened: list[QuorumApp], fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = recorded_run(fast_demo_config, capsys)
    assert main(["watch", run_id[:6]]) == 0
    assert main(["watch"]) == 0
    [given, newest] = opened
    assert (given.watch_mode, given.watch_run) == (True, run_id)
    assert (newest.watch_mode, newest.watch_run) == (True, None)  # the newest running run, or the next


def test_an_unknown_run_is_a_clear_error_before_anything_opens(
    opened: list[QuorumApp], fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded_run(fast_demo_config, capsys)
    assert main(["watch", "nosuchrun"]) == 2
    assert "quorum: no run with id 'nosuchrun' (`quorum history` lists them)" in capsys.readouterr().err
    assert opened == []


def test_watch_needs_a_terminal_and_the_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch"]) == 2  # the tests' standard streams are not a terminal
    assert "the dashboard needs a terminal" in capsys.readouterr().err
    off = write(tmp_path / "off.toml", "[store]\nenabled = false\n")
    assert main(["--config", str(off), "watch"]) == 2
    assert "follows runs in the history, which is turned off" in capsys.readouterr().err


def test_watch_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listing = " ".join(capsys.readouterr().out.split())
    assert "{run,eval,history,show,watch," in listing
    assert "watch open the dashboard on the run another process is recording, live" in listing
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    own = " ".join(capsys.readouterr().out.split())
    assert (
        "quorum watch [-h] [--config PATH] [--no-project] [RUN]" in own
        and "`quorum mcp` for a coding agent" in own
    )
    assert "until you start a run of your own" in own
