"""Attached files: read as UTF-8 text, refused with a clear reason otherwise."""

from __future__ import annotations

from pathlib import Path

from tui.engine.types import Attachment

MAX_ATTACHMENT_BYTES = 2_000_000


class AttachmentError(ValueError):
    """A file that cannot be attached, with a message naming it and why."""


def read_attachment(path: str | Path) -> Attachment:
    file = Path(path).expanduser()
    if not file.exists():
        raise AttachmentError(f"cannot attach {path}: no such file")
    if file.is_dir():
        raise AttachmentError(f"cannot attach {path}: it is a directory")
    try:
        data = file.read_bytes()
    except OSError as err:
        raise AttachmentError(f"cannot attach {path}: {err.strerror or err}") from err
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(
            f"cannot attach {path}: {len(data):,} bytes is more than the {MAX_ATTACHMENT_BYTES:,}-byte limit"
        )
    if b"\x00" in data[:8192]:
        raise AttachmentError(
            f"cannot attach {path}: it looks like a binary file (only text can be attached)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise AttachmentError(
            f"cannot attach {path}: not UTF-8 text (bad byte at offset {err.start})"
        ) from err
    return Attachment(path=str(path), content=text)
