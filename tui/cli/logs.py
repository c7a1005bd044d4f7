"""The DEBUG log file: dispatch, each completion with its latency, each aggregation.

Only Quorum's own `tui` logger writes there; the SDKs' loggers are left alone because at DEBUG
they log request options, which hold prompts. Nothing reaches the terminal below WARNING.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from tui.config import paths

LOG_FILE_NAME = "quorum.log"


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
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            log_dir / LOG_FILE_NAME, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return log_dir / LOG_FILE_NAME


def log_file() -> Path | None:
    """The log file the `tui` logger writes to, or None when it writes nowhere."""
    for handler in logging.getLogger("tui").handlers:
        if isinstance(handler, RotatingFileHandler):
            return Path(handler.baseFilename)
    return None
