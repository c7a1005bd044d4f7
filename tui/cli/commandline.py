"""The `quorum` command line, with click: the dashboard by default (`quorum`, `quorum "question"
-m …`), and the commands `run`, `history`, `show`, `watch`, `mcp`, `serve`, `models`, `doctor`,
`config`. A usage error is one line (`quorum: …`) and where to read more, exit 2.

Loaded only for a command line: `quorum` alone opens the dashboard without it (`tui.cli.main`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from tui import __version__
from tui.ask import Ask
from tui.cli import dashboard
from tui.cli.commands import config_command, history_command, models_command
from tui.cli.logs import log_file, redact_known, setup_logging
from tui.cli.options import Shared
from tui.cli.output import need_stdout, tell
from tui.cli.run import question_from, run_command
from tui.config.loading import CONFIG_ENV
from tui.config.project import NO_PROJECT_ENV
from tui.config.schema import MemberSpec, parse_member
from tui.engine.types import SHAPES, AnswerShapeError, AnswerSpec, Mode, Origin
from tui.errors import EXIT_OK, EXIT_USAGE, UsageError, hide_key_shapes

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = f"an extra config file over the user's (also ${CONFIG_ENV})"


def shared(ctx: click.Context) -> Shared:
    """The shared options of this command line (kept where every context of it sees them)."""
    found: Shared = ctx.meta.setdefault("quorum.shared", Shared())
    return found


def _config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:  # given after the command's name too: that one, the later, holds
        shared(ctx).config = value


def _no_project(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        shared(ctx).no_project = True


def shared_options(command: F) -> F:
    """Give `command` the options every command takes, before its name or after it."""
    command = click.option(
        "--no-project",
        is_flag=True,
        expose_value=False,
        callback=_no_project,
        help=f"ignore the project's .quorum.toml (also ${NO_PROJECT_ENV}=1)",
    )(command)
    return click.option("--config", metavar="PATH", expose_value=False, callback=_config, help=CONFIG_HELP)(
        command
    )


class OrderedGroup(click.Group):
    """A group whose `--help` lists its commands in the order they were added, not A to Z."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


SUBCOMMANDS = ("run", "history", "show", "watch", "mcp", "serve", "models", "doctor", "config")
"""Every command, in the order `quorum --help` lists them."""

LAZY_COMMANDS = {"serve": "tui.cli.serve", "doctor": "tui.cli.doctor"}
"""Commands whose module (and what it imports) loads only when they are named, or listed by
`--help`: the dashboard's first frame waits for every module imported before it."""


class DefaultGroup(OrderedGroup):
    """A group whose command line may name none of its commands: then all of it is the default
    command's (`quorum`, `quorum "question" -m …` open the dashboard), as llm's and Posting's are.

    The group's own options come first; a word that names no command, or an option the group does
    not take, starts the default command's arguments."""

    def __init__(self, *args: Any, default: click.Command, **kwargs: Any) -> None:
        kwargs["context_settings"] = {"allow_interspersed_args": False, **kwargs.get("context_settings", {})}
        kwargs["invoke_without_command"] = True
        super().__init__(*args, **kwargs)
        self.default = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, list(args))
        except click.NoSuchOption:
            # An option only the default command takes (`quorum -m alias "question"`): the whole
            # command line is the default command's (it takes the shared options too), handed on
            # unread after `--`. Not read past it either: `-mclaude-haiku` is no cluster of letters.
            return super().parse_args(ctx, ["--", *args])

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in SUBCOMMANDS if name in self.commands or name in LAZY_COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            self.add_command(getattr(importlib.import_module(LAZY_COMMANDS[cmd_name]), cmd_name))
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args[0] in self.commands or args[0] in LAZY_COMMANDS:
            return super().resolve_command(ctx, args)
        return "", self.default, args  # unnamed: its usage and its errors say `quorum`

    def invoke_default(self, ctx: click.Context, args: list[str]) -> Any:
        """The default command, with `args`, under this group's context."""
        with self.default.make_context("", args, parent=ctx) as sub:
            return self.default.invoke(sub)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[--config PATH] [--no-project] [QUESTION]... [OPTIONS]")
        formatter.write_usage(
            ctx.command_path, "[--config PATH] [--no-project] COMMAND [ARGS]...", prefix="   or: "
        )


