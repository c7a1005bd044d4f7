"""How many votes a small local model casts validly: a real deliberation against a real server.

Configures an OpenAI-compatible server as a user would (a provider with only a `base_url`, no key,
one model), runs a 3-member panel (for, against, neutral on the same model, which also
synthesizes) in deliberate mode with 2 rounds, and prints the votes valid of those cast, by the
form each vote was asked in, with the fallbacks Quorum took and the run's wall time.

A round ends the run early when it is unanimous, so a run may cast only 3 votes: the benchmark
then runs the next question, until at least `--min-votes` (6) votes were cast (at most 8 runs),
and says so. All runs share one provider connection, as one `quorum` process does.

By default it expects `local-llm-server` (llama.cpp serving SmolLM2-135M-Instruct, offline) on
port 8765 and starts it when nothing answers there (`--no-start` to refuse). It answers one
request at a time at 15-40 s each on 2 cores: a run takes minutes, and the members get a long
deadline because each waits for the others' calls.

    python benchmarks/bench_local_votes.py [--base-url http://127.0.0.1:8765/v1] [--model smollm2]
        [--structured-output auto|json_schema|json_object|text] [--min-votes 6] [--json]

`--structured-output text` measures the text protocol alone, as Quorum asked before.

Target: at least 90 % of the votes cast are valid (with the text protocol alone it was 0 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.cli.progress import ProgressPrinter  # noqa: E402
from tui.config.catalog import Catalog  # noqa: E402
from tui.config.loading import load_settings  # noqa: E402
from tui.config.schema import parse_member  # noqa: E402
from tui.engine.orchestrator import run_panel  # noqa: E402
from tui.engine.types import Phase, RunRequest, RunResult, VoteValue  # noqa: E402
from tui.pool import ProviderPool  # noqa: E402

SERVER_SCRIPT = ROOT.parent / "shared" / "tools" / "local-llm-server"
QUESTIONS = [
    "Should we move our job queue from Redis to Postgres (SKIP LOCKED)?",
    "Should a five-person team split its monolith into microservices this year?",
    "Should we store user sessions in signed cookies instead of Redis?",
    "Should we adopt event sourcing for our billing service?",
    "Should our API move from REST to GraphQL?",
    "Should we run our own Kafka cluster instead of a managed queue?",
    "Should we rewrite our Python data pipeline in Rust?",
    "Should we require code review for every change, including one-line fixes?",
]
CONFIG = """\
[providers.local]
kind = "openai"
base_url = "{base_url}"

[models.{model}]
provider = "local"
id = "{model}"
context_window = {context_window}
max_output = {max_output}
deadline_s = {deadline}
structured_output = "{structured_output}"

