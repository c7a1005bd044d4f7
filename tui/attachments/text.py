"""Text files attached to a question: read as UTF-8, bounded, made immutable `Attachment` values."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from tui.attachments.changes import CHANGED, as_sent
from tui.engine.types import Attachment
from tui.errors import AttachmentError
from tui.files import FileRefused, FileTooBig, NotText, read_limited, utf8_text

MAX_ATTACHMENT_BYTES = 2_000_000
"""The most an attached text file may hold: about 500,000 tokens, more than most members can read."""


def read_attachment(path: str | Path) -> Attachment:
    """A file attached to a question, read as UTF-8 text (a regular file of at most
    `MAX_ATTACHMENT_BYTES`); `AttachmentError` says why it cannot be."""
    file = Path(path).expanduser()
    try:
        data = _read(file)
        text = utf8_text(data)
    except FileTooBig as err:
        raise AttachmentError(f"cannot attach {path}: {err.reason} for an attached file") from None
    except FileRefused as err:
        raise AttachmentError(f"cannot attach {path}: {err.reason}") from None
    except NotText as err:
        raise AttachmentError(f"cannot attach {path}: {err}; only text can be attached") from None
    return Attachment(
        path=str(path),
        content=text,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        full_path=str(file.resolve()),
    )


def attachment_changes(attachments: Iterable[Attachment], run_id: str) -> list[str]:
    """A note for each recorded file that is no longer on disk as it was when run `run_id` sent it
    (changed since, or gone): a rerun sends the recorded text, what was asked, and says so."""
    notes = []
    for attachment in attachments:
        file = Path(attachment.full_path or attachment.path).expanduser()
        found = as_sent(file, attachment.sha256, _read)
        if found == CHANGED:
            notes.append(
                f"{attachment.path} has changed on disk since run {run_id}: "
                "the text sent then is used, not the file as it is now"
            )
        elif isinstance(found, str):
            notes.append(f"{attachment.path} {found}: the text run {run_id} sent is used")
    return notes


def _read(file: Path) -> bytes:
    return read_limited(file, MAX_ATTACHMENT_BYTES)
