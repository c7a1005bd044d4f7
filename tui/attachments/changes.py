"""What became of a file a recorded run sent: a rerun or follow-up of the run asks what was asked,
and says so of each file that is no longer on disk as it was.

The history keeps a file's SHA-256 (an image's, never its bytes): a file whose bytes have another
hash now is not the one that was sent, whatever its name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from tui.files import FileMissing, FileRefused, FileTooBig

GONE = "is no longer on disk"
CHANGED = "has changed on disk"


def as_sent(file: Path, sha256: str, read: Callable[[Path], bytes]) -> bytes | str:
    """`file`'s bytes, read with `read` (which raises `FileRefused`), when they are still the ones a
    run sent (`sha256`); otherwise what became of the file, as a phrase: `is no longer on disk`,
    `has changed on disk`, `cannot be read now (…)`."""
    try:
        data = read(file)
    except FileMissing:
        return GONE
    except FileTooBig:
        return CHANGED  # the file that was sent was within the limit
    except FileRefused as err:
        return f"cannot be read now ({err.reason})"
    return data if hashlib.sha256(data).hexdigest() == sha256 else CHANGED
