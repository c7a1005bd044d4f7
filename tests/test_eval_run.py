"""`quorum eval` end to end on the offline demo panel: the report, the per-item log, resuming after
an interruption, the cost estimate and its refusal, the progress (never on stdout), eval runs in the
history, and the statistics checked exactly against what the demo members answer."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import as_foreground_job, write
from tests.wire_server import Scenario, WireServer
from tui.ask import Ask
from tui.cli.eval import eval_command
from tui.cli.eval_options import EvalOptions
from tui.cli.eval_progress import EvalProgress, bar
from tui.cli.main import main
from tui.config.loading import load_settings
from tui.engine.answers import TieRule, plurality
from tui.engine.council import agrees_with, position_bias, score_text
from tui.engine.council import ballots_ranking as council_ranking_of
from tui.engine.types import AnswerKind, AnswerSpec, Member, Mode, Origin, RunRequest
from tui.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from tui.eval.datasets import Dataset, Sample, arithmetic, select
from tui.eval.estimate import rehearse
from tui.eval.log import ItemRecord
from tui.eval.modes import ordered_modes
from tui.eval.runner import EvalRunner, Stop
from tui.eval.scoring import question_for
from tui.eval.stats import mcnemar_exact, paired_bootstrap, wilson
from tui.providers import demo_arithmetic as demo
from tui.session import Session, open_store

PANEL = ["-m", "demo-atlas", "-m", "demo-bolt", "-m", "demo-cirrus"]
PERSONAS = ("atlas", "bolt", "cirrus")
PANEL_MODES = [mode.value for mode in ordered_modes()]
"""Every mode the engine has, vote first: each is measured, with no list of them here."""


@pytest.fixture
def instant(tmp_path: Path) -> Path:
    """A --config file whose demo members answer at once."""
    return write(tmp_path / "instant.toml", "[demo]\nspeed = 1000000.0\n")


def quorum_eval(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "eval", *args])
    out, err = capsys.readouterr()
    return code, out, err


def summary_line(out: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.splitlines()[-1])
    return data


def log_lines(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    header, *records = (json.loads(line) for line in path.read_text().splitlines())
    return header, records


# --------------------------------------------------------------------------------------------
# What it prints


def test_arithmetic_on_the_demo_panel_prints_the_tables_the_verdict_and_the_chart(
    instant: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = quorum_eval(
        instant, capsys, "arithmetic", "--limit", "50", "--log", str(tmp_path / "a.jsonl")
    )
    assert code == EXIT_OK, err
    assert out.startswith(
        "arithmetic · numeric scorer · 50 items (seed 0) · the best single member chosen\non 20"
    )
    for row in ("single demo-atlas", "single demo-bolt", "single demo-cirrus", *PANEL_MODES):
        assert f"\n{row} " in out  # every mode the engine has, each member alone
    assert "McNemar p" in out and "oracle" in out and "unanimous wrong" in out
    for mode in PANEL_MODES:  # the verdict, one sentence a mode, and the mode in the chart's key
        assert f"\n{mode}: " in out and re.search(rf"   [A-Z] {mode}\b", out)
    assert "accuracy against tokens per item" in out and "tokens per item (log scale)" in out
    # Before anything is asked: what is measured, the estimate, and where the log is.
    assert err.startswith("quorum eval arithmetic: 50 items + 20 development (seed 0) · numeric scorer")
    runs = 20 + 50 * len(PANEL_MODES)
    assert f"estimate: {runs} runs, at most " in err and "log: " + str(tmp_path / "a.jsonl") in err


def test_the_progress_goes_to_stderr_and_the_json_summary_is_the_only_line_of_stdout(
    instant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = quorum_eval(instant, capsys, "arithmetic", "--limit", "6", "--dev", "3", "--json")
    assert code == EXIT_OK
    assert len(out.splitlines()) == 1
    data = summary_line(out)
    assert (data["items"], data["dev_items"], data["complete"], data["stopped"]) == (6, 3, True, None)
    assert [m["mode"] for m in data["modes"]] == PANEL_MODES
    assert f"eval 6/6 items · dev 3/3 · {' · '.join(f'{m} 6/6' for m in PANEL_MODES)} · $0" in err
    assert "eval " not in out and "estimate" not in out


def test_the_progress_rewrites_one_line_on_a_terminal_and_writes_plain_lines_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the whole line
    now = [0.0]
    terminal = io.StringIO()
    progress = EvalProgress(terminal, {"vote": 2, "consult": 2}, 2, clock=lambda: now[0], tty=True)
    progress.start({}, 0)
    now[0] = 0.05
    progress.finished("vote", 0, 0.0)  # within a tenth of a second of the last: not shown yet
    now[0] = 1.0
    progress.finished("consult", 1, 0.25)
    progress.end()
    shown = terminal.getvalue()
    assert shown.count("\r") == 3 and shown.endswith("\n") and shown.count("\n") == 1
    assert "eval 1/2 items · vote 1/2 · consult 1/2 · $0.25 · 1s · about 1s left" in shown
    half = "▕" + "█" * 10 + "░" * 10 + "▏  50% "  # two of the four runs done
    assert shown.rsplit("\r", 1)[-1].startswith(half + "eval 1/2 items")

    plain = io.StringIO()
    progress = EvalProgress(plain, {"vote": 3}, 3, clock=lambda: now[0], tty=False)
    progress.start({"vote": 1}, 1)
    now[0] += 5
    progress.finished("vote", 2, 0.0)  # ten seconds apart at most once
    now[0] += 6
    progress.finished("vote", 3, 0.0)
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue()
    assert [line.split(" · ")[0] for line in lines] == ["eval 1/3 items", "eval 3/3 items"]
    assert "█" not in plain.getvalue()  # a log or a pipe gets the counts, not a drawing


def test_the_progress_bar_fills_with_the_runs_done_and_never_overflows() -> None:
    assert bar(0.0) == "▕" + "░" * 20 + "▏   0%"
    assert bar(0.275) == "▕" + "█" * 5 + "▌" + "░" * 14 + "▏  28%"  # 5.5 cells
    assert bar(1.0) == "▕" + "█" * 20 + "▏ 100%"
    assert bar(1.7) == bar(1.0) and bar(-1.0) == bar(0.0)


# --------------------------------------------------------------------------------------------
# Datasets


EXPRESSIONS = [
    "22+15*7+15-5*17",  # 57: atlas says 4573, which includes it
    "9+23*18+17-20*20",  # 40: atlas says 840
    "0+19*10+25-15*14",  # 5: bolt 20, cirrus -375
    "29+20*11+25-20*2",
    "0+25*23+20-3*16",
    "7+2*18+9-16*15",  # -188: everyone wrong, each differently
    "28+10*23+14-9*19",
    "2+3*16+13-5*24",
    "12+3*4+5-6*2",
    "7+8*9+1-2*3",
]


def _right_alone(scorer: str, answer: int, value: int) -> bool | None:
    """Whether a demo member's `answer` is right under `scorer`; None when it cannot be read."""
    if scorer == "includes":
        return str(value) in str(answer)
    if scorer.startswith("regex"):
        return None if answer < 0 else answer == value  # the pattern reads no minus sign
    return answer == value


