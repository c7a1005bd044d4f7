"""Who may reach `quorum serve`: the address it binds, its token, and the Host and Origin it answers.

Every browser tab the server accepts runs a dashboard with the user's API keys and reads their
history, and textual-serve itself checks nothing. So:

- On a loopback address (the default) no token is needed, but only requests naming the server by
  a loopback name (`Host: 127.0.0.1:8000`, `localhost:8000`, `[::1]:8000`) are answered, which
  keeps a DNS-rebinding page (evil.example resolving to 127.0.0.1) out.
- On any other address, or behind a proxy whose public URL is not loopback, every request needs
  the token: once in the page's query (`/?token=…`), which the server trades for an HttpOnly,
  SameSite=Strict cookie and a redirect to the clean URL, then the cookie (or an
  `Authorization: Bearer` header, for scripts). It is compared in constant time.
- A websocket (the one that drives a dashboard) is refused unless its Origin is the server's
  own, even on loopback: a web page in the user's browser may open ws://127.0.0.1:8000/ws, and
  the browser would let it (cross-site websocket hijacking); it sends that page's Origin, though.
- At most `DEFAULT_MAX_TABS` dashboards run at once (`--max-tabs`): each is a process of its own,
  and a page reloaded in a loop, or many people at once, must not take the machine down.

This module knows nothing of HTTP libraries: it judges plain strings, and `server` applies it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tui.errors import ServeError

MIN_TOKEN_LENGTH = 16
"""A shorter token could be guessed by trying; a generated one has 43 characters (256 bits)."""

TOKEN_QUERY = "token"
"""The query parameter that carries the token the first time (`/?token=…`)."""

TOKEN_ENV = "QUORUM_SERVE_TOKEN"

DEFAULT_MAX_TABS = 8
"""Dashboards open at once (each a process of ~150 MB); a tab opened beyond is refused."""

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~-]+")  # URL-unreserved: the token is pasted into a URL as is


def is_loopback(host: str) -> bool:
    """Whether a bind address or a URL's host is this machine only (`localhost`, 127.0.0.0/8, ::1).
    Any other name counts as reachable from elsewhere: it is not resolved to find out."""
    bare = host.strip("[]").lower()
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def _check_token(token: str) -> str:
    if len(token) < MIN_TOKEN_LENGTH:
        raise ServeError(
            f"the token is too short ({len(token)} characters): use at least {MIN_TOKEN_LENGTH}, "
            f"or leave --token and ${TOKEN_ENV} out to have one generated"
        )
    if not _TOKEN_CHARS.fullmatch(token):
        raise ServeError(
            "the token may hold only letters, digits and . _ ~ - (it is pasted into a URL); "
            f"leave --token and ${TOKEN_ENV} out to have one generated"
        )
    return token


def _check_public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeError(f"--public-url must be an http:// or https:// URL with a host, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ServeError(f"--public-url takes no query, fragment or credentials, got {url!r}")
    return url.rstrip("/")


def _as_bytes(given: str) -> bytes:
    """What a request gave, to compare: a header that was not UTF-8 reaches here holding
    surrogates, which are its bytes back (never an error: it is only another wrong token)."""
    return given.encode("utf-8", "surrogatepass")


def _host_with_port(host: str, port: int) -> str:
    """How a browser writes this host and port in a Host header or an Origin."""
    bare = host.strip("[]").lower()
    shown = f"[{bare}]" if ":" in bare else bare
    return shown if port == 80 else f"{shown}:{port}"


@dataclass(frozen=True)
class Access:
    """The decided rules for one server: its address, its token (None: loopback, none needed) and
    the public URL it is reached by, if a proxy stands in front of it."""

    host: str
    port: int
    token: str | None
    public_url: str | None = None
    token_generated: bool = False
    """The token was made here, not given: it is printed once, in the URL to open."""
    _cookie_value: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The cookie holds a value derived from the token, so the token itself is not kept in the
        # browser's cookie store.
        derived = (
            hmac.new(self.token.encode(), b"quorum serve session", hashlib.sha256).hexdigest()
            if self.token
            else ""
        )
        object.__setattr__(self, "_cookie_value", derived)

    @classmethod
    def decide(cls, host: str, port: int, token: str | None, public_url: str | None = None) -> Access:
        """The rules for serving on HOST:PORT: a token is needed off loopback (given, or else a new
        one), and used whenever one is given. Raises `ServeError` for an unfit token or URL."""
        if not host.strip():
            raise ServeError("--host is empty: give an address to listen on, such as 127.0.0.1")
        if not 0 <= port <= 65535:
            raise ServeError(f"--port must be between 0 and 65535, got {port}")
        public = _check_public_url(public_url) if public_url else None
        given = token.strip() if token else ""
        if given:
            return cls(host, port, _check_token(given), public)
        reachable = not is_loopback(host) or (
            public is not None and not is_loopback(urlsplit(public).hostname or "")
        )
        if reachable:
            return cls(host, port, new_token(), public, token_generated=True)
        return cls(host, port, None, public)

    def bound_to(self, port: int) -> Access:
        """The same rules for the port really bound (port 0 asks the system for a free one)."""
        return Access(self.host, port, self.token, self.public_url, self.token_generated)

    # ----------------------------------------------------------------------------------------
    # What a request must carry

    @property
    def cookie_name(self) -> str:
        """Per port: cookies are shared by every port of a host, and two servers must not clash."""
        return f"quorum_serve_{self.port}"

    @property
    def cookie_value(self) -> str:
        return self._cookie_value

    @property
    def secure_cookie(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https:"))

    def token_matches(self, candidate: str | None) -> bool:
        """Whether a token given in a query or an Authorization header is this server's."""
        if self.token is None or not candidate:
            return False
        return hmac.compare_digest(_as_bytes(candidate), self.token.encode())

    def cookie_matches(self, value: str | None) -> bool:
        if self.token is None or not value:
            return False
        return hmac.compare_digest(_as_bytes(value), self._cookie_value.encode())

    def _loopback_hosts(self) -> set[str]:
        names = {"127.0.0.1", "localhost", "::1", self.host}
        return {_host_with_port(name, self.port) for name in names}

    def _public_host(self) -> str | None:
        return urlsplit(self.public_url).netloc.lower() if self.public_url else None

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a request's Host names this server. With a token, any name will do (the token is
        the check, and the server cannot know every name this machine answers to); without one,
        only a loopback name or the public URL's host."""
        if self.token is not None:
            return True
        if not host_header:
            return False
        allowed = self._loopback_hosts()
        if public := self._public_host():
            allowed.add(public)
        return host_header.lower() in allowed

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """Whether a websocket's Origin is the page this server served: the Host it was asked by
        (itself allowed), or the public URL's origin. A missing Origin is refused too: every
        browser sends one, so only a script would leave it out."""
        if not origin:
            return False
        origin = origin.lower().rstrip("/")
        if self.public_url:
            parts = urlsplit(self.public_url)
            if origin == f"{parts.scheme}://{parts.netloc}".lower():
                return True
        if not host_header or not self.host_allowed(host_header):
            return False
        return origin in (f"http://{host_header.lower()}", f"https://{host_header.lower()}")

    # ----------------------------------------------------------------------------------------
    # What to tell the user

    def page_url(self, bound_host: str | None = None) -> str:
        """The URL to open: the public one, or this machine's address (its host name when bound to
        every address, which a browser cannot open)."""
        if self.public_url:
            return self.public_url + "/"
        host = bound_host or self.host
        return f"http://{_host_with_port(host, self.port)}/"
