"""A run written out as files: the Markdown report and the JSON data contract.

Both are readable by the user only (0600, in a 0700 folder when Quorum creates it): a run may
quote a private document.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tui.engine.types import RunResult
from tui.errors import hide_values
from tui.render.report import render_markdown
from tui.render.run_json import run_json


def export_run(result: RunResult, folder: Path, secrets: Iterable[str] = ()) -> tuple[Path, Path]:
    """Write `quorum-<run id>.md` and `.json` into `folder`; returns both paths. The values of
    `secrets` (the configured keys) are redacted from both."""
    secrets = tuple(secrets)
    for missing in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)
    markdown = folder / f"quorum-{result.run_id}.md"
    _write_private(markdown, hide_values(render_markdown(result), secrets))
    data = folder / f"quorum-{result.run_id}.json"
    _write_private(data, run_json(result, secrets))
    return markdown, data


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an earlier export of the same run may have been made readable by others
