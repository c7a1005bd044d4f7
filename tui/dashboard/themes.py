"""Colour themes: the shipped ones in `themes/`, and the user's own in `<config dir>/themes/`.

A theme is a TOML file that becomes a `textual.theme.Theme`:

    name = "quorum-dark"        # required; letters, digits, '-' and '_', starting with a letter
    dark = true                 # optional, default true
    primary = "#5fafff"         # required
    secondary = "#7f8fb3"       # optional, like every colour below
    accent = "#56c8d8"
    warning = "#e5c07b"
    error = "#f0646e"
    success = "#7fcf8a"
    foreground = "#d5dbe5"
    background = "#14171c"
    surface = "#1a1f27"
    panel = "#232a35"
    boost = "#ffffff0a"
    luminosity_spread = 0.15    # optional number in [0, 1]: how far Textual's -lighten/-darken shades go
    text_alpha = 0.95           # optional number in [0, 1]: opacity of the main text colour

    [variables]                 # optional; Quorum's own colours and any Textual theme variable
    stance-for = "#7fcf8a"
    outcome-majority = "#e8c95a"
    footer-key-foreground = "#5fafff"

Colours are anything `textual.color.Color.parse` accepts: `#rgb`, `#rrggbb`, `#rrggbbaa`,
`rgb(...)`, `hsl(...)` or a colour name. Every key in `[variables]` is passed on to Textual as a
string; the keys of `THEME_VARIABLE_DEFAULTS` must hold a colour, and those a file leaves out take
the default. Textual's own variables must hold what Textual's CSS takes there: a colour (`"#5fafff"`,
also `"#5fafff 60%"` or `"auto 87%"`) or, for the `*-style` ones, a text style (`"bold underline"`);
anything else would stop the dashboard with "CSS parsing failed", so the file is refused instead.
Any other top-level key is an error (a typo would otherwise be silently ignored).

`load_themes()` reads the shipped themes, then every `*.toml` in the user's themes folder; a user
theme named like a shipped one replaces it. A bad file never stops the others: it becomes one
error line naming the file and the problem.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.css.errors import DeclarationError
from textual.css.parse import parse_declarations
from textual.css.tokenizer import TokenError
from textual.theme import BUILTIN_THEMES, Theme

from tui.config import paths
from tui.config.loading import MAX_CONFIG_BYTES
from tui.errors import ConfigError, QuorumError
from tui.files import FileRefused, read_limited

DEFAULT_THEME = "quorum-dark"
LIGHT_THEME = "quorum-light"

THEME_VARIABLE_DEFAULTS: dict[str, str] = {
    # Mid-tones that stay readable on Textual's own dark and light themes too; the shipped
    # Quorum themes set every one of them to suit their background.
    "stance-for": "#3fa66a",
    "stance-against": "#d9534f",
    "stance-neutral": "#6f86a6",
    "outcome-unanimous": "#2fa84f",
    "outcome-majority": "#c9a227",
    "outcome-curator": "#e07b24",
    "status-error": "#d9434f",
    "status-streaming": "#1fa7c2",
    "status-done": "#2fa84f",
    "demo-badge": "#b45fc9",
    # An unfocused pane's border: 3:1 (WCAG non-text) on black and on white alike.
    "pane-border": "#808890",
}
"""Quorum's own theme variables (used in TCSS as `$stance-for` ...) and their fallbacks."""

_COLOR_FIELDS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_NUMBER_FIELDS = ("luminosity_spread", "text_alpha")
_KNOWN_KEYS = ("name", "dark", *_COLOR_FIELDS, *_NUMBER_FIELDS, "variables")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class ThemeError(QuorumError):
    """A theme file that cannot be used: which file, and why (and its theme's name, when it has one)."""

    def __init__(self, path: Path, reason: str, *, name: str | None = None, what: str = "theme file") -> None:
        self.path, self.reason, self.name = path, reason, name
        super().__init__(f"{what} {path}: {reason}")


