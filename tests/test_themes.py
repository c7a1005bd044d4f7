"""Themes: the shipped files, the user's folder (overrides and bad files), and Textual accepting them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.theme import Theme
from textual.widgets import Static

from tests.conftest import write
from tui.config import paths
from tui.dashboard.themes import (
    DEFAULT_THEME,
    THEME_VARIABLE_DEFAULTS,
    ThemeError,
    load_theme_file,
    load_themes,
)

SHIPPED = {"quorum-dark": True, "quorum-light": False, "quorum-high-contrast": True}


def _hue(color: Color) -> float:
    return color.hsl.h * 360


def _contrast(one: str, two: str) -> float:
    """WCAG 2 contrast ratio between two opaque colours."""

    def luminance(text: str) -> float:
        channels = [c / 255 for c in Color.parse(text).rgb]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_shipped_themes_load_complete_and_dark_or_light() -> None:
    themes, errors = load_themes()
    assert errors == []
    by_name = {theme.name: theme for theme in themes}
    assert set(by_name) == set(SHIPPED)
    assert DEFAULT_THEME in by_name
    for name, dark in SHIPPED.items():
        theme = by_name[name]
        assert theme.dark is dark
        assert theme.background is not None
        background = Color.parse(theme.background)
        assert (background.brightness < 0.5) is dark
        # Every Quorum variable is set by the file itself (not left to the defaults), as a colour.
        text = (paths.shipped_dir("themes") / f"{name}.toml").read_text(encoding="utf-8")
        for key in THEME_VARIABLE_DEFAULTS:
            assert f"\n{key} = " in text, (name, key)
            Color.parse(theme.variables[key])
        # The outcome colours read as green, yellow and orange, in that order of hue.
        unanimous, majority, curator = (
            _hue(Color.parse(theme.variables[f"outcome-{kind}"]))
            for kind in ("unanimous", "majority", "curator")
        )
        assert 90 <= unanimous <= 160 and 40 <= majority <= 62 and 18 <= curator <= 36, name


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_colours_are_readable(name: str) -> None:
    theme = load_theme_file(paths.shipped_dir("themes") / f"{name}.toml")
    grounds = [theme.background or "", theme.surface or ""]
    if name != "quorum-high-contrast":
        grounds.append(theme.panel or "")  # the high-contrast panel is only a hint of grey
    for ground in grounds:
        assert _contrast(theme.foreground or "", ground) >= 10
        for key in THEME_VARIABLE_DEFAULTS:
            needed = 3.0 if key == "pane-border" else 4.5  # a border is not text: WCAG asks 3:1
            assert _contrast(theme.variables[key], ground) >= needed, (key, ground)


def test_high_contrast_theme_is_black_with_strong_colours() -> None:
    theme = load_theme_file(paths.shipped_dir("themes") / "quorum-high-contrast.toml")
    assert theme.background == "#000000" and theme.foreground == "#ffffff" and theme.text_alpha == 1.0
    for key in THEME_VARIABLE_DEFAULTS:
        assert _contrast(theme.variables[key], "#000000") >= 7, key


def test_defaults_are_colours() -> None:
    for value in THEME_VARIABLE_DEFAULTS.values():
        Color.parse(value)


GOOD = """
name = "sunset"
dark = true
primary = "#ff8800"
background = "rgb(20, 10, 30)"
[variables]
stance-for = "lime"
footer-key-foreground = "#ff8800 60%"
"""


def _user_themes(folder: Path) -> None:
    write(folder / "sunset.toml", GOOD)
    write(folder / "my-dark.toml", 'name = "quorum-dark"\ndark = true\nprimary = "#123456"\n')
    write(folder / "broken.toml", 'name = "broken"\nprimary = "#fff\n')
    write(folder / "badcolour.toml", 'name = "badcolour"\nprimary = "#fff"\nerror = "blurple"\n')
    write(folder / "badvar.toml", 'name = "badvar"\nprimary = "#fff"\n[variables]\nstance-for = "#12"\n')
    write(folder / "noprimary.toml", 'name = "noprimary"\nsecondary = "#fff"\n')
    write(folder / "unknown.toml", 'name = "unknown"\nprimary = "#fff"\nforground = "#000"\n')
    write(folder / "notes.txt", "not a theme")


def test_user_themes_add_override_and_report_bad_files() -> None:
    folder = paths.user_config_dir() / "themes"
    _user_themes(folder)
    themes, errors = load_themes()
    by_name = {theme.name: theme for theme in themes}
    assert set(by_name) == {*SHIPPED, "sunset"}

    sunset = by_name["sunset"]
    assert sunset.primary == "#ff8800"
    assert sunset.variables["stance-for"] == "lime"
    assert sunset.variables["footer-key-foreground"] == "#ff8800 60%"  # any Textual variable passes
    assert sunset.variables["outcome-curator"] == THEME_VARIABLE_DEFAULTS["outcome-curator"]

    assert by_name["quorum-dark"].primary == "#123456"  # the user's file replaced the shipped one
    assert by_name["quorum-dark"].variables == THEME_VARIABLE_DEFAULTS

    assert len(errors) == 5
    by_file = {
        name: [e for e in errors if f"{name}.toml" in e]
        for name in ("broken", "badcolour", "badvar", "noprimary", "unknown")
    }
    assert all(len(found) == 1 for found in by_file.values()), errors
    assert "not valid TOML" in by_file["broken"][0] and "line 2" in by_file["broken"][0]
    assert "error = 'blurple' is not a colour" in by_file["badcolour"][0]
    assert "variables.stance-for = '#12' is not a colour" in by_file["badvar"][0]
    assert "missing required key 'primary'" in by_file["noprimary"][0]
    assert "unknown key 'forground'" in by_file["unknown"][0]
    assert "did you mean 'foreground'" in by_file["unknown"][0]
    for name, found in by_file.items():
        assert str(folder / f"{name}.toml") in found[0]


def test_explicit_user_dir_and_missing_dir(tmp_path: Path) -> None:
    themes, errors = load_themes(tmp_path / "nowhere")
    assert {t.name for t in themes} == set(SHIPPED) and errors == []
    write(tmp_path / "elsewhere" / "sunset.toml", GOOD)
    themes, errors = load_themes(tmp_path / "elsewhere")
    assert "sunset" in {t.name for t in themes} and errors == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('primary = "#fff"\n', "missing required key 'name'"),
        ('name = "has space"\nprimary = "#fff"\n', "name must be"),
        ('name = "x"\nprimary = 3\n', "primary must be a colour string"),
        ('name = "x"\nprimary = "#fff"\ndark = "yes"\n', "dark must be true or false"),
        ('name = "x"\nprimary = "#fff"\ntext_alpha = 2\n', "text_alpha must be a number from 0 to 1"),
        ('name = "x"\nprimary = "#fff"\nvariables = 1\n', "variables must be a table"),
        ('name = "x"\nprimary = "#fff"\n[variables]\nborder = 1\n', "variables.border must be a string"),
        # Textual's own variables: a colour where Textual wants one (else "CSS parsing failed" at once)
        (
            'name = "x"\nprimary = "#fff"\n[variables]\nfooter-key-foreground = "notacolour"\n',
            "variables.footer-key-foreground = 'notacolour' is not a colour",
        ),
        (
            'name = "x"\nprimary = "#fff"\n[variables]\nborder = "red; background: blue"\n',
            "variables.border = 'red; background: blue' is not a colour",
        ),
        (
            'name = "x"\nprimary = "#fff"\n[variables]\nlink-style = "wavy"\n',
            "variables.link-style = 'wavy' is not a text style",
        ),
        (
            'name = "x"\nprimary = "#fff"\n[variables]\nbackground-darken-1 = "red 50%"\n',
            "variables.background-darken-1 = 'red 50%' is not a colour",
        ),
    ],
)
def test_theme_file_problems(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path / "t.toml", text)
    with pytest.raises(ThemeError) as caught:
        load_theme_file(path)
    assert fragment in str(caught.value) and str(path) in str(caught.value)
    assert caught.value.path == path


def test_unreadable_theme_file_is_a_theme_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(ThemeError, match="not UTF-8"):
        load_theme_file(path)
    with pytest.raises(ThemeError, match=r"absent\.toml: no such file"):
        load_theme_file(tmp_path / "absent.toml")
    os.mkfifo(tmp_path / "pipe.toml")  # a FIFO no one writes to is refused, not waited on
    with pytest.raises(ThemeError, match=r"pipe\.toml: it is not a regular file \(a FIFO\)"):
        load_theme_file(tmp_path / "pipe.toml")


class ThemedApp(App[None]):
    CSS = """
    #for { color: $stance-for; }
    #majority { color: $outcome-majority; background: $panel; }
    #demo { color: $demo-badge; }
    """

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(THEME_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield Static("for", id="for")
        yield Static("majority", id="majority")
        yield Static("demo", id="demo")


@pytest.mark.asyncio
async def test_themes_register_and_apply_in_textual() -> None:
    themes, errors = load_themes()
    assert errors == []
    app = ThemedApp()
    async with app.run_test() as pilot:
        for theme in themes:
            app.register_theme(theme)
        for theme in themes:
            app.theme = theme.name
            await pilot.pause()
            assert app.current_theme.name == theme.name
            majority = app.query_one("#majority", Static)
            assert majority.styles.color == Color.parse(theme.variables["outcome-majority"])
            assert majority.styles.background == Color.parse(theme.panel or "")
        app.theme = "quorum-light"
        await pilot.pause()
        assert app.current_theme.dark is False
        assert app.query_one("#for", Static).styles.color == Color.parse("#1e7a3c")
        # A built-in theme has none of Quorum's variables: the app's defaults fill in.
        app.theme = "textual-dark"
        await pilot.pause()
        assert app.query_one("#demo", Static).styles.color == Color.parse(
            THEME_VARIABLE_DEFAULTS["demo-badge"]
        )


def test_textual_variables_take_what_textual_itself_writes(tmp_path: Path) -> None:
    """Every value Textual's own colour system produces passes the check (auto colours, styles,
    alpha), so only what Textual would refuse is refused."""
    generated = Theme(name="probe", primary="#5fafff").to_color_system().generate()
    lines = [f"{key} = {value!r}" for key, value in generated.items()]
    path = write(tmp_path / "all.toml", 'name = "all"\nprimary = "#5fafff"\n[variables]\n' + "\n".join(lines))
    theme = load_theme_file(path)
    assert (
        theme.variables["text"] == "auto 87%" and theme.variables["link-style-hover"] == "bold not underline"
    )


def test_a_bad_textual_variable_keeps_its_theme_out_and_names_it() -> None:
    folder = paths.user_config_dir() / "themes"
    write(
        folder / "bad.toml",
        'name = "bad"\nprimary = "#fff"\n[variables]\nfooter-key-foreground = "notacolour"\n',
    )
    themes, errors = load_themes()
    assert "bad" not in {theme.name for theme in themes}
    assert len(errors) == 1 and "bad.toml" in errors[0] and "footer-key-foreground" in errors[0]


APP_TCSS = Path(__file__).resolve().parents[1] / "tui" / "dashboard" / "app.tcss"
# The dashboard's own surfaces: a pane has no background of its own, so it shows the screen's.
GROUNDS = ("background", "surface")
# Rules for the modal screens' backdrops are not text or borders on a pane.
_NOT_PANE_RULES = ("HelpScreen", "HistoryScreen", "#help", "#picker", "#history")


def _tcss_rules() -> list[tuple[str, dict[str, str]]]:
    """app.tcss as (selector, {property: value}), in file order."""
    text = re.sub(r"/\*.*?\*/", "", APP_TCSS.read_text(encoding="utf-8"), flags=re.S)
    rules = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        declarations = dict(
            (name.strip(), value.strip())
            for name, value in (line.split(":", 1) for line in body.split(";") if ":" in line)
        )
        rules.append((" ".join(selector.split()), declarations))
    return rules


def _resolve(value: str, variables: Mapping[str, str], ground: Color) -> Color:
    """A TCSS colour value (`$name`, `$name 60%`, `auto 87%`, `#hex`) as painted on `ground`."""
    word, _, alpha = value.partition(" ")
    if word.startswith("$"):
        word, _, inner = variables[word[1:]].partition(" ")
        alpha = alpha or inner
    factor = float(alpha.rstrip("%")) / 100 if alpha else 1.0
    color = ground.get_contrast_text(1.0) if word == "auto" else Color.parse(word)
    return ground + color.with_alpha(color.a * factor)


def _theme_checks(theme: Theme) -> list[tuple[str, float, float]]:
    """(what, contrast, required) for every pane border, badge and text colour app.tcss uses."""
    # As App.get_css_variables builds them: Quorum's defaults, Textual's colours, the theme's own.
    variables = {**THEME_VARIABLE_DEFAULTS, **theme.to_color_system().generate(), **theme.variables}
    checks = []
    foreground = theme.foreground or variables["foreground"]
    for ground_name in GROUNDS:
        ground = Color.parse(variables[ground_name])
        checks.append((f"foreground on {ground_name}", _contrast(foreground, ground.hex), 4.5))
        for selector, rule in _tcss_rules():
            if selector.startswith(_NOT_PANE_RULES):
                continue
            where = f"{selector} on {ground_name}"
            if "border" in rule:
                border = _resolve(rule["border"].split(" ", 1)[1], variables, ground)
                checks.append((f"{where}: border", _contrast(border.hex, ground.hex), 3.0))
            if "border-title-color" in rule:
                title = _resolve(rule["border-title-color"], variables, ground)
                checks.append((f"{where}: title", _contrast(title.hex, ground.hex), 4.5))
            if "background" in rule and "color" in rule:  # a badge: coloured block, text on it
                badge = _resolve(rule["background"], variables, ground)
                label = _resolve(rule["color"], variables, badge)
                checks.append((f"{where}: badge", _contrast(badge.hex, ground.hex), 3.0))
                checks.append((f"{where}: badge text", _contrast(label.hex, badge.hex), 4.5))
            elif "color" in rule:
                text = _resolve(rule["color"], variables, ground)
                checks.append((f"{where}: text", _contrast(text.hex, ground.hex), 4.5))
    return checks


def test_every_shipped_theme_meets_wcag_aa_where_the_dashboard_paints() -> None:
    """Pane borders (focused and not) and badges clear 3:1, text 4.5:1, on the background and the
    surface of every shipped theme, with the colours app.tcss actually uses."""
    themes, errors = load_themes()
    assert errors == [] and {theme.name for theme in themes} == set(SHIPPED)
    rules = dict(_tcss_rules())
    assert "border" in rules["ModelPane, SynthesisPane"]  # the parse found the pane rules
    assert "border" in rules["ModelPane:focus-within, SynthesisPane:focus-within"]
    failures = [
        f"{theme.name}: {what} is {ratio:.2f}:1, needs {needed}:1"
        for theme in themes
        for what, ratio, needed in _theme_checks(theme)
        if ratio < needed
    ]
    assert not failures, "\n".join(failures)
