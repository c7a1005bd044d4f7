"""Hostile model output stays literal text in every headless output; SDKs stay off the demo path."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FAST_DEMO
from tests.fakes import FakeProvider, Script, lookup, request
from tui.cli.main import main
from tui.cli.progress import ProgressPrinter
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ErrorKind, ProviderError
from tui.engine.types import Mode
from tui.errors import redact
from tui.render.formatting import literal
from tui.render.report import render_markdown

HOSTILE = (
    "Verdict: [bold red]pwned[/] [@click=app.quit]click me[/] [link=http://evil.example]x[/link]\n"
    "\x1b[2J\x1b[31mred\x1b[0m \x1b]0;new title\x07 "
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ \x9b31m\r"
)


def test_literal_shows_controls_and_keeps_markup_words() -> None:
    shown = literal(HOSTILE)
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown and "\r" not in shown
    assert "\\x1b[2J" in shown and "\\x07" in shown
    assert "[@click=app.quit]click me[/]" in shown  # markup is just text here
    assert literal("tab\tand\nnewline") == "tab\tand\nnewline"


async def test_hostile_replies_are_literal_in_report_progress_and_json() -> None:
    provider = FakeProvider(
        {
            "synth": Script(draft=HOSTILE),
            "a": Script(position=HOSTILE, votes=["VERDICT: REJECT\n- " + HOSTILE.replace("\n", " ")]),
            "b": Script(fail=ProviderError(ErrorKind.SERVER, "server said \x1b[31mno\x1b[0m")),
        }
    )
    stderr = io.StringIO()
    result = await run_panel(
        request(["a", "b"], mode=Mode.DELIBERATE, max_rounds=1), lookup(provider), ProgressPrinter(stderr)
    )
    report = render_markdown(result)
    for text in (report, stderr.getvalue()):
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "[@click=app.quit]click me[/]" in report and "\\x1b[2J" in report
    # the data contract keeps the exact bytes, safely escaped by JSON
    assert json.loads(result.model_dump_json())["positions"][0]["content"] == HOSTILE


def test_demo_run_never_imports_the_sdks() -> None:
    code = (
        "import sys\n"
        "from tui.cli.main import main\n"
        "main(['--config', sys.argv[1], 'run', 'q', '-q', '--json'])\n"
        "sdks = sorted(m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules)\n"
        "print('LOADED', sdks, file=sys.stderr)\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "fast.toml"
        config.write_text(FAST_DEMO)
        done = subprocess.run(
            [sys.executable, "-c", code, str(config)], capture_output=True, text=True, timeout=60
        )
    assert "LOADED []" in done.stderr, done.stderr


# --- bidi overrides, zero-width characters, C1 controls; secrets in messages ------------------

BIDI_AND_ZERO_WIDTH = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u2060\ufeff"


def test_literal_shows_bidi_overrides_and_zero_width_characters() -> None:
    text = "access = 'user\u202e \u2066// admin\u2069 \u2066' and pass\u200bword\ufeff"
    shown = literal(text)
    assert not any(char in shown for char in BIDI_AND_ZERO_WIDTH)
    assert "\\u202e" in shown and "\\u2066" in shown and "\\u200b" in shown and "\\ufeff" in shown
    assert literal(BIDI_AND_ZERO_WIDTH).count("\\u") == len(BIDI_AND_ZERO_WIDTH)
    assert literal("naïve — 日本語 ✓ émoji 🙂") == "naïve — 日本語 ✓ émoji 🙂"  # other text is untouched


async def test_bidi_and_zero_width_are_visible_in_the_report() -> None:
    tricky = "Looks fine\u202e enil siht \u200bREJECT\ufeff"
    provider = FakeProvider({"synth": Script(draft=tricky), "a": Script(position=tricky)})
    result = await run_panel(request(["a"], mode=Mode.CONSULT), lookup(provider))
    report = render_markdown(result)
    assert not any(char in report for char in BIDI_AND_ZERO_WIDTH)
    assert "\\u202e" in report and "\\u200b" in report


C1 = "\x85\x8d\x90\x9b\x9c\x9d\x9f\x80"


def test_json_output_escapes_c1_controls(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    question = f"Why{C1}\x9b31m red\u202e?"
    assert main(["--config", str(fast_demo_config), "run", question, "-q", "--json"]) == 0
    out = capsys.readouterr().out
    assert not any(chr(code) in out for code in range(0x80, 0xA0))
    data = json.loads(out)
    assert data["question"] == question  # the data keeps the exact text, escaped
    assert main(["show", data["run_id"], "--json"]) == 0
    shown = capsys.readouterr().out
    assert not any(chr(code) in shown for code in range(0x80, 0xA0))
    assert json.loads(shown)["question"] == question
    assert main(["history", "--json"]) == 0
    listed = capsys.readouterr().out
    assert not any(chr(code) in listed for code in range(0x80, 0xA0))


def test_exported_json_escapes_c1_controls(tmp_path: Path) -> None:
    from tui.engine.types import RunResult
    from tui.render.export import export_run

    result = RunResult(
        run_id="r1", question=f"q{C1}", mode=Mode.CONSULT, members=[], started_at=datetime.now(UTC)
    )
    _markdown, data = export_run(result, tmp_path / "exports")
    text = data.read_text(encoding="utf-8")
    assert not any(chr(code) in text for code in range(0x80, 0xA0))
    assert json.loads(text)["question"] == f"q{C1}"


CANARY = "sk-canary-0123456789abcdef"
PLAIN_SECRET = "plainsecretvalue-42"  # shaped like nothing: only knowing it redacts it


@pytest.mark.parametrize(
    "leak",
    [
        f"invalid header Authorization: Bearer {CANARY}",
        f'{{"headers": {{"authorization": "Bearer {CANARY}"}}}}',
        f"x-api-key: {CANARY} was refused",
        f"'X-Api-Key': '{CANARY}'",
        f"api_key={CANARY}&model=m",
        f"OPENAI_API_KEY={CANARY}",
        f"could not connect to http://user:{CANARY}@gpu-box:8000/v1",
        f"could not connect to https://{CANARY}@gpu-box/v1",
        f"Incorrect API key provided: {CANARY}.",
        f"authorization: basic {CANARY}",
    ],
)
def test_redact_removes_bearer_tokens_api_key_headers_url_credentials_and_key_shapes(leak: str) -> None:
    shown = redact(leak)
    assert "canary" not in shown and "0123456789abcdef" not in shown
    assert "[redacted]" in shown
    # Redacting twice changes nothing more: a question redacted before it is sent is redacted
    # again where it is stored, and both must be the same text (its cache keys are made of it).
    assert redact(shown) == shown


def test_redact_removes_known_secret_values_and_keeps_the_rest() -> None:
    text = f"upstream said: token {PLAIN_SECRET} is not valid for model gpt-6 (HTTP 401)"
    assert (
        redact(text, [PLAIN_SECRET])
        == "upstream said: token [redacted] is not valid for model gpt-6 (HTTP 401)"
    )
    assert redact(text) == text  # without the value, an ordinary word stays
    assert redact("no key in here: check OPENAI_API_KEY and api_key_env") == (
        "no key in here: check OPENAI_API_KEY and api_key_env"
    )
    assert redact("Bearer tokens expire; see http://example.com/docs") == (
        "Bearer tokens expire; see http://example.com/docs"
    )
    assert redact("short x", ["x", ""]) == "short x"  # values too short to be keys are ignored
