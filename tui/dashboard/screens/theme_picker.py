"""The theme picker (Ctrl+T, and the palette's "Theme"): Textual's command palette over the themes,
Quorum's own first, then the user's, then Textual's built-in ones, each group named."""

from __future__ import annotations

from functools import partial

from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.theme import BUILTIN_THEMES

GROUPS = ("Quorum", "yours", "Textual")
HELP = {
    "Quorum": "Quorum's theme",
    "yours": "your theme, from the themes folder beside your config",
    "Textual": "Textual's built-in theme (Quorum's colours for stances and outcomes)",
}
# A built-in theme's match counts a little less, so a Quorum theme comes first when both match
# as well ("light": quorum-light before textual-light).
BUILTIN_WEIGHT = 0.95


def theme_group(name: str) -> str:
    if name in BUILTIN_THEMES:
        return "Textual"
    return "Quorum" if name.startswith("quorum-") else "yours"


class ThemeGroups(Provider):
    """Every registered theme, grouped: Quorum's, the user's, Textual's."""

    def _themes(self) -> list[tuple[str, str]]:
        """(name, group), in the order shown."""
        named = [(name, theme_group(name)) for name in self.app.available_themes]
        return sorted(named, key=lambda item: (GROUPS.index(item[1]), item[0]))

    def _choose(self, name: str) -> None:
        self.app.theme = name

    async def discover(self) -> Hits:
        for name, group in self._themes():
            yield DiscoveryHit(name, partial(self._choose, name), help=HELP[group])

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, group in self._themes():
            score = matcher.match(name)
            if score > 0:
                weight = BUILTIN_WEIGHT if group == "Textual" else 1.0
                yield Hit(
                    score * weight, matcher.highlight(name), partial(self._choose, name), help=HELP[group]
                )


def theme_palette() -> CommandPalette:
    return CommandPalette(providers=[ThemeGroups], placeholder="Search for themes…")
