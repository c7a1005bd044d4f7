"""Reading what a user names: regular files only, never more than a limit, and text that is text.

A path given to Quorum (an attached file or image, a config or theme file) may name anything: a
FIFO no one writes to (a plain open waits for a writer forever), a device that never ends
(/dev/zero), a directory, a file whose size on disk says nothing of what it holds (/proc's say
0) or one that grows while it is read. `read_limited` is the one way such a path is read:

- it looks at what the path names first and opens nothing that is not a regular file (opening
  some devices does something: a watchdog starts counting, a tape rewinds);
- it opens without waiting (`O_NONBLOCK`: a FIFO that appeared since cannot hold the open) and
  asks the open descriptor what it is, so what is checked is what is read, whatever replaced the
  path in between;
- it reads at most the limit and one byte more: more than the limit is refused from what was read,
  not from what `stat` said. Symbolic links are followed to what they name.

Every refusal is a `FileRefused` whose `reason` is a phrase ("it is not a regular file (a FIFO)")
that the caller puts after its own words ("cannot attach x: …"). `read_at_most` is the bounded
read itself, for a stream that is not a path (the question on standard input), and `utf8_text`
is how bytes that should be text are told to be, or why not.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from tui.errors import UsageError

_CHUNK = 1 << 20
_BINARY_SNIFF = 8192
"""How far into a text a NUL byte says it is binary data (as `git` and `grep` look)."""

NUL_IN_PATH = "the path holds a NUL byte, which no file name can"

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# Bytes as they are (O_BINARY: Windows would translate line ends); no controlling terminal taken,
# no descriptor left to a child process.
_OPEN_FLAGS = (
    os.O_RDONLY
    | _NONBLOCK
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(UsageError):
    """A file that cannot be read as asked; `reason` says why, as a phrase for the caller's words."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"cannot read {self.path}: {reason}")


class FileMissing(FileRefused):
    """Nothing is at the path (a symbolic link to nothing included)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path, "no such file")


class FileTooBig(FileRefused):
    """More than the limit: `amount` is its size on disk, or `more than N` when it was found reading."""

    def __init__(self, path: str | os.PathLike[str], limit: int, size: int | None) -> None:
        self.limit = limit
        self.amount = f"{size:,}" if size is not None else f"more than {limit:,}"
        super().__init__(path, f"{self.amount} bytes is over the {limit:,}-byte limit")


class NotText(ValueError):
    """Bytes that are not UTF-8 text; the message says where, as a phrase."""


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at `path`, if there are at most `limit` of them; a
    `FileRefused` says why not (`FileMissing`, `FileTooBig`). Never waits on a FIFO, never reads
    more than `limit + 1` bytes."""
    try:
        if kind := _not_regular(os.stat(path).st_mode):
            raise FileRefused(path, kind)
        descriptor = os.open(path, _OPEN_FLAGS)
    except ValueError:  # what the system calls refuse before asking: "embedded null byte"
        raise FileRefused(path, NUL_IN_PATH) from None
    except FileNotFoundError:
        raise FileMissing(path) from None
    except OSError as err:
        raise FileRefused(path, _cannot(err)) from None
    try:
        info = os.fstat(descriptor)
        if kind := _not_regular(info.st_mode):  # the path was swapped since it was looked at
            raise FileRefused(path, kind)
        if info.st_size > limit:
            raise FileTooBig(path, limit, info.st_size)
        if _NONBLOCK:  # a regular file: nothing to wait for but the disk
            os.set_blocking(descriptor, True)
        data = read_at_most(lambda size: os.read(descriptor, size), limit)
    except OSError as err:
        raise FileRefused(path, _cannot(err)) from None
    finally:
        os.close(descriptor)
    if len(data) > limit:  # it holds more than its size said (/proc), or grew while it was read
        raise FileTooBig(path, limit, None)
    return data


def read_at_most(read: Callable[[int], bytes], limit: int) -> bytes:
    """What `read(size)` gives until it gives nothing, but never more than `limit + 1` bytes: one
    byte past the limit says there is more, without reading the rest."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = read(min(limit + 1 - total, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def utf8_text(data: bytes) -> str:
    """`data` as text; a `NotText` says where it is not: a NUL byte early on (binary data), or
    the first byte that is not UTF-8, with its offset and line."""
    nul = data.find(b"\x00", 0, _BINARY_SNIFF)
    if nul >= 0:
        raise NotText(f"it is binary data, not text (a NUL byte at offset {nul:,})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise NotText(
            f"not UTF-8 text (bad byte 0x{data[err.start]:02x} at offset {err.start:,}, line {line:,})"
        ) from None


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode is not read, as a phrase; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "it is a directory, not a file"
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "something other than a file")
    return f"it is not a regular file ({kind})"


def _cannot(err: OSError) -> str:
    if isinstance(err, IsADirectoryError):
        return "it is a directory, not a file"
    return f"cannot read it ({err.strerror or err})"
