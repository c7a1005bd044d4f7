"""The headless CLI end to end on the demo panel: output, exit codes, Ctrl-C, attachments, logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests import held_run
from tests.conftest import FAST_DEMO, as_foreground_job, write
from tui.cli.main import main
from tui.config import paths


def run_json(config: Path, capsys: pytest.CaptureFixture[str], args: str) -> tuple[int, Any]:
    """`quorum --config CONFIG run ARGS --json`, with its exit code and parsed output."""
    code = main(["--config", str(config), "run", *args.split(), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_run_json_is_the_data_contract(fast_demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(fast_demo_config), "run", "Should", "we", "shard?", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert data["question"] == "Should we shard?"
    assert data["status"] == "success" and data["mode"] == "deliberate"
    assert data["outcome"] in ("unanimous", "majority", "curator_override")
    assert [m["alias"] for m in data["members"]] == ["demo-atlas", "demo-bolt", "demo-cirrus"]
    assert all(m["demo"] for m in data["members"])
    call = data["positions"][0]
    for field in (
        "alias",
        "model_id",
        "provider",
        "stance",
        "round",
        "phase",
        "status",
        "content",
        "error",
        "ttft_ms",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    ):
        assert field in call
    assert data["rounds"][0]["votes"] and data["totals"]["wall_ms"] > 0
    # progress went to stderr, and says which member does what
    assert "demo-atlas (for, demo) waiting (position)" in err and "round 1/3" in err
    assert "no provider key is set" in err


def test_run_markdown_report(fast_demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--config",
            str(fast_demo_config),
            "run",
            "Use SQLite?",
            "--mode",
            "consult",
            "-m",
            "demo-atlas:pro",
            "-m",
            "demo-bolt:con",
            "--focus",
            "ops cost",
            "-q",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.startswith("# Quorum: Use SQLite?")
    assert "| 1 | demo-atlas (demo) | demo | for | done |" in out
    assert "**Agreement:**" in out and "## Synthesis" in out and "Complete ·" in out
    assert "simulated offline" in out


# --- the quorum: every outcome says who it rests on ----------------------------------------

FLAKY_PANEL = "-m demo-atlas:for -m demo-delta:for -m demo-flaky"


def test_a_failed_member_is_missing_from_the_outcome_and_in_the_errors(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repro: a panel of three where one member failed said UNANIMOUS, success, errors []."""
    code, data = run_json(fast_demo_config, capsys, f"Shard? {FLAKY_PANEL}")
    assert code == 0 and (data["status"], data["outcome"]) == ("success", "unanimous")
    assert (data["voters"], data["seats"], data["answered"]) == (2, 3, 2)
    [missing] = data["missing"]
    assert (missing["name"], missing["member_index"], missing["phase"], missing["vote"]) == (
        "demo-flaky",
        2,
        "position",
        None,
    )
    assert missing["reason"].startswith("rate limited by demo (HTTP 429, demo failure)")
    assert data["errors"] == [f"demo-flaky: position failed: {missing['reason']}"]
    deciding = data["rounds"][-1]
    assert (deciding["voters"], deciding["seats"], deciding["missing"]) == (2, 3, data["missing"])
    # the JSON read back is the run: what it derived for people is left out
    from tui.engine.types import RunResult

    assert RunResult.model_validate(data).outcome is not None


def test_the_report_and_the_progress_say_who_an_outcome_rests_on(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(fast_demo_config), "run", "Shard?", *FLAKY_PANEL.split()])
    out, err = capsys.readouterr()
    assert code == 0
    assert "**Outcome:** unanimous · 2 of 3 voted (demo-flaky failed)" in out
    assert "→ unanimous · 2 of 3 voted (demo-flaky failed)" in out  # the deciding round's heading
    assert "→ unanimous · 2 of 3 voted (demo-flaky failed)" in err  # its progress line
    assert "## Errors" in out and "- demo-flaky: position failed: rate limited" in out


