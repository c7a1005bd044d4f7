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

The names and the standing are added here, where the JSON is made for output, and dropped when
such JSON is read back as a run (`RunResult`): they are derived, never kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tui.engine.names import member_names
from tui.engine.quorum import standing
from tui.engine.types import RoundResult, RunResult
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
    return safe_json(json.dumps(data, indent=2, ensure_ascii=False), secrets)
