"""The DEBUG log file: dispatch, each completion with its latency, each aggregation.

Only Quorum's own `tui` logger writes there; the SDKs' loggers are left alone because at DEBUG
they log request options, which hold prompts. Nothing reaches the terminal below WARNING.
Every record is redacted before it is written (`hide_secrets` adds the configured keys' values
to what is taken out), and the files are readable by the user only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import cast

from tui.config import paths
from tui.errors import redact

LOG_FILE_NAME = "quorum.log"


class _Redactor(logging.Filter):
    """Takes keys, bearer tokens and URL credentials out of each record: its message, traceback
    and stack, whatever logged it."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_REDACTOR = _Redactor()


class _PrivateFileHandler(RotatingFileHandler):
    """The rotating log, each of its files created readable by the user only (0600)."""

    def _open(self) -> TextIOWrapper:
        descriptor = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return cast(TextIOWrapper, open(descriptor, self.mode, encoding=self.encoding, errors=self.errors))


def hide_secrets(values: Iterable[str]) -> None:
    """Redact these values (the configured keys) from every record the log file gets from now on."""
    _REDACTOR.secrets.update(value for value in values if value)


def setup_logging() -> Path | None:
    """Send the `tui` logger to the log file at DEBUG; returns the file, or None if it cannot be written."""
    logger = logging.getLogger("tui")
    log_dir = paths.user_log_dir()
    target = log_dir / LOG_FILE_NAME
    for existing in [h for h in logger.handlers if isinstance(h, RotatingFileHandler)]:
        if Path(existing.baseFilename) == target.resolve():
            return target
        logger.removeHandler(existing)  # the log folder moved (another QUORUM_HOME): follow it
        existing.close()
    try:
        for folder in reversed([p for p in (log_dir, *log_dir.parents) if not p.exists()]):
            folder.mkdir(mode=0o700, exist_ok=True)
        handler = _PrivateFileHandler(target, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        if target.stat().st_mode & 0o077:  # written by an earlier version, readable by others
            target.chmod(0o600)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_REDACTOR)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return target


def log_file() -> Path | None:
    """The log file the `tui` logger writes to, or None when it writes nowhere."""
    for handler in logging.getLogger("tui").handlers:
        if isinstance(handler, RotatingFileHandler):
            return Path(handler.baseFilename)
    return None


def redact_known(text: str) -> str:
    """`text` as the log would have it: the keys `hide_secrets` was told of, and anything shaped
    like a credential, taken out (for messages printed to the terminal)."""
    return redact(text, _REDACTOR.secrets)
