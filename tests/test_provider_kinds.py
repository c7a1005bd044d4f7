"""Provider kinds come from a table of factories that a separate package can add to.

A tiny plugin distribution is installed into a temporary folder on `sys.path` (its `.dist-info`
declares an entry point in the `quorum.providers` group, as `pip install` would write it), and a
config naming its kind runs end to end through `quorum run`. A plugin that cannot be loaded stops
nothing: the members of its kind fail with one line naming it, the others answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST_DEMO, write
from tui.cli.main import main
from tui.config.loading import load_settings
from tui.errors import ConfigError
from tui.providers import kinds

ECHO_PLUGIN = '''
"""A provider kind that answers every question with the same position, as a plugin would add it."""

from tui.engine.provider import Finished, TextDelta, Usage
from tui.engine.types import VoteForm
from tui.providers.kinds import ProviderKind


class EchoProvider:
    is_demo = False

    def __init__(self, name, base_url, api_key):
        self.name, self.base_url, self.api_key = name, base_url, api_key

    async def stream(self, request):
        yield TextDelta(f"ECHO from {self.base_url}: " + request.messages[-1].content[:20]
                        + "\\nConclusion: yes.\\nLean: favourable\\nConfidence: 7/10")
        yield Usage(3, 5)
        yield Finished("stop")

    async def aclose(self):
        return None


def make(setup):
    return EchoProvider(setup.name, setup.base_url, setup.api_key)


echo = ProviderKind(make, vote_forms=(VoteForm.TEXT,), called="an echo")
'''


def install(site: Path, dist: str, module: str, source: str, entry_points: str) -> None:
    """`dist` installed into `site` as pip lays it out: its module, and the metadata naming its
    entry points."""
    write(site / module / "__init__.py", source)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    write(info / "METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    write(info / "entry_points.txt", f"[quorum.providers]\n{entry_points}\n")


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on `sys.path` with two plugins installed: `quorum-echo` (kind `echo`) and
    `quorum-broken` (kind `broken`, whose import fails); the table of kinds starts afresh."""
    site = tmp_path / "site"
    install(site, "quorum-echo", "quorum_echo", ECHO_PLUGIN, "echo = quorum_echo:echo")
    install(
        site,
        "quorum-broken",
        "quorum_broken",
        'raise ImportError("the broken plugin needs an SDK that is not installed")\n',
        "broken = quorum_broken:kind",
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(kinds, "KINDS", kinds.Kinds())
    for module in ("quorum_echo", "quorum_broken"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return site


def plugin_config(tmp_path: Path) -> Path:
    return write(
        tmp_path / "plugins.toml",
        FAST_DEMO + '[providers.echoes]\nkind = "echo"\nbase_url = "http://127.0.0.1:9/echo"\n'
        '[providers.wreck]\nkind = "broken"\n'
        '[models.echo-1]\nprovider = "echoes"\nid = "echo-1"\ncontext_window = 8192\nmax_output = 256\n'
        '[models.wreck-1]\nprovider = "wreck"\nid = "wreck-1"\ncontext_window = 8192\nmax_output = 256\n',
    )


def consulted(member: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """The JSON of a consult of `member` beside demo-atlas (its synthesizer) with the plugins
    configured, a run that succeeds whatever `member` does."""
    args = ["Ship it?", "-m", member, "-m", "demo-atlas", "--mode", "consult", "--synthesizer", "demo-atlas"]
    code = main(["--config", str(plugin_config(tmp_path)), "run", *args, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["status"] == "success"
    return data


def test_a_kind_a_plugin_adds_runs_end_to_end(
    plugins: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = consulted("echo-1", tmp_path, capsys)
    echo = data["positions"][0]
    assert echo["status"] == "success"
    assert echo["content"].startswith("ECHO from http://127.0.0.1:9/echo: ")
    assert "quorum_broken" not in sys.modules  # a plugin no member uses is never imported


def test_a_broken_plugin_costs_its_own_members_one_line_and_stops_nothing(
    plugins: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = consulted("wreck-1", tmp_path, capsys)
    wreck, atlas = data["positions"]
    assert atlas["status"] == "success"
    assert wreck["status"] == "error" and "\n" not in wreck["error"]
    assert wreck["error"] == (
        "the 'broken' provider kind's plugin (quorum-broken 0.1) could not be loaded: "
        "ImportError: the broken plugin needs an SDK that is not installed"
    )


def test_the_config_accepts_the_kinds_plugins_add_and_names_them_for_one_it_does_not_know(
    plugins: Path, tmp_path: Path
) -> None:
    settings = load_settings(plugin_config(tmp_path))
    assert settings.providers["echoes"].kind == "echo"
    bad = write(tmp_path / "bad.toml", '[providers.x]\nkind = "grpc"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    assert "providers.x.kind" in str(info.value)
    assert "'openai', 'anthropic', 'demo', 'broken' or 'echo'" in str(info.value)


def test_a_plugin_kind_is_held_to_the_vote_forms_it_declares(plugins: Path, tmp_path: Path) -> None:
    config = plugin_config(tmp_path)
    config.write_text(config.read_text() + 'structured_output = "json_schema"\n')  # on wreck-1: allowed
    load_settings(config)
    text = config.read_text().replace('id = "echo-1"\n', 'id = "echo-1"\nstructured_output = "json_schema"\n')
    config.write_text(text)
    with pytest.raises(ConfigError, match="cannot be asked of an echo provider"):
        load_settings(config)


def test_start_up_never_looks_for_plugins(tmp_path: Path) -> None:
    """With only built-in kinds configured, loading the settings never looks for the plugins'
    entry points (reading them and importing plugins costs start-up time)."""
    code = textwrap.dedent(
        """
        import importlib.metadata as metadata
        calls = []
        real = metadata.entry_points
        metadata.entry_points = lambda **kw: calls.append(kw) or real(**kw)
        from tui.config.loading import load_settings
        from tui.config.catalog import Catalog
        settings = load_settings()
        [Catalog(settings).vote_form(model) for model in settings.models.values()]
        assert not [kw for kw in calls if kw.get("group") == "quorum.providers"], calls
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"QUORUM_HOME": str(tmp_path), "QUORUM_NO_PROJECT": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_doctor_checks_a_plugin_kind_by_a_vote_and_names_a_broken_plugin(
    plugins: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = plugin_config(tmp_path)
    code = main(["--config", str(config), "doctor", "--provider", "echoes", "--provider", "wreck", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # wreck is not usable; echoes is
    checks = {check["name"]: check for check in report["providers"]}
    assert checks["echoes"]["usable"] and checks["echoes"]["listing"] == "not checked"
    assert main(["--config", str(config), "doctor", "--provider", "echoes"]) == 0
    assert "  models: its kind does not list models (each is asked for a vote)" in capsys.readouterr().out
    assert checks["wreck"]["problem"] == (
        "the 'broken' provider kind's plugin (quorum-broken 0.1) could not be loaded: "
        "ImportError: the broken plugin needs an SDK that is not installed"
    )


def test_a_plugin_whose_factory_fails_costs_its_members_one_line_and_the_warm_up_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.config.catalog import Catalog
    from tui.config.schema import parse_member
    from tui.engine.provider import ProviderError
    from tui.pool import ProviderPool

    def crash(setup: kinds.ProviderSetup) -> Any:
        raise RuntimeError(f"no socket for {setup.name}")

    monkeypatch.setattr(kinds, "KINDS", kinds.Kinds({**kinds.BUILT_IN, "crash": kinds.ProviderKind(crash)}))
    config = write(
        tmp_path / "crash.toml",
        '[providers.crashy]\nkind = "crash"\n'
        '[models.c-1]\nprovider = "crashy"\nid = "c-1"\ncontext_window = 8192\nmax_output = 256\n',
    )
    settings = load_settings(config)
    pool = ProviderPool(settings)
    member = Catalog(settings).member(parse_member("c-1"))
    pool.warm([member])  # the dashboard warms the panel after its first frame: nothing is raised
    with pytest.raises(ProviderError) as info:
        pool(member)
    assert info.value.message == (
        "crashy: its 'crash' provider kind could not make an adapter: RuntimeError: no socket for crashy"
    )
