"""A run as a readable Markdown report: question, what was asked, panel, positions, the answers read
in a declared answer shape, a debate's rounds, a council's ballots and ranking, votes, outcome,
synthesis, totals."""

from __future__ import annotations

from tui.engine.answers import AnswerReading, answering_round, round_answers, seat_readings
from tui.engine.council import TIE_RULE as COUNCIL_TIE_RULE
from tui.engine.council import agrees_with, council_ranking, position_bias, score_text
from tui.engine.debate import debate_rounds
from tui.engine.names import member_names, skipped_name
from tui.engine.quorum import standing
from tui.engine.types import (
    LETTERS,
    ROUNDS_MODES,
    AnswerSpec,
    Asked,
    CallResult,
    CallStatus,
    ImageRecord,
    Member,
    Mode,
    Outcome,
    RoundResult,
    RoundStatus,
    RunResult,
)
from tui.engine.vote_count import count_answers, final_answer
from tui.render.cache import cache_line
from tui.render.context import context_chip, context_entries
from tui.render.formatting import completion_line, cost, file_size, literal, seconds, tokens
from tui.render.words import (
    ABSTAINED,
    NOT_A_DECISION,
    ONE_PASS_MODES,
    OUTCOME_WORDS,
    UNREADABLE,
    VOTE_WORDS,
    answer_words,
    call_summary,
    counted,
    debate_round_words,
    invalid_votes_words,
    outcome_word,
    rests_on_words,
    round_word,
    run_word,
    synthesizer_role,
    tally_words,
    tokens_source_note,
)


def _quote(text: str) -> str:
    """Model output as a blockquote: kept literal, and visibly not Quorum's own words."""
    lines = literal(text).rstrip().splitlines() or [""]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _cell(text: str) -> str:
    return literal(text).replace("|", "\\|").replace("\n", " ")


def _member_name(member: Member) -> str:
    return f"{member.alias} (demo)" if member.demo else member.alias


def _position(result: RunResult, index: int) -> CallResult | None:
    return result.positions[index] if index < len(result.positions) else None


def render_markdown(result: RunResult) -> str:
    sections = [
        _header(result),
        _asked(result),
        _panel(result),
        _positions(result),
        _answers(result),
        _debate(result),
        _council(result),
        _rounds(result),
        _synthesis(result),
        _notes(result),
        ["## Totals", "", completion_line(result.totals, result.status), ""],
    ]
    return "\n".join(line for section in sections for line in section)


def _header(result: RunResult) -> list[str]:
    question = result.question.strip()
    out = [f"# Quorum: {literal(question.splitlines()[0]) if question else ''}", ""]
    if "\n" in question:
        out += [_quote(result.question), ""]
    out += [
        f"**Status:** {run_word(result.status)} · **Mode:** {result.mode.value} · "
        f"**Outcome:** {_outcome(result)} · "
        f"**Rounds:** {result.rounds_used}/{result.max_rounds}",
        "",
    ]
    if result.parent_run_id:
        out += [f"**Follows up on:** run {result.parent_run_id} (`quorum show {result.parent_run_id}`)", ""]
    served = cache_line(result.cache)
    if served is not None:
        fresh = " `quorum run --fresh` asks the panel again." if result.cache.hit else ""
        out += [f"**{served}.**{fresh}", ""]
    if any(m.demo for m in result.members):
        out += ["_Demo members are simulated offline; their answers are not real model output._", ""]
    return out


def _outcome(result: RunResult) -> str:
    """The outcome, and who it rests on once the run has one (or, in consult mode, a synthesis)."""
    said = outcome_word(result.outcome, result.mode)
    one_pass = result.mode in ONE_PASS_MODES  # no vote taken: it rests on who answered
    if result.outcome is None and (not one_pass or result.synthesis is None):
        return said
    return rests_on_words(said, standing(result), result.members)


def image_words(image: ImageRecord) -> str:
    """What an image is, as people read it: `PNG 1200×800`."""
    return f"{image.media_type.removeprefix('image/').upper()} {image.width}×{image.height}"


