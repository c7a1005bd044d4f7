"""An option the run's mode does not use is said to have no effect, not silently ignored: `--rounds`
in consult mode (the configured mode or --mode), in `quorum run` and over MCP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write
from tui.cli.main import main
from tui.config.loading import load_settings
from tui.engine.types import Mode
from tui.mcp.runs import Ask, build_request


def test_rounds_in_a_configured_consult_mode_is_said_on_stderr_and_kept_in_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "fast.toml", '[demo]\nspeed = 200.0\n[run]\nmode = "consult"\n')
    code = main(["--config", str(config), "run", "Shard?", "--rounds", "1", "--json", "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "--rounds 1 has no effect in consult mode" in err
    assert any("--rounds 1 has no effect" in note for note in json.loads(out)["notes"])


def test_rounds_in_deliberate_mode_says_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "fast.toml", "[demo]\nspeed = 200.0\n")
    code = main(["--config", str(config), "run", "Shard?", "--rounds", "1", "--json", "--no-cache"])
    assert code == 0 and "no effect" not in capsys.readouterr().err


def test_mcp_max_rounds_with_consult_is_a_note_of_the_result(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "fast.toml", "[demo]\nspeed = 200.0\n"))
    request = build_request(settings, None, Ask(question="Shard?", mode=Mode.CONSULT, max_rounds=2))
    assert any("max_rounds 2 has no effect in consult mode" in note for note in request.notes)
    plain = build_request(settings, None, Ask(question="Shard?", mode=Mode.CONSULT))
    assert not any("no effect" in note for note in plain.notes)
