"""A crash of the dashboard, as the user sees it: a traceback and the log's path, never a key.

Textual reports an unhandled exception with each frame's local variables beside it. One holding a
key shows it, cut to 80 characters or wrapped across lines, where no redaction of the printed text
can find all of it. These tests crash the real dashboard in a pseudo-terminal, with a key in the
environment (where Quorum reads keys from) held in a local variable and quoted in the message.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

# Shaped like no known key (no `sk-` prefix): only knowing the value finds it. Longer than the
# 80 characters Rich shows of a local, so a cut copy would be a leak no exact match finds.
KEY = "zq81PLmn0xT7vB3kR9sY" * 6
F1 = b"\x1bOP"
ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-9;?<>=$]*[ -/]*[@-~]|[@-Z\\-_])")

CRASHING_DASHBOARD = """
import os, sys
from tui.dashboard.app import QuorumApp

def action_help(self):
    api_key = os.environ["OPENAI_API_KEY"]
    raise RuntimeError(f"the provider refused the key {api_key}")

QuorumApp.action_help = action_help
from tui.cli.main import main
sys.argv = ["quorum", "--no-project"]
sys.exit(main())
"""


def crash_in_terminal(home: Path, columns: int, timeout: float = 60.0) -> tuple[int, str]:
    """Start the dashboard in a pseudo-terminal, press F1 once it has drawn, and read everything it
    writes until it exits: (exit code, what the terminal received)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env |= {"QUORUM_HOME": str(home), "OPENAI_API_KEY": KEY, "TERM": "xterm-256color"}
    env |= {"COLUMNS": str(columns), "LINES": "30"}
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_DASHBOARD],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=home,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    seen, pressed = b"", False
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 1 << 16)
                except OSError:  # the child has gone and the terminal with it
                    break
                if not chunk:
                    break
                seen += chunk
            if not pressed and b"Ask the panel" in seen:
                os.write(master, F1)
                pressed = True
            if child.poll() is not None and not ready:
                break
        # What the user reads: the text, not the colours and cursor moves between its pieces.
        return child.wait(timeout=10), ESCAPE_SEQUENCE.sub("", seen.decode("utf-8", "replace"))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)


@pytest.mark.parametrize("columns", [160, 60])
def test_a_crash_shows_its_traceback_and_the_log_never_a_key(tmp_path: Path, columns: int) -> None:
    code, shown = crash_in_terminal(tmp_path, columns)
    assert code == 1
    assert "Traceback" in shown and "RuntimeError" in shown  # what happened, and where
    assert "the log is" in shown
    # Not the key, nor any piece of it that a local's cut copy or a wrapped line would leave.
    pieces = {KEY[at : at + 12] for at in range(0, len(KEY) - 12)}
    assert not [piece for piece in pieces if piece in shown]
    assert "[redacted]" in shown  # the message is shown, its key taken out
    assert "locals" not in shown  # no frame's variables at all: prompts and answers stay off it too
    log = (tmp_path / "log" / "quorum.log").read_text()
    assert "Traceback" in log and "RuntimeError" in log
    assert not [piece for piece in pieces if piece in log]