def _color_problem(key: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return f'{key} must be a colour string like "#5fafff" (got {value!r})'
    try:
        Color.parse(value)
    except ColorParseError as err:
        hint = f"; did you mean {err.suggested_color!r}?" if err.suggested_color else ""
        return f"{key} = {value!r} is not a colour{hint}"
    return None


@functools.cache
def _textual_variables() -> frozenset[str]:
    """The variables Textual's colour system defines (a theme file may set any of them)."""
    return frozenset(Theme(name="probe", primary="#5fafff").to_color_system().generate())


def _textual_variable_problem(key: str, value: str) -> str | None:
    """Why Textual's CSS would refuse `value` where it uses the variable `key` (a text style for
    the `*-style` ones, a colour for the rest: `#5fafff 60%` and `auto 87%` pass), or None."""
    style = "style" in key.split("-")
    rule, kind = ("text-style", "a text style") if style else ("color", "a colour")
    try:
        if any(mark in value for mark in ";{}") or not value.strip():
            raise ValueError(value)
        parse_declarations(f"{rule}: {value};", ("theme", key))
    except (ValueError, DeclarationError, TokenError):
        example = '"bold underline"' if style else '"#5fafff"'
        return f"variables.{key} = {value!r} is not {kind} (like {example})"
    return None


def _check(data: Mapping[str, Any]) -> list[str]:
    """Every problem in a parsed theme file, in file order where it matters."""
    problems: list[str] = []
    for key in data:
        if key not in _KNOWN_KEYS:
            close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"unknown key {key!r}{hint}")
    name = data.get("name")
    if name is None:
        problems.append("missing required key 'name'")
    elif not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"name must be letters, digits, '-' or '_', starting with a letter (got {name!r})")
    if "primary" not in data:
        problems.append("missing required key 'primary'")
    for key in _COLOR_FIELDS:
        if key in data and (problem := _color_problem(key, data[key])):
            problems.append(problem)
    if "dark" in data and not isinstance(data["dark"], bool):
        problems.append(f"dark must be true or false (got {data['dark']!r})")
    for key in _NUMBER_FIELDS:
        value = data.get(key)
        if key in data and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
        ):
            problems.append(f"{key} must be a number from 0 to 1 (got {value!r})")
    variables = data.get("variables", {})
    if not isinstance(variables, Mapping):
        problems.append(f"variables must be a table (got {variables!r})")
    else:
        for key, value in variables.items():
            if key in THEME_VARIABLE_DEFAULTS:
                if problem := _color_problem(f"variables.{key}", value):
                    problems.append(problem)
            elif not isinstance(value, str):
                problems.append(f"variables.{key} must be a string (got {value!r})")
            elif key in _textual_variables() and (problem := _textual_variable_problem(key, value)):
                problems.append(problem)
    return problems