@pytest.mark.parametrize(
    ("scorer", "target"),
    [
        ("numeric", lambda value: f"${value:,}"),  # commas and a dollar sign, read as the number
        ("exact", str),
        ("includes", str),
        ("regex=^(\\d+)$", str),
    ],
)
def test_a_jsonl_set_never_seen_before_is_scored_with_each_scorer(
    instant: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    scorer: str,
    target: Callable[[int], str],
) -> None:
    lines = [
        json.dumps(
            {
                "id": f"sum-{n}",
                "input": f"What is the result of {e}?",
                "target": target(demo.evaluate(e)),
                "metadata": {"source": "by hand"},
            }
        )
        for n, e in enumerate(EXPRESSIONS)
    ]
    dataset = write(tmp_path / "sums.jsonl", "\n".join(lines) + "\n")
    args = [str(dataset), "--scorer", scorer, "--modes", "single,vote", "--dev", "0", *PANEL, "--json"]
    code, out, err = quorum_eval(instant, capsys, *args)
    assert code == EXIT_OK, err
    data = summary_line(out)
    judged = {
        name: [_right_alone(scorer, demo.answer(name, e), demo.evaluate(e)) for e in EXPRESSIONS]
        for name in PERSONAS
    }
    singles = {s["member"]: (s["correct"], s["parse_failures"]) for s in data["singles"]}
    assert singles == {
        f"demo-{name}": (sum(j is True for j in js), sum(j is None for j in js))
        for name, js in judged.items()
    }
    assert data["scorer"] == scorer and data["items"] == len(EXPRESSIONS)
    if scorer.startswith("regex"):
        assert any(failures for _, failures in singles.values())  # a parse failure is counted, never guessed


