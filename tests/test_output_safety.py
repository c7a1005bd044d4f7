"""Hostile model output stays literal text in every headless output; SDKs stay off the demo path."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.fakes import FakeProvider, Script, lookup, request
from tui.cli.progress import ProgressPrinter
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ErrorKind, ProviderError
from tui.engine.types import Mode
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
        config.write_text("[demo]\nspeed = 200.0\n")
        done = subprocess.run(
            [sys.executable, "-c", code, str(config)], capture_output=True, text=True, timeout=60
        )
    assert "LOADED []" in done.stderr, done.stderr
