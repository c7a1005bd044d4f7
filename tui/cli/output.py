"""Standard output and standard error as the commands write to them.

What a command writes can fail to arrive: the disk under a redirected output is full
(`quorum history >/dev/full`: ENOSPC), or there is no output at all (`quorum run … >&-`, which
Python shows as `sys.stdout` None and whose prints it drops without a word). Neither is a bug in
Quorum nor a success: `GuardedOutput` turns it into an `OutputLost`, which `quorum` reports in
one line and exits 1 on. A reader that went away (`quorum history | head -1`) had all it wanted:
that stays a `BrokenPipeError`, which ends the command quietly.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

from tui.errors import QuorumError

CLOSED = "it is closed"


class OutputLost(QuorumError):
    """What a command wrote to standard output did not arrive; `why` says why in a few words."""

    def __init__(self, why: str, what: str = "") -> None:
        self.why = why
        super().__init__(f"cannot write {what + ' ' if what else ''}to standard output: {why}")


def why_lost(err: OSError) -> str:
    """An output error in a few words: "no space left on device", "it is closed"."""
    if err.errno == errno.EBADF:
        return CLOSED
    return (err.strerror or str(err)).lower()


class GuardedOutput:
    """Standard output (or none, when it is closed) whose failed writes raise `OutputLost`;
    everything else is the stream's own."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return int(self._guarded(lambda stream: stream.write(text)))

    def flush(self) -> None:
        self._guarded(lambda stream: stream.flush())

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def _guarded(self, act: Any) -> Any:
        if self.stream is None:
            raise OutputLost(CLOSED)
        try:
            return act(self.stream)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise OutputLost(why_lost(err)) from err

    def __getattr__(self, name: str) -> Any:
        if self.stream is None:  # `buffer`, `fileno`: there is nothing behind a closed output
            raise OutputLost(CLOSED)
        return getattr(self.stream, name)


@contextmanager
def guarded_output() -> Iterator[None]:
    """Standard output as a `GuardedOutput` while a command runs, and a standard error that is
    closed (`2>&-`) as the null device: a line written there is lost, as a closed stderr asks,
    rather than raising (or, with `print`, landing on stdout)."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, GuardedOutput(stdout))
    if stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- for the process, closed with it
    try:
        yield
    finally:
        sys.stdout = stdout


def need_stdout() -> None:
    """Raise `OutputLost` now when standard output is closed: for a command that talks on it
    (`quorum mcp`), before a server starts, not from inside its tasks."""
    if isinstance(sys.stdout, GuardedOutput) and sys.stdout.stream is None:
        raise OutputLost(CLOSED)


def silence_stdout() -> None:
    """Point standard output at the null device: what is still buffered for it (the interpreter
    flushes it on exit) cannot fail again, nor complain about it."""
    stream = sys.stdout
    real = stream.stream if isinstance(stream, GuardedOutput) else stream
    if real is None:
        return  # closed: nothing is buffered for it
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, real.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # stdout is not a real file (a test's capture): nothing will flush to a closed pipe


def tell(line: str) -> None:
    """One line on stderr, if stderr can take it (it may be full or closed as well)."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
