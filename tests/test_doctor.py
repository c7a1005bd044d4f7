"""`quorum doctor`: each provider's key, server, model listing and structured votes, told plainly.

Every check runs the real SDKs against the local wire server (its GET /v1/models in both
providers' shapes, scripted refusals, hangs and hostile answers), or against a closed port and a
host that does not resolve. Timeouts are proven by the error they report, concurrency by a
barrier at the server, never by a stopwatch.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write
from tests.wire_server import Listing, RecordedRequest, Scenario, WireServer
from tui.cli.doctor import PROBE_MAX_TOKENS
from tui.cli.main import main
from tui.engine.types import VoteForm
from tui.engine.votes import vote_schema

ACCEPT = '{"verdict": "accept", "objections": []}'
CANARY = "sk-doctor-canary-0123456789abcdef"
PLAIN_SECRET = "plainsecretvalue-doctor-42"  # shaped like no key: only knowing the value redacts it
URL_SECRET = "urlpassword-doctor-77"


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh(server: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one line each, as a wide terminal shows them (80: below)
    server.clear()
    server.default_scenario = Scenario(text="VERDICT: ACCEPT", structured_text=ACCEPT)


def provider_toml(
    name: str,
    kind: str,
    base_url: str,
    models: dict[str, str],
    *,
    key_env: str | None = None,
    url_env: str | None = None,
    structured_output: str = "auto",
) -> str:
    """A provider and its models (alias -> model id) as a config file says them; `url_env` names
    a variable whose address overrides `base_url` (the only way credentials may ride in one)."""
    text = f"[providers.{name}]\nkind = '{kind}'\nbase_url = '{base_url}'\nmax_retries = 0\n"
    if key_env:
        text += f"api_key_env = '{key_env}'\n"
    if url_env:
        text += f"base_url_env = '{url_env}'\n"
    for alias, model_id in models.items():
        text += (
            f"[models.{alias}]\nprovider = '{name}'\nid = '{model_id}'\ncontext_window = 8192\n"
            f"max_output = 512\nstructured_output = '{structured_output}'\n"
        )
    return text


def base_url(kind: str, server: WireServer) -> str:
    return server.openai_base_url if kind == "openai" else server.anthropic_base_url


def doctor(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "doctor", *args])
    out, err = capsys.readouterr()
    return code, out, err


def chats(server: WireServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == "POST"]


def listings(server: WireServer) -> list[RecordedRequest]:
    return [r for r in server.requests if r.method == "GET"]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --------------------------------------------------------------------------------------------
# The key, the server


def test_a_key_not_set_names_its_variable_and_nothing_is_sent(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {"lab-m": "m1"}, key_env="LAB_API_KEY"),
    )
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 1
    assert "✗ lab  key not set: export LAB_API_KEY" in out
    assert "0 of 1 provider usable" in out
    assert server.requests == []


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_refused_key_is_said_and_no_model_is_asked(
    kind: str,
    tmp_path: Path,
    server: WireServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LAB_API_KEY", "lab-key-that-is-refused")
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", kind, base_url(kind, server), {"m": "m1"}, key_env="LAB_API_KEY"),
    )
    server.listing = Listing(status=401)
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 1
    assert "✗ lab  key refused: lab rejected the API key (HTTP 401); check LAB_API_KEY" in out
    assert len(listings(server)) == 1 and chats(server) == []


def test_a_key_refused_on_every_model_of_a_server_without_a_listing_is_a_refused_key(
    tmp_path: Path, server: WireServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAB_API_KEY", "lab-key-that-is-refused")
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}, key_env="LAB_API_KEY"),
    )
    server.default_scenario = Scenario(failure="status", status=401)
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 1
    assert "✗ lab  key refused: lab rejected the API key (HTTP 401)" in out
    assert "the server does not list models" in out


def test_a_closed_port_is_unreachable_and_the_url_keeps_no_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Credentials in an address from the environment (a config file may not hold them).
    monkeypatch.setenv("BOX_BASE_URL", f"http://quorum:{URL_SECRET}@127.0.0.1:{closed_port()}/v1")
    config = write(
        tmp_path / "c.toml",
        provider_toml("box", "openai", "http://127.0.0.1:1/v1", {"box-m": "m1"}, url_env="BOX_BASE_URL"),
    )
    code, out, err = doctor(capsys, config, "--provider", "box")
    assert code == 1
    flat = " ".join(out.split())  # as wrapped at 80 columns
    assert "✗ box cannot reach box at http://[redacted]@127.0.0.1:" in flat
    assert "connection refused (is the server running, on that port?)" in flat
    assert URL_SECRET not in out + err


def test_a_host_that_does_not_resolve_is_said_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "gpu-box.invalid":  # never asked of a real resolver: the suite stays offline
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    config = write(
        tmp_path / "c.toml", provider_toml("box", "openai", "http://gpu-box.invalid:8000/v1", {"b": "m"})
    )
    code, out, _ = doctor(capsys, config, "--provider", "box")
    assert code == 1
    flat = " ".join(out.split())
    assert (
        "cannot reach box at http://gpu-box.invalid:8000/v1: host not found (DNS: Name or service not known)"
        in flat
    )


def test_a_hanging_server_is_cut_by_the_timeout_and_the_others_are_still_checked(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """One server hangs on its listing, another lists but hangs on the model's answer: each is
    reported by the timeout it hit (the wire server would wait a minute), the healthy one as ok."""
    with WireServer() as hanging:
        hanging.listing = Listing(ids=["m1"], delay_s=60)
        config = write(
            tmp_path / "c.toml",
            provider_toml("stuck", "openai", hanging.openai_base_url, {"stuck-m": "m1"})
            + provider_toml("slow", "openai", server.openai_base_url, {"slow-m": "slow1"})
            + provider_toml("fine", "anthropic", server.anthropic_base_url, {"fine-m": "fine1"}),
        )
        server.listing = Listing(ids=["slow1", "fine1"])
        server.script("slow1", Scenario(first_byte_delay_s=60))
        code, out, _ = doctor(
            capsys,
            config,
            "--timeout",
            "0.5",
            "--provider",
            "stuck",
            "--provider",
            "slow",
            "--provider",
            "fine",
        )
        assert hanging.requests and all(r.method == "GET" for r in hanging.requests)
    assert code == 1
    flat = " ".join(out.split())
    assert (
        f"✗ stuck cannot reach stuck at {hanging.openai_base_url}: no answer within 0.5 s (--timeout" in flat
    )
    assert (
        "✗ slow no key needed" in flat and "slow-m (slow1): listed · failed: no answer within 0.5 s" in flat
    )
    assert "✓ fine no key needed" in flat and "fine-m (fine1): listed · structured votes: tool ok" in flat
    assert "1 of 3 providers usable" in out


def test_providers_are_checked_at_once(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each listing is held at the server until both have arrived: checked one after the other,
    the first would wait out its whole timeout and be reported as unreachable."""
    config = write(
        tmp_path / "c.toml",
        provider_toml("one", "openai", server.openai_base_url, {"one-m": "m1"})
        + provider_toml("two", "anthropic", server.anthropic_base_url, {"two-m": "m2"}),
    )
    server.listing = Listing(ids=["m1", "m2"], hold_until_requests=2)
    code, out, _ = doctor(capsys, config, "--timeout", "60", "--provider", "one", "--provider", "two")
    assert code == 0, out
    assert "2 of 2 providers usable" in out


