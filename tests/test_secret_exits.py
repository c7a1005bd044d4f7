"""A key the user typed or gave where it does not belong reaches no exit: a question holding one
is redacted before it is sent, stored or keyed, and an alias or value quoted back in an error
hides a configured key's value and anything shaped like a key.

Every check greps every output for canaries: stdout, stderr, the history database's bytes (with
its -wal and -shm), the log, the exports.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import write
from tui.cli.main import main
from tui.config import paths
from tui.config.catalog import secret_values
from tui.config.loading import load_settings
from tui.history.store import RunStore
from tui.render.export import export_run
from tui.session import Session

KEY = "zetaCanaryPlainValue"
"""A configured key shaped like no key (letters only): only knowing the value redacts it."""
SHAPED = "sk-proj-CanaryShaped0123456789abcdef"
"""A key no provider names, shaped like one."""
BEARER = "canaryBearer0123456789xyz"
QUESTION = f"Why is my key {KEY} refused? The other is {SHAPED}; we send Authorization: Bearer {BEARER}"
DEMO = ["-m", "demo-atlas:for", "-m", "demo-bolt:against"]


def _traces(secret: str) -> list[str]:
    """The forms a secret could be kept in: itself, and folded as a cache key folds words."""
    words = re.findall(r"[A-Za-z0-9]{12,}", secret)
    return [secret, secret.lower(), *(word.lower() for word in words)]


def _stored(home: Path) -> bytes:
    """Every byte Quorum has written under its home: the database and its -wal/-shm, the log,
    exports."""
    return b"".join(path.read_bytes() for path in home.rglob("*") if path.is_file())


def _nowhere(texts: list[str], stored: bytes) -> None:
    for secret in (KEY, SHAPED, BEARER):
        for trace in _traces(secret):
            assert all(trace not in text for text in texts), trace
            assert trace.encode() not in stored.lower(), trace


def _refused_with_the_key_redacted(
    argv: list[str], capsys: pytest.CaptureFixture[str], stored: bytes
) -> None:
    """`quorum argv` is refused as a usage error that quotes the key only as [redacted], and no
    trace of a secret is printed or in `stored`."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "[redacted]" in err
    _nowhere([out, err], stored)


def test_a_key_typed_into_a_question_is_redacted_before_it_is_sent_stored_or_keyed(
    fast_demo_config: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the shipped openai provider names this variable
    assert main(["--config", str(fast_demo_config), "run", QUESTION, *DEMO, "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    # What the panel was asked, and answered (the demo quotes the question back), is the redacted
    # question: the answer was to exactly what is stored and keyed.
    assert data["question"].startswith("Why is my key [redacted] refused? The other is [redacted];")
    assert any("redacted" in note for note in data["notes"]), data["notes"]
    assert main(["--config", str(fast_demo_config), "run", QUESTION, *DEMO, "--json"]) == 0  # the cache
    again = capsys.readouterr()
    assert json.loads(again.out)["cache"]["hit"]
    printed = [out, err, *again]
    for command in (
        ["history"],
        ["history", "--json"],
        ["show", data["run_id"]],
        ["show", data["run_id"], "--json"],
    ):
        assert main(["--config", str(fast_demo_config), *command]) == 0
        shown, errors = capsys.readouterr()
        assert "Why is my key [redacted] refused?" in shown and errors == "", command
        printed.append(shown)
    settings = load_settings(fast_demo_config)
    store = RunStore(paths.history_file(""))
    try:
        export_run(store.load(data["run_id"]), isolated_home / "exports", secret_values(settings))
    finally:
        store.close()
    _nowhere(printed, _stored(isolated_home))


def test_members_are_sent_the_redacted_question_and_told_why(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    session = Session(load_settings())
    request = session.prepare(QUESTION).request
    assert request.question == (
        "Why is my key [redacted] refused? The other is [redacted]; we send Authorization: Bearer [redacted]"
    )
    assert request.notes == [
        "the question held a key or token: every member was sent it as [redacted], and so it is recorded"
    ]
    assert session.prepare("What is a good key length?").request.notes == []


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "q", "-m", KEY],
        ["run", "q", "-m", SHAPED],
        ["run", "q", "-m", f"{SHAPED}:neutral"],
        ["run", "q", "-m", f"demo-atlas:{SHAPED}"],
        ["run", "q", "-m", "demo-atlas", "--synthesizer", KEY],
        ["run", "q", "-m", "demo-atlas", "--synthesizer", SHAPED],
        ["run", "q", "--follow-up", KEY],
        ["show", KEY],
        ["show", SHAPED],
    ],
)
def test_an_alias_quoted_back_in_an_error_hides_a_key(
    argv: list[str],
    fast_demo_config: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert main(["--config", str(fast_demo_config), "run", "a first run", "-m", "demo-atlas", "-q"]) == 0
    capsys.readouterr()
    _refused_with_the_key_redacted(["--config", str(fast_demo_config), *argv], capsys, _stored(isolated_home))


@pytest.mark.parametrize(
    "text",
    [
        f"[run]\nsynthesizer = '{KEY}'\n",
        f"[run]\nsynthesizer_fallbacks = ['{SHAPED}']\n",
        f"[panel]\nmembers = ['{KEY}:for']\n",
        f"[panel]\npreferred = ['{KEY}']\n",
        f"[run]\nmode = '{KEY}'\n",
        f"[ui]\ntheme = '{KEY}'\n",
    ],
)
def test_a_config_value_quoted_back_in_an_error_hides_a_configured_key(
    text: str,
    tmp_path: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config = write(tmp_path / "c.toml", text)
    _refused_with_the_key_redacted(["--config", str(config), "config", "validate"], capsys, b"")


def test_a_question_recorded_before_it_was_redacted_is_redacted_as_it_is_listed(
    fast_demo_config: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert main(["--config", str(fast_demo_config), "run", "an older run", "-m", "demo-atlas", "-q"]) == 0
    with sqlite3.connect(paths.history_file("")) as db:  # as an earlier version recorded it
        db.execute("UPDATE runs SET question = ?", (QUESTION,))
    capsys.readouterr()
    for command in (["history"], ["history", "--json"]):
        assert main(["--config", str(fast_demo_config), *command]) == 0
        out, err = capsys.readouterr()
        assert "Why is my key [redacted]" in out
        _nowhere([out, err], b"")
