"""A run as JSON for people and their scripts: the data contract, each member named as the screen
names it.

`quorum run --json`, `quorum show --json` and an export print the run's data contract; where a panel
seats one model more than once, an alias does not say which seat a vote or a call was. So each
member, each vote and each member's call (positions and calls) carries `name` (`gw-smol (for) #2`,
see `tui.engine.names`) beside its alias and seat index.

Each round, and the run (for its deciding round, or in consult mode its positions), says who its
outcome rests on (`tui.engine.quorum.standing`): `seats`, `voters` (valid votes; null where no
vote was taken), `answered`, and `missing`, each seat an outcome lacks with its name, `phase`,
`vote` and `reason`.

A run asked in a declared answer shape carries `answers`: the `shape`; each seat's answer as
read (`seats`: `member_index`, `name`, `answer`, `key`, `rule`, `failure` — why it could not be
read, or `no answer` for a seat whose call failed); the run's `final` answer (a vote's plurality,
or what its synthesis answered, read in the shape); and for a counted vote its `count`: the
outcome, the winning `key` and `answer`, its `votes`, whether it was `tied` and the `tie_rule`,
and how many answers were `readable` of the `seats`, a quorum `needed`.

The names, the standing and the answers are added here, where the JSON is made for output, and
dropped when such JSON is read back as a run (`RunResult`): they are derived, never kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from tui.engine.answers import AnswerReading, seat_readings
from tui.engine.names import member_names
from tui.engine.quorum import standing
from tui.engine.types import RoundResult, RunResult
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
        for vote in round_["votes"]:
            name(vote)
        round_.update(rests_on(recorded))
    data.update(rests_on(None))
    answers = answers_json(result)
    if answers is not None:
        data["answers"] = answers
    return safe_json(json.dumps(data, indent=2, ensure_ascii=False), secrets)


NO_ANSWER = AnswerReading(answer=None, key=None, failure="no answer")
"""A seat whose call failed: it gave no answer to read."""


def answers_json(result: RunResult) -> dict[str, Any] | None:
    """The answers of a run asked in a declared answer shape (see the module); None without one."""
    readings = seat_readings(result)
    if readings is None or result.asked is None or result.asked.answer is None:
        return None
    names = member_names(result.members)

    def reading(read: AnswerReading | None) -> dict[str, Any]:
        return (
            asdict(read)
            if read is not None
            else {"answer": None, "key": None, "rule": "", "failure": "no answer"}
        )

    seats = [{"member_index": i, "name": names[i], **reading(read)} for i, read in enumerate(readings)]
    out: dict[str, Any] = {"shape": result.asked.answer.name, "seats": seats}
    final = final_answer(result)
    out["final"] = reading(final) if final is not None else None
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