def load_theme_file(path: Path) -> Theme:
    """One theme file as a Textual `Theme`, or a `ThemeError` naming the file and every problem."""
    try:
        data = tomllib.loads(read_limited(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ThemeError(path, f"not valid TOML: {err}") from err  # the message holds line and column
    except UnicodeDecodeError as err:
        raise ThemeError(path, f"not UTF-8 text: {err.reason} at byte {err.start}") from err
    except FileRefused as err:
        raise ThemeError(path, err.reason) from None
    name = data.get("name") if isinstance(data.get("name"), str) else None
    problems = _check(data)
    if problems:
        raise ThemeError(path, "; ".join(problems), name=name)
    fields: dict[str, Any] = {key: data[key] for key in _COLOR_FIELDS if key in data}
    fields.update({key: float(data[key]) for key in _NUMBER_FIELDS if key in data})
    theme = Theme(
        name=data["name"],
        dark=data.get("dark", True),
        variables={**THEME_VARIABLE_DEFAULTS, **data.get("variables", {})},
        **fields,
    )
    if problem := _shade_problem(theme):
        raise ThemeError(path, problem, name=name)
    return theme


def _shade_problem(theme: Theme) -> str | None:
    """Why Textual cannot compute the theme's shades (it parses a few variables in Python, where
    only a plain colour will do), or None when it can."""
    try:
        theme.to_color_system().generate()
    except ColorParseError as err:
        for key, value in theme.variables.items():
            try:
                Theme(name="probe", primary="#5fafff", variables={key: value}).to_color_system().generate()
            except ColorParseError:
                return f"variables.{key} = {value!r} is not a colour Textual can shade (no alpha, no auto)"
        return f"Textual cannot shade its colours: {err}"
    return None


def _theme_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob("*.toml") if path.is_file())


def load_themes(user_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """The shipped themes, then the user's (which replace a shipped theme of the same name).

    Returns the themes that loaded, in order, and one error line per file that did not. A missing
    user folder is not an error; nothing here raises for a bad file.
    """
    themes, errors = _load_all(user_dir)
    return themes, [str(error) for error in errors]


def _load_all(user_dir: Path | None = None) -> tuple[list[Theme], list[ThemeError]]:
    folders = [
        paths.shipped_dir("themes"),
        paths.user_themes_dir() if user_dir is None else user_dir,
    ]
    themes: dict[str, Theme] = {}
    errors: list[ThemeError] = []
    for folder in folders:
        try:
            files = _theme_files(folder)
        except OSError as err:
            errors.append(ThemeError(folder, f"cannot read it: {err.strerror or err}", what="themes folder"))
            continue
        for path in files:
            try:
                theme = load_theme_file(path)
            except ThemeError as err:
                errors.append(err)
            else:
                themes[theme.name] = theme
    return list(themes.values()), errors


def register_themes(app: App[None], wanted: str) -> list[str]:
    """Register every theme with `app` and switch to `wanted` (the default theme if it is not
    there, or its file has a problem); returns one line per problem, for the user to read."""
    themes, errors = _load_all()
    for theme in themes:
        app.register_theme(theme)
    lines = [str(error) for error in errors]
    if wanted not in app.available_themes:
        if any(error.name == wanted for error in errors):
            lines.append(f"so the theme {wanted!r} in the config cannot be used; using {DEFAULT_THEME}")
        else:
            lines.append(f"unknown theme {wanted!r} in the config; using {DEFAULT_THEME}")
        wanted = DEFAULT_THEME
    app.theme = wanted
    return lines


def theme_variable_defaults(theme: Theme | None, themes: Mapping[str, Theme]) -> dict[str, str]:
    """Quorum's colours for a theme that leaves them out, as Textual's own themes do: those of the
    shipped Quorum theme of its kind (dark or light), which are tuned to be read on such a
    background (a stance badge's label is the theme's background colour); the plain defaults
    where that theme is not there. The pane border keeps its default: 3:1 on black and white."""
    kin = themes.get(DEFAULT_THEME if theme is None or theme.dark else LIGHT_THEME)
    borrowed = {
        key: value
        for key, value in (kin.variables if kin is not None else {}).items()
        if key in THEME_VARIABLE_DEFAULTS and key != "pane-border"
    }
    return {**THEME_VARIABLE_DEFAULTS, **borrowed}


def check_theme_config(wanted: str, where: object = None) -> None:
    """For `quorum config validate`: a `ConfigError` for the first theme file that cannot be used,
    or for `wanted` (the config's `ui.theme`, set in the file `where`) naming no theme."""
    themes, errors = _load_all()
    if errors:
        raise ConfigError(errors[0].reason, file=errors[0].path)
    names = [theme.name for theme in themes]
    names += [name for name in BUILTIN_THEMES if name not in names]  # Textual's own, in the picker too
    if wanted not in names:
        close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown theme {wanted!r}{hint}; known: {', '.join(names)}", file=where, key="ui.theme"
        )
