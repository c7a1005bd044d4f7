"""Writing dashboard changes back to the user's config file: merge, backups, refusal, round trip."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from tests.conftest import write
from tui.config import paths
from tui.config.loading import load_settings
from tui.config.user_file import backup_path, has_comment, update_user_config
from tui.errors import UserConfigError


def _read(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_writes_a_fresh_file_in_new_folders() -> None:
    target = paths.user_config_file()
    assert not target.parent.exists()
    written = update_user_config({"ui": {"theme": "quorum-light"}})
    assert written == target
    assert _read(target) == {"ui": {"theme": "quorum-light"}}
    assert not backup_path(target).exists()
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
    assert not backup_path(target).exists()  # nothing to lose: no comments


def test_lists_replace_and_none_removes() -> None:
    target = write(paths.user_config_file(), '[panel]\nmembers = ["a", "b"]\nsize = 2\n[ui]\ntheme = "x"\n')
    update_user_config({"panel": {"members": ["c"], "size": None}, "ui": {"theme": None}})
    assert _read(target) == {"panel": {"members": ["c"]}, "ui": {}}


def test_commented_file_is_backed_up_first() -> None:
    original = '# my settings\n[ui]\ntheme = "quorum-dark"  # the default\n'
    target = write(paths.user_config_file(), original)
    update_user_config({"ui": {"theme": "quorum-light"}})
    backup = backup_path(target)
    assert backup.name == "config.toml.bak"
    assert backup.read_text(encoding="utf-8") == original
    assert _read(target) == {"ui": {"theme": "quorum-light"}}
    # The next write has no comment to lose, so the commented original stays in the backup.
    update_user_config({"ui": {"theme": "quorum-high-contrast"}})
    assert backup.read_text(encoding="utf-8") == original


def test_hash_inside_strings_is_not_a_comment() -> None:
    assert not has_comment('a = "#fff"\nb = \'#x\'\nc = """\n# not a comment\n"""\nd = "q\\"#"\n')
    assert has_comment('a = "#fff" # but this is\n')
    assert has_comment("a = '''x''''  # after a closing quote\n")
    assert has_comment("# top\n")


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