def _members(given: Sequence[str], command: str) -> list[MemberSpec]:
    """The `-m` members. Read once the settings are, not by the parser: a bad one quotes what was
    given, which may be a key given in the wrong place, and only now are the keys known to hide."""
    try:
        return [parse_member(value) for value in given]
    except UsageError as err:
        reason = hide_key_shapes(str(err))
        raise UsageError(f"option -m/--model: {reason}\n(see `{command} --help`)") from None


MODES = [mode.value for mode in Mode]
"""Every mode there is, as `--mode` takes it."""


def panel_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that shape a run, shared by `quorum run` and the dashboard."""
    for option in reversed(
        [
            click.option(
                "-m",
                "--model",
                "members",
                multiple=True,
                metavar="ALIAS[:STANCE]",
                help="a panel member (repeat); stance: for, against, neutral or a synonym",
            ),
            click.option("--synthesizer", metavar="ALIAS", help="the synthesizer and curator"),
            click.option("--mode", type=click.Choice(MODES), help="how the panel works the question out"),
            click.option("--rounds", type=int, metavar="N", help="max rounds in deliberate mode (1-10)"),
            click.option(
                "--file", "files", multiple=True, metavar="PATH", help="attach a text file (repeat)"
            ),
            click.option(
                "--image",
                "images",
                multiple=True,
                metavar="PATH",
                help="attach an image: PNG, JPEG, WebP or GIF, up to 3.75 MiB (repeat); sent to the "
                "vision-capable members",
            ),
            click.option("--focus", multiple=True, metavar="TEXT", help="a focus area (repeat)"),
            click.option(
                "--budget",
                type=int,
                metavar="TOKENS",
                help="token budget: the curator decides early rather than overrun it",
            ),
        ]
    ):
        command = option(command)
    return command


def _overrides(mode: str | None, rounds: int | None, budget: int | None) -> dict[str, Any]:
    """The run's flags as the settings' top layer (checked as any setting is)."""
    run: dict[str, Any] = {}
    if mode:
        run["mode"] = mode
    if rounds is not None:
        run["max_rounds"] = rounds
    if budget is not None:
        run["token_budget"] = budget
    return {"run": run} if run else {}


class UnnamedCommand(click.Command):
    """A group's default command, whose usage line names only the group (`quorum [OPTIONS] …`)."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path.strip(), " ".join(self.collect_usage_pieces(ctx)))


@click.command(
    "quorum",
    cls=UnnamedCommand,
    help="Open the dashboard; with a QUESTION (its words), start the run at once.",
)
@click.argument("question", nargs=-1)
@panel_options
@shared_options
@click.pass_context
def dashboard_command(ctx: click.Context, /, question: tuple[str, ...], **given: Any) -> int:
    dashboard.need_terminal()
    settings = shared(ctx).settings(_overrides(given["mode"], given["rounds"], given["budget"]))
    ask = Ask(
        question=" ".join(question).strip(),
        origin=Origin.DASHBOARD,
        members=tuple(_members(given["members"], "quorum")),
        synthesizer=given["synthesizer"],
        mode=Mode(given["mode"]) if given["mode"] else None,
        max_rounds=given["rounds"],
        token_budget=given["budget"],
        files=given["files"],
        images=given["images"],
        focus=given["focus"],
    )
    return dashboard.open_dashboard(settings, ask)


@click.group(
    cls=DefaultGroup,
    default=dashboard_command,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Put one question to a panel of language models, let them deliberate, get one answer. "
    "With no command, `quorum` opens the dashboard (and starts the run when given a question).",
)
@click.version_option(
    __version__, "--version", message="quorum %(version)s", help="print the version and exit"
)
@shared_options
@click.pass_context
def cli(ctx: click.Context) -> int | None:
    if ctx.invoked_subcommand is None:  # nothing but the shared options: the dashboard, empty
        assert isinstance(ctx.command, DefaultGroup)
        return int(ctx.command.invoke_default(ctx, []))
    return None


