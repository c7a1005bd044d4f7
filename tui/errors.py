"""The errors Quorum reports to people, and the exit code each one ends the command with.

Everything a user can cause (a bad config, an unknown model, an unreadable file, an empty
question) or the machine can cause (an unusable history database, a config file that cannot be
written) is a `QuorumError`: its message is complete and fit for the terminal, and its
`exit_code` is what `quorum` exits with. The command line catches only these. Any other
exception is a bug in Quorum and is reported as one (with the log's path), never dressed up as
a user error.

It also keeps secrets out of every message: `redact` takes keys, bearer tokens, `x-api-key`
values and a URL's credentials out of a text before it is shown, logged or stored, and
`looks_like_key` tells a key from a name or a setting.

This module imports nothing from Quorum: every layer may raise these, and redact with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_QUORUM = 3
"""`quorum run` ended with no quorum: too few of the panel's seats cast a valid vote. The run
succeeded and its synthesis is printed, marked; it is not a decision, and a script must not take
it for one."""
EXIT_INTERRUPTED = 130


class QuorumError(Exception):
    """A problem to report to the user in its own words; `exit_code` says how the command ends."""

    exit_code = EXIT_FAILED


class UsageError(QuorumError):
    """What was asked cannot be done as asked: a bad flag, model, stance, file or question."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration problem: where it is (file, key path) and why, ready for the terminal."""

    def __init__(self, reason: str, *, file: object | None = None, key: str | None = None) -> None:
        # A value quoted back may be a key written in the wrong place: anything key-shaped goes.
        self.reason, self.file = hide_key_shapes(reason), file
        self.key = hide_key_shapes(key) if key else key
        super().__init__(self.render())

    def render(self) -> str:
        lines = ["configuration error"]
        if self.file:
            lines.append(f"  file: {self.file}")
        if self.key:
            lines.append(f"  key:  {self.key}")
        lines.append(f"  why:  {self.reason}")
        return "\n".join(lines)


class UnknownModelError(UsageError):
    """An alias the catalog does not know; the message names the closest ones."""


class StanceError(UsageError):
    """A stance word that is not for, against, neutral or one of their synonyms."""


class PromptError(UsageError):
    """A base prompt that does not hold exactly one `{stance_prompt}` placeholder."""


class AttachmentError(UsageError):
    """A file that cannot be attached, with a message naming it and why."""


class StoreError(QuorumError):
    """The history database cannot be used; the message says which file and why."""


class ServeError(UsageError):
    """`quorum serve` cannot serve as asked: the address or port cannot be listened on, the token
    is unfit, or the public URL is not one."""


class UserConfigError(QuorumError):
    """The user's config file cannot be updated; the message names the file and the reason."""

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"cannot update {path}: {reason}")


# --------------------------------------------------------------------------------------------
# Secrets in messages

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
"""Shorter values are not redacted by value: they would blank out ordinary words."""

# How API keys are issued: OpenAI and Anthropic (sk-), Groq, xAI, Google, Stripe-style, GitHub,
# Hugging Face, Replicate, Perplexity, NVIDIA, GitLab, Slack.
_KEY_PREFIX = r"(?:sk-|sk_|gsk_|xai-|AIza|ghp_|gho_|ghs_|github_pat_|hf_|r8_|pplx-|nvapi-|glpat-|xox[abpr]-)"
_KEY_AT_START = re.compile(_KEY_PREFIX + r"[A-Za-z0-9_\-]{4,}")
_KEY_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_\-])" + _KEY_PREFIX + r"[A-Za-z0-9_\-]{16,}")
# A header or parameter that carries a credential, then its value (after an optional scheme).
_CREDENTIAL_FIELD = re.compile(
    r"(?i)(?<![A-Za-z0-9-])"
    r"((?:proxy-)?authorization|x-(?:goog-)?api-key|api[-_]?key|api[-_]?token|access[-_]?token"
    r"|client[-_]?secret|password)"
    r"([\"']?\s*[:=]\s*[\"']?)"
    r"(?:(bearer|basic|token)\s+)?"
    # A value already redacted is taken whole, so that redacting twice changes nothing more.
    r"(\[redacted\]|[^\s\"',;&)}\[\]]+)"
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+=]+")
_WORDS = re.compile(r"[^\s'\"`,;:()\[\]{}<>.]+")
_BEARER = re.compile(r"(?i)\b(bearer)\s+([A-Za-z0-9\-._~+/]+=*)")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@\[\]]+@")


def _credential(match: re.Match[str]) -> str:
    name, separator, scheme, _value = match.groups()
    return f"{name}{separator}{scheme + ' ' if scheme else ''}{REDACTED}"


def _bearer(match: re.Match[str]) -> str:
    token = match.group(2)
    # "Bearer tokens expire" is prose; a token is long, or has digits in it.
    if len(token) < MIN_SECRET_LENGTH or not (len(token) >= 24 or any(c.isdigit() for c in token)):
        return match.group()
    return f"{match.group(1)} {REDACTED}"


def hide_values(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of the given secret values (keys) replaced by `[redacted]`.
    Touches nothing else, so it is safe on a model's answer or a document."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """A message fit to show, log or store: the known secret values, bearer tokens, the values of
    `Authorization`, `x-api-key` and similar fields, key-shaped tokens (`sk-…`, `gsk_…`, `AIza…`)
    and a URL's user-info (`http://user:key@host`) each become `[redacted]`."""
    text = hide_values(text, secrets)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _CREDENTIAL_FIELD.sub(_credential, text)
    text = _BEARER.sub(_bearer, text)
    return _KEY_IN_TEXT.sub(REDACTED, text)


def carries_url_credentials(text: str) -> bool:
    """Whether `text` holds a URL with user-info (`http://user:key@host`): what `redact` hides."""
    return _URL_CREDENTIALS.search(text) is not None


def looks_like_key(value: str) -> bool:
    """Whether a value is shaped like an API key or token rather than a name or a setting: a known
    key prefix, a run of 16 or more characters mixing letters and digits, or more than 64
    characters of a token (no space, slash or dot)."""
    if _KEY_AT_START.match(value):
        return True
    if len(value) > 64 and _TOKEN_CHARS.fullmatch(value):
        return True
    return any(
        len(part) >= 16 and any(c.isdigit() for c in part) and any(c.isalpha() for c in part)
        for part in re.split(r"[^A-Za-z0-9]+", value)
    )


def hide_key_shapes(text: str) -> str:
    """`redact(text)`, and every word of it that `looks_like_key` replaced too: for messages that
    quote what someone wrote, where a key may stand in the wrong place."""
    return _WORDS.sub(lambda m: REDACTED if looks_like_key(m.group()) else m.group(), redact(text))
