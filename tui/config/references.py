"""What the settings name must exist: the models of the panel and the synthesizer chain, and the
ids and keys of `[ui.keymap]`.

Checked once every layer is merged (a model a later layer adds is known to an earlier layer's
panel), so each problem comes with its key path for the loader to name the file that set it.
"""

from __future__ import annotations

import difflib

from tui.config.keymap import keymap_problems
from tui.config.schema import Settings

KeyPath = tuple[str, ...]


def reference_problems(settings: Settings) -> list[tuple[KeyPath, str]]:
    """(key path, reason) for every alias the catalog does not know and every keymap entry the
    dashboard could not honour, in the order a reader meets them."""
    names = {
        alias.lower(): name for name, model in settings.models.items() for alias in (name, *model.aliases)
    }
    problems: list[tuple[KeyPath, str]] = []

    def check(path: KeyPath, alias: str) -> None:
        if alias.strip().lower() not in names:
            close = difflib.get_close_matches(alias.lower(), sorted(names), n=1, cutoff=0.5)
            hint = f" (did you mean {names[close[0]]!r}?)" if close else ""
            known = ", ".join(settings.models)
            problems.append((path, f"unknown model {alias!r}{hint}; known: {known}"))

    run, panel = settings.run, settings.panel
    if run.synthesizer:
        check(("run", "synthesizer"), run.synthesizer)
    for alias in run.synthesizer_fallbacks:
        check(("run", "synthesizer_fallbacks"), alias)
    for spec in panel.members:
        check(("panel", "members"), spec.model)
    for alias in panel.preferred:
        check(("panel", "preferred"), alias)
    for spec in panel.demo_members:
        check(("panel", "demo_members"), spec.model)
    problems += [
        (("ui", "keymap", binding_id), reason) for binding_id, reason in keymap_problems(settings.ui.keymap)
    ]
    return problems
