"""What a new user reads on the command line: status words that agree, plurals, usage lines and
tables that line up, and the docs' local-server example working as written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import held_run
from tests.conftest import FAST_DEMO, as_foreground_job, write
from tests.wire_server import Scenario, WireServer
from tui.cli.main import SUBCOMMANDS, build_parser, main
from tui.engine.types import CallResult, CallStatus, Phase, RoundStatus, RunStatus
from tui.render.words import call_summary, round_word

LOCAL_MODELS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "local-models.md"


def quorum(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_run_id(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = quorum(capsys, "history", "--json")
    assert code == 0
    runs: list[dict[str, Any]] = json.loads(out)
    return str(runs[0]["run_id"])


# --- words that agree -------------------------------------------------------------------------


def test_history_says_the_outcome_in_words_and_the_report_says_it_once(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny budget sends round 1 straight to the curator: `curator decision`, never `curator_override`."""
    code, out, _ = quorum(
        capsys, "--config", str(fast_demo_config), "run", "Shard?", "--budget", "100", "--json"
    )
    assert code == 0 and json.loads(out)["outcome"] == "curator_override"
    _, listed, _ = quorum(capsys, "history")
    assert "curator decision" in listed and "curator_override" not in listed
    _, report, _ = quorum(capsys, "show", last_run_id(capsys))
    assert "## Curator decision" in report and "Decision (curator decision)" not in report