# --------------------------------------------------------------------------------------------
# Models listed


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_models_a_server_lists_and_the_catalog_models_missing_from_it(
    kind: str, tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", kind, base_url(kind, server), {"here": "model-a", "gone": "model-x"}),
    )
    server.listing = Listing(ids=["model-a", "model-b", "model-c"])
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0, out  # the missing one still answered: the wire server answers any id
    assert "  models: 3 listed: model-a, model-b, model-c" in out
    assert "  here (model-a): listed · structured votes:" in out
    assert "  gone (model-x): not listed · structured votes:" in out


def test_a_long_anthropic_listing_is_read_page_after_page(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [f"claude-{i:04d}" for i in range(2_500)]
    config = write(
        tmp_path / "c.toml", provider_toml("lab", "anthropic", server.anthropic_base_url, {"last": ids[-1]})
    )
    server.listing = Listing(ids=ids)
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0, out
    assert "  models: 2,500 listed\n" in out
    assert "  last (claude-2499): listed · structured votes: tool ok" in out
    assert len(listings(server)) == 3  # pages of 1,000, not 125 pages of 20


def test_a_server_that_does_not_list_models_is_no_failure(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}))
    code, out, _ = doctor(capsys, config, "--provider", "lab")  # no listing: GET /v1/models is a 404
    assert code == 0, out
    assert "  models: the server does not list models" in out
    assert "  m (m1): structured votes: json_schema ok" in out


