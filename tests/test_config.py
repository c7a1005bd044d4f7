"""Configuration: layering, validation messages (file, key path, reason), catalog, default panel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import write
from tui.cli.main import main
from tui.config import paths
from tui.config.catalog import Catalog, Panel, choose_panel
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.errors import ConfigError, UnknownModelError, UsageError


def test_shipped_defaults_load_and_are_complete() -> None:
    settings = load_settings()
    providers = {m.provider for m in settings.models.values()}
    assert {"openai", "anthropic", "google", "openrouter", "ollama", "demo"} <= providers
    for model in settings.models.values():
        assert model.context_window > 0 and model.max_output > 0
    assert settings.run.max_rounds == 3 and settings.run.max_instances_per_combination == 2


def test_layers_user_file_then_explicit_then_flags(tmp_path: Path) -> None:
    write(paths.user_config_file(), "[run]\nmax_rounds = 5\nmode = 'consult'\n")
    explicit = write(tmp_path / "extra.toml", "[run]\nmax_rounds = 7\n")
    assert load_settings().run.max_rounds == 5
    settings = load_settings(explicit)
    assert settings.run.max_rounds == 7 and settings.run.mode.value == "consult"  # tables merge key by key
    assert load_settings(explicit, {"run": {"max_rounds": 2}}).run.max_rounds == 2


def test_config_env_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_CONFIG", str(write(tmp_path / "env.toml", "[run]\nmax_rounds = 4\n")))
    assert load_settings().run.max_rounds == 4


def test_user_models_extend_the_catalog(tmp_path: Path) -> None:
    extra = write(
        tmp_path / "m.toml",
        "[models.mine]\nprovider = 'ollama'\nid = 'mistral:7b'\ncontext_window = 32000\nmax_output = 4000\n",
    )
    catalog = Catalog(load_settings(extra))
    assert catalog.resolve("MINE")[1].id == "mistral:7b"
    assert catalog.resolve("gpt")[1].id == "gpt-6-sol"


MODEL_Y = "[models.y]\nid = 'y'\ncontext_window = 1\nmax_output = 1\n"

BAD_FILES = [
    (
        MODEL_Y + "provider = 'anthropic'\ntemperature = 0.5\n",
        "models.y.temperature",
        "takes no temperature",
    ),
    ("[run\nmax_rounds = 3\n", None, "not valid TOML"),
    ("[run]\nmax_rounds = 12\n", "run.max_rounds", "less than or equal to 10"),
    ("[run]\nmax_rounds = 'three'\n", "run.max_rounds", "valid integer"),
    ("[run]\nmode = 'parliament'\n", "run.mode", "'consult', 'deliberate', 'vote', 'debate' or 'council'"),
    ("[run]\nrounds = 3\n", "run.rounds", "unknown setting 'rounds'"),
    ("[run]\nmajority_threshold = 1.5\n", "run.majority_threshold", "less than 1"),
    ("[run]\nquorum = 0.4\n", "run.quorum", "greater than or equal to 0.5"),
    ("[run]\nquorum = 1.5\n", "run.quorum", "less than or equal to 1"),
    ("[panel]\nmembers = ['gpt-sol:maybe']\n", "panel.members", "unknown stance 'maybe'"),
    ("[prompts]\nbase = 'no placeholder here'\n", "prompts.base", "exactly once"),
    ("[providers.openai]\nkind = 'openai'\napi_key = 'sk-live-123'\n", "providers.openai", "raw key"),
    (
        "[providers.x]\nkind = 'openai'\napi_key_env = 'sk-abc123-def'\n",
        "providers.x.api_key_env",
        "NAME of an environment",
    ),
    ("[providers.x]\nkind = 'grpc'\n", "providers.x.kind", "'openai', 'anthropic' or 'demo'"),
    (
        "[providers.x]\nkind = 'openai'\nbase_url = 'https://bob:sk-live-4f9a8b7c6d5e@proxy.example/v1'\n",
        "providers.x.base_url",
        "may not carry a user name or key",
    ),
    (
        "[models.y]\nprovider = 'nowhere'\nid = 'y'\ncontext_window = 1\nmax_output = 1\n",
        "models.y.provider",
        "unknown provider 'nowhere'",
    ),
    ("[models.y]\nprovider = 'openai'\nid = 'y'\n", "models.y.context_window", "Field required"),
    (
        MODEL_Y + "provider = 'openai'\naliases = ['SONNET']\n",
        "models.y",
        "already used by models.claude-sonnet",
    ),
]


def test_the_quorum_is_a_run_setting_carried_into_the_request_and_its_record(tmp_path: Path) -> None:
    from tui.ask import Ask
    from tui.config.snapshot import settings_snapshot
    from tui.engine.types import Asked, RunResult
    from tui.history.replay import replay_request
    from tui.session import Session

    assert load_settings().run.quorum == 0.5  # a strict majority of the seats
    settings = load_settings(write(tmp_path / "q.toml", "[run]\nquorum = 0.75\n"))
    request = Session(settings, Ask(members=(parse_member("demo-atlas"),))).prepare("q").request
    assert request.quorum == 0.75 and Asked.of(request).quorum == 0.75
    assert settings_snapshot(settings, request)["run"]["quorum"] == 0.75
    # a rerun of a recorded run asks with the quorum it was asked with, and so does a session
    # that opens it
    recorded = RunResult.begin(request, "r1")
    assert replay_request(recorded).quorum == 0.75
    session = Session(load_settings(), Ask(members=(parse_member("demo-atlas"),)))
    session.adopt(recorded)
    assert session.prepare("q").request.quorum == 0.75


@pytest.mark.parametrize(("text", "key", "reason"), BAD_FILES)
def test_bad_config_names_file_key_and_reason(
    tmp_path: Path, text: str, key: str | None, reason: str
) -> None:
    bad = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    err = info.value
    assert str(err.file) == str(bad)
    assert err.key == key
    assert reason in err.reason, err.reason
    assert str(bad) in err.render() and reason in err.render()


@pytest.mark.parametrize(("text", "key", "reason"), BAD_FILES[1:6])
def test_bad_config_exits_2_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str | None, reason: str
) -> None:
    bad = write(tmp_path / "bad.toml", text)
    assert main(["--config", str(bad), "run", "question"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and str(bad) in err and reason in err
    assert "round" not in capsys.readouterr().out


# Every number setting that may hold a fraction, as a TOML table and key. A new one is added here:
# the test after the next one finds them in the schema.
FLOAT_SETTINGS = [
    ("[run]", "call_deadline_s"),
    ("[run]", "majority_threshold"),
    ("[run]", "quorum"),
    ("[demo]", "speed"),
    ("[cache]", "threshold"),
    ("[store]", "lock_wait_s"),
    ("[cache]", "max_age_days"),
    ("[providers.x]\nkind = 'openai'", "read_timeout_s"),
    (MODEL_Y + "provider = 'openai'", "input_price"),
    (MODEL_Y + "provider = 'openai'", "output_price"),
    (MODEL_Y + "provider = 'openai'", "temperature"),
    (MODEL_Y + "provider = 'openai'", "deadline_s"),
]


@pytest.mark.parametrize("value", ["nan", "inf", "+inf", "-inf"])
@pytest.mark.parametrize(("table", "name"), FLOAT_SETTINGS, ids=[name for _, name in FLOAT_SETTINGS])
def test_a_number_setting_that_is_not_finite_is_refused(
    tmp_path: Path, table: str, name: str, value: str
) -> None:
    """`call_deadline_s = inf` is no deadline at all, and `speed = inf` no pacing: TOML allows
    them, Quorum refuses them as it refuses `nan`, naming the file, the key and why."""
    bad = write(tmp_path / "bad.toml", f"{table}\n{name} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    err = info.value
    assert str(err.file) == str(bad) and err.key is not None and err.key.endswith(name)
    assert "finite number" in err.reason, err.reason


def test_every_float_setting_is_in_the_list_of_float_settings() -> None:
    from typing import get_args

    from pydantic import BaseModel

    from tui.config.schema import Settings

    def floats(model: type[BaseModel]) -> set[str]:
        found: set[str] = set()
        for name, info in model.model_fields.items():
            kinds = [info.annotation, *get_args(info.annotation)]
            kinds += [arg for kind in kinds for arg in get_args(kind)]
            if float in kinds:
                found.add(name)
            found |= {
                f"{name}.{inner}"
                for kind in kinds
                if isinstance(kind, type) and issubclass(kind, BaseModel)
                for inner in floats(kind)
            }
        return found

    listed = {name for _, name in FLOAT_SETTINGS}
    assert {path.rsplit(".", 1)[-1] for path in floats(Settings)} == listed


def test_bad_user_file_is_named_even_when_a_later_layer_is_fine(tmp_path: Path) -> None:
    user = write(paths.user_config_file(), "[run]\nmax_rounds = 0\n")
    fine = write(tmp_path / "fine.toml", "[demo]\nspeed = 2.0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(fine)
    assert info.value.file == user


def test_missing_explicit_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings("/nonexistent/quorum.toml")


def test_flag_errors_are_attributed_to_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--rounds", "11", "q"]) == 2
    err = capsys.readouterr().err
    assert "command line" in err and "run.max_rounds" in err


def test_unknown_alias_lists_closest() -> None:
    catalog = Catalog(load_settings())
    with pytest.raises(UnknownModelError) as info:
        catalog.resolve("gpt-sool")
    assert "gpt-sol" in str(info.value) and "quorum models" in str(info.value)


def test_aliases_are_case_insensitive() -> None:
    catalog = Catalog(load_settings())
    assert catalog.resolve("Sonnet")[0] == catalog.resolve("CLAUDE-SONNET")[0] == "claude-sonnet"


def test_member_spec_parsing() -> None:
    assert parse_member("gpt-sol").stance.value == "neutral"
    assert parse_member("gpt-sol:con").stance.value == "against"
    with pytest.raises(UsageError, match="unknown stance"):
        parse_member("gpt-sol:sideways")


def test_default_panel_is_demo_without_keys() -> None:
    panel = choose_panel(Catalog(load_settings(), environ={}))
    assert panel.members and all(m.demo for m in panel.members)
    assert "demo" in panel.notes[0]


def _seats(panel: Panel) -> list[str]:
    return [f"{m.alias}:{m.stance.value}" for m in panel.members]


def test_default_panel_is_three_stances_over_the_models_whose_keys_are_present() -> None:
    """One key: three members, for / against / neutral, over that vendor's preferred models (it
    used to be two members, both from that vendor, and no neutral seat)."""
    panel = choose_panel(Catalog(load_settings(), environ={"ANTHROPIC_API_KEY": "x"}))
    assert _seats(panel) == ["claude-sonnet:for", "claude-haiku:against", "claude-sonnet:neutral"]
    assert panel.notes == [
        "default panel: 3 seats over the 2 available models (claude-sonnet, claude-haiku), "
        "stances for, against, neutral"
    ]
    panel = choose_panel(Catalog(load_settings(), environ={"OPENAI_API_KEY": "x", "GEMINI_API_KEY": "y"}))
    assert _seats(panel) == ["gpt-sol:for", "gemini-flash:against", "gpt-luna:neutral"]
    assert not panel.notes
    # a key for a provider none of the preferred models use: its models are the panel
    panel = choose_panel(Catalog(load_settings(), environ={"OPENROUTER_API_KEY": "x"}))
    assert _seats(panel) == ["deepseek:for", "llama-maverick:against", "deepseek:neutral"]


def test_default_panel_seats_one_model_once_per_stance_and_counts_a_configured_local_server() -> None:
    # the shipped Ollama entries alone are not a configured server: no key set means the demo panel
    assert all(m.demo for m in choose_panel(Catalog(load_settings(), environ={})).members)
    write(
        paths.user_config_file(),
        "[providers.local]\nkind = 'openai'\nbase_url = 'http://127.0.0.1:8080/v1'\n"
        "[models.local]\nprovider = 'local'\nid = 'qwen'\ncontext_window = 32768\nmax_output = 4096\n",
    )
    panel = choose_panel(Catalog(load_settings(), environ={}))
    assert _seats(panel) == ["local:for", "local:against", "local:neutral"]
    assert "1 available model (local)" in panel.notes[0]
    # with a key too: the preferred models first, then the user's own
    panel = choose_panel(Catalog(load_settings(), environ={"OPENAI_API_KEY": "x"}))
    assert _seats(panel) == ["gpt-sol:for", "gpt-luna:against", "local:neutral"]
    # moving the shipped Ollama provider configures it: its models are available
    write(paths.user_config_file(), "[providers.ollama]\nbase_url = 'http://gpu-box:11434/v1'\n")
    panel = choose_panel(Catalog(load_settings(), environ={}))
    assert _seats(panel) == ["llama-local:for", "qwen-local:against", "llama-local:neutral"]
    # `size` is the default panel's number of seats
    panel = choose_panel(Catalog(load_settings(overrides={"panel": {"size": 4}}), environ={}))
    assert _seats(panel)[3] == "qwen-local:for"


def test_your_own_panel_comes_back_whole_and_a_missing_key_is_said() -> None:
    """`[panel] members` (what Ctrl+S saves) is the panel, every member of it: `size` is the
    default panel's, it cuts nothing (4 saved came back as 3)."""
    members = ["gpt-sol:for", "claude-sonnet:against", "gemini-flash:neutral", "gpt-luna:for"]
    write(paths.user_config_file(), f"[panel]\nmembers = {members!r}\n")
    settings = load_settings()
    assert settings.panel.size == 3
    panel = choose_panel(Catalog(settings, environ={"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "y"}))
    assert _seats(panel) == members
    assert panel.notes == ["gemini-flash (your [panel] members) needs GEMINI_API_KEY, not set: it will fail"]


def test_synthesizer_chain_puts_the_choice_first_and_skips_keyless_fallbacks() -> None:
    settings = load_settings(overrides={"run": {"synthesizer_fallbacks": ["gpt-sol", "demo-bolt"]}})
    catalog = Catalog(settings, environ={})
    panel = choose_panel(catalog, [parse_member("demo-atlas"), parse_member("demo-cirrus")], "demo-delta")
    assert [s.alias for s in panel.synthesizers] == ["demo-delta", "demo-bolt", "demo-atlas", "demo-cirrus"]


def test_models_command_shows_key_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    gpt = next(line for line in out.splitlines() if line.startswith("gpt-sol "))
    claude = next(line for line in out.splitlines() if line.startswith("claude-sonnet "))
    assert "key set (OPENAI_API_KEY)" in gpt and "10.00" in gpt
    assert "no key: ANTHROPIC_API_KEY" in claude
    assert "sk-test-not-real" not in out


def test_config_init_path_validate(capsys: pytest.CaptureFixture[str]) -> None:
    target = paths.user_config_file()
    assert main(["config", "path"]) == 0
    assert str(target) in capsys.readouterr().out
    assert main(["config", "init"]) == 0
    assert target.exists()
    assert main(["config", "init"]) == 2
    assert "--force" in capsys.readouterr().err
    target.write_text("[run]\nmax_rounds = 9\n")
    assert main(["config", "init", "--force"]) == 0
    assert "max_rounds = 3" in target.read_text()
    assert main(["config", "validate"]) == 0
    assert "ok:" in capsys.readouterr().out
    target.write_text("[run]\nmax_rounds = -1\n")
    assert main(["config", "validate"]) == 2
    assert "run.max_rounds" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Secrets: a key written where a name or a setting belongs is refused, and never echoed

CANARY = "sk-canary-0123456789abcdef"
KEY_SHAPED = [
    "gsk_" + "a1B2c3D4e5F6g7H8i9J0" * 2,  # Groq: valid as a variable name, but a key
    "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",  # Google
    "xai_0123456789abcdefghij",
    "sk_live_0123456789abcdef",
    "ghp_0123456789abcdefABCDEF0123456789abcd",
    "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",  # a lowercase hex token
    "AKIAIOSFODNN7EXAMPLE",  # upper case and digits, no word break
    "K" * 65,  # longer than any variable name
    CANARY,
]


@pytest.mark.parametrize("value", KEY_SHAPED)
def test_a_key_in_api_key_env_is_refused_and_not_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    bad = write(tmp_path / "bad.toml", f"[providers.mylab]\nkind = 'openai'\napi_key_env = '{value}'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    assert info.value.key == "providers.mylab.api_key_env"
    assert "NAME of an environment variable" in info.value.reason
    assert "api_key_env must be the NAME" in info.value.reason and "not shown" in info.value.reason
    assert value not in info.value.render()
    assert main(["--config", str(bad), "run", "q"]) == 2
    out, err = capsys.readouterr()
    assert "configuration error" in err and value not in out + err


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "MYLAB_API_KEY", "GROQ_API_KEY", "my_key", "_X2"])
def test_variable_names_are_accepted(tmp_path: Path, name: str) -> None:
    good = write(tmp_path / "good.toml", f"[providers.mylab]\nkind = 'openai'\napi_key_env = '{name}'\n")
    assert load_settings(good).providers["mylab"].api_key_env == name


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"[providers]\nopenai = '{CANARY}'\n", "providers.openai"),
        (f"[providers.openai]\nkind = 'openai'\napi_key = '{CANARY}'\n", "providers.openai"),
        (f"[providers.openai]\nkind = '{CANARY}'\n", "providers.openai.kind"),
        (f"[providers.openai]\nkind = 'openai'\nmax_retries = '{CANARY}'\n", "providers.openai.max_retries"),
        (f"[run]\nmax_rounds = '{CANARY}'\n", "run.max_rounds"),
        (f"[run]\nmode = '{CANARY}'\n", "run.mode"),
        (f"[demo]\nseed = ['{CANARY}']\n", "demo.seed"),
        (f"[models.y]\nprovider = '{CANARY}'\nid = 'y'\ncontext_window = 1\nmax_output = 1\n", None),
        (f"[providers.x]\nkind = 'openai'\napi_key_env = {CANARY}\n", None),  # not even TOML
        (f"[providers.x]\nkind = 'openai'\napi_key_env = '{CANARY}\n", None),  # unterminated
        (f"{CANARY} = 1\n", None),  # a key as a setting's name
    ],
)
def test_no_configuration_error_shows_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str | None
) -> None:
    bad = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    if key is not None:
        assert info.value.key == key
    assert CANARY not in info.value.render() and "canary" not in info.value.render()
    assert main(["--config", str(bad), "run", "q"]) == 2
    assert main(["--config", str(bad), "config", "validate"]) == 2
    out, err = capsys.readouterr()
    assert err.count("configuration error") == 2 and "canary" not in out + err