def test_one_member_of_three_is_no_quorum_exit_3_with_the_synthesis_marked(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.errors import EXIT_NO_QUORUM

    panel = ["-m", "demo-atlas", "-m", "demo-flaky:for", "-m", "demo-flaky:against"]
    code = main(["--config", str(fast_demo_config), "run", "Shard?", *panel])
    out, err = capsys.readouterr()
    assert code == EXIT_NO_QUORUM == 3  # a script cannot take it for a decision
    missing = "(demo-flaky (for) failed, demo-flaky (against) failed)"
    assert f"**Outcome:** no quorum · 1 of 3 answered {missing}" in out
    assert "## Synthesis (no quorum: not a decision)" in out and "[demo synthesis]" in out
    assert f"→ no quorum · 1 of 3 answered {missing}" in err
    code, data = run_json(fast_demo_config, capsys, "Shard? " + " ".join(panel))
    assert code == 3 and (data["status"], data["outcome"]) == ("success", "no_quorum")
    assert data["synthesis"] and (data["voters"], data["answered"], data["seats"]) == (None, 1, 3)


def test_consult_says_whom_its_synthesis_rests_on(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(fast_demo_config, capsys, "Shard? --mode consult -m demo-atlas -m demo-flaky")
    assert code == 0 and data["outcome"] is None  # no vote, no outcome
    assert (data["voters"], data["answered"], data["seats"]) == (None, 1, 2)
    assert [m["name"] for m in data["missing"]] == ["demo-flaky"]
    code = main(["--config", str(fast_demo_config), "run", "Shard?", "--mode", "consult", "-m", "demo-atlas"])
    out, _ = capsys.readouterr()
    # a consult takes no vote: its outcome says so, and that the synthesis is the answer
    assert "**Outcome:** no vote: the synthesis is the answer · 1 of 1 answered" in out


def test_run_fails_with_exit_1_when_every_member_fails(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--config", str(fast_demo_config), "run", "q", "-m", "demo-flaky", "-m", "demo-flaky:for", "--json"]
    )
    out, _ = capsys.readouterr()
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "error"
    assert data["errors"][0] == "every member failed"
    assert len([e for e in data["errors"] if "rate limited" in e]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "q", "-m", "gpt-sool"], "unknown model 'gpt-sool'; closest: gpt-sol"),
        (["run", "q", "-m", "gpt-sol:sideways"], "unknown stance"),
        (["run", "q", "--mode", "parliament"], "invalid choice"),
        (["run", "q", "--file", "/nonexistent/spec.md"], "cannot attach /nonexistent/spec.md: no such file"),
        (["run", "   "], "the question is empty"),
        (["run"], "the following arguments are required: question"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) if argv[-1] in ("parliament", "run") else _no_raise():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err
    assert message in err


class _no_raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_argparse_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "q", "--mode", "parliament"])
    assert info.value.code == 2


def test_binary_attachment_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "image.png"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    assert main(["run", "q", "--file", str(blob)]) == 2
    assert "binary" in capsys.readouterr().err


