"""Every snapshot file is one a test takes.

The suite runs in parallel (pytest-xdist), where syrupy no longer fails a run on a snapshot that
no test takes (a renamed or removed test leaves its SVG behind, compared with nothing): this
test does it instead, whichever tests run and however they are spread over the workers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SNAPSHOTS = TESTS / "__snapshots__"


def test_every_snapshot_file_belongs_to_a_test_that_exists() -> None:
    folders = sorted(folder for folder in SNAPSHOTS.iterdir() if folder.is_dir())
    assert folders  # the check looks where the snapshots are
    # The tests as pytest names them (parametrized ones with their ids), collected in one process.
    modules = [str(TESTS / f"{folder.name}.py") for folder in folders]
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            *modules,
        ],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    node_ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert collected.returncode == 0 and node_ids, collected.stdout + collected.stderr
    taken = {(Path(node_id.split("::")[0]).stem, node_id.split("::")[-1]) for node_id in node_ids}
    unused = [
        f"{folder.name}/{svg.name}"
        for folder in folders
        for svg in sorted(folder.glob("*.svg"))
        if (folder.name, svg.stem) not in taken
    ]
    assert unused == [], "snapshots no test takes (delete them): " + ", ".join(unused)