def test_harmless_values_are_still_shown_in_errors(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", "[run]\nmax_rounds = 'three'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    assert "'three'" in info.value.reason


def test_validation_errors_never_carry_the_input() -> None:
    from pydantic import ValidationError

    from tui.config.schema import Settings

    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"providers": {"openai": CANARY}, "run": {"max_rounds": CANARY}})
    assert CANARY not in str(info.value)


# -- what the settings name must exist: model aliases, keymap ids and keys ----------------------

UNKNOWN_NAMES = [
    ("[panel]\nmembers = ['gpt-sol', 'gpt-9:for']\n", "panel.members", "unknown model 'gpt-9'"),
    (
        "[panel]\ndemo_members = ['demo-atlas', 'demo-zeta']\n",
        "panel.demo_members",
        "unknown model 'demo-zeta'",
    ),
    ("[run]\nsynthesizer = 'gpt-9'\n", "run.synthesizer", "unknown model 'gpt-9'"),
    (
        "[run]\nsynthesizer_fallbacks = ['sol', 'gpt-9']\n",
        "run.synthesizer_fallbacks",
        "unknown model 'gpt-9'",
    ),
    ("[ui.keymap]\nrerunn = 'f6'\n", "ui.keymap.rerunn", "unknown key id 'rerunn'; did you mean 'rerun'?"),
    ("[ui.keymap]\nquit = 'ctrl+x'\n", "ui.keymap.quit", "cannot be remapped"),
    ("[ui.keymap]\nrerun = 'f5'\n", "ui.keymap.rerun", "'f5' is already the key of export"),
    ("[ui.keymap]\nrerun = 'f6'\nzoom = 'f6'\n", "ui.keymap.zoom", "'f6' is already the key of rerun"),
    ("[ui.keymap]\nhistory = 'ctrl+q'\n", "ui.keymap.history", "'ctrl+q' is already the key of quit"),
    ("[ui.keymap]\nzoom = '?'\n", "ui.keymap.zoom", "'?' is already the key of help"),
    ("[ui.keymap]\nzoom = ' '\n", "ui.keymap.zoom", "no key"),
]


