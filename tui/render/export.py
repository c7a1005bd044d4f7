"""A run written out as files: the Markdown report and the JSON data contract."""

from __future__ import annotations

from pathlib import Path

from tui.engine.types import RunResult
from tui.render.report import render_markdown


def export_run(result: RunResult, folder: Path) -> tuple[Path, Path]:
    """Write `quorum-<run id>.md` and `.json` into `folder`; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    markdown = folder / f"quorum-{result.run_id}.md"
    markdown.write_text(render_markdown(result), encoding="utf-8")
    data = folder / f"quorum-{result.run_id}.json"
    data.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return markdown, data
