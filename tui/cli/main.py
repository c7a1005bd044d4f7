"""The `quorum` command: the dashboard by default; `run`, `eval`, `history`, `show`, `watch`, `mcp`,
`serve`, `models`, `doctor`, `config`.

Exit codes: 0 success, 1 the run failed (or its output could not be written), 2 usage or
configuration error, 3 (`quorum run`) no quorum: the run's synthesis is printed but is not a
decision, 130 interrupted. Only a `QuorumError` is reported as the user's problem; anything else
is a bug in Quorum, reported as one with the log's path (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui import __version__
from tui.ask import Ask
from tui.cli.arguments import add_member_options, at_least_one
from tui.cli.commands import config_command, history_command, models_command
from tui.cli.eval_options import add_eval_parser, eval_options
from tui.cli.logs import hide_secrets, log_file, redact_known, setup_logging
from tui.cli.output import OutputLost, guarded_output, need_stdout, silence_stdout, tell
from tui.cli.run import question_from, run_command
from tui.config.catalog import secret_values
from tui.config.loading import CONFIG_ENV, load_settings
from tui.config.project import NO_PROJECT_ENV
from tui.config.schema import MemberSpec, Settings, parse_member
from tui.engine.types import SHAPES, AnswerShapeError, AnswerSpec, Mode, Origin
from tui.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    QuorumError,
    UsageError,
    hide_key_shapes,
)
from tui.pool import resolve
from tui.session import Session, check_keys, open_store

if TYPE_CHECKING:  # the dashboard (and Textual) load only when it opens
    from tui.dashboard.app import QuorumApp

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with 2 and a one-line pointer to --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"quorum: {message}\n(see `{self.prog} --help`)\n")


class _SubParser(_Parser):
    """A sub-command's parser, which also takes the options every command shares after the
    sub-command's name: `quorum run --config F …` as well as `quorum --config F run …`. Given in
    neither place, they keep the values the top level gave them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
        add_project_option(self, default=argparse.SUPPRESS)


def _members(given: Sequence[str], command: str) -> list[MemberSpec]:
    """The `-m` members. Read once the settings are, not by argparse: a bad one quotes what was
    given, which may be a key given in the wrong place, and only now are the keys known to hide."""
    try:
        return [parse_member(value) for value in given]
    except UsageError as err:
        reason = hide_key_shapes(str(err))
        raise UsageError(f"argument -m/--model: {reason}\n(see `{command} --help`)") from None


SUBCOMMANDS = ("run", "eval", "history", "show", "watch", "mcp", "serve", "models", "doctor", "config")
"""Every sub-command, in the order `quorum --help` lists them."""


