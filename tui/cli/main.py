"""The `quorum` command: headless sub-commands (run, models, config); the dashboard by default.

Exit codes: 0 success, 1 the run failed, 2 usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from tui import __version__
from tui.cli.logs import setup_logging
from tui.cli.run import EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunOptions, question_from, run_command
from tui.config import paths
from tui.config.schema import (
    CONFIG_ENV,
    Catalog,
    Settings,
    config_layers,
    load_settings,
    parse_member,
)
from tui.errors import ConfigError, StoreError
from tui.render.formatting import literal
from tui.render.words import outcome_word, run_word
from tui.session import Session


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit with 2 and a one-line pointer to --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"quorum: {message}\n(see `{self.prog} --help`)\n")


def _member(value: str) -> Any:
    try:
        return parse_member(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_panel_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape a run, shared by `quorum run` and the dashboard."""
    parser.add_argument(
        "-m",
        "--model",
        dest="members",
        action="append",
        type=_member,
        default=[],
        metavar="ALIAS[:STANCE]",
        help="a panel member (repeat); stance: for, against, neutral or a synonym",
    )
    parser.add_argument("--synthesizer", metavar="ALIAS", help="the synthesizer and curator")
    parser.add_argument("--mode", choices=["consult", "deliberate"])
    parser.add_argument("--rounds", type=int, metavar="N", help="max rounds in deliberate mode (1-10)")
    parser.add_argument(
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="attach a text file (repeat)",
    )
    parser.add_argument("--focus", action="append", default=[], metavar="TEXT", help="a focus area (repeat)")
    parser.add_argument(
        "--budget",
        type=int,
        metavar="TOKENS",
        help="token budget: the curator decides early rather than overrun it",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quorum",
        usage="quorum [--config PATH] [QUESTION ...] [-m ALIAS[:STANCE] ...]   (the dashboard)\n"
        "       quorum [--config PATH] {run,models,config} ...",
        description="Put one question to a panel of language models, let them deliberate, get one answer. "
        "With no sub-command, `quorum` opens the dashboard (and starts the run when given a question).",
    )
    parser.add_argument("--version", action="version", version=f"quorum {__version__}")
    parser.add_argument(
        "--config", metavar="PATH", help=f"an extra config file over the user's (also ${CONFIG_ENV})"
    )
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run a panel without the dashboard",
        description="Run a panel headless: progress on stderr, the report (or --json) on stdout.",
    )
    run.add_argument("question", nargs="+", help="the question (use - to read it from standard input)")
    add_panel_options(run)
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    run.add_argument(
        "--follow-up", metavar="RUN", help="ask a follow-up to an earlier run (its id, or the start of it)"
    )

    history = commands.add_parser("history", help="list recorded runs, newest first")
    history.add_argument("--limit", type=int, default=20, metavar="N")
    history.add_argument(
        "--filter", default="", metavar="TEXT", help="only runs whose question or panel has TEXT"
    )
    history.add_argument("--json", action="store_true")

    show = commands.add_parser("show", help="print a recorded run (Markdown report by default)")
    show.add_argument("run", metavar="RUN", help="its id, or the start of it")
    form = show.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the full data contract as JSON")
    form.add_argument("--md", action="store_true", help="the Markdown report (the default)")

    models = commands.add_parser("models", help="list the model catalog, prices and whether each key is set")
    models.add_argument("--json", action="store_true")

    config = commands.add_parser("config", help="manage the user config")
    config_commands = config.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    init = config_commands.add_parser("init", help="write a starter user config")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    config_commands.add_parser("path", help="print where the config files are")
    config_commands.add_parser("validate", help="check every config layer and report the first problem")
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


