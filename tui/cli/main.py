"""The `quorum` command: the dashboard by default; `run`, `history`, `show`, `watch`, `mcp`, `serve`,
`models`, `doctor`, `config` (their command line: `tui.cli.commandline`).

Exit codes: 0 success, 1 the run failed (or its output could not be written), 2 usage or
configuration error, 3 (`quorum run`) no quorum: the run's synthesis is printed but is not a
decision, 130 interrupted. Only a `QuorumError` is reported as the user's problem; anything else
is a bug in Quorum, reported as one with the log's path (exit 1). A usage error is one line
(`quorum: …`) and where to read more, exit 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from tui.ask import Ask
from tui.cli import dashboard
from tui.cli.logs import log_file, redact_known
from tui.cli.options import Shared
from tui.cli.output import OutputLost, guarded_output, silence_stdout, tell
from tui.engine.types import Origin
from tui.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, QuorumError

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # `quorum` alone: nothing to parse, so the parser (click, ~8 ms) is not loaded
        return guarded(_dashboard_alone)
    # Parsed inside `guarded`: `--help` writes to standard output, which may be full or closed.
    return guarded(lambda: _parsed(argv))


def _dashboard_alone() -> int:
    dashboard.need_terminal()
    return dashboard.open_dashboard(Shared().settings(), Ask(origin=Origin.DASHBOARD))


def _parsed(argv: list[str]) -> int:
    from tui.cli.commandline import invoke

    return invoke(argv)


def guarded(command: Callable[[], int]) -> int:
    """Run a command: a `QuorumError` is the user's problem, told in its own words with its exit
    code; anything else is a bug in Quorum, logged with its traceback and reported as a bug.
    Output that could not be written (a full disk, a closed stdout) is neither: one line, exit 1."""
    with guarded_output():
        try:
            return _flushed(command)
        except OutputLost as err:
            silence_stdout()  # what is still buffered for it must not fail again at exit
            tell(f"quorum: {err}")
            return err.exit_code
        except QuorumError as err:
            # Its message may quote what was given (an alias, a run id), a configured key among them.
            tell(f"quorum: {redact_known(str(err))}")
            return err.exit_code
        except KeyboardInterrupt:
            tell("quorum: interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (`quorum history | head -1`): it had all it wanted, which is not an
            # error. Point stdout at /dev/null so the interpreter's last flush cannot complain either.
            silence_stdout()
            return EXIT_OK
        except Exception as err:
            log.exception("internal error")
            where = log_file()
            tell(
                "quorum: internal error (a bug in Quorum, not a problem with your input): "
                + redact_known(f"{type(err).__name__}: {err}")
            )
            if where is not None:
                tell(f"  the traceback is in {where}; please report it")
            return EXIT_FAILED


def _flushed(command: Callable[[], int]) -> int:
    """The command's exit code once all it wrote has left: a full disk under a redirected output
    shows only when the buffer is flushed, and that must happen here, not at the interpreter's
    exit (where it is a warning and exit code 120). `--help` ends with SystemExit: flushed too."""
    try:
        code = command()
    except SystemExit:
        sys.stdout.flush()
        raise
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