@cli.command(
    short_help="run a panel without the dashboard",
    help="Run a panel headless on QUESTION (its words; - reads it from standard input): progress on "
    "stderr, the report (or --json) on stdout. Exits 0 when the run succeeded, 1 when it failed, "
    "2 on a usage or configuration error, 3 when it ended with no quorum (its synthesis is "
    "printed, marked: not a decision), 130 when interrupted.",
)
@click.argument("question", nargs=-1, required=True)
@panel_options
@click.option(
    "--answer",
    metavar="SHAPE",
    help=f"the question has one right answer, asked for in this shape ({', '.join(SHAPES)}); "
    "a vote counts the answers read in it, and a seat left neutral is asked with no stance",
)
@click.option("--json", "as_json", is_flag=True, help="print the full result as JSON")
@click.option("-q", "--quiet", is_flag=True, help="no progress on stderr")
@click.option(
    "--follow-up", metavar="RUN", help="ask a follow-up to an earlier run (its id, or the start of it)"
)
@click.option(
    "--fresh",
    is_flag=True,
    help="ask the panel even if an earlier run answers the question (the run is recorded as usual; "
    "a similar earlier run is still named)",
)
@shared_options
@click.pass_context
def run(ctx: click.Context, /, question: tuple[str, ...], **given: Any) -> int:
    settings = shared(ctx).settings(_overrides(given["mode"], given["rounds"], given["budget"]))
    # Its bytes, not text: what is not UTF-8 is said where, not decoded into something else.
    asked = question_from(question, getattr(sys.stdin, "buffer", None))
    if not asked:
        raise UsageError("the question is empty")
    ask = Ask(
        question=asked,
        origin=Origin.CLI,
        members=tuple(_members(given["members"], "quorum run")),
        synthesizer=given["synthesizer"],
        mode=Mode(given["mode"]) if given["mode"] else None,
        max_rounds=given["rounds"],  # said in the notes when the mode has no rounds
        token_budget=given["budget"],
        files=given["files"],
        images=given["images"],
        focus=given["focus"],
        answer=_answer(given["answer"]),
        follow_up=given["follow_up"],
        fresh=given["fresh"],
    )
    return run_command(settings, ask, as_json=given["as_json"], quiet=given["quiet"])


def _answer(shape: str | None) -> AnswerSpec | None:
    """The `--answer` shape, or None; a `UsageError` says in one line why it cannot be used."""
    if shape is None:
        return None
    try:
        return AnswerSpec.parse(shape)
    except AnswerShapeError as err:
        raise UsageError(f"--answer: {err}") from None


@cli.command(short_help="list recorded runs, newest first", help="List recorded runs, newest first.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, metavar="N", help="list at most N runs (default 20)"
)
@click.option(
    "--filter", "text", default="", metavar="TEXT", help="only runs whose question or panel has TEXT"
)
@click.option("--json", "as_json", is_flag=True, help="print the list as JSON")
@shared_options
@click.pass_context
def history(ctx: click.Context, limit: int, text: str, as_json: bool) -> int:
    return history_command(shared(ctx).settings(), limit=limit, text=text, as_json=as_json)


@cli.command(
    short_help="print a recorded run (Markdown report by default)",
    help="Print a recorded run, RUN (its id, or the start of it): the Markdown report by default, "
    "or the full data contract as JSON.",
)
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="the full data contract as JSON")
@click.option("--md", is_flag=True, help="the Markdown report (the default)")
@shared_options
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool, md: bool) -> int:
    if as_json and md:
        raise click.UsageError("--json and --md: one or the other", ctx)
    return history_command(shared(ctx).settings(), show=run_id, as_json=as_json)


