"""Options a run was given that its mode does not use, said rather than silently ignored.

Consult, vote and council modes ask each member once for an answer (and then synthesize, count,
or rank and ask the chairman): they have no rounds, so a round limit (`--rounds`, MCP
`max_rounds`) changes nothing in them. Deliberate and debate modes use every option.
"""

from __future__ import annotations

from tui.engine.types import Mode


def unused_in_mode(
    mode: Mode, *, max_rounds: int | None = None, option: str = "--rounds", mode_option: str = "--mode"
) -> list[str]:
    """A sentence for each option given (not None) that `mode` ignores, naming them as the caller
    calls them (`--rounds` and `--mode` on the command line, `max_rounds` and `mode` over MCP)."""
    then = {
        Mode.CONSULT: "a synthesis",
        Mode.VOTE: "a count or a synthesis",
        Mode.COUNCIL: "a ranking and the chairman's answer",
    }.get(mode)
    if then is not None and max_rounds is not None:
        return [
            f"{option} {max_rounds} has no effect in {mode.value} mode (one answer per member, then "
            f"{then}: no rounds); set {mode_option} deliberate or debate for rounds"
        ]
    return []