def _models_command(settings: Settings, as_json: bool) -> int:
    catalog = Catalog(settings)
    rows = []
    for name, model in settings.models.items():
        provider = catalog.provider(model)
        rows.append(
            {
                "alias": name,
                "aliases": model.aliases,
                "provider": model.provider,
                "id": model.id,
                "key": catalog.key_status(model),
                "key_env": provider.api_key_env,
                "context_window": model.context_window,
                "input_price": model.input_price,
                "output_price": model.output_price,
                "demo": provider.kind == "demo",
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    header = (
        f"{'alias':<16} {'provider':<11} {'model id':<30} {'key':<22} "
        f"{'context':>9} {'$/M in':>7} {'$/M out':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        key = {"set": f"set ({row['key_env']})", "missing": f"MISSING {row['key_env']}"}.get(
            str(row["key"]), "demo, none needed" if row["demo"] else "none needed"
        )
        print(
            f"{row['alias']:<16} {row['provider']:<11} {row['id']:<30} {key:<22} "
            f"{row['context_window']:>9,} {row['input_price']:>7.2f} {row['output_price']:>8.2f}"
        )
    return EXIT_OK


STARTER_CONFIG: dict[str, Any] = {
    "run": {"mode": "deliberate", "max_rounds": 3, "call_deadline_s": 180},
    "panel": {"members": ["gpt-sol:neutral", "claude-sonnet:against", "gemini-flash:for"], "size": 3},
    "ui": {"theme": "quorum-dark"},
}


def _history_command(settings: Settings, args: argparse.Namespace) -> int:
    from tui.history.store import RunStore
    from tui.render.report import render_markdown

    path = paths.history_file(settings.store.path)
    if not path.exists():
        print(f"quorum: no run history yet ({path} does not exist)", file=sys.stderr)
        return EXIT_USAGE if args.command == "show" else EXIT_OK  # no such run, like any unknown id
    try:
        store = RunStore(path)
    except StoreError as err:
        print(f"quorum: {err}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if args.command == "history":
            runs = store.list_runs(limit=args.limit, text=args.filter)
            if args.json:
                print(json.dumps([run.__dict__ for run in runs], indent=2))
                return EXIT_OK
            for run in runs:
                outcome = outcome_word(run.outcome) if run.outcome else run_word(run.status)
                question = ("↳ " if run.parent_run_id else "") + " ".join(run.question.split())
                question = question if len(question) <= 60 else question[:59] + "…"
                print(
                    f"{run.id}  {run.created_at[:16].replace('T', ' ')}  {outcome:<16} ${run.cost_usd:<8.4f} "
                    f"{literal(question)}"
                )
            if not runs:
                print("no runs recorded" + (f" matching {args.filter!r}" if args.filter else ""))
            return EXIT_OK
        try:
            result = store.load(store.resolve(args.run))
        except KeyError as err:
            print(f"quorum: {err.args[0]}", file=sys.stderr)
            return EXIT_USAGE
        print(result.model_dump_json(indent=2) if args.json else render_markdown(result))
        return EXIT_OK
    finally:
        store.close()


def _config_command(args: argparse.Namespace) -> int:
    target = paths.user_config_file()
    if args.config_command == "path":
        print(target)
        for layer in config_layers(args.config):
            print(f"  reads: {layer.path}")
        if not target.exists():
            print("  (the user config does not exist yet: `quorum config init` writes one)")
        return EXIT_OK
    if args.config_command == "init":
        import tomli_w

        if target.exists() and not args.force:
            print(f"quorum: {target} already exists; use --force to overwrite it", file=sys.stderr)
            return EXIT_USAGE
        target.parent.mkdir(parents=True, exist_ok=True)
        text = "# Quorum user config: overrides the shipped defaults (see `quorum config path`).\n"
        text += tomli_w.dumps(STARTER_CONFIG)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
        return EXIT_OK
    settings = load_settings(args.config)
    layers = config_layers(args.config)
    print(f"ok: {len(settings.models)} models, {len(settings.providers)} providers")
    for layer in layers:
        print(f"  read: {layer.path}")
    return EXIT_OK


SUBCOMMANDS = ("run", "models", "config", "history", "show")


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
        if token.startswith("--config="):
            continue
        if token in ("-h", "--help", "--version"):
            return False
        return token.startswith("-") or token not in SUBCOMMANDS
    return True


def build_dashboard_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quorum",
        usage="quorum [--config PATH] [QUESTION ...] [-m ALIAS[:STANCE] ...] [--mode ...]",
        description="Open the dashboard; with a question, start the run at once.",
    )
    parser.add_argument("--config", metavar="PATH")
    parser.add_argument("question", nargs="*", help="start the run at once with this question")
    add_panel_options(parser)
    return parser


def dashboard_command(argv: Sequence[str]) -> int:
    args = build_dashboard_parser().parse_args(argv)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("quorum: the dashboard needs a terminal; use `quorum run` for headless runs", file=sys.stderr)
        return EXIT_USAGE
    setup_logging()
    try:
        settings = load_settings(args.config, _overrides(args))
        session = Session(
            settings, seats=args.members, synthesizer=args.synthesizer, files=args.files, focus=args.focus
        )
    except ConfigError as err:
        print(f"quorum: {err.render()}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:
        print(f"quorum: {err}", file=sys.stderr)
        return EXIT_USAGE
    from tui.dashboard.app import QuorumApp  # Textual loads only for the dashboard, never for `quorum run`

    question = " ".join(args.question).strip()
    QuorumApp(settings, session, question=question, start=bool(question)).run()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_dashboard(argv):
        return dashboard_command(argv)
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "config":
            return _config_command(args)
        settings = load_settings(args.config, _overrides(args))
        if args.command == "models":
            return _models_command(settings, args.json)
        if args.command in ("history", "show"):
            return _history_command(settings, args)
        question = question_from(args.question, sys.stdin)
        if not question:
            print("quorum: the question is empty", file=sys.stderr)
            return EXIT_USAGE
        options = RunOptions(
            question=question,
            members=args.members,
            synthesizer=args.synthesizer,
            files=args.files,
            focus=args.focus,
            as_json=args.json,
            quiet=args.quiet,
            follow_up=args.follow_up,
        )
        return run_command(settings, options)
    except ConfigError as err:
        print(f"quorum: {err.render()}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
