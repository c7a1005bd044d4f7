"""Writing dashboard changes back to the user's config file: merge, layout and comments kept,
refusal, round trip."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import write
from tui.config import paths
from tui.config.loading import load_settings
from tui.config.user_file import update_user_config
from tui.errors import UserConfigError


def _read(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_writes_a_fresh_file_in_new_folders() -> None:
    target = paths.user_config_file()
    assert not target.parent.exists()
    written = update_user_config({"ui": {"theme": "quorum-light"}})
    assert written == target
    assert _read(target) == {"ui": {"theme": "quorum-light"}}
    assert [p.name for p in target.parent.iterdir()] == ["config.toml"]  # no temp file left behind
    assert load_settings().ui.theme == "quorum-light"


def test_merge_keeps_other_keys_and_tables() -> None:
    target = write(
        paths.user_config_file(),
        '[run]\nmax_rounds = 5\n\n[ui]\ntheme = "quorum-dark"\n\n[ui.keymap]\nrerun = "ctrl+r"\n',
    )
    update_user_config({"ui": {"theme": "quorum-high-contrast", "keymap": {"quit": "ctrl+q"}}})
    update_user_config(
        {"panel": {"members": ["demo-atlas:for", {"model": "demo-bolt", "stance": "against"}]}}
    )
    assert _read(target) == {
        "run": {"max_rounds": 5},
        "ui": {"theme": "quorum-high-contrast", "keymap": {"rerun": "ctrl+r", "quit": "ctrl+q"}},
        "panel": {"members": ["demo-atlas:for", {"model": "demo-bolt", "stance": "against"}]},
    }


def test_lists_replace_and_none_removes() -> None:
    target = write(paths.user_config_file(), '[panel]\nmembers = ["a", "b"]\nsize = 2\n[ui]\ntheme = "x"\n')
    update_user_config({"panel": {"members": ["c"], "size": None}, "ui": {"theme": None}})
    assert _read(target) == {"panel": {"members": ["c"]}, "ui": {}}


MINE = """\
# My Quorum settings: keep these notes.

[run]
max_rounds   =   4        # more rounds than the default
token_budget = 120_000

[ui]  # how it looks
theme = "quorum-dark"     # changed from the dashboard, Ctrl+T
keymap = { rerun = "ctrl+r", quit = 'ctrl+q' }
my_note = "not one of Quorum's keys"

[x-team.tools]
linters = [ "ruff",
            "mypy" ]   # laid out by hand
