"""`quorum serve`: the dashboard in a browser, and who may reach it.

The server runs in the test's event loop on a free loopback port and starts real dashboards
(`python -m tui` under Textual's web driver, the fast demo panel); a client speaks to it as the
page's terminal does (aiohttp's websocket client). The rules that depend on the address bound are
judged by `guard.Access` alone; the server is then bound to loopback with a token it must demand,
which is the same code path a non-loopback bind takes (`Access.decide` gives one a token always).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import FAST_DEMO, write
from tui.cli.main import main
from tui.cli.serve import dashboard_command_line
from tui.errors import EXIT_USAGE, ServeError
from tui.serve.guard import MIN_TOKEN_LENGTH, TOKEN_ENV, Access, is_loopback
from tui.serve.server import DashboardServer

TOKEN = "a-test-token-of-enough-length-42"
HANG_GUARD_S = 60.0
"""Only so that a broken server fails the test rather than hanging it; nothing is timed."""

_ESCAPES = re.compile(rb"\x1b\[[0-9;?$<>=]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


# --------------------------------------------------------------------------------------------
# The rules


def test_loopback_needs_no_token_any_other_address_gets_one() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        assert Access.decide(host, 8000, None).token is None
    for host in ("0.0.0.0", "::", "192.168.1.5", "my-laptop.lan"):
        access = Access.decide(host, 8000, None)
        assert access.token is not None and access.token_generated
        assert len(access.token) >= MIN_TOKEN_LENGTH
    assert Access.decide("0.0.0.0", 8000, None).token != Access.decide("0.0.0.0", 8000, None).token


def test_a_public_url_off_loopback_needs_the_token_even_on_a_loopback_bind() -> None:
    """Behind a proxy the server binds loopback, but the world reaches it through the proxy."""
    assert Access.decide("127.0.0.1", 8000, None, "https://quorum.example.com").token is not None
    assert Access.decide("127.0.0.1", 8000, None, "http://localhost:9000/").token is None


@pytest.mark.parametrize(
    ("token", "words"),
    [("qz7-tiny", "too short"), ("x9" * 7 + "q", "too short"), ("a token with spaces in it", "only letters")],
)
def test_an_unfit_token_is_refused(token: str, words: str) -> None:
    with pytest.raises(ServeError, match=words) as caught:
        Access.decide("0.0.0.0", 8000, token)
    assert caught.value.exit_code == EXIT_USAGE
    assert token not in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://example.com", "example.com", "https://example.com/?token=x"])
def test_a_public_url_must_be_an_http_url_without_a_query(url: str) -> None:
    with pytest.raises(ServeError, match="--public-url"):
        Access.decide("127.0.0.1", 8000, None, url)


def test_without_a_token_only_loopback_names_are_answered() -> None:
    """DNS rebinding: a page at evil.example, whose name now resolves to 127.0.0.1, asks with its
    own name in the Host header."""
    access = Access.decide("127.0.0.1", 8000, None)
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"):
        assert access.host_allowed(host)
    for refused in ("evil.example:8000", "127.0.0.1:9999", "", None):
        assert not access.host_allowed(refused)


def test_a_websocket_must_come_from_the_servers_own_page() -> None:
    access = Access.decide("127.0.0.1", 8000, None)
    assert access.origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert access.origin_allowed("http://localhost:8000", "localhost:8000")
    for origin in ("http://evil.example", "http://127.0.0.1:8001", "null", "", None):
        assert not access.origin_allowed(origin, "127.0.0.1:8000")
    # A rebinding page's Origin matches its Host, but that Host is refused.
    assert not access.origin_allowed("http://evil.example:8000", "evil.example:8000")
    behind = Access.decide("127.0.0.1", 8000, TOKEN, "https://quorum.example.com/team")
    assert behind.origin_allowed("https://quorum.example.com", "127.0.0.1:8000")
    assert not behind.origin_allowed("https://other.example.com", "127.0.0.1:8000")


def test_the_token_and_the_cookie_are_checked_exactly() -> None:
    access = Access.decide("0.0.0.0", 8000, TOKEN)
    assert access.token_matches(TOKEN)
    for wrong in (TOKEN[:-1], TOKEN + "x", "", None):
        assert not access.token_matches(wrong)
    assert access.cookie_value != TOKEN and TOKEN not in access.cookie_value
    assert access.cookie_matches(access.cookie_value)
    assert not access.cookie_matches(TOKEN) and not access.cookie_matches(None)
    assert not Access.decide("127.0.0.1", 8000, None).cookie_matches("")
    # A header that is not UTF-8 (aiohttp gives its bytes as surrogates) is just another wrong one.
    assert not access.token_matches(TOKEN + "\udcff") and not access.cookie_matches("\udcff\ud800")


# --------------------------------------------------------------------------------------------
# The server, with real dashboards


@pytest.fixture
def fast_config(tmp_path: Path) -> Path:
    return write(tmp_path / "fast.toml", FAST_DEMO)


async def started(access: Access, config: Path) -> DashboardServer:
    server = DashboardServer(access, dashboard_command_line(str(config), no_project=True))
    await server.start()
    return server


@pytest.fixture
async def open_server(fast_config: Path) -> AsyncIterator[DashboardServer]:
    server = await started(Access.decide("127.0.0.1", 0, None), fast_config)
    yield server
    await server.close()


@pytest.fixture
async def token_server(fast_config: Path) -> AsyncIterator[DashboardServer]:
    server = await started(Access.decide("127.0.0.1", 0, TOKEN), fast_config)
    yield server
    await server.close()


def base(server: DashboardServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def screen_until(ws: aiohttp.ClientWebSocketResponse, *words: bytes) -> bytes:
    """What the dashboard draws, escape sequences left out, until every word has been drawn."""
    seen = b""
    async with asyncio.timeout(HANG_GUARD_S):
        while not all(word in seen for word in words):
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.BINARY, (message.type, message.data, seen[-2000:])
            seen += _ESCAPES.sub(b"", message.data)
    return seen


async def gone(pid: int) -> None:
    """Wait until the process has ended and been reaped."""
    async with asyncio.timeout(HANG_GUARD_S):
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.05)


async def test_a_tab_gets_a_dashboard_that_runs_and_records_and_ends_with_the_tab(
    open_server: DashboardServer, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = base(open_server)
    async with aiohttp.ClientSession() as client:
        page = await client.get(url + "/")
        html = await page.text()
        assert page.status == 200 and 'class="textual-terminal"' in html
        assert page.headers["Referrer-Policy"] == "no-referrer"
        async with client.ws_connect(url + "/ws?width=120&height=40", origin=url) as ws:
            await screen_until(ws, b"Ask the panel")
            [pid] = open_server.dashboard_pids()
            await ws.send_json(["stdin", "Is the browser dashboard the same one?\r"])
            await screen_until(ws, b"Complete")
    await gone(pid)
    # The server forgets the tab when its websocket handler has finished, a turn or more after
    # the process was reaped (later still on a loaded machine).
    async with asyncio.timeout(HANG_GUARD_S):
        while open_server.dashboard_pids():
            await asyncio.sleep(0.05)
    # The tab's run went into this user's history (the same QUORUM_HOME).
    assert main(["history"]) == 0
    assert "Is the browser dashboard the same one?" in capsys.readouterr().out


async def test_a_websocket_from_another_origin_starts_nothing(open_server: DashboardServer) -> None:
    """Cross-site websocket hijacking: a page on another site, in the user's browser, opens
    ws://127.0.0.1:PORT/ws; the browser lets it, but says where it comes from."""
    url = base(open_server)
    async with aiohttp.ClientSession() as client:
        for origin in ("http://evil.example", None):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(url + "/ws", origin=origin)
            assert refused.value.status == 403
        rebinding = await client.get(url + "/", headers={"Host": f"evil.example:{open_server.port}"})
        assert rebinding.status == 403
    assert open_server.dashboard_pids() == []