@pytest.mark.parametrize(("text", "key", "reason"), UNKNOWN_NAMES)
def test_unknown_names_are_refused_at_load_naming_file_and_key(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    bad = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    err = info.value
    assert (str(err.file), err.key) == (str(bad), key)
    assert reason in err.reason, err.reason
    if "unknown model" in reason:
        assert "known: " in err.reason and "claude-sonnet" in err.reason


def test_unknown_model_names_the_layer_that_set_it(tmp_path: Path) -> None:
    """The catalog is merged from every layer first; the bad alias is blamed on the file it came from."""
    user = write(paths.user_config_file(), "[panel]\nmembers = ['mine', 'gpt-9']\n")
    extra = write(
        tmp_path / "extra.toml",
        "[models.mine]\nprovider = 'ollama'\nid = 'm'\ncontext_window = 1\nmax_output = 1\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(extra)
    assert info.value.file == user and info.value.key == "panel.members"
    # 'mine' is known: a later layer adds it to the catalog
    assert "'gpt-9'" in info.value.reason and "'mine'" not in info.value.reason
    write(user, "[panel]\nmembers = ['mine']\n")
    assert [m.model for m in load_settings(extra).panel.members] == ["mine"]
    # A later layer that replaces the list takes the blame (and the credit) from then on.
    later = write(tmp_path / "later.toml", "[panel]\nmembers = ['gpt-10']\n")
    with pytest.raises(ConfigError) as info:
        load_settings(later)
    assert info.value.file == later


def test_unknown_model_from_flags_is_the_command_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides={"run": {"synthesizer": "gpt-9"}})
    assert info.value.file == "command line" and info.value.key == "run.synthesizer"


@pytest.mark.parametrize(
    "keymap",
    [
        {"rerun": "f5", "export": "f6"},  # a swap is not a collision
        {"rerun": "ctrl+r,f7"},
        {"history.close": "f2,escape", "help.close": "escape"},  # screens' own keys
        {"remove_member": "d"},  # its own key again
    ],
)
def test_keymaps_that_work_pass(keymap: dict[str, str]) -> None:
    assert load_settings(overrides={"ui": {"keymap": keymap}}).ui.keymap == keymap


def test_the_docs_keymap_example_is_valid() -> None:
    page = (Path(__file__).parent.parent / "docs" / "dashboard.md").read_text(encoding="utf-8")
    found = re.search(r"`\[ui\.keymap\]` `(\w+) = \"([^\"]+)\"`", page)
    assert found, "the dashboard page's keymap example moved"
    binding_id, key = found.groups()
    assert load_settings(overrides={"ui": {"keymap": {binding_id: key}}}).ui.keymap == {binding_id: key}


def test_an_unknown_model_stops_quorum_run_naming_file_and_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = write(paths.user_config_file(), "[panel]\nmembers = ['gpt-9']\n")
    assert main(["run", "question"]) == 2
    err = capsys.readouterr().err
    assert str(user) in err and "panel.members" in err and "unknown model 'gpt-9'" in err


def test_a_key_in_a_base_url_is_refused_without_being_shown(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.toml",
        "[providers.x]\nkind = 'openai'\nbase_url = 'http://sk-live-4f9a8b7c6d5e@h:1/v1'\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    assert "sk-live" not in info.value.render() and "api_key_env" in info.value.render()
    # An address without user-info, with @ in its path, is fine.
    fine = write(tmp_path / "fine.toml", "[providers.x]\nkind = 'openai'\nbase_url = 'http://h:1/v1/@team'\n")
    assert load_settings(fine).providers["x"].base_url == "http://h:1/v1/@team"