@pytest.mark.parametrize(
    ("listing", "words"),
    [
        (Listing(status=403), "could not list them: lab refused to list models (HTTP 403)"),
        (Listing(status=500), "could not list them: lab had a server error (HTTP 500)"),
        (
            Listing(raw_body="<html>a proxy's login page</html>"),
            "could not list them: lab answered the model",
        ),
    ],
)
def test_a_listing_refused_or_garbled_still_asks_the_models(
    listing: Listing, words: str, tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key restricted to chat may not list models; a proxy may answer with HTML: the requests
    to the models still say whether the provider is usable."""
    config = write(tmp_path / "c.toml", provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}))
    server.listing = listing
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0, out
    assert words in " ".join(out.split())
    assert "  m (m1): structured votes: json_schema ok" in out


def test_a_hostile_listing_is_counted_not_echoed(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listed ids are the server's words: escape sequences in them are shown, never acted on."""
    ids = ["\x1b]0;pwned\x07evil", "\x1b[2Jclear", "m\u202egnp.exe"]
    config = write(tmp_path / "c.toml", provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}))
    server.listing = Listing(ids=ids)
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0, out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07evil" in out and "m\\u202egnp.exe" in out


def test_a_provider_no_model_uses_yet_shows_what_its_server_lists(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Setting up a new local server: which id to write in the [models] entry."""
    config = write(tmp_path / "c.toml", provider_toml("fresh", "openai", server.openai_base_url, {}))
    server.listing = Listing(ids=["qwen2.5-7b-instruct", "smollm2"])
    code, out, _ = doctor(capsys, config, "--provider", "fresh")
    assert code == 0, out
    assert "  models: 2 listed: qwen2.5-7b-instruct, smollm2" in out
    assert chats(server) == []
    code, out, _ = doctor(capsys, config)  # not checked unless named: no catalog model uses it
    assert "fresh" not in out


def test_a_base_url_without_its_v1_gets_a_hint(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.anthropic_base_url  # http://127.0.0.1:PORT, as if the user left out /v1
    config = write(tmp_path / "c.toml", provider_toml("lab", "openai", url, {"m": "m1"}))
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 1
    flat = " ".join(out.split())
    assert "m (m1): failed: lab does not know model 'm1'" in flat
    assert (
        "hint: the server answers 404 to the model listing and to every model: is its base_url right?" in flat
    )


# --------------------------------------------------------------------------------------------
# Structured votes


@pytest.mark.parametrize(
    ("kind", "scenario", "words", "forms"),
    [
        ("openai", Scenario(structured_text=ACCEPT), "json_schema ok", ["json_schema"]),
        (
            "openai",
            Scenario(structured_text=ACCEPT, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"),
            "json_schema refused → json_object ok",
            ["json_schema", "json_object"],
        ),
        (
            "openai",
            Scenario(text="VERDICT: ACCEPT", accepts=frozenset(), refuse_as="openai"),
            "json_schema refused → json_object refused → text only",
            ["json_schema", "json_object", None],
        ),
        ("anthropic", Scenario(structured_text=ACCEPT), "tool ok", ["tool"]),
        (
            "anthropic",
            Scenario(text="VERDICT: ACCEPT", accepts=frozenset()),
            "tool refused → text only",
            ["tool", None],
        ),
    ],
)
def test_structured_votes_are_asked_in_the_configured_form_then_weaker_ones(
    kind: str,
    scenario: Scenario,
    words: str,
    forms: list[str | None],
    tmp_path: Path,
    server: WireServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each request is the engine's own vote request in that form, at most 32 output tokens; a
    refused form is asked once in the next weaker one, as a run's vote would be."""
    config = write(tmp_path / "c.toml", provider_toml("lab", kind, base_url(kind, server), {"m": "m1"}))
    server.script("m1", scenario)
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0, out
    assert f"  m (m1): structured votes: {words}\n" in out
    sent = chats(server)
    assert [asked_form(r) for r in sent] == forms
    for request, form in zip(sent, forms, strict=True):
        limit = request.body.get("max_tokens") or request.body.get("max_completion_tokens")
        assert isinstance(limit, int) and 0 < limit <= PROBE_MAX_TOKENS
        if form is not None:
            assert sent_schema(request) == vote_schema(VoteForm(form))


def asked_form(request: RecordedRequest) -> str | None:
    if "tool_choice" in request.body:
        return "tool"
    response_format = request.body.get("response_format")
    return response_format["type"] if response_format else None


def sent_schema(request: RecordedRequest) -> Any:
    if "tools" in request.body:
        return request.body["tools"][0]["input_schema"]
    response_format = request.body["response_format"]
    if response_format["type"] == "json_schema":
        return response_format["json_schema"]["schema"]
    return response_format["schema"]


def test_a_model_set_to_text_is_asked_in_text(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}, structured_output="text"),
    )
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0
    assert "  m (m1): structured votes: text (as configured)\n" in out
    assert [asked_form(r) for r in chats(server)] == [None]