async def test_without_the_token_nothing_is_served(token_server: DashboardServer) -> None:
    url = base(token_server)
    async with aiohttp.ClientSession() as client:
        for path in ("/", "/static/js/textual.js", "/static/css/xterm.css"):
            response = await client.get(url + path)
            assert response.status == 401, path
            assert "textual-terminal" not in await response.text()
        assert (await client.get(url + "/?token=" + TOKEN[:-1] + "x")).status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(url + "/ws", origin=url)
        assert refused.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await client.ws_connect(
                url + "/ws", origin=url, headers={"Authorization": "Bearer wrong-token-xx"}
            )
    assert token_server.dashboard_pids() == []


async def test_the_token_is_traded_for_a_cookie_and_left_out_of_the_log(
    token_server: DashboardServer,
) -> None:
    url = base(token_server)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    access_log = logging.getLogger("tui.serve.access")
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    try:
        # unsafe: aiohttp's client keeps no cookie for a bare IP address unless told to (browsers do)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            first = await client.get(url + f"/?fontsize=18&token={TOKEN}", allow_redirects=False)
            assert first.status == 303
            assert first.headers["Location"] == "./?fontsize=18"  # the clean URL, the rest kept
            cookie = first.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
            page = await client.get(url + "/?fontsize=18")  # the client kept the cookie
            assert page.status == 200 and 'data-font-size="18"' in await page.text()
            assert (await client.get(url + "/static/js/textual.js")).status == 200
            async with client.ws_connect(url + "/ws", origin=url) as ws:
                await screen_until(ws, b"Ask the panel")
            # and a script may carry the token in a header instead
            async with aiohttp.ClientSession() as script:
                bearer = {"Authorization": f"Bearer {TOKEN}"}
                assert (await script.get(url + "/", headers=bearer)).status == 200
    finally:
        access_log.removeHandler(handler)
    assert any(line.startswith("GET / 303") for line in lines), lines
    assert not any(TOKEN in line or "token" in line for line in lines), lines


