"""An option the run's mode does not use is said to have no effect, not silently ignored: `--rounds`
in consult mode (the configured mode or --mode), in `quorum run` and over MCP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FAST_DEMO, write
from tests.dashboard import FakeLookup, fake_settings
from tests.fakes import FakeProvider
from tui.ask import Ask
from tui.cli import main as cli_main
from tui.cli.main import main
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.dashboard.app import QuorumApp
from tui.engine.types import Mode, Origin
from tui.mcp.runs import build_request
from tui.session import Session


def test_rounds_in_a_configured_consult_mode_is_said_on_stderr_and_kept_in_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "fast.toml", FAST_DEMO + '[run]\nmode = "consult"\n')
    code = main(["--config", str(config), "run", "Shard?", "--rounds", "1", "--json", "--fresh"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "--rounds 1 has no effect in consult mode" in err
    assert any("--rounds 1 has no effect" in note for note in json.loads(out)["notes"])


def test_rounds_in_deliberate_mode_says_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    code = main(["--config", str(config), "run", "Shard?", "--rounds", "1", "--json", "--fresh"])
    assert code == 0 and "no effect" not in capsys.readouterr().err


async def test_mcp_max_rounds_with_consult_is_a_note_of_the_result(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "fast.toml", FAST_DEMO))
    ask = Ask(question="Shard?", origin=Origin.MCP, mode=Mode.CONSULT, max_rounds=2)
    request = await build_request(settings, None, ask)
    assert any("max_rounds 2 has no effect in consult mode" in note for note in request.notes)
    plain = await build_request(settings, None, Ask(question="Shard?", origin=Origin.MCP, mode=Mode.CONSULT))
    assert not any("no effect" in note for note in plain.notes)


def _dashboard_of(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> QuorumApp:
    """The dashboard `quorum ARGV` would open, not run (no terminal here)."""
    opened: list[QuorumApp] = []
    monkeypatch.setattr(cli_main, "_need_terminal", lambda: None)

    def run_dashboard(app: QuorumApp) -> int:
        opened.append(app)
        return 0

    monkeypatch.setattr(cli_main, "_run_dashboard", run_dashboard)
    assert main(argv) == 0
    return opened[0]


def test_rounds_given_to_the_dashboard_in_consult_mode_is_said_on_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "fast.toml", FAST_DEMO + '[run]\nmode = "consult"\n')
    app = _dashboard_of(monkeypatch, ["--config", str(config), "Shard?", "--rounds", "1"])
    assert any("--rounds 1 has no effect in consult mode" in note for note in app.session.notes)
    plain = _dashboard_of(monkeypatch, ["--config", str(config), "Shard?"])
    assert not any("no effect" in note for note in plain.session.notes)
    deliberate = _dashboard_of(
        monkeypatch, ["--config", str(config), "--mode", "deliberate", "--rounds", "1"]
    )
    assert not any("no effect" in note for note in deliberate.session.notes)


async def test_switching_the_dashboard_to_consult_with_rounds_given_says_they_have_no_effect() -> None:
    settings = fake_settings(["alpha", "synth"])
    ask = Ask(members=(parse_member("alpha"),), synthesizer="synth", max_rounds=2)
    session = Session(settings, ask)
    app = QuorumApp(settings, session, providers=FakeLookup(FakeProvider({})), save_settings=False)
    async with app.run_test() as pilot:
        assert not _said(app, "no effect")
        await pilot.press("ctrl+o")
        assert session.mode.value == "consult" and _said(app, "--rounds 2 has no effect in consult mode")
        said = []
        for _ in range(4):  # vote, debate (rounds count again), council, deliberate
            await pilot.press("ctrl+o")
            said.append((session.mode.value, _count(app, "no effect")))
        assert said == [("vote", 2), ("debate", 2), ("council", 3), ("deliberate", 3)]
        assert _said(app, "--rounds 2 has no effect in vote mode")


def _said(app: QuorumApp, words: str) -> bool:
    return _count(app, words) > 0


def _count(app: QuorumApp, words: str) -> int:
    return sum(words in str(n.message) for n in app._notifications)
