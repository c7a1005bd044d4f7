"""The modes an evaluation measures: the panel's own (`tui.engine.types.Mode`, `vote` first: every
other is measured against it) and `single`, each member alone, which is derived from the `vote`
runs (each member's first answer there, see `tui.eval.log`). A mode the engine gains is measured
with no change here. Light to import: every command's parser names them."""

from __future__ import annotations

from collections.abc import Sequence

from tui.engine.types import Mode
from tui.errors import UsageError

SINGLE = "single"


def ordered_modes() -> list[Mode]:
    """Every mode a panel runs, `vote` first."""
    return [Mode.VOTE, *(mode for mode in Mode if mode is not Mode.VOTE)]


def mode_names() -> list[str]:
    """Every mode an evaluation measures, in the order the report shows them."""
    return [SINGLE, *(mode.value for mode in ordered_modes())]


def parse_modes(text: str | None) -> list[str]:
    """The `--modes` list (`single,vote,deliberate`), in the report's order; every mode when None."""
    names = mode_names()
    if text is None:
        return names
    asked = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in asked if name not in names]
    if unknown or not asked:
        what = f"unknown mode {unknown[0]!r}" if unknown else "no mode given"
        raise UsageError(f"--modes: {what}: use one or more of {', '.join(names)}, comma-separated")
    return [name for name in names if name in asked]


def run_modes(modes: Sequence[str]) -> list[Mode]:
    """The modes whose runs are made for these modes asked: `vote` for `single` too."""
    wanted = {Mode.VOTE.value if mode == SINGLE else mode for mode in modes}
    return [mode for mode in ordered_modes() if mode.value in wanted]
