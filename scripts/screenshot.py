"""Regenerate the dashboard screenshot in docs/assets/: a real run of the offline demo panel,
photographed once it has finished.

    python scripts/screenshot.py                 # docs/assets/dashboard.svg and .png
    python scripts/screenshot.py --out /tmp/shot --size 120x40

It runs the dashboard headless in a scratch QUORUM_HOME with no API key and no project file, so
the panel is the demo one whatever the machine has, and nothing is written to your own history.
The PNG is made from the SVG with rsvg-convert (Debian: `apt-get install -y librsvg2-bin`), in
the SVG's own font, Fira Code, when it is installed (`apt-get install -y fonts-firacode`; another
monospace font draws some glyphs wider). Look at the PNG before committing it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY")
QUESTION = "Should we move our job queue from Redis to Postgres (SKIP LOCKED)?"


def keep_spaces(svg: Path) -> None:
    """Mark the SVG's spaces as significant: Rich writes a cell's leading space as a text node of
    its own, which rsvg-convert drops otherwise (`done2.6 s` where the screen says `done 2.6 s`).
    Browsers draw it the same either way."""
    text = svg.read_text(encoding="utf-8")
    svg.write_text(text.replace("<svg ", '<svg xml:space="preserve" ', 1), encoding="utf-8")


def size(text: str) -> tuple[int, int]:
    columns, _, rows = text.partition("x")
    return int(columns), int(rows)


async def photograph(svg: Path, terminal: tuple[int, int], question: str, timeout_s: float) -> str:
    """Run the question on the demo panel and save the screen once the run has ended; returns the
    run's status."""
    # Imported here, after main() has isolated the environment the settings are read from.
    from tui.config.loading import load_settings
    from tui.dashboard.app import QuorumApp
    from tui.engine.types import Origin
    from tui.session import Session

    settings = load_settings(project=False)
    session = Session(settings, origin=Origin.DASHBOARD)
    app = QuorumApp(settings, session, question=question, start=True, save_settings=False, cursor_blink=False)
    async with app.run_test(size=terminal) as pilot:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # The run starts after the first frame; it has ended once the shown run is no longer live.
        while app.session.shown is None or app.running:
            if loop.time() > deadline:
                raise SystemExit(f"screenshot: the demo run did not end within {timeout_s:g} s")
            await asyncio.sleep(0.2)
        await app.workers.wait_for_complete()
        app.flush_now()
        app.set_focus(None)  # no cursor in the picture
        await pilot.pause()
        await app.workers.wait_for_complete()  # the panes wrap their last text in workers
        await pilot.pause()
        app.save_screenshot(filename=svg.name, path=str(svg.parent))
        result = app.shown_result
        return str(result.status) if result is not None else "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "assets" / "dashboard", help="path without extension"
    )
    parser.add_argument("--size", type=size, default=(150, 44), help="terminal COLUMNSxROWS (150x44)")
    parser.add_argument("--width", type=int, default=1600, help="the PNG's width in pixels")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the demo run may take")
    args = parser.parse_args()

    converter = shutil.which("rsvg-convert")
    if converter is None:
        print("screenshot: rsvg-convert is missing (apt-get install -y librsvg2-bin)", file=sys.stderr)
        return 1
    for name in KEY_VARIABLES:
        os.environ.pop(name, None)
    os.environ["QUORUM_NO_PROJECT"] = "1"
    svg, png = args.out.with_suffix(".svg"), args.out.with_suffix(".png")
    svg.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quorum-screenshot-") as home:
        os.environ["QUORUM_HOME"] = home
        status = asyncio.run(photograph(svg, args.size, args.question, args.timeout))
    keep_spaces(svg)
    subprocess.run([converter, "-w", str(args.width), str(svg), "-o", str(png)], check=True)
    print(f"screenshot: run {status}; wrote {svg} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
