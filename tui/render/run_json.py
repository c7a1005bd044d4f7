"""A run as JSON for people and their scripts: the data contract, each member named as the screen
names it.

`quorum run --json`, `quorum show --json` and an export print the run's data contract; where a panel
seats one model more than once, an alias does not say which seat a vote or a call was. So each
member, each vote, each council ballot, what each debate member was shown, and each member's call
(positions and calls) carries `name` (`gw-smol (for) #2`, see `tui.engine.names`) beside its alias
and seat index.

Each round, and the run (for its deciding round, or in consult mode its positions), says who its
outcome rests on (`tui.engine.quorum.standing`): `seats`, `voters` (valid votes; null where no
vote was taken), `answered`, and `missing`, each seat an outcome lacks with its name, `phase`,
`vote` and `reason`.

A run asked in a declared answer shape carries `answers`: the `shape`; each seat's answer as
read (`seats`: `member_index`, `name`, `answer`, `key`, `rule`, `failure` — why it could not be
read, or `no answer` for a seat whose call failed), in a debate its answer in the last `round`;
the run's `final` answer (a vote's or a debate's plurality, or what its synthesis or a council's
chairman answered, read in the shape); and for a counted vote or debate its `count`: the
outcome, the winning `key` and `answer`, its `votes`, whether it was `tied` and the `tie_rule`,
and how many answers were `readable` of the `seats`, a quorum `needed`.

A debate carries `debate` (`tui.engine.debate`): each round read (`number`, how many `answered`,
how many are `agreeing` on the answer most given, whether it `agreed` and on which `answer`, each
seat's answer as read, and its `flips`: `member_index`, `name`, `before`, `after`, `to_shown` —
changed to what most of the answers it was shown gave), and the run's `flips` and `flips_to_shown`.

A council carries `council` (`tui.engine.council`; null when no ballots were asked): the Borda
`ranking` (each answer's `place`, `member_index`, `name`, `points`, `ballots` that ranked it,
`points_a_ballot`, `firsts`), its `ties` (seats) and `tie_rule`, how many `ballots` were readable
and how many `abstained`, the `position_bias` (each label's `position`, `label`, `mean_rank` and
`ballots`) and how many ballots `agree_with_aggregate`.

The names, the standing, the answers and these readings are added here, where the JSON is made for
output, and dropped when such JSON is read back as a run (`RunResult`): they are derived, never kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from tui.engine.answers import AnswerReading, answering_round, seat_readings
from tui.engine.council import TIE_RULE, agrees_with, council_ranking, position_bias
from tui.engine.debate import debate_rounds
from tui.engine.names import member_names
from tui.engine.quorum import standing
from tui.engine.types import LETTERS, Mode, RoundResult, RunResult
from tui.engine.vote_count import count_answers, final_answer
from tui.render.formatting import safe_json


def run_json(result: RunResult, secrets: Iterable[str] = ()) -> str:
    """The run's JSON (indented), named, fit for a terminal and a file (`safe_json`)."""
    data: dict[str, Any] = json.loads(result.model_dump_json())
    names = member_names(result.members)

    def name(item: Any) -> None:
        index = item.get("member_index") if isinstance(item, dict) else None
        if isinstance(index, int) and 0 <= index < len(names):
            item["name"] = names[index]

    def rests_on(round_: RoundResult | None) -> dict[str, Any]:
        said: dict[str, Any] = json.loads(standing(result, round_).model_dump_json())
        for missing in said["missing"]:
            name(missing)
        return said

    for member, shown in zip(data["members"], names, strict=True):
        member["name"] = shown
    for item in [*data["positions"], *data["calls"]]:
        name(item)
    for round_, recorded in zip(data["rounds"], result.rounds, strict=True):
        for item in [*round_["votes"], *round_["ballots"], *round_["shown"]]:
            name(item)
        round_.update(rests_on(recorded))
    data.update(rests_on(None))
    answers = answers_json(result)
    if answers is not None:
        data["answers"] = answers
    if result.mode is Mode.DEBATE:
        data["debate"] = debate_json(result, names)
    if result.mode is Mode.COUNCIL:
        data["council"] = council_json(result, names)
    return safe_json(json.dumps(data, indent=2, ensure_ascii=False), secrets)


NO_ANSWER = AnswerReading(answer=None, key=None, failure="no answer")
"""A seat whose call failed: it gave no answer to read."""


def answers_json(result: RunResult) -> dict[str, Any] | None:
    """The answers of a run asked in a declared answer shape (see the module); None without one."""
    readings = seat_readings(result)
    if readings is None or result.asked is None or result.asked.answer is None:
        return None
    seats = _seats(readings, member_names(result.members))
    out: dict[str, Any] = {
        "shape": result.asked.answer.name,
        "round": answering_round(result),
        "seats": seats,
    }
    final = final_answer(result)
    out["final"] = asdict(final) if final is not None else None
    count = count_answers(result)
    if count is not None:
        out["count"] = {
            "outcome": count.outcome.value,
            "key": count.plurality.key,
            "answer": count.answer,
            "votes": count.plurality.votes,
            "tied": count.plurality.tied,
            "tie_rule": count.plurality.rule.value,
            "readable": count.readable,
            "seats": count.seats,
            "needed": count.needed,
        }
    return out


def _seats(readings: Sequence[AnswerReading | None], names: Sequence[str]) -> list[dict[str, Any]]:
    """Each seat's answer as read, named (a seat that gave none: `NO_ANSWER`)."""
    return [
        {"member_index": i, "name": names[i], **asdict(read or NO_ANSWER)} for i, read in enumerate(readings)
    ]


def debate_json(result: RunResult, names: Sequence[str]) -> dict[str, Any]:
    """A debate's rounds read (see the module)."""
    rounds = debate_rounds(result)
    out = [
        {
            "number": r.number,
            "answered": r.answered,
            "agreeing": r.agreeing,
            "agreed": r.agreed,
            "answer": r.answer,
            "seats": _seats(r.readings, names),
            "flips": [{**asdict(f), "name": names[f.member_index]} for f in r.flips],
        }
        for r in rounds
    ]
    flips = [f for r in rounds for f in r.flips]
    return {"rounds": out, "flips": len(flips), "flips_to_shown": sum(f.to_shown for f in flips)}


def council_json(result: RunResult, names: Sequence[str]) -> dict[str, Any] | None:
    """A council's count (see the module); None when it asked for no ballots."""
    ranking = council_ranking(result)
    if ranking is None:
        return None
    ballots = result.rounds[0].ballots
    return {
        "ranking": [
            {
                "place": place,
                "member_index": r.seat,
                "name": names[r.seat],
                "points": r.points,
                "ballots": r.ballots,
                "points_a_ballot": float(r.score),
                "firsts": r.firsts,
            }
            for place, r in enumerate(ranking.order, start=1)
        ],
        "ties": [list(group) for group in ranking.ties],
        "tie_rule": TIE_RULE.value,
        "ballots": ranking.ballots,
        "abstained": ranking.abstained,
        "position_bias": [
            {**asdict(p), "label": LETTERS[p.position], "mean_rank": float(p.mean_rank)}
            for p in position_bias(ballots)
        ],
        "agree_with_aggregate": sum(agrees_with(ballot, ranking) for ballot in ballots),
    }
