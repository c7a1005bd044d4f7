"""The web server behind `quorum serve`: the page, its static files, and one dashboard per tab.

A browser tab loads the page (`page.html`), whose terminal (textual-serve's xterm.js bundle)
opens a websocket back to the server; for each websocket the server starts the dashboard as a
process of its own (the `quorum` command under Textual's web driver, with the user's
environment, so the same configuration, keys and history) and relays bytes both ways, in
textual-serve's framing, through its `AppService`. When the tab closes, its dashboard is told to
quit, then stopped if it lingers. textual-serve's own `Server` is not used: it has no way to
check a request before serving it, logs every URL (a token in a query would land in the log),
binds without reporting a taken port, and its page loads a font from a CDN.

Every request passes `guard.Access` first (Host, token); a websocket's Origin is checked too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TextIO
from urllib.parse import urlsplit

import textual_serve
from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import ERROR as UNPARSED
from aiohttp.web_request import BaseRequest
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from tui.errors import EXIT_OK, ServeError
from tui.serve.guard import DEFAULT_MAX_TABS, TOKEN_QUERY, Access

log = logging.getLogger(__name__)

TITLE = "Quorum"
STATIC_DIR = Path(textual_serve.__file__).parent / "static"
"""textual-serve's terminal bundle (xterm.js, its CSS) and the Roboto Mono font files."""
PAGE = Template((Path(__file__).parent / "page.html").read_text(encoding="utf-8"))

QUIT_GRACE_S = 5.0
"""How long a dashboard told to quit (its tab closed) has before it is sent SIGTERM, and then as
long again before SIGKILL: quitting takes a moment (a run in flight is cancelled and recorded)."""

MAX_CELLS = 1000
"""A terminal size from the browser is clamped to this many columns and rows."""

_SECURITY_HEADERS = {
    # The page's URL may have held the token: no other site learns it from a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # No other site may frame the dashboard and steer clicks into it.
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def _clamp(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(1, min(number, MAX_CELLS))


# --------------------------------------------------------------------------------------------
# One tab's dashboard process


def _die_with_parent() -> None:
    """In the child, between fork and exec: if the server dies without ending it (SIGKILL), the
    kernel sends the dashboard SIGTERM, which its web driver takes as quit (Linux only)."""
    if _PRCTL is not None:
        with contextlib.suppress(Exception):
            _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_PRCTL: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: not after fork


class DashboardProcess(AppService):
    """textual-serve's `AppService` (the framing, the relay both ways), but the dashboard is
    started from an argument list with no shell between (so no quoting of the interpreter's or
    the config's path), in a session of its own (the terminal's Ctrl+C reaches the server, which
    ends each dashboard in order), and tied to the server's life."""

    def __init__(self, argv: Sequence[str], **relay: object) -> None:
        super().__init__(shlex.join(argv), **relay)  # type: ignore[arg-type]
        self.argv = list(argv)
        self._ended: asyncio.Task[None] | None = None

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
            start_new_session=True,
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def end(self) -> Awaitable[None]:
        """Quit the dashboard, then stop it if it lingers; every caller waits for the same end."""
        if self._ended is None:
            self._ended = asyncio.ensure_future(self._end())
        return asyncio.shield(self._ended)

    async def _end(self) -> None:
        process = self._process
        if process is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop(), QUIT_GRACE_S)  # a quit message, then its output ends
        for stop_signal in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), QUIT_GRACE_S)
                break
            log.warning("dashboard %s did not quit: sending %s", process.pid, stop_signal.name)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, stop_signal)  # its own session: whatever it started goes too
        else:
            await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        log.info("dashboard %s ended (exit code %s)", process.pid, process.returncode)


# --------------------------------------------------------------------------------------------
# The server


class _OneLine(logging.Handler):
    """aiohttp's own records, as one line each in Quorum's log. A request it cannot handle (not
    HTTP, a bad URL, header or body, a broken websocket handshake) it reports with a traceback
    whose last lines quote the request as received, the token in its query or Authorization
    header and all; printed to the terminal, or kept in a log. So what is kept is where from and
    which error, never what was received: aiohttp's words without the values it fills in.
    A malformed request is the client's doing and only noted; anything else is a warning."""

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is None:
            log.log(min(record.levelno, logging.WARNING), "aiohttp: %s", record.msg)
            return
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        if isinstance(error, HttpProcessingError):
            log.info("refused a malformed request from %s: %s (%s)", remote, type(error).__name__, error.code)
        else:
            log.warning("a request from %s failed: %s", remote, type(error).__name__)


_AIOHTTP_RECORDS = _OneLine()