def test_attachment_reaches_the_members_and_context_check_fails_small_models(
    tmp_path: Path, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write(tmp_path / "spec.md", "# Design\n" + "word " * 3000)
    code, data = run_json(
        fast_demo_config, capsys, f"Review --file {spec} -m demo-atlas -m demo-tiny --mode consult"
    )
    assert code == 0
    atlas, tiny = data["positions"]
    assert atlas["status"] == "success" and atlas["input_tokens"] > 3000
    assert tiny["status"] == "error" and tiny["error"].startswith("context too long")


def test_what_was_asked_is_in_the_json_the_report_and_the_history(
    tmp_path: Path, fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files (path, size, hash, the text sent), focus areas, mode, round limit, budget and the
    synthesizer chain: in `--json`, in the Markdown report and in `quorum show` from the history."""
    import hashlib

    spec = write(tmp_path / "big.txt", "The billing service appends events.\n" * 300)
    args = (
        f"Does the attached spec need event sourcing? --file {spec} --focus audit --focus cost "
        "-m demo-atlas:for -m demo-bolt:against --rounds 1 --budget 90000 --synthesizer demo-bolt"
    )
    code, data = run_json(fast_demo_config, capsys, args)
    assert code == 0 and data["max_rounds"] == 1
    asked = data["asked"]
    [file] = asked["files"]
    raw = spec.read_bytes()
    assert (file["path"], file["size"], file["sha256"]) == (
        str(spec),
        len(raw),
        hashlib.sha256(raw).hexdigest(),
    )
    assert file["content"] == spec.read_text() and file["full_path"] == str(spec.resolve())
    assert asked["focus"] == ["audit", "cost"]
    assert (asked["mode"], asked["max_rounds"], asked["token_budget"]) == ("deliberate", 1, 90000)
    assert asked["synthesizers"][0] == "demo-bolt"

    assert main(["--config", str(fast_demo_config), "run", *args.split(), "-q"]) == 0
    report = capsys.readouterr().out
    assert f"- **File:** `{spec}` · 10.8 KB · sha256 {file['sha256'][:12]}" in report
    assert "- **Focus:** audit; cost" in report
    assert "- **Mode:** deliberate · **Rounds:** up to 1 · **Budget:** 90,000 tokens" in report

    assert main(["show", data["run_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["asked"] == asked


def test_where_a_run_was_started_is_recorded(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`quorum run` records its runs as started from the CLI; the history lists a run a coding agent
    asked over MCP with an [mcp] mark, and `show --json` says where each came from."""
    from tui.config.loading import load_settings
    from tui.engine.types import Origin, RunStatus
    from tui.history.replay import replay_request
    from tui.session import open_store

    code, data = run_json(fast_demo_config, capsys, "Shard the users table? -m demo-atlas --rounds 1")
    assert code == 0 and data["origin"] == "cli"
    store = open_store(load_settings(str(fast_demo_config)))
    assert store is not None
    try:
        result = store.load(data["run_id"])
        request = replay_request(result).model_copy(update={"origin": Origin.MCP})
        agent_run = result.model_copy(update={"run_id": "agent000run1", "origin": Origin.MCP})
        store.insert_run(request, agent_run, config={}, parent_run_id=None)
        store.finish_run(agent_run.model_copy(update={"status": RunStatus.SUCCESS}))
    finally:
        store.close()
    assert main(["--config", str(fast_demo_config), "history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    agent_line = next(line for line in lines if line.startswith("agent000run1"))
    cli_line = next(line for line in lines if line.startswith(data["run_id"]))
    assert "[mcp] Shard the users table?" in agent_line and "[mcp]" not in cli_line
    assert main(["--config", str(fast_demo_config), "show", "agent000run1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["origin"] == "mcp"


def test_the_history_marks_each_run_that_was_not_a_deliberation_with_its_mode(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    modes = ("deliberate", "debate", "council", "vote", "consult")
    ids = {
        mode: run_json(fast_demo_config, capsys, f"Shard the {mode} table? --mode {mode}")[1]["run_id"]
        for mode in modes
    }
    assert main(["--config", str(fast_demo_config), "history"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "Shard the deliberate table?" in lines[ids["deliberate"]]
    assert "[deliberate]" not in lines[ids["deliberate"]]  # the default goes unmarked
    for mode in ("debate", "council", "vote", "consult"):
        assert f"[{mode}] Shard the {mode} table?" in lines[ids[mode]]
    assert main(["--config", str(fast_demo_config), "history", "--json"]) == 0
    listed = {run["run_id"]: run["mode"] for run in json.loads(capsys.readouterr().out)}
    assert {mode: listed[run_id] for mode, run_id in ids.items()} == {mode: mode for mode in ids}


def test_a_mode_this_version_does_not_know_is_listed_as_unknown_not_refused(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newer Quorum wrote a mode this one lacks: the history still lists it, marked."""
    import sqlite3

    from tui.config.loading import load_settings
    from tui.session import open_store

    _, data = run_json(fast_demo_config, capsys, "Shard? --mode vote")
    store = open_store(load_settings(str(fast_demo_config)))
    assert store is not None
    path = store.path
    store.close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE runs SET mode = 'tournament' WHERE id = ?", (data["run_id"],))
    assert main(["--config", str(fast_demo_config), "history"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(data["run_id"]))
    assert "[mode?] Shard?" in line
    assert main(["--config", str(fast_demo_config), "history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["mode"] is None


def test_a_member_without_its_key_is_refused_before_the_run_starts(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(fast_demo_config), "run", "q", "-m", "demo-atlas", "-m", "gpt-sol"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "quorum: gpt-sol: OPENAI_API_KEY is not set: export it with your openai key, or pick another "
        "model (`quorum models` shows which keys are set)"
    ]
    # nothing was started, so nothing was recorded
    assert main(["--config", str(fast_demo_config), "history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_synthesizer_asked_for_without_its_key_is_refused_too(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(fast_demo_config), "run", "q", "-m", "demo-atlas", "--synthesizer", "gpt-sol"]
    code = main(argv)
    assert code == 2 and "gpt-sol: OPENAI_API_KEY is not set" in capsys.readouterr().err


def test_history_and_show_name_a_run_by_the_same_field(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, ran = run_json(fast_demo_config, capsys, "Shard? --mode consult")
    assert code == 0
    assert main(["--config", str(fast_demo_config), "history", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert main(["--config", str(fast_demo_config), "show", listed["run_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert listed["run_id"] == shown["run_id"] == ran["run_id"] and "id" not in listed


def test_instance_limit_is_reported(fast_demo_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--config",
            str(fast_demo_config),
            "run",
            "q",
            "--json",
            "--mode",
            "consult",
            "-m",
            "demo-atlas:for",
            "-m",
            "demo-atlas:pro",
            "-m",
            "demo-atlas:support",
        ]
    )
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and len(data["members"]) == 2
    assert data["skipped"][0]["alias"] == "demo-atlas" and "at most 2" in data["skipped"][0]["reason"]
    assert "skipped demo-atlas (for)" in err


def test_debug_log_records_dispatch_completions_and_aggregation(
    fast_demo_config: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(fast_demo_config), "run", "What about caching?", "-q"]) == 0
    capsys.readouterr()
    log = (isolated_home / "log" / "quorum.log").read_text()
    assert "dispatch mode=deliberate models=[demo-atlas,demo-bolt,demo-cirrus]" in log
    assert "model=demo-bolt phase=position round=1 status=success latency=" in log
    assert "positions aggregation success=3 error=0" in log
    assert "What about caching?" not in log  # no prompt is ever logged


def test_python_dash_m_and_no_arguments_prints_help() -> None:
    done = subprocess.run([sys.executable, "-m", "tui", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "quorum" in done.stdout and "run" in done.stdout


def test_ctrl_c_keeps_and_prints_what_had_arrived(tmp_path: Path) -> None:
    """A real process, a real SIGINT in the middle of round 1: exit 130 and a partial report."""
    fast = write(tmp_path / "fast.toml", FAST_DEMO)
    # demo-bolt answers; demo-cirrus's answer is held, so the run is in round 1 until the signal.
    proc = held_run.start(
        ["bolt"],
        *("--config", str(fast), "run", "Interrupt me", "--json", "-m", "demo-bolt", "-m", "demo-cirrus"),
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
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    data = json.loads(out)
    assert data["status"] == "cancelled"
    bolt, cirrus = data["positions"]
    assert bolt["status"] == "success" and bolt["content"]
    assert cirrus is None or cirrus["status"] in ("cancelled", "success")
    assert "Cancelled ·" in err  # the user stopped it: cancelled (interrupted is a process that died)


def test_dashboard_needs_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a terminal (a pipe, CI) `quorum` says to use `quorum run` instead of drawing."""
    assert main(["Should we?"]) == 2
    assert "quorum run" in capsys.readouterr().err


def test_the_dashboard_started_with_a_member_without_its_key_is_refused_in_the_same_line(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`quorum "q" -m gpt-sol` would start a run that fails at once: refused before the dashboard
    opens, as `quorum run` refuses it; with no question the dashboard opens (the panel can change)."""
    import tui.cli.main as cli_main

    opened: list[object] = []
    monkeypatch.setenv(cli_main.BROWSER_DRIVER_ENV, "test")  # as if on a terminal

    def run_dashboard(app: object) -> int:
        opened.append(app)
        return 0

    monkeypatch.setattr(cli_main, "_run_dashboard", run_dashboard)
    assert main(["--config", str(fast_demo_config), "q", "-m", "gpt-sol"]) == 2
    assert not opened
    assert capsys.readouterr().err.splitlines() == [
        "quorum: gpt-sol: OPENAI_API_KEY is not set: export it with your openai key, or pick another "
        "model (`quorum models` shows which keys are set)"
    ]
    assert main(["--config", str(fast_demo_config), "-m", "gpt-sol"]) == 0 and len(opened) == 1


def test_dashboard_argument_routing() -> None:
    from tui.cli.main import wants_dashboard

    assert wants_dashboard([])
    assert wants_dashboard(["Should we shard?"])
    assert wants_dashboard(["--config", "x.toml", "-m", "gpt-sol:for", "q"])
    assert not wants_dashboard(["run", "q"])
    assert not wants_dashboard(["--config", "models", "models"])
    assert not wants_dashboard(["--help"])


@pytest.mark.parametrize(
    "bug",
    [
        ValueError("a programming mistake"),
        KeyError("missing"),
        # pydantic's ValidationError is a ValueError: a bug that raises one must not read as a
        # configuration problem.
        "validation",
    ],
)
def test_a_bug_is_reported_as_a_bug_not_as_a_user_error(
    fast_demo_config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    isolated_home: Path,
    bug: Any,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> int:
        if bug == "validation":
            from tui.engine.types import Member

            Member.model_validate({"alias": 1})
        raise bug

    monkeypatch.setattr("tui.cli.main.run_command", broken)
    code = main(["--config", str(fast_demo_config), "run", "anything"])
    err = capsys.readouterr().err
    assert code == 1
    assert "internal error (a bug in Quorum" in err and "configuration error" not in err
    log = isolated_home / "log" / "quorum.log"
    assert f"the traceback is in {log}" in err
    assert "Traceback" in log.read_text()


def test_user_errors_keep_their_exit_code_and_words(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["--config", str(fast_demo_config), "run", "q", "--file", str(tmp_path / "nope.md")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot attach" in err and "no such file" in err and "bug" not in err
    code = main(["--config", str(fast_demo_config), "show", "0000"])
    assert code == 2 and "no run with id '0000'" in capsys.readouterr().err


def test_a_headless_run_never_imports_textual(tmp_path: Path, isolated_home: Path) -> None:
    """`quorum run` must start fast and work without a terminal: Textual (and Rich) stay unloaded."""
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    script = (
        "import sys\n"
        "from tui.cli.main import main\n"
        f"code = main(['--config', {str(config)!r}, 'run', '-q', '--json', 'Is it fast?'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    command = [sys.executable, "-c", script]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "success"
    assert "LOADED []" in proc.stderr


def test_a_closed_pipe_ends_quietly(tmp_path: Path, isolated_home: Path) -> None:
    """`quorum history | head -1`, `quorum show ID --json | head`: the reader leaving is not a bug.
    Each command writes into a pipe whose read end is already closed; none prints a traceback or
    an "internal error", and a run whose progress pipe closed is still recorded as a success."""
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    quorum = [sys.executable, "-m", "tui", "--config", str(config)]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        # progress (stderr) and the report (stdout) both into the closed pipe
        ran = subprocess.run(
            [*quorum, "run", "Does the pipe hold?"], stdout=write_end, stderr=write_end, env=env, timeout=120
        )
        assert ran.returncode == 0
        listed = subprocess.run([*quorum, "history"], capture_output=True, text=True, env=env, timeout=60)
        run_id = listed.stdout.split()[0]
        assert "success" in listed.stdout or "unanimous" in listed.stdout, listed.stdout
        for args in (["history"], ["show", run_id, "--json"], ["show", run_id]):
            done = subprocess.run(
                [*quorum, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, timeout=60
            )
            assert done.returncode == 0, (args, done.stderr)
            assert done.stderr == "", (args, done.stderr)
    finally:
        os.close(write_end)


def _quorum_with(
    config: Path, env: dict[str, str], args: list[str], stdout: str, stderr: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """`quorum --config CONFIG ARGS` with its standard output on /dev/full (`full`), closed (`closed`,
    as `>&-` leaves it) or captured (`pipe`)."""
    quorum = [sys.executable, "-m", "tui", "--config", str(config), *args]
    if stdout == "closed":
        return subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", *quorum], stderr=stderr, text=True, env=env, timeout=120
        )
    if stdout == "full":
        with open("/dev/full", "w") as full:
            return subprocess.run(quorum, stdout=full, stderr=stderr, text=True, env=env, timeout=120)
    return subprocess.run(quorum, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, timeout=120)


needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")


@needs_dev_full
@pytest.mark.parametrize("where", ["full", "closed"])
def test_output_that_cannot_be_written_is_one_line_and_a_failure(
    tmp_path: Path, isolated_home: Path, where: str
) -> None:
    """A full disk (`>/dev/full`) or a closed standard output (`>&-`) is not a bug in Quorum and
    not a success either: every command says so in one line on stderr and exits 1."""
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    assert _quorum_with(config, env, ["run", "-q", "Is the disk full?"], "pipe").returncode == 0
    run_id = _quorum_with(config, env, ["history"], "pipe").stdout.split()[0]
    why = "no space left on device" if where == "full" else "it is closed"
    for args in (
        ["history"],
        ["show", run_id, "--json"],
        ["models"],
        ["config", "path"],
        ["doctor", "--provider", "demo"],
        ["--help"],
    ):
        done = _quorum_with(config, env, args, where)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stderr == f"quorum: cannot write to standard output: {why}\n", (args, done.stderr)


@needs_dev_full
@pytest.mark.parametrize("where", ["full", "closed"])
def test_a_run_whose_report_cannot_be_written_is_recorded_and_says_where(
    tmp_path: Path, isolated_home: Path, where: str
) -> None:
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    done = _quorum_with(config, env, ["run", "-q", "--json", "Where does the report go?"], where)
    listed = _quorum_with(config, env, ["history"], "pipe").stdout
    run_id = listed.split()[0]
    why = "no space left on device" if where == "full" else "it is closed"
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"quorum: cannot write the report to standard output: {why}; the run is recorded: "
        f"quorum show {run_id}\n"
    )
    shown = _quorum_with(config, env, ["show", run_id, "--json"], "pipe")
    assert json.loads(shown.stdout)["question"] == "Where does the report go?"


@needs_dev_full
@pytest.mark.parametrize("where", ["/dev/full", "closed"])
def test_progress_that_cannot_be_written_does_not_stop_the_run(
    tmp_path: Path, isolated_home: Path, where: str
) -> None:
    """Progress on stderr is a courtesy: a full disk or a closed stderr loses it, not the run."""
    config = write(tmp_path / "fast.toml", FAST_DEMO)
    env = {**os.environ, "QUORUM_HOME": str(isolated_home)}
    quorum = [sys.executable, "-m", "tui", "--config", str(config), "run", "--json", "Is stderr needed?"]
    if where == "closed":
        command = ["sh", "-c", 'exec "$@" 2>&-', "sh", *quorum]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, timeout=120)
    else:
        with open(where, "w") as full:
            done = subprocess.run(
                quorum, stdout=subprocess.PIPE, stderr=full, text=True, env=env, timeout=120
            )
    assert done.returncode == 0
    assert json.loads(done.stdout)["status"] == "success"


BAD_THEME = 'name = "bad"\nprimary = "#5fafff"\n[variables]\nfooter-key-foreground = "notacolour"\n'


@pytest.mark.parametrize(
    ("text", "theme_file", "key", "words"),
    [
        (
            "[panel]\nmembers = ['gpt-9']\n",
            None,
            "panel.members",
            "unknown model 'gpt-9' (did you mean 'gpt-sol'?); known: ",
        ),
        ("[run]\nsynthesizer_fallbacks = ['gpt-9']\n", None, "run.synthesizer_fallbacks", "unknown model"),
        ("[ui.keymap]\nrerun = 'f5'\n", None, "ui.keymap.rerun", "'f5' is already the key of export"),
        ("[ui.keymap]\nrerunn = 'f6'\n", None, "ui.keymap.rerunn", "unknown key id 'rerunn'"),
        ("[ui]\ntheme = 'quorum-darkk'\n", None, "ui.theme", "unknown theme 'quorum-darkk'"),
        ("[ui]\ntheme = 'quorum-dark'\n", BAD_THEME, "variables.footer-key-foreground", "is not a colour"),
    ],
)
def test_config_validate_names_file_and_key(
    capsys: pytest.CaptureFixture[str], text: str, theme_file: str | None, key: str, words: str
) -> None:
    from tui.config import paths

    user = write(paths.user_config_file(), text)
    where = user
    if theme_file:
        where = write(paths.user_config_dir() / "themes" / "bad.toml", theme_file)
    assert main(["config", "validate"]) == 2
    out, err = capsys.readouterr()
    assert "ok" not in out
    assert str(where) in err and key in err and words in err, err


def test_config_validate_accepts_textual_themes_and_user_themes(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.config import paths

    write(paths.user_config_dir() / "themes" / "sunset.toml", 'name = "sunset"\nprimary = "#ff8800"\n')
    for theme in ("sunset", "nord", "quorum-light"):
        write(paths.user_config_file(), f"[ui]\ntheme = '{theme}'\n[ui.keymap]\nrerun = 'f6'\n")
        assert main(["config", "validate"]) == 0, capsys.readouterr().err
        assert "ok:" in capsys.readouterr().out


def test_a_dashboard_that_crashes_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Textual ends an app that raised with a traceback but returns normally: `quorum` must not say 0."""
    from textual.app import App

    from tui.dashboard.app import QuorumApp

    def broken_compose(self: QuorumApp) -> Any:
        raise RuntimeError("a bug while drawing")

    def headless_run(self: QuorumApp, **kwargs: Any) -> Any:
        return App.run(self, headless=True, size=(100, 30))

    monkeypatch.setattr(QuorumApp, "compose", broken_compose)
    monkeypatch.setattr(QuorumApp, "run", headless_run)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert main([]) == 1
    assert "a bug while drawing" in capsys.readouterr().err


# --- secrets: a key never reaches stdout, stderr, the JSON, the history or the log ---------------

CANARY = "sk-canary-0123456789abcdef"
PLAIN_SECRET = "plainsecretvalue-42"  # shaped like no key: only knowing the value redacts it
URL_SECRET = "urlpassword-canary-77"


def test_secrets_echoed_by_a_provider_are_nowhere(
    tmp_path: Path,
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.wire_server import Scenario, WireServer

    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLAIN_SECRET)
    monkeypatch.setenv("LAB_API_KEY", "lab-key-0000000000")
    monkeypatch.setenv("LAB_BASE_URL", f"http://quorum:{URL_SECRET}@127.0.0.1:9/v1")
    config = write(
        tmp_path / "c.toml",
        "[providers.openai]\nkind = 'openai'\nmax_retries = 0\n"
        "[providers.anthropic]\nkind = 'anthropic'\nmax_retries = 0\n"
        # credentials in a base URL (from the environment: a config file may not hold them): this
        # one refuses connections, and the error names the URL
        "[providers.lab]\nkind = 'openai'\nbase_url_env = 'LAB_BASE_URL'\n"
        "api_key_env = 'LAB_API_KEY'\nmax_retries = 0\n"
        "[models.lab-m]\nprovider = 'lab'\nid = 'm'\ncontext_window = 100000\nmax_output = 1000\n",
    )
    with WireServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
        server.default_scenario = Scenario(
            failure="status", status=400, error_message="refused", echo_credentials=True
        )
        members = ["-m", "gpt-sol", "-m", "claude-sonnet", "-m", "lab-m"]
        code = main(["--config", str(config), "run", "Leak?", *members, "--json"])
        out, err = capsys.readouterr()
        sent = [r.headers.get("authorization", "") + r.headers.get("x-api-key", "") for r in server.requests]
    assert any(CANARY in s for s in sent) and any(PLAIN_SECRET in s for s in sent)  # the keys were used
    assert code == 1
    data = json.loads(out)
    errors = [c["error"] for c in data["calls"]]
    assert len(errors) >= 3 and all("[redacted]" in e for e in errors)
    assert "could not connect to lab at http://[redacted]@127.0.0.1:9/v1" in errors
    assert main(["show", data["run_id"], "--json"]) == 0
    assert main(["show", data["run_id"]]) == 0
    shown = capsys.readouterr().out
    assert "refused" in shown
    database = paths.history_file("")
    stored = b"".join(
        p.read_bytes()
        for p in [*database.parent.iterdir(), *(isolated_home / "log").iterdir()]
        if p.is_file()
    )
    assert b"refused" in stored
    for secret in (CANARY, PLAIN_SECRET, URL_SECRET):
        assert secret not in out and secret not in err and secret not in shown
        assert secret.encode() not in stored


def test_the_log_redacts_every_record(isolated_home: Path) -> None:
    import logging

    from tui.cli.logs import hide_secrets, setup_logging

    target = setup_logging()
    assert target is not None
    hide_secrets([PLAIN_SECRET])
    log = logging.getLogger("tui.engine.calls")
    try:
        raise RuntimeError(f"SDK said: Authorization: Bearer {CANARY}")
    except RuntimeError:
        log.exception("retry: key %s at %s", PLAIN_SECRET, f"http://user:{URL_SECRET}@host/v1")
    for handler in logging.getLogger("tui").handlers:
        handler.flush()
    text = target.read_text()
    assert "retry: key [redacted] at http://[redacted]@host/v1" in text and "RuntimeError" in text
    for secret in (CANARY, PLAIN_SECRET, URL_SECRET):
        assert secret not in text


def test_log_files_are_private(
    fast_demo_config: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(fast_demo_config), "run", "q", "-q"]) == 0
    folder = isolated_home / "log"
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(folder / "quorum.log").st_mode & 0o777 == 0o600
    assert os.stat(isolated_home / "data").st_mode & 0o777 == 0o700


def test_a_bug_that_quotes_a_key_does_not_show_it(
    fast_demo_config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    isolated_home: Path,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError(f"header was Authorization: Bearer {CANARY}")

    monkeypatch.setattr("tui.cli.main.run_command", broken)
    assert main(["--config", str(fast_demo_config), "run", "anything"]) == 1
    err = capsys.readouterr().err
    log = (isolated_home / "log" / "quorum.log").read_text()
    assert "internal error" in err and "Traceback" in log
    assert CANARY not in err and CANARY not in log


def test_the_shared_options_may_follow_the_sub_command(
    fast_demo_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`quorum run … --config F` reads F, as `quorum --config F run …` does (a habit from git, pip)."""
    before = main(["--config", str(fast_demo_config), "models", "--json"])
    listed_before = capsys.readouterr().out
    after = main(["models", "--json", "--config", str(fast_demo_config), "--no-project"])
    assert before == after == 0 and capsys.readouterr().out == listed_before
    # The file after the sub-command is the one read: a broken one is reported, at any depth.
    broken = write(fast_demo_config.parent / "broken.toml", "[run\n")
    assert main(["models", "--config", str(broken)]) == 2
    assert "broken.toml" in capsys.readouterr().err
    assert main(["config", "validate", "--config", str(fast_demo_config.parent / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err
    code, data = run_json(fast_demo_config, capsys, "Shard?")  # (the top level's still counts)
    assert code == 0 and data["question"] == "Shard?"