def test_a_failed_runs_round_says_it_never_decided(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = quorum(
        capsys,
        "--config",
        str(fast_demo_config),
        "run",
        "q",
        "-m",
        "demo-flaky",
        "-m",
        "demo-flaky:for",
        "--json",
    )
    assert code == 1
    assert [r["status"] for r in json.loads(out)["rounds"]] == ["failed"]  # not left `in_progress`
    _, report, _ = quorum(capsys, "show", last_run_id(capsys))
    assert "→ not decided (run failed)" in report and "in progress" not in report


def test_a_run_stopped_with_ctrl_c_is_cancelled_in_history_and_in_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user stopped it: `cancelled` everywhere, said once; `interrupted` is a process that died."""
    fast = write(tmp_path / "fast.toml", FAST_DEMO)
    # demo-bolt answers; demo-cirrus's answer is held, so the run is in round 1 until the signal.
    proc = held_run.start(
        ["bolt"],
        *("--config", str(fast), "run", "Stop me", "-m", "demo-bolt", "-m", "demo-cirrus"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=as_foreground_job,  # a real Ctrl+C reaches it even when pytest runs in the background
    )
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 30
    while "demo-bolt (neutral, demo) done" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    printed, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    _, listed, _ = quorum(capsys, "history")
    assert re.search(r"\bcancelled\b", listed.splitlines()[0])
    _, shown, _ = quorum(capsys, "show", last_run_id(capsys))
    for report in (printed, shown):
        assert "**Status:** cancelled" in report and "Cancelled ·" in report
        assert "interrupted" not in report.lower()
        assert "cancelled: cancelled" not in report and "**cancelled:** cancelled" not in report
        assert "→ not decided (run cancelled)" in report  # round 1 was cut short, not "cancelled" bare


def _call(status: CallStatus, error: str | None) -> CallResult:
    return CallResult(
        call_id="c1",
        round=1,
        phase=Phase.POSITION,
        member_index=0,
        alias="alpha",
        model_id="alpha",
        provider="fake",
        stance=None,
        status=status,
        error=error,
    )


def test_call_and_round_words_are_said_once_and_follow_the_run() -> None:
    assert call_summary(_call(CallStatus.CANCELLED, "cancelled")) == "cancelled"
    assert (
        call_summary(_call(CallStatus.CANCELLED, "replaced by a rerun")) == "cancelled: replaced by a rerun"
    )
    assert call_summary(_call(CallStatus.ERROR, "HTTP 500")) == "failed: HTTP 500"
    # a call cut off when Quorum itself stopped (kill -9, a crash) reads like its run: interrupted
    died = _call(CallStatus.CANCELLED, "interrupted: Quorum stopped mid-call")
    assert call_summary(died, RunStatus.INTERRUPTED) == "interrupted: Quorum stopped mid-call"
    assert round_word(RoundStatus.IN_PROGRESS, None, RunStatus.INTERRUPTED) == "not decided (run interrupted)"
    assert round_word(RoundStatus.IN_PROGRESS, None, RunStatus.RUNNING) == "in progress"
    assert round_word(RoundStatus.FAILED, None) == "not decided (run failed)"  # as progress lines say it
    assert round_word(RoundStatus.CONTINUE, None, RunStatus.CANCELLED) == "no consensus yet, next round"


# --- history --limit ----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1", "two"])
def test_history_limit_below_one_is_a_usage_error(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["history", "--limit", limit])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--limit" in err and "(see `quorum history --help`)" in err


def test_history_limit_n_lists_n(fast_demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for question in ("first?", "second?"):
        assert main(["--config", str(fast_demo_config), "run", question, "-q", "--mode", "consult"]) == 0
    capsys.readouterr()
    _, listed, _ = quorum(capsys, "history", "--limit", "1")
    assert len(listed.splitlines()) == 1 and "second?" in listed


# --- quorum models ------------------------------------------------------------------------------


def test_models_columns_line_up_whatever_the_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "long.toml",
        "[providers.mylab]\nkind = 'openai'\nbase_url = 'http://127.0.0.1:9/v1'\n"
        "api_key_env = 'MY_VERY_LONG_LAB_PROVIDER_API_KEY'\n"
        "[models.qwen-big-instruct-long-alias]\nprovider = 'mylab'\n"
        "id = 'Qwen/Qwen3-72B-Instruct-AWQ-int4-long-name'\ncontext_window = 131072\nmax_output = 8192\n",
    )
    monkeypatch.setenv("MY_VERY_LONG_LAB_PROVIDER_API_KEY", "set-but-never-shown")
    code, out, _ = quorum(capsys, "--config", str(config), "models")
    assert code == 0
    header, rule, *rows = out.splitlines()
    assert set(rule) == {"-"}
    ends = {title: header.index(title) + len(title) for title in ("context", "$/M in", "$/M out")}
    starts = {title: header.index(title) for title in ("alias", "provider", "model id", "key")}
    assert rows and any("key set (MY_VERY_LONG_LAB_PROVIDER_API_KEY)" in row for row in rows)
    for row in rows:
        for title, end in ends.items():  # numbers end under their heading
            assert row[end - 1].isdigit() and row[end : end + 1] in (" ", ""), (title, row)
        for title, start in starts.items():  # words start under theirs
            assert row[start] != " " and row[start - 1 : start] in (" ", ""), (title, row)
    assert "set-but-never-shown" not in out


# --- usage -------------------------------------------------------------------------------------


def test_a_bad_stance_is_one_clear_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "q", "-m", "demo-atlas:maybe"]) == 2
    err = capsys.readouterr().err
    problem, hint = err.splitlines()
    assert "unknown stance 'maybe'" in problem and "use for, against or neutral" in problem
    assert hint == "(see `quorum run --help`)"


def test_the_top_level_usage_lists_every_sub_command(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    listed = next(a for a in parser._actions if a.dest == "command").choices
    assert listed is not None and set(listed) == set(SUBCOMMANDS)  # the dashboard's routing knows them all
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert f"{{{','.join(listed)}}}" in usage  # the usage line itself, in the order --help lists them
    with pytest.raises(SystemExit):
        main(["--no-such-flag"])  # a usage error shows the same usage line's hint, not a garbled one
    assert "(see `quorum --help`)" in capsys.readouterr().err


def test_every_sub_command_s_help_prints_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """No help shows argparse's escapes (`95%%`) or a format slot left unfilled."""
    listed = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert listed is not None
    for command in listed:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = capsys.readouterr().out
        assert "%%" not in shown and "%(" not in shown, command
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "accuracy with 95% intervals" in " ".join(capsys.readouterr().out.split())


# --- a local server with no key, as the docs show it -------------------------------------------


def docs_block(marker: str) -> str:
    text = LOCAL_MODELS_PAGE.read_text(encoding="utf-8")
    after = text.split(f"<!-- {marker} -->", 1)[1]
    match = re.search(r"```toml\n(.*?)```", after, re.S)
    assert match is not None
    return match.group(1)


def test_the_docs_local_server_example_runs_with_no_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = docs_block("local-server-config")
    assert "api_key_env" not in example
    with WireServer() as server:
        server.default_scenario = Scenario(text="Conclusion: yes.\nLean: favourable\nConfidence: 9/10")
        config = write(
            tmp_path / "local.toml",
            re.sub(r'base_url = "[^"]*"', f'base_url = "{server.openai_base_url}"', example),
        )
        _, models, _ = quorum(capsys, "--config", str(config), "models")
        assert re.search(r"^local\s.*no key needed$", models, re.M)
        code, out, err = quorum(
            capsys, "--config", str(config), "run", "Is 2+2 4?", "-m", "local", "--mode", "consult", "--json"
        )
        sent = list(server.requests)
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "success" and result["positions"][0]["status"] == "success"
    assert "consult · 1 member ·" in err and "the one answer leans favourable" in err
    assert sent and {r.body.get("model") for r in sent} == {"qwen2.5-7b-instruct"}
