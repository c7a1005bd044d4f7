"""`quorum eval`'s progress on stderr: the items done, the runs done in each mode, the cost so far
and the time left.

On a terminal it is one line that rewrites itself, led by a bar of the runs done (a carriage
return, at most `TTY_EVERY_S` apart), cut to the terminal's width so it never wraps; anywhere
else (a file, a pipe, CI) it is a plain line every `PLAIN_EVERY_S`. Either way a last line when
the evaluation ends. Never on stdout, which is the report's.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from tui.render.formatting import cost

TTY_EVERY_S = 0.1
PLAIN_EVERY_S = 10.0
_CLEAR_TO_END = "\x1b[K"


def clock_words(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


BAR_CELLS = 20
_PARTIAL = " ▏▎▍▌▋▊▉"  # eighths of a cell, for a bar that moves between whole cells


def bar(fraction: float) -> str:
    """`▕█████▌░░░░░░░░░░░░░░▏  26%`: a bar of `BAR_CELLS` cells and the share in percent,
    clamped to 0–100 (a resumed log may hold more runs than this selection plans)."""
    share = min(1.0, max(0.0, fraction))
    eighths = int(share * BAR_CELLS * 8)
    whole, part = divmod(eighths, 8)
    filled = "█" * whole + (_PARTIAL[part] if part and whole < BAR_CELLS else "")
    return f"▕{filled}{'░' * (BAR_CELLS - len(filled))}▏ {round(share * 100):3d}%"


class EvalProgress:
    """The progress of an evaluation's runs, written to `stream` (stderr)."""

    def __init__(
        self,
        stream: TextIO,
        runs: Mapping[str, int],
        items: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
    ) -> None:
        """`runs` is how many runs each label (`dev`, `vote`, `deliberate`…) will make in all,
        `items` how many scored items there are."""
        self.stream = stream
        self.runs = dict(runs)
        self.items = items
        self.clock = clock
        self.tty = stream.isatty() if tty is None else tty
        self.started = clock()
        self._last: float | None = None
        self._shown = False
        self.closed = False
        self.done: dict[str, int] = dict.fromkeys(runs, 0)
        self.items_done = 0
        self.spent = 0.0
        self._this_session = 0  # runs finished since it started: what the time left is measured on

    def start(self, done: Mapping[str, int], items_done: int) -> None:
        """What a resumed log had already finished."""
        self.done.update(done)
        self.items_done = items_done
        self.show(force=True)

    def finished(self, label: str, items_done: int, spent: float) -> None:
        """One more run of `label` finished; `items_done` items are now finished in every mode."""
        self.done[label] = self.done.get(label, 0) + 1
        self.items_done = items_done
        self.spent = spent
        self._this_session += 1
        self.show()

    def line(self) -> str:
        elapsed = self.clock() - self.started
        modes = " · ".join(f"{label} {self.done[label]:,}/{total:,}" for label, total in self.runs.items())
        left = sum(self.runs.values()) - sum(self.done.values())
        eta = ""
        if self._this_session and left > 0:
            eta = f" · about {clock_words(elapsed / self._this_session * left)} left"
        return (
            f"eval {self.items_done:,}/{self.items:,} items · {modes} · {cost(self.spent)} · "
            f"{clock_words(elapsed)}{eta}"
        )

    def show(self, *, force: bool = False) -> None:
        now = self.clock()
        every = TTY_EVERY_S if self.tty else PLAIN_EVERY_S
        if not force and self._last is not None and now - self._last < every:
            return
        self._last = now
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            total = sum(self.runs.values())
            drawn = f"{bar(sum(self.done.values()) / total if total else 1.0)} {self.line()}"
            self._write("\r" + drawn[:width] + _CLEAR_TO_END)
            self._shown = True
        else:
            self._write(self.line() + "\n")

    def end(self) -> None:
        """The last line, left on the screen."""
        self.show(force=True)
        if self.tty and self._shown:
            self._write("\n")
            self._shown = False

    def note(self, text: str) -> None:
        """A line of its own, above the progress line on a terminal."""
        if self.tty and self._shown:
            self._write("\r" + _CLEAR_TO_END)
            self._shown = False
        self._write(text + "\n")
        if self.tty:
            self.show(force=True)

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # a closed pipe or a full disk: the evaluation goes on, unprinted
            self.closed = True