def asked_brief(asked: Asked) -> str:
    """What was asked beyond the question and the panel, in one line (`big.txt (11.5 KB) ·
    shot.png (PNG 1200×800, 245.3 KB) · focus: cost · up to 1 round · budget 60,000 tokens`);
    empty when nothing was."""
    parts = [f"{literal(f.path)} ({file_size(f.size)})" for f in asked.files]
    parts += [f"{literal(i.path)} ({image_words(i)}, {file_size(i.size)})" for i in asked.images]
    if asked.focus:
        parts.append("focus: " + "; ".join(literal(area) for area in asked.focus))
    if asked.context is not None:
        parts.append(f"context: {context_chip(asked.context)}")
    if asked.mode in ROUNDS_MODES:
        parts.append(f"up to {counted(asked.max_rounds, 'round')}")
    if asked.token_budget is not None:
        parts.append(f"budget {asked.token_budget:,} tokens")
    if asked.answer is not None:
        parts.append(f"answer shape {shape_words(asked.answer)}")
    return " · ".join(parts)


def shape_words(shape: AnswerSpec) -> str:
    """A declared answer shape as people read it: `numeric`, `choice of 4`, `regex=(\\d+)`."""
    return f"{shape.name} of {len(shape.choices)}" if shape.choices else shape.name


def _asked(result: RunResult) -> list[str]:
    """The short "Asked" section: the files and images sent (size, hash; an image's type and
    dimensions), focus areas, the asking team's context, mode, round limit, budget, synthesizer
    chain and custom stance prompts."""
    asked = result.asked
    if asked is None:
        return []
    out = ["## Asked", ""]
    for file in asked.files:
        out.append(f"- **File:** `{_cell(file.path)}` · {file_size(file.size)} · sha256 {file.sha256[:12]}")
    for image in asked.images:
        what = f"{image_words(image)} · {file_size(image.size)}"
        out.append(f"- **Image:** `{_cell(image.path)}` · {what} · sha256 {image.sha256[:12]}")
    if asked.focus:
        out.append("- **Focus:** " + "; ".join(_cell(area) for area in asked.focus))
    if asked.context is not None:
        out.append(f"- **Context** (the team asking; sha256 {asked.context.sha256[:12]}):")
        out += [f"  - {name}: {_cell(value)}" for name, value in context_entries(asked.context)]
    rounds = f"up to {asked.max_rounds}" if asked.mode in ROUNDS_MODES else "one pass"
    budget = f"{asked.token_budget:,} tokens" if asked.token_budget is not None else "none"
    out.append(f"- **Mode:** {asked.mode.value} · **Rounds:** {rounds} · **Budget:** {budget}")
    if asked.synthesizers:
        role = synthesizer_role(asked.mode).capitalize()
        out.append(f"- **{role}:** " + ", then ".join(_cell(alias) for alias in asked.synthesizers))
    if asked.answer is not None:
        out.append(f"- **Answer shape:** {_cell(shape_words(asked.answer))}")
    for member in result.members:
        if member.stance_prompt:
            out.append(
                f"- **Stance prompt** of {_cell(member.alias)} ({member.stance.value}): "
                f"{_cell(member.stance_prompt)}"
            )
    out.append("")
    return out