@pytest.mark.parametrize(
    ("structured_text", "words"),
    [
        ("I would accept this plan.", "json_schema answered outside the schema (not JSON) → text"),
        (
            '{"verdict": "maybe"}',
            "json_schema answered outside the schema (verdict not accept or reject) → text",
        ),
    ],
)
def test_an_answer_outside_the_schema_is_said_as_a_run_would_read_it(
    structured_text: str, words: str, tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}))
    server.script("m1", Scenario(structured_text=structured_text))
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0
    assert f"structured votes: {words}" in " ".join(out.split())


def test_a_reply_cut_at_the_checks_limit_is_no_failure(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}))
    server.script("m1", Scenario(structured_text='{"verdict": "accept", "objec', finish_reason="length"))
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0
    flat = " ".join(out.split())
    assert (
        f"json_schema ok (the reply was cut off at the {PROBE_MAX_TOKENS}-token output limit of this check)"
        in flat
    )


def test_a_server_that_ignores_the_output_limit_is_cut_and_named(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.toml", provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}))
    server.script("m1", Scenario(structured_text="{" + "x" * 1_000_000, chunk_count=500))
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0
    flat = " ".join(out.split())
    assert "the reply ran past 2,000 characters, though 32 tokens were asked" in flat
    assert "xxxxxxxxxx" not in out


def test_only_the_models_asked_for_are_sent_a_request(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {"a": "m-a", "b": "m-b", "c": "m-c"}),
    )
    code, out, _ = doctor(capsys, config, "--model", "B")  # aliases are case-insensitive
    assert code == 0
    assert [r.body["model"] for r in chats(server)] == ["m-b"]
    assert "✓ lab" in out and "demo" not in out


def test_a_failing_model_is_named_and_the_provider_stays_usable_while_another_answers(
    tmp_path: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {"good": "m1", "bad": "m2"}),
    )
    server.script("m2", Scenario(failure="status", status=404))
    code, out, _ = doctor(capsys, config, "--provider", "lab")
    assert code == 0
    flat = " ".join(out.split())
    assert "✓ lab no key needed" in flat and "· 1 of 2 models failed" in flat
    assert (
        "bad (m2): failed: lab does not know model 'm2' (alias bad, HTTP 404); fix its id in the catalog"
        in flat
    )


# --------------------------------------------------------------------------------------------
# The demo, the report, the options


