"""Every test runs isolated: its own QUORUM_HOME, no provider keys, no project file, and no route
off this machine."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.wire_server import WireServer

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "QUORUM_CONFIG",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (the suite's default, in pyproject.toml): a worker more than the machine has cores.
    About half of the suite's time is waiting (for child processes, servers, timers), so one
    worker a core leaves the cores idle part of the time: on 2 cores, 3 workers ran the suite in
    a sixth less time than 2. `PYTEST_XDIST_AUTO_NUM_WORKERS` still sets the number."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return len(os.sched_getaffinity(0)) + 1


# Where the tests' folders go when the machine has memory to spare for them: a history commits (and
# so syncs to disk) at every checkpoint of every run, and on a disk those syncs were most of the
# suite's waiting (the store's tests: 15 s on disk, 7 s in memory).
MEMORY_FOLDER = Path("/dev/shm")
MEMORY_NEEDED = 1 << 30  # pytest keeps the folders of the last three runs, ~100 MB each at most


def pytest_configure(config: pytest.Config) -> None:
    """Temporary folders (`tmp_path`, `tempfile`, the commands the tests start) in memory, unless
    a folder was chosen (`--basetemp`, `TMPDIR`) or the machine has no such room (a container's
    small /dev/shm). Set in the environment, so the xdist workers started next inherit it."""
    if config.option.basetemp or os.environ.get("TMPDIR"):
        return
    if (
        MEMORY_FOLDER.is_dir()
        and os.access(MEMORY_FOLDER, os.W_OK | os.X_OK)
        and shutil.disk_usage(MEMORY_FOLDER).free >= MEMORY_NEEDED
    ):
        os.environ["TMPDIR"] = str(MEMORY_FOLDER)
        tempfile.tempdir = None  # (gettempdir reads TMPDIR again)


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    """The loopback wire server the real SDKs talk to, one for a test module (a test clears it)."""
    with WireServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "quorum-home"
    monkeypatch.setenv("QUORUM_HOME", str(home))
    # A `.quorum.toml` above a test's folder (a stray one in /tmp) must not shape its runs; the
    # tests of project files turn this off.
    monkeypatch.setenv("QUORUM_NO_PROJECT", "1")
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield home


def _is_local(address: Any) -> bool:
    if isinstance(address, tuple):
        host = address[0]
    else:
        return True  # unix sockets
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to an address that is not loopback fails the test at once."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)


def as_foreground_job() -> None:
    """A child's `preexec_fn`: SIGINT at its default, as a shell gives its foreground job, so that a
    test's Ctrl+C reaches it. Run as a background job (`pytest &`), the tests start with SIGINT
    ignored, and a child inherits that: Python then installs no KeyboardInterrupt handler and the
    signal is lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# The demo panel at a speed where each of its pauses is shorter than a turn of the event loop, so a
# run takes only as long as its code does. At 200 it still slept: every pause of a fraction of a
# millisecond took one tick of the loop's millisecond timer, about half a second a run.
FAST_SPEED = 1_000_000.0
FAST_DEMO = f"[demo]\nspeed = {FAST_SPEED}\n"


@pytest.fixture
def fast_demo_config(tmp_path: Path) -> Path:
    """A --config file that makes the demo panel run in a blink."""
    return write(tmp_path / "fast.toml", FAST_DEMO)
