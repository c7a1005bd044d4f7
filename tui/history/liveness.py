"""Whether a run the database says is `running` is still being recorded by a live process.

A run row holds the pid of the process recording it. A pid alone cannot tell a live run from a
dead one, though: in a container Quorum often gets the same pid every time it starts, so this
process also keeps the ids of the runs it is recording itself.
"""

from __future__ import annotations

import os
from pathlib import Path

LIVE_RUNS: set[str] = set()
"""Runs this process is recording right now (the recorder adds and discards them)."""


def run_alive(run_id: str, pid: int | None) -> bool:
    """Whether the process `pid` is still recording `run_id`."""
    if pid == os.getpid():
        return run_id in LIVE_RUNS
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process nobody has reaped yet (common in containers) still answers to kill(0)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