def add_panel_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape a run, shared by `quorum run` and the dashboard."""
    add_member_options(parser, "a panel member (repeat); stance: for, against, neutral or a synonym")
    parser.add_argument("--mode", choices=[mode.value for mode in Mode])
    parser.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        help="max rounds in deliberate and debate mode (1-10; a debate has 2 unless given)",
    )
    parser.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="attach a text file (repeat)",
    )
    parser.add_argument(
        "--image",
        dest="images",
        action="append",
        default=[],
        metavar="PATH",
        help="attach an image: PNG, JPEG, WebP or GIF, up to 3.75 MiB (repeat); sent to the "
        "vision-capable members",
    )
    parser.add_argument("--focus", action="append", default=[], metavar="TEXT", help="a focus area (repeat)")
    parser.add_argument(
        "--budget",
        type=int,
        metavar="TOKENS",
        help="token budget: the curator decides early rather than overrun it",
    )


def add_project_option(parser: argparse.ArgumentParser, default: Any = False) -> None:
    parser.add_argument(
        "--no-project",
        action="store_true",
        default=default,
        help=f"ignore the project's .quorum.toml (also ${NO_PROJECT_ENV}=1)",
    )


CONFIG_HELP = f"an extra config file over the user's (also ${CONFIG_ENV})"


def build_parser() -> argparse.ArgumentParser:
    # Here, not at the top: the dashboard never builds this parser, and its first frame waits for
    # every module imported before it (these two: ~25 ms, measured).
    from tui.cli.doctor import add_doctor_parser
    from tui.cli.serve import add_serve_parser

    parser = _Parser(
        prog="quorum",
        usage="quorum [--config PATH] [--no-project] [QUESTION ...] [-m ALIAS[:STANCE] ...]"
        "   (the dashboard)\n"
        f"       quorum [--config PATH] [--no-project] {{{','.join(SUBCOMMANDS)}}} ...",
        description="Put one question to a panel of language models, let them deliberate, get one answer. "
        "With no sub-command, `quorum` opens the dashboard (and starts the run when given a question).",
    )
    parser.add_argument("--version", action="version", version=f"quorum {__version__}")
    parser.add_argument("--config", metavar="PATH", help=CONFIG_HELP)
    add_project_option(parser)
    # prog: a sub-command's usage and its "see --help" hint say `quorum run`, not the two-line usage above
    commands = parser.add_subparsers(dest="command", parser_class=_SubParser, prog="quorum")

    run = commands.add_parser(
        "run",
        help="run a panel without the dashboard",
        description="Run a panel headless: progress on stderr, the report (or --json) on stdout. "
        "Exits 0 when the run succeeded, 1 when it failed, 2 on a usage or configuration error, "
        "3 when it ended with no quorum (its synthesis is printed, marked: not a decision), "
        "130 when interrupted.",
    )
    run.add_argument("question", nargs="+", help="the question (use - to read it from standard input)")
    add_panel_options(run)
    run.add_argument(
        "--answer",
        metavar="SHAPE",
        help=f"the question has one right answer, asked for in this shape ({', '.join(SHAPES)}); "
        "a vote counts the answers read in it, and a seat left neutral is asked with no stance",
    )
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    run.add_argument(
        "--follow-up", metavar="RUN", help="ask a follow-up to an earlier run (its id, or the start of it)"
    )
    run.add_argument(
        "--fresh",
        action="store_true",
        help="ask the panel even if an earlier run answers the question (the run is recorded as usual; "
        "a similar earlier run is still named)",
    )

    add_eval_parser(commands)

    history = commands.add_parser("history", help="list recorded runs, newest first")
    history.add_argument(
        "--limit", type=at_least_one, default=20, metavar="N", help="list at most N runs (default 20)"
    )
    history.add_argument(
        "--filter", default="", metavar="TEXT", help="only runs whose question or panel has TEXT"
    )
    history.add_argument(
        "--eval", action="store_true", help="list the runs `quorum eval` made too (marked [eval])"
    )
    history.add_argument("--json", action="store_true")

    show = commands.add_parser("show", help="print a recorded run (Markdown report by default)")
    show.add_argument("run", metavar="RUN", help="its id, or the start of it")
    form = show.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the full data contract as JSON")
    form.add_argument("--md", action="store_true", help="the Markdown report (the default)")

    watch = commands.add_parser(
        "watch",
        help="open the dashboard on the run another process is recording, live",
        description="Open the dashboard and follow, live, the runs other processes record in the same "
        "history (`quorum mcp` for a coding agent, `quorum run`): RUN, or else the newest running run, "
        "or else the next one that starts. When a followed run ends, the next one to start is followed, "
        "until you start a run of your own. Needs a terminal.",
    )
    watch.add_argument(
        "run", nargs="?", metavar="RUN", help="the run to open first: its id, or the start of it"
    )

    mcp = commands.add_parser(
        "mcp",
        help="serve Quorum to coding agents over MCP (stdio)",
        description="Serve Quorum as an MCP server on stdin/stdout, for coding agents (Claude Code, Codex, "
        "Cursor): tools consensus, consensus_result, list_models and history. It reads the same "
        "configuration and keys as every other command; register it with your client as `quorum mcp`.",
    )
    mcp.add_argument(
        "--home",
        metavar="PATH",
        help="Quorum's folder for config, logs and history, as QUORUM_HOME sets it: clients start the "
        "server with a minimal environment that drops QUORUM_HOME and XDG_*",
    )

    add_serve_parser(commands)

    models = commands.add_parser("models", help="list the model catalog, prices and whether each key is set")
    models.add_argument("--json", action="store_true")
    add_doctor_parser(commands)

    config = commands.add_parser("config", help="manage the user config")
    config_commands = config.add_subparsers(
        dest="config_command", required=True, parser_class=_SubParser, metavar="{init,path,validate,trust}"
    )
    init = config_commands.add_parser("init", help="write a starter user config")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    config_commands.add_parser("path", help="print where the config files are")
    config_commands.add_parser("validate", help="check every config layer and report the first problem")
    trust = config_commands.add_parser(
        "trust",
        help="trust a project's .quorum.toml as it is now",
        description="Trust a project file as its content is now, so that it may also set what an untrusted "
        "one may not ([providers], [models], [store], [prompts], [ui.keymap], stance prompts, limits above "
        "yours). It first prints what the file sets beyond an untrusted file's share, then asks (y/N); "
        "without a terminal to ask on, it trusts nothing unless --yes is given. A file that changes is "
        "untrusted again.",
    )
    trust.add_argument(
        "path", nargs="?", metavar="PATH", help="the project file (default: the one found from here upward)"
    )
    trust.add_argument("--revoke", action="store_true", help="trust it no longer")
    trust.add_argument(
        "--yes", action="store_true", help="trust it without asking (what it sets is still printed)"
    )
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    run: dict[str, Any] = {}
    if getattr(args, "mode", None):
        run["mode"] = args.mode
    if getattr(args, "rounds", None) is not None:
        run["max_rounds"] = args.rounds
    if getattr(args, "budget", None) is not None:
        run["token_budget"] = args.budget
    return {"run": run} if run else {}


def wants_dashboard(argv: Sequence[str]) -> bool:
    """No sub-command named: the dashboard (`quorum`, `quorum "question" -m …`)."""
    skip_value = False
    for token in argv:
        if skip_value:
            skip_value = False
            continue
        if token == "--config":
            skip_value = True
            continue
        if token.startswith("--config=") or token == "--no-project":
            continue
        if token in ("-h", "--help", "--version"):
            return False
        return token.startswith("-") or token not in SUBCOMMANDS
    return True


def build_dashboard_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quorum",
        usage="quorum [--config PATH] [--no-project] [QUESTION ...] [-m ALIAS[:STANCE] ...] [--mode ...]",
        description="Open the dashboard; with a question, start the run at once.",
    )
    parser.add_argument("--config", metavar="PATH")
    add_project_option(parser)
    parser.add_argument("question", nargs="*", help="start the run at once with this question")
    add_panel_options(parser)
    return parser


BROWSER_DRIVER_ENV = "TEXTUAL_DRIVER"
"""Set by `quorum serve` (textual-serve) for each tab's dashboard: Textual then speaks to the
browser over stdin/stdout, which are pipes, not a terminal."""


def _need_terminal() -> None:
    if os.environ.get(BROWSER_DRIVER_ENV):
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the dashboard needs a terminal; use `quorum run` for headless runs")


def dashboard_command(argv: Sequence[str]) -> int:
    args = build_dashboard_parser().parse_args(argv)
    _need_terminal()
    setup_logging()
    settings = load_settings(args.config, _overrides(args), project=not args.no_project)
    hide_secrets(secret_values(settings))
    ask = Ask(
        question=" ".join(args.question).strip(),
        origin=Origin.DASHBOARD,
        members=tuple(_members(args.members, "quorum")),
        synthesizer=args.synthesizer,
        mode=Mode(args.mode) if args.mode else None,
        max_rounds=args.rounds,
        token_budget=args.budget,
        files=tuple(args.files),
        images=tuple(args.images),
        focus=tuple(args.focus),
    )
    session = Session(settings, ask)
    if ask.question:
        # The run would start with the dashboard and fail at once: refused first, as `quorum run`
        # refuses it. Only the keys are read: the dashboard makes its own connections.
        check_keys(
            session.prepare(ask.question).request,
            lambda member: resolve(settings, member.provider, os.environ),
            synthesizer_named=bool(ask.synthesizer),
        )
    from tui.dashboard.app import QuorumApp  # Textual loads only for the dashboard, never for `quorum run`

    return _run_dashboard(QuorumApp(settings, session, question=ask.question, start=bool(ask.question)))


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
    _need_terminal()
    from tui.dashboard.app import QuorumApp

    session = Session(settings, Ask(origin=Origin.DASHBOARD))
    return _run_dashboard(QuorumApp(settings, session, watch=True, watch_run=run_id))


def _run_dashboard(app: QuorumApp) -> int:
    # Frozen before the first frame, not only after it: what the imports and the settings built
    # lives until the dashboard exits, and a full collection scanning it costs ~50 ms (measured).
    app.tune_gc()
    app.run()
    if app.return_code:  # Textual ended the app on an error it has printed (a traceback, bad CSS)
        log.error("the dashboard stopped on an error (exit code %s)", app.return_code)
        print(f"quorum: the dashboard stopped on an error (above); the log is {log_file()}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _headless(args: argparse.Namespace) -> int:
    if args.command == "mcp" and args.home:
        # What QUORUM_HOME does, named in the server's arguments (the client's own environment
        # for it is minimal): set before the log, the configuration or the history is looked for.
        os.environ["QUORUM_HOME"] = str(Path(args.home).expanduser().absolute())
    setup_logging()
    if args.command == "config":
        return config_command(args)
    settings = load_settings(args.config, _overrides(args), project=not args.no_project)
    hide_secrets(secret_values(settings))
    if args.command == "models":
        return models_command(settings, args.json)
    if args.command == "doctor":
        from tui.cli.doctor import doctor_command

        return doctor_command(settings, args)
    if args.command in ("history", "show"):
        return history_command(settings, args)
    if args.command == "watch":
        return watch_command(settings, args.run)
    if args.command == "mcp":
        need_stdout()  # the protocol's only way out
        from tui.mcp.server import serve  # the MCP SDK takes a second or more to import: only here

        return serve(settings, log_file())
    if args.command == "serve":
        from tui.cli.serve import serve_command

        return serve_command(args)
    if args.command == "eval":
        from tui.cli.eval import eval_command

        return eval_command(settings, eval_options(args, _members(args.members, "quorum eval")))
    # Its bytes, not text: what is not UTF-8 is said where, not decoded into something else.
    question = question_from(args.question, getattr(sys.stdin, "buffer", None))
    if not question:
        raise UsageError("the question is empty")
    ask = Ask(
        question=question,
        origin=Origin.CLI,
        members=tuple(_members(args.members, "quorum run")),
        synthesizer=args.synthesizer,
        mode=Mode(args.mode) if args.mode else None,
        max_rounds=args.rounds,  # said in the notes when the mode has no rounds
        token_budget=args.budget,
        files=tuple(args.files),
        images=tuple(args.images),
        focus=tuple(args.focus),
        answer=_answer(args.answer),
        follow_up=args.follow_up,
        fresh=args.fresh,
    )
    return run_command(settings, ask, as_json=args.json, quiet=args.quiet)


def _answer(shape: str | None) -> AnswerSpec | None:
    """The `--answer` shape, or None; a `UsageError` says in one line why it cannot be used."""
    if shape is None:
        return None
    try:
        return AnswerSpec.parse(shape)
    except AnswerShapeError as err:
        raise UsageError(f"--answer: {err}") from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: Callable[[], int]
    if wants_dashboard(argv):
        command = lambda: dashboard_command(argv)  # noqa: E731
    else:
        # Parsed inside `guarded`: `--help` writes to standard output, which may be full or closed.
        command = lambda: _headless(build_parser().parse_args(argv))  # noqa: E731
    return guarded(command)


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
