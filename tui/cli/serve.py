"""`quorum serve`: the dashboard in a browser, one dashboard process per tab.

This module decides the command each tab's dashboard is started with (the same interpreter, so
it works from a virtual environment, and the same `--config` / `--no-project` as this command;
the environment, and so QUORUM_HOME and the keys, is inherited) and who may reach the server
(`tui.serve.guard`). The web server itself (`tui.serve.server`, textual-serve and aiohttp) is
imported only when the command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tui.cli.arguments import at_least_one
from tui.cli.logs import hide_secrets
from tui.serve.guard import DEFAULT_MAX_TABS, TOKEN_ENV, Access

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {number}")
    return number


def add_serve_parser(commands: Any) -> None:
    """`quorum serve`'s options, on the sub-command parsers of `quorum`."""
    serve = commands.add_parser(
        "serve",
        help="serve the dashboard to a web browser",
        description="Serve the dashboard to a web browser: each tab gets a dashboard of its own, with this "
        "machine's configuration, keys and history, as the terminal's. It listens on loopback by default, "
        "where only this machine can reach it. On any other address every request needs a token (one is "
        "generated and printed unless --token or $" + TOKEN_ENV + " gives it): whoever has it runs "
        "panels with your keys and reads your history. Ctrl+C stops the server and every dashboard.",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"the address to listen on (default {DEFAULT_HOST}, loopback)"
    )
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT}; 0: any free one)"
    )
    serve.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"the token every request must carry (also ${TOKEN_ENV}; at least 16 characters); "
        "needed, and generated if not given, off loopback",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL people open, when a reverse proxy (TLS) stands in front: printed, and the only "
        "other origin a dashboard's websocket may come from; a public URL off loopback needs the token too",
    )
    serve.add_argument(
        "--max-tabs",
        type=at_least_one,
        default=DEFAULT_MAX_TABS,
        metavar="N",
        help=f"dashboards open at once, each a process of its own (default {DEFAULT_MAX_TABS}); "
        "a tab opened beyond is refused and says so",
    )


def dashboard_command_line(config: str | None, no_project: bool) -> list[str]:
    """What each tab runs: this Python's `quorum`, with this command's config choices."""
    command = [sys.executable, "-m", "tui"]
    if config:
        command += ["--config", str(Path(config).resolve())]
    if no_project:
        command.append("--no-project")
    return command


def serve_command(args: argparse.Namespace) -> int:
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    access = Access.decide(args.host, args.port, token, args.public_url)
    if access.token:
        hide_secrets([access.token, access.cookie_value])
    from tui.serve.server import serve  # textual-serve and aiohttp load only for this command

    return serve(access, dashboard_command_line(args.config, args.no_project), max_tabs=args.max_tabs)
