"""Drive a real headless Chromium against `quorum serve`, offline, and save screenshots.

Not part of the test suite (it needs Debian's `chromium` package:
`apt-get install -y chromium`). It starts `quorum serve` on a free loopback port with a fresh
QUORUM_HOME and no API keys (so the dashboard runs the offline demo panel), starts Chromium with
every host name but 127.0.0.1 unresolvable (so the page must render with nothing from another
site, and any request that tries is listed), and, at desktop size (1440x900) and then phone size
(390x844), opens the page, waits for the dashboard's first screen, types a question, waits for the
run to complete and saves a screenshot. It speaks the Chrome DevTools Protocol over its websocket
with aiohttp (already installed with Quorum), so it needs no driver library.

    python scripts/browser_check.py [--out DIR] [--chromium PATH]   # DIR: /tmp/quorum-browser-check

It prints the terminal size each page got, how long the first frame took, any request that left
127.0.0.1, and the screenshots' paths; it exits 1 if anything failed. Look at the screenshots.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The network closed: only 127.0.0.1 resolves, so a font or script from a CDN cannot load.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
]
SIZES = {"desktop": (1440, 900, 1, False), "phone": (390, 844, 3, True)}
"""CSS pixels, device pixel ratio, mobile. The ratio is Chromium's from its start
(--force-device-scale-factor): xterm.js's canvas renderer does not follow a ratio that DevTools
emulation sets on a page already made, and draws 3x too large into a 1x canvas."""
QUESTIONS = {
    "desktop": "Should a small team run Postgres on Kubernetes or use a managed database?",
    # another question: the same one would be answered from the history the first tab recorded
    "phone": "Is a monorepo worth it for four services and six engineers?",
}
WAIT_S = float(os.environ.get("BROWSER_CHECK_WAIT_S", "180"))
"""How long any one step may take before the check gives up on it."""

_ESCAPES = re.compile(rb"\x1b\[[0-9;?$<>=]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


@dataclass
class Page:
    """One tab, attached over the DevTools websocket (flattened sessions)."""

    browser: Browser
    session: str
    screen: bytearray = field(default_factory=bytearray)
    websocket_url: str = ""
    first_frame_at: float | None = None
    outside: list[str] = field(default_factory=list)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, session=self.session, **params)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.webSocketCreated":
            self.websocket_url = params["url"]
        elif method == "Network.webSocketFrameReceived":
            frame = params["response"]
            if frame["opcode"] == 2:
                data = base64.b64decode(frame["payloadData"])
                if self.first_frame_at is None and len(data) > 10:
                    self.first_frame_at = time.monotonic()
                self.screen += _ESCAPES.sub(b"", data)
        elif method == "Network.requestWillBeSent":
            host = urlsplit(params["request"]["url"]).hostname or ""
            if host not in ("127.0.0.1", ""):
                self.outside.append(params["request"]["url"])

    async def drawn(self, text: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while text.encode() not in self.screen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the dashboard never drew {text!r}")
            await asyncio.sleep(0.1)

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True)
        return answer.get("result", {}).get("value")


class Browser:
    """A small Chrome DevTools Protocol client: commands by id, events to their page."""

    def __init__(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        self.websocket = websocket
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pages: dict[str, Page] = {}
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for message in self.websocket:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
            elif (page := self.pages.get(data.get("sessionId", ""))) is not None:
                page.on_event(data["method"], data.get("params", {}))

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[message_id] = future
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.websocket.send_json(message)
        answer = await asyncio.wait_for(future, WAIT_S)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    async def new_page(self, width: int, height: int, mobile: bool) -> Page:
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        page = Page(self, attached["sessionId"])
        self.pages[page.session] = page
        await page.send("Network.enable")
        await page.send("Page.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=0,  # keep the browser's own
            mobile=mobile,
        )
        if mobile:
            await page.send("Emulation.setTouchEmulationEnabled", enabled=True)
        return page


async def start_server(home: Path) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.update(QUORUM_HOME=str(home), QUORUM_NO_PROJECT="1")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui", "serve", "--port", "0", stdout=asyncio.subprocess.PIPE, env=env
    )
    assert server.stdout is not None
    line = (await asyncio.wait_for(server.stdout.readline(), WAIT_S)).decode()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not found:
        raise RuntimeError(f"quorum serve said {line!r}")
    return server, found[0]


async def start_chromium(chromium: str, profile: Path, scale: int) -> tuple[asyncio.subprocess.Process, str]:
    browser = await asyncio.create_subprocess_exec(
        chromium,
        *CHROMIUM_FLAGS,
        f"--force-device-scale-factor={scale}",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert browser.stderr is not None
    while True:
        line = (await asyncio.wait_for(browser.stderr.readline(), WAIT_S)).decode()
        if not line:
            raise RuntimeError("chromium ended before it listened for DevTools")
        if found := re.search(r"DevTools listening on (ws://\S+)", line):
            return browser, found[1]


async def check_size(browser: Browser, name: str, url: str, out: Path, started: float) -> list[str]:
    width, height, _, mobile = SIZES[name]
    page = await browser.new_page(width, height, mobile)
    opened = time.monotonic()
    await page.send("Page.navigate", url=url)
    await page.drawn("Ask the panel")
    size = parse_qs(urlsplit(page.websocket_url).query)
    cells = f"{size.get('width', ['?'])[0]}x{size.get('height', ['?'])[0]}"
    assert page.first_frame_at is not None
    print(
        f"{name} {width}x{height}: terminal {cells} cells; first frame "
        f"{page.first_frame_at - opened:.2f} s after the page was opened"
        + (f" ({page.first_frame_at - started:.2f} s after quorum serve started)" if started else "")
    )
    await page.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
    await page.send("Input.insertText", text=QUESTIONS[name])
    for kind in ("keyDown", "keyUp"):
        await page.send(
            "Input.dispatchKeyEvent",
            type=kind,
            key="Enter",
            code="Enter",
            windowsVirtualKeyCode=13,
            **({"text": "\r"} if kind == "keyDown" else {}),
        )
    asked = time.monotonic()
    if mobile:  # the compact layout shows one pane: F8 flips to the synthesis, where the run ends
        await page.drawn("Round")
        for kind in ("keyDown", "keyUp"):
            await page.send(
                "Input.dispatchKeyEvent", type=kind, key="F8", code="F8", windowsVirtualKeyCode=119
            )
    try:
        await page.drawn("Complete")
    except TimeoutError:
        await screenshot(page, out / f"serve-{name}-failed.png")
        raise
    print(f"{name}: the demo run completed {time.monotonic() - asked:.1f} s after Enter")
    await asyncio.sleep(8.0)  # the last frames reach the canvas, and the notifications fade
    await screenshot(page, out / f"serve-{name}.png")
    return page.outside


async def screenshot(page: Page, path: Path) -> None:
    shot = await page.send("Page.captureScreenshot", format="png")
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot {path}")


async def check(out: Path, chromium: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quorum-browser-check-") as scratch:
        started = time.monotonic()
        server, url = await start_server(Path(scratch) / "home")
        outside: list[str] = []
        try:
            for index, (name, (_, _, scale, _)) in enumerate(SIZES.items()):
                profile = Path(scratch) / f"profile-{name}"  # a fresh one each time
                browser_process, devtools = await start_chromium(chromium, profile, scale)
                try:
                    async with (
                        aiohttp.ClientSession() as client,
                        client.ws_connect(devtools, max_msg_size=0) as ws,
                    ):
                        browser = Browser(ws)
                        outside += await check_size(browser, name, url, out, started if index == 0 else 0.0)
                finally:
                    browser_process.terminate()
                    await browser_process.wait()
        finally:
            server.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(server.wait(), WAIT_S)
            print(f"quorum serve stopped on Ctrl+C with exit code {code}")
    if outside:
        print("requests that left 127.0.0.1 (refused, the network being closed):", *outside, sep="\n  ")
        return 1
    print("no request left 127.0.0.1")
    return 0 if code == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(tempfile.gettempdir()) / "quorum-browser-check"
    parser.add_argument("--out", type=Path, default=default_out, help=f"where the PNGs go ({default_out})")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(check(args.out, args.chromium))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
