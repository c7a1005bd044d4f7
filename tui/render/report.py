"""A run as a readable Markdown report: question, panel, positions, votes, outcome, synthesis, totals."""

from __future__ import annotations

from tui.engine.types import CallResult, CallStatus, Member, RunResult, RunStatus
from tui.render.formatting import OUTCOME_LABELS, completion_line, cost, literal, seconds, tokens


def _quote(text: str) -> str:
    """Model output as a blockquote: kept literal, and visibly not Quorum's own words."""
    lines = literal(text).rstrip().splitlines() or [""]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _cell(text: str) -> str:
    return literal(text).replace("|", "\\|").replace("\n", " ")


def _member_name(member: Member) -> str:
    return f"{member.alias} (demo)" if member.demo else member.alias


def _call_status(call: CallResult | None) -> str:
    if call is None:
        return "not run"
    if call.status is CallStatus.SUCCESS:
        return "done"
    return f"{call.status.value}: {call.error}" if call.error else call.status.value


def render_markdown(result: RunResult) -> str:
    out: list[str] = [
        f"# Quorum: {literal(result.question.strip().splitlines()[0]) if result.question.strip() else ''}",
        "",
    ]
    if "\n" in result.question.strip():
        out += [_quote(result.question), ""]
    outcome = (
        OUTCOME_LABELS[result.outcome]
        if result.outcome
        else ("consult" if result.mode.value == "consult" else "none")
    )
    status = {
        RunStatus.SUCCESS: "complete",
        RunStatus.ERROR: "failed",
        RunStatus.CANCELLED: "interrupted",
    }.get(result.status, result.status.value)
    out += [
        f"**Status:** {status} · **Mode:** {result.mode.value} · **Outcome:** {outcome} · "
        f"**Rounds:** {result.rounds_used}/{result.max_rounds}",
        "",
    ]
    if result.parent_run_id:
        out += [f"**Follows up on:** run {result.parent_run_id} (`quorum show {result.parent_run_id}`)", ""]
    if any(m.demo for m in result.members):
        out += ["_Demo members are simulated offline; their answers are not real model output._", ""]

    out += [
        "## Panel",
        "",
        "| # | Member | Provider | Stance | Status | Latency | Tokens in/out | Cost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for index, member in enumerate(result.members):
        call = result.positions[index] if index < len(result.positions) else None
        latency = seconds(call.latency_ms) if call else "–"
        toks = (
            tokens(call.input_tokens, call.tokens_estimated)
            + "/"
            + tokens(call.output_tokens, call.tokens_estimated)
            if call
            else "–"
        )
        out.append(
            f"| {index + 1} | {_cell(_member_name(member))} | {member.provider} | {member.stance.value} | "
            f"{_cell(_call_status(call))} | {latency} | {toks} | {cost(call.cost_usd) if call else '–'} |"
        )
    for skipped in result.skipped:
        out.append(
            f"| – | {_cell(skipped.alias)} | | {skipped.stance.value} | "
            f"skipped: {_cell(skipped.reason)} | | | |"
        )
    out.append("")

    if result.agreement is not None:
        out += [f"**Agreement:** {result.agreement.summary}", ""]

    out += ["## Positions", ""]
    for index, member in enumerate(result.members):
        call = result.positions[index] if index < len(result.positions) else None
        out.append(f"### {index + 1}. {_member_name(member)} · {member.stance.value}")
        out.append("")
        if call is None:
            out += ["_not run_", ""]
            continue
        if call.status is not CallStatus.SUCCESS:
            out += [f"**{call.status.value}:** {literal(call.error or 'no answer')}", ""]
        if call.content:
            out += [_quote(call.content), ""]

    if result.mode.value == "deliberate" and result.rounds:
        out += ["## Rounds", ""]
        for round_ in result.rounds:
            tally = round_.tally
            decided = OUTCOME_LABELS[round_.outcome] if round_.outcome else round_.status.replace("_", " ")
            out.append(
                f"### Round {round_.number}: {tally.accept} accept · {tally.reject} reject · "
                f"{tally.invalid} invalid · {tally.none} no vote → {decided}"
            )
            out.append("")
            if round_.note:
                out += [f"_{round_.note}_", ""]
            if round_.votes:
                out += ["| Member | Vote | Objections |", "|---|---|---|"]
                for vote in round_.votes:
                    detail = "; ".join(vote.objections) or (vote.reason or "")
                    out.append(f"| {_cell(vote.alias)} | {vote.value.value} | {_cell(detail)} |")
                out.append("")

    title = "Synthesis"
    if result.outcome is not None:
        title = f"Decision ({OUTCOME_LABELS[result.outcome]})"
    out += [f"## {title}", ""]
    if result.synthesis is not None:
        out += [f"_by {result.synthesizer}_", "", _quote(result.synthesis), ""]
    else:
        out += ["_No synthesis._", ""]

    if result.notes:
        out += ["## Notes", "", *(f"- {literal(note)}" for note in result.notes), ""]
    if result.errors:
        out += ["## Errors", "", *(f"- {literal(error)}" for error in result.errors), ""]
    label = {
        RunStatus.SUCCESS: "Complete",
        RunStatus.CANCELLED: "Interrupted",
        RunStatus.ERROR: "Failed",
    }.get(result.status, "Running")
    out += ["## Totals", "", completion_line(result.totals, label), ""]
    return "\n".join(out)