@cli.command(
    short_help="open the dashboard on the run another process is recording, live",
    help="Open the dashboard and follow, live, the runs other processes record in the same "
    "history (`quorum mcp` for a coding agent, `quorum run`): RUN (its id, or the start of it), "
    "or else the newest running run, "
    "or else the next one that starts. When a followed run ends, the next one to start is followed, "
    "until you start a run of your own. Needs a terminal.",
)
@click.argument("run_id", metavar="[RUN]", required=False)
@shared_options
@click.pass_context
def watch(ctx: click.Context, run_id: str | None) -> int:
    return dashboard.watch_command(shared(ctx).settings(), run_id)


@cli.command(
    short_help="serve Quorum to coding agents over MCP (stdio)",
    help="Serve Quorum as an MCP server on stdin/stdout, for coding agents (Claude Code, Codex, "
    "Cursor): tools consensus, consensus_result, list_models and history. It reads the same "
    "configuration and keys as every other command; register it with your client as `quorum mcp`.",
)
@shared_options
@click.pass_context
def mcp(ctx: click.Context) -> int:
    settings = shared(ctx).settings()
    need_stdout()  # the protocol's only way out
    from tui.mcp.server import serve  # the MCP SDK takes a second or more to import: only here

    return serve(settings, log_file())


@cli.command(
    short_help="list the model catalog, prices and whether each key is set",
    help="List the model catalog: each alias, its provider and model id, context window, whether it "
    "takes images, prices, and whether its key is set.",
)
@click.option("--json", "as_json", is_flag=True, help="print the catalog as JSON")
@shared_options
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> int:
    return models_command(shared(ctx).settings(), as_json)


@cli.group(
    cls=OrderedGroup,
    no_args_is_help=False,
    short_help="manage the user config",
    help="Manage the user config.",
)
@shared_options
def config() -> None:
    """The user config's commands."""


@config.command(short_help="write a starter user config", help="Write a starter user config.")
@click.option("--force", is_flag=True, help="overwrite an existing file")
@shared_options
@click.pass_context
def init(ctx: click.Context, force: bool) -> int:
    setup_logging()
    return config_command("init", shared(ctx), force=force)


@config.command(short_help="print where the config files are", help="Print where the config files are.")
@shared_options
@click.pass_context
def path(ctx: click.Context) -> int:
    setup_logging()
    return config_command("path", shared(ctx))


@config.command(
    short_help="check every config layer and report the first problem",
    help="Check every config layer and report the first problem.",
)
@shared_options
@click.pass_context
def validate(ctx: click.Context) -> int:
    setup_logging()
    return config_command("validate", shared(ctx))


@config.command(
    short_help="trust a project's .quorum.toml as it is now",
    help="Trust a project file (PATH, or the one found from here upward) as its content is now, so "
    "that it may also set what an untrusted one may not ([providers], [models], [store], "
    "[prompts], [ui.keymap], stance prompts, limits above yours). Read it first: it prints what "
    "the file sets beyond an untrusted file's share. A file that changes is untrusted again.",
)
@click.argument("file", metavar="[PATH]", required=False)
@click.option("--revoke", is_flag=True, help="trust it no longer")
@shared_options
@click.pass_context
def trust(ctx: click.Context, file: str | None, revoke: bool) -> int:
    setup_logging()
    return config_command("trust", shared(ctx), file=file, revoke=revoke)


def invoke(argv: list[str]) -> int:
    """The command `argv` names, run: its exit code. `--help` and `--version` end with SystemExit
    0; a usage error is one line and where to read more, SystemExit 2 (what `quorum` exits with)."""
    try:
        with cli.make_context("quorum", argv) as ctx:
            code = cli.invoke(ctx)
    except click.exceptions.Exit as done:
        raise SystemExit(done.exit_code) from None
    except click.UsageError as err:
        where = err.ctx.command_path.strip() if err.ctx is not None else "quorum"
        # It may quote what was given: a key in the wrong place is not printed back.
        message = hide_key_shapes(redact_known(err.format_message()))
        tell(f"quorum: {message[:1].lower()}{message[1:].rstrip('.')}\n(see `{where} --help`)")
        raise SystemExit(EXIT_USAGE) from None
    return int(code) if code is not None else EXIT_OK