def test_the_demo_is_one_line_and_always_available(
    fast_demo_config: Path, server: WireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = doctor(capsys, fast_demo_config, "--provider", "demo")
    assert code == 0
    assert out == "✓ demo  the offline demo: always available (no key, no network)\n1 of 1 provider usable\n"


def test_a_fresh_install_with_no_key_is_not_told_that_every_cloud_provider_fails(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No key set, no network, nothing of the user's names a cloud provider: each says which
    variable would make it usable, none is a failure, the demo is usable; exit 0."""
    code, out, _ = doctor(capsys, fast_demo_config, "--timeout", "5")
    assert code == 0
    for name, variable in [
        ("openai", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("google", "GEMINI_API_KEY"),
    ]:
        assert f"– {name:<10}  not configured: no key set; export {variable} to use it" in out
    assert "✗" not in out and "✓ demo        the offline demo" in out
    assert out.rstrip().endswith("1 of 1 provider usable · 5 not configured")


@pytest.mark.parametrize(
    "chosen",
    [
        '[panel]\nmembers = ["gpt-sol:for", "demo-atlas"]\n',
        '[run]\nsynthesizer = "gpt-sol"\n',
        '[models.mine]\nprovider = "openai"\nid = "gpt-x"\ncontext_window = 8192\nmax_output = 512\n',
    ],
    ids=["a_panel_seat", "the_synthesizer", "a_model_of_the_users"],
)
def test_a_provider_the_user_chose_fails_for_a_key_not_set(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], chosen: str
) -> None:
    config = write(fast_demo_config.parent / "chosen.toml", fast_demo_config.read_text() + chosen)
    code, out, _ = doctor(capsys, config, "--timeout", "5")
    assert code == 1
    assert "✗ openai      key not set: export OPENAI_API_KEY" in out
    assert "– anthropic   not configured: no key set" in out  # still nobody's
    code, out, _ = doctor(capsys, fast_demo_config, "--model", "claude-haiku", "--timeout", "5")
    assert code == 1 and "✗ anthropic  key not set: export ANTHROPIC_API_KEY" in out


def test_the_shipped_local_server_not_configured_is_said_and_is_no_failure(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped Ollama entry is no one's server until the user's configuration names it: not
    configured, not reached, not a failure; once configured, it is checked as any other."""
    code, out, _ = doctor(capsys, fast_demo_config, "--provider", "ollama", "--provider", "demo")
    assert code == 0
    assert out.splitlines()[0].startswith("– ollama  not configured: ")
    assert out.rstrip().endswith("1 of 1 provider usable · 1 not configured")
    config = write(fast_demo_config.parent / "ollama.toml", "[providers.ollama]\nmax_retries = 0\n")
    code, out, _ = doctor(capsys, config, "--provider", "ollama", "--timeout", "5")
    assert code == 1 and "✗ ollama  cannot reach ollama at http://localhost:11434/v1:" in out


def test_json_is_the_whole_report(
    tmp_path: Path, server: WireServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"})
        + provider_toml(
            "keyed", "anthropic", server.anthropic_base_url, {"k": "k1"}, key_env="KEYED_API_KEY"
        ),
    )
    server.listing = Listing(ids=["m1", "other"])
    server.script("m1", Scenario(structured_text=ACCEPT, accepts=frozenset({"json_object"})))
    code, out, _ = doctor(
        capsys, config, "--provider", "lab", "--provider", "keyed", "--json", "--timeout", "7"
    )
    assert code == 1
    report = json.loads(out)
    assert report["usable"] is False and report["timeout_s"] == 7.0
    lab, keyed = report["providers"]
    assert lab == {
        "name": "lab",
        "kind": "openai",
        "usable": True,
        "configured": True,
        "demo": False,
        "key": "not needed",
        "key_env": None,
        "base_url": server.openai_base_url,
        "problem": None,
        "listing": "listed",
        "models_listed": 2,
        "listing_error": None,
        "models": [
            {
                "alias": "m",
                "id": "m1",
                "ok": True,
                "listed": True,
                "form_asked": "json_schema",
                "forms_refused": ["json_schema"],
                "form_answered": "json_object",
                "outside_schema": None,
                "votes": "json_schema refused → json_object ok",
                "note": None,
                "error": None,
            }
        ],
        "hint": None,
    }
    assert keyed["usable"] is False and keyed["key"] == "missing" and keyed["key_env"] == "KEYED_API_KEY"
    assert keyed["problem"] == "key not set: export KEYED_API_KEY" and keyed["models"] == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--provider", "olama"], "unknown provider 'olama' (did you mean ollama?); configured: openai,"),
        (["--model", "gpt-9"], "unknown model 'gpt-9'"),
        (["--timeout", "0"], "must be a positive number of seconds, got '0'"),
        (["--timeout", "nan"], "must be a positive number of seconds, got 'nan'"),
        (["--timeout", "soon"], "expected a number of seconds, got 'soon'"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    args: list[str], words: str, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["--config", str(fast_demo_config), "doctor", *args])
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert code == 2
    assert words in err and out == ""


def test_every_line_fits_80_columns(
    tmp_path: Path, server: WireServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    long_alias = "a-model-with-a-rather-long-alias"
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {long_alias: "vendor/a-long-model-id-v2"})
        + provider_toml("gone", "openai", f"http://127.0.0.1:{closed_port()}/v1", {"g": "g1"}),
    )
    server.script("vendor/a-long-model-id-v2", Scenario(failure="status", status=404))
    code, out, _ = doctor(capsys, config, "--provider", "lab", "--provider", "gone")
    assert code == 1
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "hint:" in out and "connection refused" in out


def test_no_key_is_ever_printed_or_logged(
    tmp_path: Path,
    isolated_home: Path,
    server: WireServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Servers that echo the request's credentials back, in the listing's error and in a model's:
    the keys are used, and appear nowhere Quorum writes."""
    monkeypatch.setenv("LAB_API_KEY", CANARY)
    monkeypatch.setenv("ANT_API_KEY", PLAIN_SECRET)
    # credentials in a base URL (from the environment: a config file may not hold them): the SDK
    # sends them as Basic auth (in place of the key)
    monkeypatch.setenv(
        "CRED_BASE_URL", server.openai_base_url.replace("http://", f"http://quorum:{URL_SECRET}@")
    )
    config = write(
        tmp_path / "c.toml",
        provider_toml("lab", "openai", server.openai_base_url, {"m": "m1"}, key_env="LAB_API_KEY")
        + provider_toml("ant", "anthropic", server.anthropic_base_url, {"a": "a1"}, key_env="ANT_API_KEY")
        + provider_toml("cred", "openai", server.openai_base_url, {"c": "c1"}, url_env="CRED_BASE_URL"),
    )
    # One echoes a key bare, where no pattern finds it (only knowing the value does), and in the
    # other provider's error too; the others echo the request's headers.
    server.listing = Listing(status=500, error_message=f"no key {PLAIN_SECRET} here", echo_credentials=True)
    server.default_scenario = Scenario(
        failure="status", status=400, error_message=f"bad {CANARY}", echo_credentials=True
    )
    for output in ([], ["--json"]):
        code, out, err = doctor(
            capsys, config, "--provider", "lab", "--provider", "ant", "--provider", "cred", *output
        )
        assert code == 1
        assert "request headers: " in out and "[redacted]" in out
        for secret in (CANARY, PLAIN_SECRET, URL_SECRET):
            assert secret not in out and secret not in err
    sent = [r.headers.get("authorization", "") + r.headers.get("x-api-key", "") for r in server.requests]
    assert any(CANARY in s for s in sent) and any(PLAIN_SECRET in s for s in sent)
    assert any(s.startswith("Basic ") for s in sent)
    logged = b"".join(p.read_bytes() for p in (isolated_home / "log").iterdir() if p.is_file())
    assert b"doctor: lab" in logged
    for secret in (CANARY, PLAIN_SECRET, URL_SECRET):
        assert secret.encode() not in logged


def test_a_closed_pipe_ends_quietly(fast_demo_config: Path, isolated_home: Path) -> None:
    """`quorum doctor | head -1`: the reader leaving is not a bug."""
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tui", "--config", str(fast_demo_config), "doctor", "--provider", "demo"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