class _PathOnlyAccessLog(AbstractAccessLogger):
    """One line per request in Quorum's log, with the path but never the query: the first URL a
    browser opens carries the token."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.method == UNPARSED.method:
            return  # aiohttp's stand-in for a request it could not read: `_OneLine` has said why
        self.logger.info("%s %s %s", request.method, request.path, response.status)


@dataclass
class DashboardServer:
    """Serves the page and starts `command` (the dashboard's argument list) for each tab."""

    access: Access
    command: Sequence[str]
    max_tabs: int = DEFAULT_MAX_TABS  # a tab opened beyond is refused (`quorum serve --max-tabs`)
    _runner: web.AppRunner | None = field(default=None, init=False)
    _tabs: dict[web.WebSocketResponse, DashboardProcess] = field(default_factory=dict, init=False)
    _downloads: DownloadManager = field(default_factory=DownloadManager, init=False)

    @property
    def port(self) -> int:
        return self.access.port

    def dashboard_pids(self) -> list[int]:
        """The processes of the tabs open now."""
        return [pid for process in self._tabs.values() if (pid := process.pid) is not None]

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/ws", self._websocket),
                # textual-serve's terminal bundle and font: public files of the package, served
                # behind the same guard all the same. No listing, no symlinks out. textual-serve's
                # /download route is left out: the dashboard saves exports on this machine's disk.
                web.static("/static", STATIC_DIR, show_index=False, follow_symlinks=False),
            ]
        )
        return app

    async def start(self) -> None:
        """Listen on the access's host and port; a port in use or an unknown address is a
        `ServeError`. With port 0, `access` then holds the port the system gave."""
        aiohttp_log = logging.getLogger("aiohttp")
        aiohttp_log.addHandler(_AIOHTTP_RECORDS)  # once: a logger keeps a handler only once
        aiohttp_log.propagate = False
        runner = web.AppRunner(
            self._make_app(),
            handle_signals=False,
            access_log_class=_PathOnlyAccessLog,
            access_log=logging.getLogger("tui.serve.access"),
        )
        await runner.setup()
        site = web.TCPSite(runner, self.access.host, self.access.port)
        try:
            await site.start()
        except (OSError, UnicodeError) as err:
            await runner.cleanup()
            raise _bind_error(self.access.host, self.access.port, err) from None
        self._runner = runner
        bound = runner.addresses[0] if runner.addresses else None
        if isinstance(bound, tuple):
            self.access = self.access.bound_to(int(bound[1]))

    async def close(self) -> None:
        """End every tab's dashboard (each told to quit, stopped if it lingers), then the server."""
        tabs = list(self._tabs.items())
        for websocket, _ in tabs:
            with contextlib.suppress(Exception):
                await websocket.close(code=1001, message=b"quorum serve stopped")
        await asyncio.gather(*(process.end() for _, process in tabs), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----------------------------------------------------------------------------------------
    # The guard, before every route

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await self._check(request, handler)
        response.headers.update(_SECURITY_HEADERS)
        return response

    async def _check(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        access = self.access
        if not access.host_allowed(request.headers.get("Host")):
            return _refusal(403, "This server answers only to its own address (the Host was another).")
        if access.token is None:
            return await handler(request)
        if request.path == "/" and TOKEN_QUERY in request.query:
            if not access.token_matches(request.query[TOKEN_QUERY]):
                return _refusal(403, "That token is not this server's.")
            return self._trade_token_for_cookie(request)
        bearer = request.headers.get("Authorization", "")
        if access.cookie_matches(request.cookies.get(access.cookie_name)) or (
            bearer.startswith("Bearer ") and access.token_matches(bearer[len("Bearer ") :])
        ):
            return await handler(request)
        return _refusal(
            401,
            "This Quorum server needs its token: open the URL that `quorum serve` printed "
            "(it ends in /?token=…), once; the browser keeps a cookie for it after that.",
        )

    def _trade_token_for_cookie(self, request: web.Request) -> web.Response:
        """The token, right in the query: set the cookie and send the browser to the same page
        without the token, so it stays in neither the address bar nor a later Referer."""
        rest = request.rel_url.without_query_params(TOKEN_QUERY).query_string
        response = web.Response(
            status=303, headers={"Location": "./" + (f"?{rest}" if rest else ""), "Cache-Control": "no-store"}
        )
        response.set_cookie(
            self.access.cookie_name,
            self.access.cookie_value,
            path=_cookie_path(self.access.public_url),
            httponly=True,
            samesite="Strict",
            secure=self.access.secure_cookie,
        )
        return response

    # ----------------------------------------------------------------------------------------
    # Routes

    async def _page(self, request: web.Request) -> web.Response:
        font_size = _clamp(request.query.get("fontsize"), 16)
        html = PAGE.substitute(title=TITLE, font_size=min(font_size, 64))
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        origin, host = request.headers.get("Origin"), request.headers.get("Host")
        if not self.access.origin_allowed(origin, host):
            log.warning("refused a websocket from origin %r (host %r)", origin, host)
            return _refusal(403, "A dashboard may be opened only from this server's own page.")
        if len(self._tabs) >= self.max_tabs:
            # Each tab is a dashboard process (~150 MB): a page reloaded in a loop, or many
            # people at once, must not take the machine down.
            log.warning("refused a tab: %d dashboards are open, the limit", len(self._tabs))
            return _refusal(
                429,
                f"{self.max_tabs} dashboards are open on this server, its limit (quorum serve "
                "--max-tabs): close one, then reload this page.",
            )
        width = _clamp(request.query.get("width"), 80)
        height = _clamp(request.query.get("height"), 24)
        websocket = web.WebSocketResponse(heartbeat=15)
        dashboard = DashboardProcess(
            self.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self._downloads,
        )
        # Counted from here, before the first await: tabs opened at the same moment cannot all
        # pass the limit while each waits for its handshake.
        self._tabs[websocket] = dashboard
        try:
            await websocket.prepare(request)
            await dashboard.start(width, height)
            log.info("tab opened: dashboard %s (%sx%s)", dashboard.pid, width, height)
            await _relay(websocket, dashboard)
        finally:
            await dashboard.end()
            self._tabs.pop(websocket, None)
        return websocket


async def _relay(websocket: web.WebSocketResponse, dashboard: DashboardProcess) -> None:
    """The browser's messages to the dashboard, until the tab goes: keys (`stdin`), its size,
    focus. Anything malformed is dropped, not fatal: it is the browser's side of a pipe."""
    async for message in websocket:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            envelope = json.loads(message.data)
            kind, data = (envelope[0], envelope[1] if len(envelope) > 1 else None)
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        if kind == "stdin" and isinstance(data, str):
            await dashboard.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict):
            await dashboard.set_terminal_size(
                _clamp(str(data.get("width")), 80), _clamp(str(data.get("height")), 24)
            )
        elif kind == "ping":
            await websocket.send_json(["pong", data])
        elif kind == "blur":
            await dashboard.blur()
        elif kind == "focus":
            await dashboard.focus()


def _refusal(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain")


def _cookie_path(public_url: str | None) -> str:
    """The cookie goes only to this app's path: behind a proxy at https://host/quorum/, not to
    the other apps of that host."""
    path = urlsplit(public_url).path if public_url else ""
    return path.rstrip("/") + "/"


def _bind_error(host: str, port: int, err: Exception) -> ServeError:
    where = f"{host}:{port}"
    if isinstance(err, OSError) and err.errno == errno.EADDRINUSE:
        return ServeError(f"cannot listen on {where}: the port is in use (pick another with --port)")
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM):
        return ServeError(f"cannot listen on {where}: permission denied (ports below 1024 need privileges)")
    if isinstance(err, socket.gaierror | UnicodeError) or (
        isinstance(err, OSError) and err.errno == errno.EADDRNOTAVAIL
    ):
        return ServeError(
            f"cannot listen on {host!r}: not an address of this machine "
            "(use 127.0.0.1, or 0.0.0.0 for every address)"
        )
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return ServeError(f"cannot listen on {where}: {reason}")


# --------------------------------------------------------------------------------------------
# The command


def _announce(access: Access, out: TextIO) -> None:
    every_address = access.host in ("0.0.0.0", "::", "")
    url = access.page_url(socket.gethostname() if every_address else None)
    print(f"Quorum's dashboard, in a browser: {url}", file=out)
    if access.token is not None:
        if access.token_generated:
            print(
                f"Open it once as {url}?{TOKEN_QUERY}={access.token}\n"
                "  (a new token, shown only here: whoever has it uses your keys and reads your history)",
                file=out,
            )
        else:
            print(f"Open it once as {url}?{TOKEN_QUERY}=YOUR_TOKEN (the one you gave)", file=out)
    if every_address:
        print(f"Listening on every address of this machine, port {access.port}.", file=out)
    print("Each tab runs its own dashboard with your keys and history. Ctrl+C stops them all.", file=out)
    out.flush()


async def _serve(access: Access, command: Sequence[str], out: TextIO, max_tabs: int) -> int:
    server = DashboardServer(access, command, max_tabs)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stop.set)
    try:
        _announce(server.access, out)
        await stop.wait()
        open_tabs = len(server.dashboard_pids())
        print(f"Stopping: ending {open_tabs} dashboard(s)…", file=out, flush=True)
    finally:
        await server.close()
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(stop_signal)
    return EXIT_OK


def serve(
    access: Access, command: Sequence[str], out: TextIO = sys.stdout, *, max_tabs: int = DEFAULT_MAX_TABS
) -> int:
    """`quorum serve`: serve until SIGINT or SIGTERM, then end every dashboard and return 0."""
    return asyncio.run(_serve(access, command, out, max_tabs))
