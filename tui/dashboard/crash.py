"""The report a crash of the dashboard leaves on the terminal: redacted, and without the local
variables Textual shows beside each frame."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tui.errors import redact

if TYPE_CHECKING:
    from rich.traceback import Trace, Traceback


def crash_report(secrets: Iterable[str]) -> Traceback:
    """The traceback of the exception being handled, for the terminal. Without the locals: they
    can hold a key (cut short or wrapped across lines, where no redaction of the printed text
    finds it) and the prompts and answers on screen. Each exception's message is redacted as
    every message is."""
    import rich  # here: Rich's tracebacks load Pygments (~30 ms), for a crash only
    from rich.traceback import Traceback

    report = Traceback(show_locals=False, width=None, suppress=[rich])
    _redact_trace(report.trace, list(secrets))
    return report


def _redact_trace(trace: Trace, secrets: list[str]) -> None:
    """Each exception's message and notes in a crash report, redacted (a group's members too)."""
    for stack in trace.stacks:
        stack.exc_value = redact(stack.exc_value, secrets)
        stack.notes = [redact(note, secrets) for note in stack.notes]
        for member in stack.exceptions:
            _redact_trace(member, secrets)