def _panel(result: RunResult) -> list[str]:
    out = [
        "## Panel",
        "",
        "| # | Member | Provider | Stance | Status | Latency | Tokens in/out | Cost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for index, member in enumerate(result.members):
        call = _position(result, index)
        latency = seconds(call.latency_ms) if call else "–"
        status = _cell(call_summary(call, result.status))
        toks = "–"
        if call:
            source = call.tokens_source
            toks = f"{tokens(call.input_tokens, source)}/{tokens(call.output_tokens, source)}"
            toks += tokens_source_note(source)
        out.append(
            f"| {index + 1} | {_cell(_member_name(member))} | {member.provider} | {member.stance.value} | "
            f"{status} | {latency} | {toks} | {cost(call.cost_usd) if call else '–'} |"
        )
    for index, skipped in enumerate(result.skipped):
        reason = _cell(skipped.reason)
        name = _cell(skipped_name(result.members, result.skipped, index))
        out.append(f"| – | {name} | | {skipped.stance.value} | skipped: {reason} | | | |")
    out.append("")
    if result.agreement is not None:
        out += [f"**Agreement:** {result.agreement.summary}", ""]
    return out


def _positions(result: RunResult) -> list[str]:
    out = ["## Positions", ""]
    for index, member in enumerate(result.members):
        call = _position(result, index)
        out += [f"### {index + 1}. {_member_name(member)} · {member.stance.value}", ""]
        if call is None:
            out += ["_not run_", ""]
            continue
        if call.status is not CallStatus.SUCCESS:
            word, _, why = call_summary(call, result.status).partition(": ")
            out += [f"**{word}:** {literal(why)}" if why else f"**{word}**", ""]
        if call.content:
            out += [_quote(call.content), ""]
    return out


def _answers(result: RunResult) -> list[str]:
    """A run asked in a declared answer shape: what each seat answered (or why it could not be
    read; in a debate, in its last round), and the run's final answer — a vote's or a debate's
    plurality, or what the synthesis (or a council's chairman) answered."""
    readings = seat_readings(result)
    if readings is None:
        return []
    number = answering_round(result)
    which = f" (round {number}, the debate's last)" if number > 1 else ""
    out = [f"## Answers{which}", "", "| Member | Answer | Read |", "|---|---|---|"]
    for member, reading in zip(result.members, readings, strict=True):
        if reading is not None and reading.key is not None:
            answer, read = _cell(reading.answer or ""), reading.rule
        else:
            answer, read = "–", _cell(answer_words(reading))
        out.append(f"| {_cell(_member_name(member))} | {answer} | {read} |")
    out.append("")
    final, count = final_answer(result), count_answers(result)
    if final is None:
        return out
    if final.key is None:
        return [*out, f"**Final answer:** {literal(answer_words(final))}", ""]
    if count is not None:
        tie = f", a tie broken {count.plurality.rule.value}" if count.plurality.tied else ""
        of_round = f" of round {number}" if result.mode is Mode.DEBATE else ""
        how = f"plurality{of_round}: {count.plurality.votes} of {counted(count.seats, 'seat')}{tie}"
    else:
        source = (
            f"the {synthesizer_role(result.mode)}'s answer"
            if result.mode is Mode.COUNCIL
            else "the synthesis"
        )
        how = f"read from {source}: {final.rule}"
    return [*out, f"**Final answer:** {literal(final.answer or '')} ({how})", ""]


def _debate(result: RunResult) -> list[str]:
    """A debate: each seat's answer in every round (its answer in the shape, or its leaning), how
    many agreed and who flipped, then every later round's answers with what each member was shown."""
    rounds = debate_rounds(result)
    if not rounds:
        return []
    numbers = [r.number for r in rounds]
    out = [
        "## Debate",
        "",
        "| Member | " + " | ".join(f"Round {n}" for n in numbers) + " |",
        "|---|" + "---|" * len(numbers),
    ]
    for index, member in enumerate(result.members):
        cells = [_said(r.readings[index]) for r in rounds]
        out.append(f"| {_cell(_member_name(member))} | " + " | ".join(cells) + " |")
    out.append("")
    out += [f"- Round {r.number}: {literal(debate_round_words(r, result.members))}" for r in rounds]
    out.append("")
    notes = [r.note for r in result.rounds if r.note]
    out += [*(f"_{literal(note)}_" for note in notes), *([""] if notes else [])]
    names = member_names(result.members)
    for recorded in result.rounds[1:]:
        out += [f"### Round {recorded.number} answers", ""]
        calls = round_answers(result, recorded.number)
        for shown in recorded.shown:
            agents = ", ".join(f"agent {i} {names[seat]}" for i, seat in enumerate(shown.seats, start=1))
            out += [f"#### {literal(names[shown.member_index])} · shown {literal(agents)}", ""]
            call = calls[shown.member_index]
            if call is not None and call.status is not CallStatus.SUCCESS:
                word, _, why = call_summary(call, result.status).partition(": ")
                out += [f"**{word}:** {literal(why)}" if why else f"**{word}**", ""]
            if call is not None and call.content:
                out += [_quote(call.content), ""]
    return out


def _said(reading: AnswerReading | None) -> str:
    """A seat's answer in a debate's round, in a cell."""
    if reading is None:
        return "–"
    return _cell(reading.answer) if reading.answer is not None else UNREADABLE


def _council(result: RunResult) -> list[str]:
    """A council: each ballot with the order it was shown, the Borda table with its ties, the
    position bias and how many ballots ranked as the panel did; or why no ballots were asked."""
    if result.mode is not Mode.COUNCIL or not result.rounds:
        return []
    round_ = result.rounds[0]
    ranking = council_ranking(result)
    note = [f"_{literal(round_.note)}_", ""] if round_.note else []
    if ranking is None:
        return ["## Ranking", "", *note] if note else []
    names = member_names(result.members)
    out = ["## Ballots", "", "| Reviewer | Shown | Ranking |", "|---|---|---|"]
    for ballot in round_.ballots:
        shown = ", ".join(f"{LETTERS[i]} {names[seat]}" for i, seat in enumerate(ballot.shown))
        ranked = (
            " > ".join(names[seat] for seat in ballot.ranking)
            if ballot.ranking is not None
            else f"{ABSTAINED}: {ballot.reason}"
        )
        out.append(f"| {_cell(names[ballot.member_index])} | {_cell(shown)} | {_cell(ranked)} |")
    out += ["", "## Ranking (Borda count)", ""]
    out += ["| Place | Member | Points | Ballots | Points a ballot | Firsts |", "|---|---|---|---|---|---|"]
    for place, ranked_ in enumerate(ranking.order, start=1):
        member = _cell(_member_name(result.members[ranked_.seat]))
        score = score_text(ranked_.score)
        out.append(
            f"| {place} | {member} | {ranked_.points} | {ranked_.ballots} | {score} | {ranked_.firsts} |"
        )
    out.append("")
    for group in ranking.ties:
        tied = " and ".join(names[seat] for seat in group)
        out += [f"**Tied:** {literal(tied)}, placed {COUNCIL_TIE_RULE.value}.", ""]
    bias = position_bias(round_.ballots)
    if bias:
        means = " · ".join(f"{LETTERS[p.position]} {score_text(p.mean_rank)}" for p in bias)
        out += [
            "**Position bias** (mean rank by the place an answer was shown in, 1 is best): "
            f"{means} ({counted(bias[0].ballots, 'ballot')})",
            "",
        ]
    agreeing = sum(agrees_with(ballot, ranking) for ballot in round_.ballots)
    out += [
        f"**Agreement with the ranking:** {agreeing} of {counted(ranking.ballots, 'readable ballot')}.",
        "",
    ]
    return out + note


def _rounds(result: RunResult) -> list[str]:
    if result.mode is not Mode.DELIBERATE or not result.rounds:
        return []
    out = ["## Rounds", ""]
    for round_ in result.rounds:
        out += _round(round_, result)
    return out


def _round(round_: RoundResult, result: RunResult) -> list[str]:
    names = member_names(result.members)
    decided = round_word(round_.status, round_.outcome, result.status)
    if round_.status in (RoundStatus.DECIDED, RoundStatus.CONTINUE):  # who its end rests on
        decided = rests_on_words(decided, standing(result, round_), result.members)
    out = [f"### Round {round_.number}: {tally_words(round_.tally)} → {decided}", ""]
    invalid = invalid_votes_words(round_.votes)
    if invalid:
        out += [f"**{invalid}**", ""]
    if round_.note:
        out += [f"_{literal(round_.note)}_", ""]
    if round_.votes:
        out += ["| Member | Vote | Objections |", "|---|---|---|"]
        for vote in round_.votes:
            detail = "; ".join(vote.objections) or (vote.reason or "")
            name = names[vote.member_index] if vote.member_index < len(names) else vote.alias
            out.append(f"| {_cell(name)} | {VOTE_WORDS[vote.value]} | {_cell(detail)} |")
        out.append("")
    return out


def _synthesis(result: RunResult) -> list[str]:
    title = "Synthesis"
    if result.outcome is Outcome.CURATOR_OVERRIDE:  # its word already says decision: say it once
        title = OUTCOME_WORDS[result.outcome].capitalize()
    elif result.outcome is Outcome.NO_QUORUM:  # the last draft: shown, and never taken for a decision
        title = f"Synthesis ({NOT_A_DECISION})"
    elif result.outcome is not None:
        title = f"Decision ({OUTCOME_WORDS[result.outcome]})"
    out = [f"## {title}", ""]
    if result.synthesis is not None:
        out += [f"_by {result.synthesizer}_", ""]
        if result.synthesis_incomplete:
            out += [f"**incomplete:** {literal(result.synthesis_incomplete)}; the text is kept as it is.", ""]
        out += [_quote(result.synthesis), ""]
    else:
        out += ["_No synthesis._", ""]
    return out


def _notes(result: RunResult) -> list[str]:
    out: list[str] = []
    if result.notes:
        out += ["## Notes", "", *(f"- {literal(note)}" for note in result.notes), ""]
    if result.errors:
        out += ["## Errors", "", *(f"- {literal(error)}" for error in result.errors), ""]
    return out