def test_a_port_in_use_is_a_clear_error(fast_config: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"127.0.0.1:{port}: the port is in use") as caught:
            asyncio.run(started(Access.decide("127.0.0.1", port, None), fast_config))
    assert caught.value.exit_code == EXIT_USAGE


def test_an_address_not_of_this_machine_is_a_clear_error(fast_config: Path) -> None:
    # 192.0.2.1 is TEST-NET-1: no machine has it, and binding to it sends nothing anywhere.
    with pytest.raises(ServeError, match="not an address of this machine"):
        asyncio.run(started(Access.decide("192.0.2.1", 0, TOKEN), fast_config))


def test_the_command_refuses_a_short_token_before_it_listens(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--token", "abc"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "too short" in err and "Traceback" not in err
    monkeypatch.setenv(TOKEN_ENV, "tiny")
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == EXIT_USAGE
    assert "too short" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--port", "70000"])
    assert exited.value.code == EXIT_USAGE
    for tabs in ("0", "many"):
        with pytest.raises(SystemExit) as exited:
            main(["serve", "--max-tabs", tabs])
        assert exited.value.code == EXIT_USAGE


def test_each_tab_runs_this_python_with_this_commands_config(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "")
    assert dashboard_command_line(str(config), no_project=True) == [
        sys.executable,
        "-m",
        "tui",
        "--config",
        str(config.resolve()),
        "--no-project",
    ]
    assert dashboard_command_line(None, no_project=False) == [sys.executable, "-m", "tui"]


# --------------------------------------------------------------------------------------------
# The real command


def test_quorum_run_and_the_dashboard_never_import_textual_serve(
    fast_config: Path, isolated_home: Path
) -> None:
    script = (
        "import sys\n"
        "from tui.cli.main import main\n"
        f"code = main(['--config', {str(fast_config)!r}, 'run', '-q', '--json', 'Is it fast?'])\n"
        "import tui.dashboard.app\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual_serve', 'aiohttp'))\n"
        "loaded += [m for m in sys.modules if m == 'tui.serve.server']\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_ctrl_c_ends_quorum_serve_and_every_dashboard(fast_config: Path) -> None:
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui",
        "--config",
        str(fast_config),
        "serve",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            first = (await server.stdout.readline()).decode()
        url = re.search(r"(http://127\.0\.0\.1:\d+)/", first)
        assert url, first
        async with aiohttp.ClientSession() as client, client.ws_connect(url[1] + "/ws", origin=url[1]) as ws:
            await screen_until(ws, b"Ask the panel")
            [dashboard] = _children(server.pid)
            server.send_signal(signal.SIGINT)
            async with asyncio.timeout(HANG_GUARD_S):
                assert await server.wait() == 0
        await gone(dashboard)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


# Each a malformed request that carries the token where a log could catch it: in the URL (its
# query), in an Authorization header, in a broken websocket handshake.
MALFORMED = [
    b"GARBAGE %(token)s\r\n\r\n",
    b"GET /?token=%(token)s\x00 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /\xff?token=%(token)s HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /?token=%(token)s HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
    b"GET /?token=%(token)s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /?token=%(token)s&token=%%ff%%fe HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %(token)s\xff\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %(token)s\r\nCookie: \x01%(token)s\r\n\r\n",
    b"GET /ws?token=%(token)s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %(token)s\r\n"
    b"Origin: http://h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %(token)s\r\nOrigin: http://h\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: %(token)s\r\nSec-WebSocket-Protocol: %(token)s\r\n\r\n",
]


async def _status(port: int, request: bytes) -> bytes:
    """The status line the server answers a raw request with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(HANG_GUARD_S):
            return (await reader.readline()).rstrip(b"\r\n")
    finally:
        writer.close()


async def test_a_malformed_request_is_refused_in_one_line_without_the_token(
    fast_config: Path, isolated_home: Path
) -> None:
    """No traceback on the terminal, and nothing logged holds the token, whatever the request
    was (not HTTP, a bad URL or header, a broken websocket handshake)."""
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tui", "--config", str(fast_config), "serve", "--port", "0"],
        *["--token", TOKEN],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None and server.stderr is not None
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            first = (await server.stdout.readline()).decode()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", first)[1])  # type: ignore[index]
        for raw in MALFORMED:
            status = await _status(port, raw % {b"token": TOKEN.encode()})
            assert re.fullmatch(rb"HTTP/1\.[01] [34]\d\d [A-Za-z ]+", status), (raw, status)
        # and the server still serves: a good request after them all
        good = await _status(port, b"GET /?token=%s HTTP/1.1\r\nHost: h\r\n\r\n" % TOKEN.encode())
        assert good == b"HTTP/1.1 303 See Other"
        server.send_signal(signal.SIGINT)
        async with asyncio.timeout(HANG_GUARD_S):
            err = (await server.stderr.read()).decode()
            assert await server.wait() == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert "Traceback" not in err and TOKEN not in err and err.strip() == "", err
    log = (isolated_home / "log" / "quorum.log").read_text()
    assert "Traceback" not in log and TOKEN not in log, log
    # one line at most for each request (with the good one's), the parser's refusals among them
    assert len(log.splitlines()) <= len(MALFORMED) + 1, log
    assert "refused a malformed request from 127.0.0.1: InvalidURLError (400)" in log


@pytest.fixture
async def one_tab_server(fast_config: Path) -> AsyncIterator[DashboardServer]:
    server = DashboardServer(
        Access.decide("127.0.0.1", 0, None), dashboard_command_line(str(fast_config), True), max_tabs=1
    )
    await server.start()
    yield server
    await server.close()


async def test_a_tab_beyond_the_limit_is_refused_and_says_why(one_tab_server: DashboardServer) -> None:
    """Each tab is a dashboard process: a page reloaded in a loop must not fill the machine."""
    server = one_tab_server
    url = base(server)
    async with aiohttp.ClientSession() as client:
        async with client.ws_connect(url + "/ws", origin=url) as first:
            await screen_until(first, b"Ask the panel")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(url + "/ws", origin=url)
            assert refused.value.status == 429
            answer = await client.get(url + "/ws", headers={"Origin": url})
            assert "1 dashboards are open on this server, its limit" in await answer.text()
            assert len(server.dashboard_pids()) == 1
        # The first tab closed: its place is free again.
        async with asyncio.timeout(HANG_GUARD_S):
            while server.dashboard_pids():
                await asyncio.sleep(0.05)
        async with client.ws_connect(url + "/ws", origin=url) as again:
            await screen_until(again, b"Ask the panel")


async def test_tabs_opened_at_the_same_moment_cannot_pass_the_limit_together(
    one_tab_server: DashboardServer,
) -> None:
    """A reload loop opens websockets faster than one handshake takes: the limit must count a tab
    from the moment it is let in, not from when its handshake is over."""
    url = base(one_tab_server)
    async with aiohttp.ClientSession() as client:
        opened = await asyncio.gather(
            *(client.ws_connect(url + "/ws", origin=url) for _ in range(4)), return_exceptions=True
        )
        accepted = [ws for ws in opened if isinstance(ws, aiohttp.ClientWebSocketResponse)]
        refused = [err for err in opened if isinstance(err, aiohttp.WSServerHandshakeError)]
        assert len(accepted) == 1 and len(refused) == 3, opened
        assert all(err.status == 429 for err in refused)
        for ws in accepted:
            await ws.close()
