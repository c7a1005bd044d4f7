"""Opening the dashboard from the command line: `quorum` (with or without a question) and
`quorum watch`. Textual loads only here, as the dashboard opens, never for a headless command."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from tui.ask import Ask
from tui.cli.logs import log_file
from tui.config.schema import Settings
from tui.engine.types import Origin
from tui.errors import EXIT_FAILED, EXIT_OK, UsageError
from tui.session import Session, open_store

if TYPE_CHECKING:
    from tui.dashboard.app import QuorumApp

log = logging.getLogger(__name__)

BROWSER_DRIVER_ENV = "TEXTUAL_DRIVER"
"""Set by `quorum serve` (textual-serve) for each tab's dashboard: Textual then speaks to the
browser over stdin/stdout, which are pipes, not a terminal."""


def need_terminal() -> None:
    if os.environ.get(BROWSER_DRIVER_ENV):
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the dashboard needs a terminal; use `quorum run` for headless runs")


def open_dashboard(settings: Settings, ask: Ask) -> int:
    """The dashboard, its session started from `ask`; with a question, its run starts at once."""
    session = Session(settings, ask)
    from tui.dashboard.app import QuorumApp

    return run_dashboard(QuorumApp(settings, session, question=ask.question, start=bool(ask.question)))


def watch_command(settings: Settings, run: str | None) -> int:
    """`quorum watch [RUN]`: the dashboard, following the runs other processes record."""
    store = open_store(settings)
    if store is None:
        raise UsageError("`quorum watch` follows runs in the history, which is turned off ([store] enabled)")
    try:
        run_id = store.resolve(run) if run else None
    except KeyError as err:
        raise UsageError(str(err.args[0])) from None
    finally:
        store.close()
    need_terminal()
    from tui.dashboard.app import QuorumApp

    session = Session(settings, Ask(origin=Origin.DASHBOARD))
    return run_dashboard(QuorumApp(settings, session, watch=True, watch_run=run_id))


def run_dashboard(app: QuorumApp) -> int:
    # Frozen before the first frame, not only after it: what the imports and the settings built
    # lives until the dashboard exits, and a full collection scanning it costs ~50 ms (measured).
    app.tune_gc()
    app.run()
    if app.return_code:  # Textual ended the app on an error it has printed (a traceback, bad CSS)
        log.error("the dashboard stopped on an error (exit code %s)", app.return_code)
        print(f"quorum: the dashboard stopped on an error (above); the log is {log_file()}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