"""


def test_a_theme_change_keeps_every_other_byte_of_the_file() -> None:
    """Comments, odd spacing, inline tables, keys Quorum does not know: all as the user wrote them."""
    target = write(paths.user_config_file(), MINE)
    update_user_config({"ui": {"theme": "quorum-light"}})
    assert target.read_text(encoding="utf-8") == MINE.replace('"quorum-dark"', '"quorum-light"')
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.toml"]  # no backup beside it


def test_a_saved_panel_keeps_every_other_byte_and_goes_where_a_table_goes() -> None:
    target = write(paths.user_config_file(), MINE)
    update_user_config({"ui": {"keymap": {"quit": "ctrl+x"}}})
    update_user_config(
        {"panel": {"members": ["demo-atlas:for", {"model": "demo-bolt", "stance_prompt": "Be brief."}]}}
    )
    assert target.read_text(encoding="utf-8") == MINE.replace("'ctrl+q'", "'ctrl+x'") + (
        '\n[panel]\nmembers = ["demo-atlas:for", {model = "demo-bolt", stance_prompt = "Be brief."}]\n'
    )
    # (a string keeps the quotes it was written with); the panel saved again replaces the list
    # where it now stands, keeping the rest
    update_user_config({"panel": {"members": ["demo-cirrus:against"]}})
    assert target.read_text(encoding="utf-8") == MINE.replace("'ctrl+q'", "'ctrl+x'") + (
        '\n[panel]\nmembers = ["demo-cirrus:against"]\n'
    )


def test_a_table_new_inside_an_inline_table_is_inline_too() -> None:
    target = write(paths.user_config_file(), 'ui = { theme = "quorum-dark" }  # one line\n')
    update_user_config({"ui": {"keymap": {"rerun": "ctrl+r"}}, "demo": {"seed": 7}})
    assert target.read_text(encoding="utf-8") == (
        'ui = { theme = "quorum-dark", keymap = {rerun = "ctrl+r"}}  # one line\n\n[demo]\nseed = 7\n'
    )
    assert load_settings().ui.keymap == {"rerun": "ctrl+r"}


def test_invalid_toml_raises_and_leaves_the_file_alone() -> None:
    broken = "[ui\ntheme = 'quorum-dark'\n"
    target = write(paths.user_config_file(), broken)
    with pytest.raises(UserConfigError) as caught:
        update_user_config({"ui": {"theme": "quorum-light"}})
    message = str(caught.value)
    assert str(target) in message and "not valid TOML" in message and "line 1" in message
    assert target.read_text(encoding="utf-8") == broken
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.toml"]


def test_a_value_where_a_table_is_wanted_is_refused() -> None:
    target = write(paths.user_config_file(), 'ui = "dark"\n')
    with pytest.raises(UserConfigError, match="not a table"):
        update_user_config({"ui": {"theme": "quorum-light"}})
    assert target.read_text(encoding="utf-8") == 'ui = "dark"\n'


def test_explicit_path_and_mode_kept(tmp_path: Path) -> None:
    target = write(tmp_path / "deep" / "custom.toml", "[demo]\nspeed = 2.0\n")
    os.chmod(target, 0o640)
    assert update_user_config({"demo": {"seed": 7}}, target) == target
    assert _read(target) == {"demo": {"speed": 2.0, "seed": 7}}
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not paths.user_config_file().exists()


def test_symlinked_config_is_written_through(tmp_path: Path) -> None:
    real = write(tmp_path / "dotfiles" / "quorum.toml", "[run]\nmax_rounds = 4\n")
    link = paths.user_config_file()
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    update_user_config({"ui": {"theme": "quorum-light"}})
    assert link.is_symlink()
    assert _read(real) == {"run": {"max_rounds": 4}, "ui": {"theme": "quorum-light"}}


def test_result_validates_with_load_settings() -> None:
    write(paths.user_config_file(), "# mine\n[run]\nmax_rounds = 4\n")
    update_user_config(
        {
            "ui": {"theme": "quorum-high-contrast", "keymap": {"rerun": "ctrl+r"}},
            "panel": {"members": ["demo-atlas:for", "demo-bolt:against"], "size": 2},
        }
    )
    settings = load_settings()
    assert settings.run.max_rounds == 4
    assert settings.ui.theme == "quorum-high-contrast" and settings.ui.keymap == {"rerun": "ctrl+r"}
    assert [(m.model, m.stance.value) for m in settings.panel.members] == [
        ("demo-atlas", "for"),
        ("demo-bolt", "against"),
    ]
    assert settings.panel.size == 2


def test_a_saved_panel_comes_back_whole() -> None:
    """What Ctrl+S saves (the session's seats, custom stance prompts too) is the panel the next
    start has: four saved, four back, in order, though the default panel has `size = 3`."""
    from tui.ask import Ask
    from tui.config.schema import parse_member
    from tui.session import Session

    seats = [
        parse_member(s) for s in ("demo-atlas:for", "demo-bolt:against", "demo-cirrus", "demo-delta:for")
    ]
    seats[2] = seats[2].model_copy(update={"stance_prompt": "Weigh the migration risk first."})
    saved = Session(load_settings(), Ask(members=tuple(seats))).panel_for_config()
    update_user_config({"panel": {"members": saved}})
    settings = load_settings()
    assert settings.panel.size == 3
    again = Session(settings)
    assert again.seats == seats and not again.notes


def test_the_writer_loads_only_when_a_change_is_saved() -> None:
    # A fresh interpreter: what the dashboard and every command import as they start.
    script = (
        "import sys, tui.cli.main, tui.dashboard.app, tui.config.user_file\nprint('tomlkit' in sys.modules)\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