def test_a_multiple_choice_set_is_asked_its_lettered_choices_and_scored_by_letter(
    instant: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = [
        json.dumps({"input": f"Which is {n}?", "choices": [str(n - 1), str(n), str(n + 1)], "target": "B"})
        for n in range(10)
    ]
    dataset = write(tmp_path / "choices.jsonl", "\n".join(lines) + "\n")
    log = tmp_path / "choices.log.jsonl"
    code, out, err = quorum_eval(
        instant, capsys, str(dataset), "--modes", "single,vote", *PANEL, "--log", str(log), "--json"
    )
    assert code == EXIT_OK, err
    data = summary_line(out)
    assert data["scorer"] == "choice"  # every item has choices
    _, records = log_lines(log)
    seats = [seat for record in records if record["slice"] == "scored" for seat in record["seats"]]
    assert all(seat["key"] in ("A", "B", "C") and seat["correct"] == (seat["key"] == "B") for seat in seats)
    right = {f"demo-{name}": 0 for name in PERSONAS}
    for seat in seats:
        right[seat["member"]] += seat["correct"]
    assert {s["member"]: s["correct"] for s in data["singles"]} == right


def test_gsm8k_s_own_format_and_the_shipped_set_are_read_as_they_are(
    instant: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = [
        json.dumps(
            {"question": f"Sam has {n} apples and buys 2 more. How many?", "answer": f"{n}+2\n#### {n + 2}"}
        )
        for n in range(5, 10)
    ]
    dataset = write(tmp_path / "mine.jsonl", "\n".join(lines) + "\n")
    log = tmp_path / "mine.log.jsonl"
    code, out, err = quorum_eval(
        instant, capsys, str(dataset), "--modes", "vote", "--log", str(log), "--json"
    )
    assert code == EXIT_OK, err
    assert summary_line(out)["scorer"] == "numeric" and summary_line(out)["items"] == 5
    header, records = log_lines(log)
    assert sorted(header["scored"]) == ["1", "2", "3", "4", "5"]  # numbered by line, as inspect does
    targets = {str(n - 4): str(n + 2) for n in range(5, 10)}  # the number after `#### `
    for record in records:
        assert all(seat["key"] is not None for seat in record["seats"])  # each demo answer, a number
        assert record["correct"] == (record["key"] == targets[record["item"]])

    code, out, err = quorum_eval(instant, capsys, "gsm8k", "--limit", "2", "--modes", "vote", "--json")
    assert code == EXIT_OK, err
    assert (summary_line(out)["dataset"], summary_line(out)["items"]) == ("gsm8k", 2)


# --------------------------------------------------------------------------------------------
# The log, and resuming


def options(tmp_path: Path, **given: Any) -> EvalOptions:
    defaults: dict[str, Any] = {
        "dataset": "arithmetic",
        "limit": 12,
        "dev": 4,
        "as_json": True,
        "concurrency": 3,
    }
    return EvalOptions(**{**defaults, **given})


def evaluate(
    config: Path,
    opts: EvalOptions,
    after: Callable[[ItemRecord, EvalRunner], None] | None = None,
) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = eval_command(
        load_settings(str(config)), opts, out, err, after_record=after, clock=lambda: 0.0
    )  # a frozen clock: every latency 0, so two evaluations can be compared whole
    return code, json.loads(out.getvalue().splitlines()[-1]) if out.getvalue() else {}


def test_resuming_after_an_interruption_loses_nothing_and_reports_what_an_uninterrupted_run_does(
    instant: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.jsonl"
    code, uninterrupted = evaluate(instant, options(tmp_path, log=str(whole)))
    assert code == EXIT_OK and uninterrupted["complete"]

    cut = tmp_path / "cut.jsonl"
    seen: list[str] = []

    def interrupt_after_seven(record: ItemRecord, runner: EvalRunner) -> None:
        seen.append(record.run_id)
        if len(seen) == 7:
            runner.interrupt()

    code, partial = evaluate(instant, options(tmp_path, log=str(cut)), interrupt_after_seven)
    assert code == EXIT_INTERRUPTED
    assert (partial["complete"], partial["stopped"]) == (False, "interrupted")
    _, before = log_lines(cut)
    assert [r["run_id"] for r in before][:7] == seen[:7] and len(before) < 4 + 12 * len(PANEL_MODES)

    code, resumed = evaluate(instant, options(tmp_path, resume=str(cut)))
    assert code == EXIT_OK
    _, after = log_lines(cut)
    assert after[: len(before)] == before  # every run finished before is kept, as it was
    assert len(after) == len(log_lines(whole)[1]) == 4 + 12 * len(PANEL_MODES)  # and each is made once
    assert {**resumed, "log": ""} == {**uninterrupted, "log": ""}


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_or_sigterm_keeps_every_finished_run_and_resume_runs_the_rest(
    tmp_path: Path, instant: Path, capsys: pytest.CaptureFixture[str], stop_signal: signal.Signals
) -> None:
    """A real process and a real SIGINT (or the SIGTERM of `timeout` or `kill`) once a few runs are
    logged, others under way: exit 130, a partial report, every line of the log whole; resumed,
    every run of every item is in the log exactly once, the runs finished before kept as they were."""
    slow = write(tmp_path / "slow.toml", "[demo]\nspeed = 5.0\n")
    log = tmp_path / "stopped.jsonl"
    args = ["eval", *CTRL_C_ARGS, "--log", str(log)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "--config", str(slow), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=as_foreground_job,  # a real Ctrl+C reaches it even when pytest runs in the background
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 6):
        time.sleep(0.05)  # waiting for the log to hold five runs: nothing to inject a clock into
    proc.send_signal(stop_signal)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert out.startswith("Partial: ") and f"--resume {log} runs the rest" in out
    assert f"quorum: interrupted; every finished run is kept in {log}" in err
    header, kept = log_lines(log)  # every line whole
    planned = {("dev", item, "vote") for item in header["dev"]} | {
        ("scored", item, mode) for item in header["scored"] for mode in ("vote", "consult")
    }
    assert 5 <= len(kept) < len(planned)

    code, out, err = quorum_eval(instant, capsys, *CTRL_C_ARGS, "--resume", str(log), "--json")
    assert code == EXIT_OK, err
    _, after = log_lines(log)
    assert after[: len(kept)] == kept
    runs = [(record["slice"], record["item"], record["mode"]) for record in after]
    assert sorted(runs) == sorted(planned)  # each run exactly once: none lost, none asked twice
    assert summary_line(out)["items"] == len(header["scored"]) == 12


CTRL_C_ARGS = ["arithmetic", "--limit", "12", "--dev", "3", "--modes", "single,vote,consult"]


def test_a_log_of_another_evaluation_is_refused_naming_what_differs(
    instant: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "first.jsonl"
    code, _ = evaluate(instant, options(tmp_path, log=str(log), limit=3, dev=1, modes="vote"))
    assert code == EXIT_OK
    logged = log.read_bytes()
    code, out, err = quorum_eval(
        instant,
        capsys,
        "arithmetic",
        "--limit",
        "5",
        "--dev",
        "1",
        "--modes",
        "vote,consult",
        "--resume",
        str(log),
    )
    assert code == EXIT_USAGE and out == ""
    assert err.splitlines() == [
        f"quorum: {log} is the log of another evaluation: --limit is 3 in the log, 5 now; "
        "the modes are vote in the log, vote,consult now"
    ]
    assert log.read_bytes() == logged
    code, _, err = quorum_eval(instant, capsys, "arithmetic", "--limit", "3", "--log", str(log))
    assert code == EXIT_USAGE and err.splitlines() == [
        f"quorum: {log} already exists: --resume {log} continues it, or --log names another file"
    ]
    assert log.read_bytes() == logged


def test_a_line_cut_short_by_a_kill_is_dropped_and_its_run_asked_again(instant: Path, tmp_path: Path) -> None:
    log = tmp_path / "killed.jsonl"
    code, whole = evaluate(instant, options(tmp_path, log=str(log), limit=3, dev=0, modes="vote"))
    text = log.read_text()
    log.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 1] + '{"item": "12", "sli')
    code, resumed = evaluate(instant, options(tmp_path, resume=str(log), limit=3, dev=0, modes="vote"))
    assert code == EXIT_OK and {**resumed, "log": ""} == {**whole, "log": ""}
    assert all(line.startswith("{") and line.endswith("}") for line in log.read_text().splitlines())


def test_the_log_holds_every_calls_text_the_answer_read_from_it_and_the_run_in_the_history(
    instant: Path, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    code, _ = evaluate(instant, options(tmp_path, log=str(log), limit=2, dev=1))
    assert code == EXIT_OK
    header, records = log_lines(log)
    assert header["quorum_eval"] == 1 and header["dataset"] == "arithmetic" and header["scorer"] == "numeric"
    assert (header["limit"], header["seed"], len(header["dev"]), len(header["scored"])) == (2, 0, 1, 2)
    assert [seat["model"] for seat in header["panel"]] == ["demo-atlas", "demo-bolt", "demo-cirrus"]
    assert [seat["stance"] for seat in header["panel"]] == ["neutral"] * 3  # Quorum's panel: no stances
    assert header["modes"] == ["single", *PANEL_MODES]
    assert sorted((r["slice"], r["mode"]) for r in records) == sorted(
        [("dev", "vote")] + [("scored", mode) for mode in PANEL_MODES] * 2
    )
    store = open_store(load_settings(str(instant)))
    assert store is not None
    try:
        for record in records:
            result = store.load(record["run_id"])
            assert result.origin is Origin.EVAL and result.mode.value == record["mode"]
            assert [line["text"] for line in record["call_lines"]] == [call.content for call in result.calls]
            assert record["cost_usd"] == result.totals.cost_usd and record["calls"] == len(result.calls)
        position = next(line for line in records[0]["call_lines"] if line["phase"] == "position")
        assert (
            position["text"].endswith(f"ANSWER: {position['answer']}\n")
            and position["key"] == position["answer"]
        )
        assert {"input_tokens", "output_tokens", "cost_usd", "latency_ms"} <= set(position)
        # Eval runs are recorded, and left out of the history's list.
        assert store.list_runs() == [] and len(store.list_runs(eval_runs=True)) == len(records)
    finally:
        store.close()


def test_a_council_s_log_line_holds_each_ballot_as_the_history_holds_it(
    instant: Path, tmp_path: Path
) -> None:
    log = tmp_path / "council.jsonl"
    code, _ = evaluate(instant, options(tmp_path, log=str(log), limit=2, dev=0, modes="council"))
    assert code == EXIT_OK
    _, records = log_lines(log)
    store = open_store(load_settings(str(instant)))
    assert store is not None
    try:
        for record in records:
            ballots = store.load(record["run_id"]).rounds[0].ballots
            assert len(record["ballots"]) == 3
            assert record["ballots"] == [
                {
                    "reviewer": b.member_index,
                    "model": b.alias,
                    "shown": b.shown,
                    "ranking": b.ranking,
                    "reason": b.reason,
                }
                for b in ballots
            ]
    finally:
        store.close()


def test_a_log_written_before_ballots_were_logged_still_resumes_and_says_it_holds_none(
    instant: Path, tmp_path: Path
) -> None:
    log = tmp_path / "older.jsonl"
    code, _ = evaluate(instant, options(tmp_path, log=str(log), limit=3, dev=0, modes="vote,council"))
    assert code == EXIT_OK
    header, *lines = log.read_text().splitlines()
    older = [{k: v for k, v in json.loads(line).items() if k != "ballots"} for line in lines[:-1]]
    log.write_text("\n".join([header, *(json.dumps(line) for line in older)]) + "\n")
    code, resumed = evaluate(
        instant, options(tmp_path, resume=str(log), limit=3, dev=0, modes="vote,council")
    )
    assert code == EXIT_OK and resumed["complete"]
    assert len(log_lines(log)[1]) == len(lines)  # only the line taken away is asked again
    council = resumed["council"]
    assert council["unrecorded"] == (2 if json.loads(lines[-1])["mode"] == "council" else 3)
    assert council["ballots"] == 3 * (3 - council["unrecorded"])


def test_council_s_ballots_are_reported_pooled_over_the_items_in_text_and_json(
    instant: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "c.jsonl"
    args = ("arithmetic", "--limit", "5", "--modes", "council", "--log", str(log))
    code, out, err = quorum_eval(instant, capsys, *args)
    assert code == EXIT_OK, err
    _, records = log_lines(log)
    runs = [ItemRecord.from_json(r).ballots or () for r in records if r["slice"] == "scored"]
    every = [b for ballots in runs for b in ballots]
    bias = position_bias(every)
    readable = sum(b.ranking is not None for b in every)
    agreeing = compared = 0
    for ballots in runs:
        ranking = council_ranking_of(ballots)
        assert ranking is not None
        if ranking.ballots > 1:  # a run's only readable ballot is its ranking: not compared
            agreeing += sum(agrees_with(b, ranking) for b in ballots)
            compared += ranking.ballots
    means = " · ".join(f"{'AB'[p.position]} {score_text(p.mean_rank)}" for p in bias)
    assert len(runs) == 5 and len(every) == 15
    assert f"position bias: {means}" in out and f"({bias[0].ballots} ballots" in out
    assert f"agreement with the ranking: {agreeing} of {compared} readable ballots" in out

    code, out, err = quorum_eval(instant, capsys, *args[:-2], "--json")
    council = summary_line(out)["council"]
    assert (council["runs"], council["ballots"], council["readable"]) == (5, 15, readable)
    assert (council["abstained"], council["agreeing"], council["unrecorded"]) == (15 - readable, agreeing, 0)
    assert council["agreement"] == round(agreeing / compared, 3)
    assert council["position_bias"] == [
        {"position": "AB"[p.position], "mean_rank": round(float(p.mean_rank), 3), "ballots": p.ballots}
        for p in bias
    ]


def test_without_council_the_report_has_no_ballots(instant: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = quorum_eval(instant, capsys, "arithmetic", "--limit", "2", "--dev", "0", "--modes", "vote")
    assert code == EXIT_OK and "position bias" not in out
    code, out, _ = quorum_eval(
        instant, capsys, "arithmetic", "--limit", "2", "--dev", "0", "--modes", "vote", "--json"
    )
    assert summary_line(out)["council"] is None


def test_an_eval_never_takes_an_answer_from_the_cache(instant: Path, tmp_path: Path) -> None:
    runs: list[list[dict[str, Any]]] = []
    for name in ("one", "two"):
        log = tmp_path / f"{name}.jsonl"
        code, _ = evaluate(instant, options(tmp_path, log=str(log), limit=3, dev=0, modes="vote"))
        assert code == EXIT_OK
        runs.append(log_lines(log)[1])
    first, second = ({r["run_id"] for r in records} for records in runs)
    assert not first & second
    assert all(r["calls"] == 3 for r in runs[1])  # the panel was asked again


# --------------------------------------------------------------------------------------------
# Cost


@pytest.fixture
def priced(tmp_path: Path) -> Path:
    """Demo members with a price, as a hosted model has one."""
    models = "".join(
        f'[models.paid-{name}]\nprovider = "demo"\nid = "{name}"\ncontext_window = 8000\nmax_output = 1000\n'
        "input_price = 2000.0\noutput_price = 8000.0\n\n"
        for name in PERSONAS
    )
    return write(tmp_path / "priced.toml", "[demo]\nspeed = 1000000.0\n\n" + models)


def test_an_estimate_above_max_cost_is_refused_without_yes_and_nothing_is_asked(
    priced: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "never.jsonl"
    args = ["arithmetic", "--limit", "5", "-m", "paid-atlas", "-m", "paid-bolt", "--log", str(log)]
    code, out, err = quorum_eval(priced, capsys, *args, "--max-cost", "1")
    assert code == EXIT_USAGE and out == "" and not log.exists()
    last = err.strip().splitlines()[-1]
    assert last.startswith("quorum: the estimate, about $") and last.endswith(
        "is above --max-cost $1.00: give --yes to start anyway (no new item starts once $1.00 is spent)"
    )
    store = open_store(load_settings(str(priced)))
    assert store is not None and store.count(eval_runs=True) == 0
    store.close()


def test_with_yes_new_runs_stop_once_max_cost_is_spent_and_the_finished_are_reported(
    priced: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "spent.jsonl"
    args = [
        "arithmetic",
        "--limit",
        "20",
        "--dev",
        "0",
        "--modes",
        "vote",
        "-m",
        "paid-atlas",
        "-m",
        "paid-bolt",
    ]
    code, out, err = quorum_eval(
        priced, capsys, *args, "--max-cost", "5", "--yes", "--concurrency", "1", "--log", str(log), "--json"
    )
    assert code == EXIT_FAILED
    data = summary_line(out)
    _, records = log_lines(log)
    spent_before_last = sum(r["cost_usd"] for r in records[:-1])
    assert spent_before_last < 5 <= spent_before_last + records[-1]["cost_usd"]  # stopped at the first over
    assert (data["items"], data["complete"], data["stopped"]) == (len(records), False, "max_cost")
    assert "reaching --max-cost $5.00: no new run was started" in err


def test_max_cost_0_runs_free_models_and_stops_paid_ones_after_the_first_run(
    instant: Path, priced: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["arithmetic", "--limit", "3", "--dev", "0", "--modes", "vote", "--max-cost", "0", "--json"]
    code, out, err = quorum_eval(instant, capsys, *args)  # the demo panel costs nothing
    assert code == EXIT_OK, err
    assert summary_line(out)["complete"] and "no new run was started" not in err

    paid = ["-m", "paid-atlas", "--concurrency", "1", "--yes"]
    code, out, err = quorum_eval(priced, capsys, *args, *paid)
    assert code == EXIT_FAILED and summary_line(out)["items"] == 1
    assert "reaching --max-cost $0: no new run was started" in err


# --------------------------------------------------------------------------------------------
# The statistics, end to end, against what the demo members answer


def test_the_figures_are_exactly_what_the_demo_members_answers_give(
    instant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limit, dev = 300, 30
    code, out, err = quorum_eval(
        instant,
        capsys,
        "arithmetic",
        "--limit",
        str(limit),
        "--dev",
        str(dev),
        "--modes",
        "single,vote",
        *PANEL,
        "--json",
    )
    assert code == EXIT_OK, err
    data = summary_line(out)
    chosen = select(Dataset("arithmetic", arithmetic()), limit=limit, dev=dev)

    def answers(sample: Sample) -> tuple[list[str], str]:
        expression = str(sample.metadata["expression"])
        return [str(demo.answer(name, expression)) for name in PERSONAS], str(demo.evaluate(expression))

    seats = [answers(sample) for sample in chosen.scored]
    right = [[given == value for given in keys] for keys, value in seats]
    vote = [plurality(keys, TieRule.FIRST_IN_PANEL_ORDER).key == value for keys, value in seats]
    dev_right = [sum(answers(s)[0][i] == answers(s)[1] for s in chosen.dev) for i in range(3)]
    best = max(range(3), key=lambda i: (dev_right[i], -i))

    assert [s["correct"] for s in data["singles"]] == [sum(r[i] for r in right) for i in range(3)]
    assert data["best_single"] == {
        "member": f"demo-{PERSONAS[best]}",
        "dev_correct": dev_right[best],
        "dev_items": dev,
    }
    (summary,) = data["modes"]
    assert summary["correct"] == sum(vote)
    assert summary["ci95"] == list(wilson(sum(vote), limit).__dict__.values())
    assert summary["oracle"] == sum(any(r) for r in right)
    assert summary["flips"] == {"right_to_wrong": 0, "wrong_to_right": 0}  # a vote is its first answers
    alone = [r[best] for r in right]
    (against_best,) = [c for c in data["comparisons"] if c["against"] == "best single"]
    only_vote = sum(v and not a for v, a in zip(vote, alone, strict=True))
    only_best = sum(a and not v for v, a in zip(vote, alone, strict=True))
    assert (against_best["only_mode"], against_best["only_baseline"]) == (only_vote, only_best)
    assert against_best["p_value"] == mcnemar_exact(only_vote, only_best)
    assert against_best["ci95"] == list(paired_bootstrap(vote, alone, seed=0).__dict__.values())


# --------------------------------------------------------------------------------------------
# Modes, and what is refused


def test_single_alone_is_measured_on_the_vote_runs_and_reports_only_the_members(
    instant: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "single.jsonl"
    code, out, err = quorum_eval(
        instant, capsys, "arithmetic", "--limit", "4", "--modes", "single", "--log", str(log)
    )
    assert code == EXIT_OK, err
    assert "\nsingle demo-atlas" in out and "\nvote " not in out
    _, records = log_lines(log)
    assert {r["mode"] for r in records} == {"vote"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--modes", "vote,debatable"], "--modes: unknown mode 'debatable': use one or more of single, vote"),
        (["--dev", "-1"], "--dev is 0 or more items, not -1"),
        (["--scorer", "fuzzy"], "unknown scorer 'fuzzy'"),
        (["--log", "a.jsonl", "--resume", "b.jsonl"], "--resume names the log to continue"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    instant: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = quorum_eval(instant, capsys, "arithmetic", "--limit", "2", *args)
    assert code == EXIT_USAGE and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"input": "What is 2+2?", "target": "4"}', '{"input": "What is'], " line 2: not JSON ("),
        (['{"input": "What is 2+2?", "target": "4"}', '{"input": "What is 3+3?"}'], ' line 2: no "target"'),
        ([], ": no items (the file holds no line of JSON)"),
        (["", "  "], ": no items (the file holds no line of JSON)"),
    ],
)
def test_a_dataset_that_cannot_be_read_is_one_line_and_exit_2_and_nothing_is_asked(
    instant: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], message: str
) -> None:
    dataset = write(tmp_path / "hostile.jsonl", "".join(line + "\n" for line in lines))
    code, out, err = quorum_eval(instant, capsys, str(dataset), "--log", str(tmp_path / "never.jsonl"))
    assert code == EXIT_USAGE and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"quorum: {dataset}{message}")
    assert not (tmp_path / "never.jsonl").exists()
    assert_nothing_asked(instant)


def assert_nothing_asked(config: Path) -> None:
    store = open_store(load_settings(str(config)))
    assert store is not None
    try:
        assert store.count(eval_runs=True) == 0
    finally:
        store.close()


@pytest.mark.parametrize("where", ["a-file/log.jsonl", "no-such-folder/log.jsonl", "read-only/log.jsonl"])
def test_a_log_that_cannot_be_written_is_one_line_and_exit_2_before_anything_is_asked(
    instant: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    write(tmp_path / "a-file", "not a folder\n")
    (tmp_path / "read-only").mkdir(mode=0o500)
    if where.startswith("read-only") and os.access(tmp_path / "read-only", os.W_OK):
        pytest.skip("run as root: a folder's permissions do not stop it writing")
    log = tmp_path / where
    code, out, err = quorum_eval(instant, capsys, "arithmetic", "--limit", "2", "--log", str(log))
    assert code == EXIT_USAGE and out == ""
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith(
        f"quorum: cannot write the log {log}: "
    )
    assert not (tmp_path / "no-such-folder").exists()  # a folder given by mistake is not made
    assert_nothing_asked(instant)


def test_limit_0_is_refused_before_anything_is_read(
    instant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        quorum_eval(instant, capsys, "arithmetic", "--limit", "0")
    out, err = capsys.readouterr()
    assert exited.value.code == EXIT_USAGE and out == ""
    assert err.splitlines()[0] == "quorum: argument --limit: must be 1 or more, got 0"
    assert_nothing_asked(instant)


def test_a_stance_given_on_the_command_line_is_kept(instant: Path, tmp_path: Path) -> None:
    log = tmp_path / "stances.jsonl"
    code, _ = evaluate(
        instant,
        options(
            tmp_path,
            log=str(log),
            limit=1,
            dev=0,
            modes="vote",
            members=_members("demo-atlas:for", "demo-bolt"),
        ),
    )
    assert code == EXIT_OK
    header, _ = log_lines(log)
    assert [(s["model"], s["stance"]) for s in header["panel"]] == [
        ("demo-atlas", "for"),
        ("demo-bolt", "neutral"),
    ]


def _members(*specs: str) -> list[Any]:
    from tui.config.schema import parse_member

    return [parse_member(spec) for spec in specs]


def test_a_member_that_fails_is_said_once_and_its_answers_count_as_wrong(
    instant: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "arithmetic",
        "--limit",
        "4",
        "--dev",
        "0",
        "--modes",
        "vote,consult",
        "-m",
        "demo-atlas",
        "-m",
        "gpt-sol",
    ]
    code, out, err = quorum_eval(instant, capsys, *args, "--json")
    assert code == EXIT_OK
    notes = [line for line in err.splitlines() if line.startswith("note: gpt-sol: no answer: OPENAI_API_KEY")]
    assert len(notes) == 1 and "counted as wrong, said once" in notes[0]
    data = summary_line(out)
    vote = next(mode for mode in data["modes"] if mode["mode"] == "vote")
    assert vote["oracle"] <= vote["items"] == 4  # atlas alone answered

    code, out, err = quorum_eval(
        instant, capsys, "arithmetic", "--limit", "2", "--dev", "0", "-m", "gpt-sol", "--json"
    )
    assert "note: a vote run failed: every member failed; gpt-sol: OPENAI_API_KEY is not set" in err
    assert all(mode["correct"] == 0 for mode in summary_line(out)["modes"])
    assert summary_line(out)["log"] != data["log"]  # a new log, though started within the same second


# --------------------------------------------------------------------------------------------
# The estimate


def priced_panel(**member: Any) -> RunRequest:
    """A numeric question to three priced members (with `member`'s fields), the first synthesizing."""
    members = [
        Member(alias=f"m{i}", model_id=f"m{i}", provider="p", input_price=1.0, output_price=4.0, **member)
        for i in range(3)
    ]
    return RunRequest(
        question="What is the result of 1+2*3+4-5*6?",
        members=members,
        synthesizers=members[:1],
        answer=AnswerSpec(kind=AnswerKind.NUMERIC),
    )


async def test_the_estimate_counts_the_most_calls_each_mode_makes() -> None:
    base = priced_panel()
    spent = {mode: await rehearse(base.model_copy(update={"mode": mode, "max_rounds": 3})) for mode in Mode}
    # vote: three answers; consult: and a synthesis; deliberate: and three rounds of a draft and
    # three reviews, then the curator (the stand-ins never agree).
    assert {mode: spent[mode].calls for mode in (Mode.VOTE, Mode.CONSULT, Mode.DELIBERATE)} == {
        Mode.VOTE: 3,
        Mode.CONSULT: 4,
        Mode.DELIBERATE: 16,
    }
    vote = spent[Mode.VOTE]
    assert vote.output_tokens == 3 * 600
    assert vote.cost_usd == pytest.approx((vote.input_tokens * 1.0 + vote.output_tokens * 4.0) / 1e6)


async def test_the_estimate_takes_no_answer_as_longer_than_its_member_may_write() -> None:
    request = priced_panel(max_output_tokens=128).model_copy(update={"max_rounds": 3})
    vote = await rehearse(request.model_copy(update={"mode": Mode.VOTE}))
    assert vote.output_tokens == 3 * 128
    deliberate = await rehearse(request.model_copy(update={"mode": Mode.DELIBERATE}))
    assert deliberate.output_tokens <= deliberate.calls * 128


# --------------------------------------------------------------------------------------------
# A provider on the wire


def test_an_openai_compatible_model_is_evaluated_through_its_sdk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps({"input": f"What is six times seven, asked the {n}th time?", "target": "42"})
        for n in range(4)
    ]
    dataset = write(tmp_path / "fortytwo.jsonl", "\n".join(lines) + "\n")
    with WireServer() as server:
        server.script("tiny", Scenario(text="Six sevens are forty-two.\nANSWER: 42"))
        config = write(
            tmp_path / "local.toml",
            f'[providers.local]\nkind = "openai"\nbase_url = "{server.openai_base_url}"\n\n'
            '[models.tiny]\nprovider = "local"\nid = "tiny"\ncontext_window = 8192\nmax_output = 512\n',
        )
        code, out, err = quorum_eval(
            config, capsys, str(dataset), "-m", "tiny", "--modes", "single,vote", "--json"
        )
        requests = len(server.requests)
    assert code == EXIT_OK, err
    data = summary_line(out)
    assert data["singles"][0]["member"] == "tiny" and data["singles"][0]["correct"] == data["items"] == 4
    assert requests == 4  # one call an item: dev 0 of a 4-item set (a fifth of it rounds down)


async def test_the_cost_spent_counts_the_calls_settled_in_runs_still_under_way(
    priced: Path, tmp_path: Path
) -> None:
    from tests.fakes import FakeProvider, Script, lookup
    from tui.eval.log import EvalHeader, EvalLog
    from tui.eval.plan import plan_work
    from tui.eval.scoring import NumericScorer

    settings = load_settings(str(priced))
    sample = arithmetic()[0]
    ask = Ask(
        members=tuple(_members("paid-atlas", "paid-bolt")),
        answer=question_for(sample, NumericScorer()).answer,
    )
    session = Session(settings, ask)
    provider = FakeProvider({"atlas": Script(position="ANSWER: 1"), "bolt": Script(hang=True)})
    header = EvalHeader("arithmetic", "", (), (sample.id,), 1, 0, "numeric", (), (), ("vote",), 3, 0)
    log = EvalLog.create(tmp_path / "spent.jsonl", header)
    runner = EvalRunner(settings, session, NumericScorer(), log, lookup(provider), concurrency=1)
    task = asyncio.ensure_future(runner.run(plan_work((), (sample,), NumericScorer(), ["vote"], set())))
    while not any(
        r.input_tokens for run in runner._running for r in run.result.calls if r.alias == "paid-atlas"
    ):
        await asyncio.sleep(0)
    atlas = (100 * 2000.0 + 50 * 8000.0) / 1e6  # the fake's usage, at paid-atlas's prices
    assert runner.spent == pytest.approx(atlas)
    runner.interrupt()
    assert await task is Stop.INTERRUPTED
    # Not logged, and paid for: the cancelled call too, its tokens estimated from what it was sent.
    assert log.records == [] and runner.spent > atlas
    log.close()