[store]
enabled = false
"""


def reachable(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_server(base_url: str, log: Path) -> subprocess.Popen[bytes]:
    port = base_url.split(":")[-1].split("/")[0]
    print(f"starting {SERVER_SCRIPT} {port} (log: {log})", file=sys.stderr)
    process = subprocess.Popen(
        [str(SERVER_SCRIPT), port], stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 300  # the first start installs its venv
    while not reachable(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.terminate()
            raise SystemExit(f"local-llm-server did not come up; see {log}")
        time.sleep(1)
    return process


def vote_rows(result: RunResult) -> list[dict[str, Any]]:
    """Every vote of a run with the form it was asked in (after any fallback) and how it was read."""
    reviews = {(c.round, c.member_index): c for c in result.calls if c.phase is Phase.VOTE}
    rows = []
    for round_ in result.rounds:
        for vote in round_.votes:
            call = reviews.get((round_.number, vote.member_index))
            form = (call.vote_form.value if call and call.vote_form else "text") if call else "-"
            rows.append(
                {
                    "round": round_.number,
                    "alias": vote.alias,
                    "form": form,
                    "read_as": "structured" if call and call.raw_reply is not None else "text",
                    "value": vote.value.value,
                    "objections": len(vote.objections),
                    "reason": vote.reason,
                    "status": call.status.value if call else "-",
                    "reply": (call.raw_reply or call.content) if call else "",
                }
            )
    return rows


async def deliberate(settings: Any, model: str, question: str, rounds: int, pool: ProviderPool) -> RunResult:
    catalog = Catalog(settings)
    members = [catalog.member(parse_member(f"{model}:{stance}")) for stance in ("for", "against", "neutral")]
    request = RunRequest(question=question, members=members, synthesizers=members[:1], max_rounds=rounds)
    printer = ProgressPrinter(sys.stderr)
    printer.request = request
    return await run_panel(request, pool, printer)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    started_server = None
    if not reachable(args.base_url):
        if args.no_start or not SERVER_SCRIPT.exists():
            raise SystemExit(
                f"nothing answers at {args.base_url} (start local-llm-server, or pass --base-url)"
            )
        started_server = start_server(args.base_url, Path(tempfile.gettempdir()) / "bench-local-llm.log")
    home = tempfile.mkdtemp(prefix="bench-local-votes-")
    os.environ["QUORUM_HOME"] = home  # the user's own config and history stay out of it
    config = Path(home) / "local.toml"
    config.write_text(
        CONFIG.format(
            base_url=args.base_url,
            model=args.model,
            context_window=args.context_window,
            max_output=args.max_output,
            deadline=args.deadline,
            structured_output=args.structured_output,
        )
    )
    settings = load_settings(config)
    pool = ProviderPool(settings)  # one connection for every run, as in one `quorum` process
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    began = time.perf_counter()
    try:
        for question in QUESTIONS:
            run_began = time.perf_counter()
            result = await deliberate(settings, args.model, question, args.rounds, pool)
            these = vote_rows(result)
            rows += these
            notes += result.notes
            runs.append(
                {
                    "question": question,
                    "status": result.status.value,
                    "outcome": result.outcome.value if result.outcome else None,
                    "rounds_used": len(result.rounds),
                    "votes_cast": len(these),
                    "wall_s": round(time.perf_counter() - run_began, 1),
                }
            )
            if sum(r["value"] != VoteValue.NONE.value for r in rows) >= args.min_votes:
                break
    finally:
        await pool.aclose()
        if started_server is not None:
            started_server.terminate()
            started_server.wait(timeout=30)
    cast = [r for r in rows if r["value"] != VoteValue.NONE.value]
    valid = [r for r in cast if r["value"] in (VoteValue.ACCEPT.value, VoteValue.REJECT.value)]
    by_form: dict[str, dict[str, int]] = {}
    for row in cast:
        entry = by_form.setdefault(f"{row['form']} (read as {row['read_as']})", {"valid": 0, "cast": 0})
        entry["cast"] += 1
        entry["valid"] += row in valid
    return {
        "base_url": args.base_url,
        "model": args.model,
        "structured_output": args.structured_output,
        "runs": runs,
        "votes_asked": len(rows),
        "votes_cast": len(cast),
        "votes_valid": len(valid),
        "valid_share": round(len(valid) / len(cast), 3) if cast else None,
        "by_form": by_form,
        "invalid_reasons": dict(Counter(r["reason"] for r in cast if r not in valid)),
        "no_vote": [r["reason"] for r in rows if r["value"] == VoteValue.NONE.value],
        "notes": notes,
        "wall_s": round(time.perf_counter() - began, 1),
        "votes": rows,
    }


def report(summary: dict[str, Any]) -> str:
    setting = summary["structured_output"]
    lines = [f"server {summary['base_url']}  model {summary['model']}  structured_output {setting}"]
    for run in summary["runs"]:
        lines.append(
            f"  run: {run['status']}, {run['outcome'] or 'no outcome'} after {run['rounds_used']} round(s), "
            f"{run['votes_cast']} votes, {run['wall_s']} s  ({run['question']})"
        )
    if len(summary["runs"]) > 1:
        lines.append("  (a run that ended early on agreement cast fewer votes; the next question was run)")
    share = summary["valid_share"]
    lines.append(
        f"votes valid / cast: {summary['votes_valid']} / {summary['votes_cast']}"
        + (f" = {share:.0%}" if share is not None else "")
        + f"   (asked {summary['votes_asked']}; no vote: {len(summary['no_vote'])})"
    )
    for form, entry in summary["by_form"].items():
        lines.append(f"  {form}: {entry['valid']} / {entry['cast']}")
    for reason, count in summary["invalid_reasons"].items():
        lines.append(f"  invalid: {reason} ×{count}")
    for reason in summary["no_vote"]:
        lines.append(f"  no vote: {reason}")
    for note in summary["notes"]:
        lines.append(f"  note: {note}")
    lines.append(f"wall time: {summary['wall_s']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument(
        "--structured-output", default="auto", choices=["auto", "json_schema", "json_object", "text"]
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--min-votes", type=int, default=6)
    parser.add_argument("--context-window", type=int, default=8192)
    parser.add_argument("--max-output", type=int, default=512)
    parser.add_argument("--deadline", type=float, default=1200.0, help="seconds per call, queueing included")
    parser.add_argument("--no-start", action="store_true", help="do not start local-llm-server")
    parser.add_argument("--json", action="store_true", help="print the summary (and every vote) as JSON")
    arguments = parser.parse_args()
    summary = asyncio.run(main(arguments))
    print(json.dumps(summary, indent=2) if arguments.json else report(summary))
