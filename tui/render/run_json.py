"""A run as JSON for people and their scripts: the data contract, each member named as the screen
names it.

`quorum run --json`, `quorum show --json` and an export print the run's data contract; where a panel
seats one model more than once, an alias does not say which seat a vote or a call was. So each
member, each vote and each member's call (positions and calls) carries `name` (`gw-smol (for) #2`,
see `tui.engine.names`) beside its alias and seat index. The names are added here, where the JSON
is made for output, and dropped when such JSON is read back as a run (`RunResult`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tui.engine.names import member_names
from tui.engine.types import RunResult
from tui.render.formatting import safe_json


def run_json(result: RunResult, secrets: Iterable[str] = ()) -> str:
    """The run's JSON (indented), named, fit for a terminal and a file (`safe_json`)."""
    data: dict[str, Any] = json.loads(result.model_dump_json())
    names = member_names(result.members)

    def name(item: Any) -> None:
        index = item.get("member_index") if isinstance(item, dict) else None
        if isinstance(index, int) and 0 <= index < len(names):
            item["name"] = names[index]

    for member, shown in zip(data["members"], names, strict=True):
        member["name"] = shown
    for item in [*data["positions"], *data["calls"]]:
        name(item)
    for round_ in data["rounds"]:
        for vote in round_["votes"]:
            name(vote)
    return safe_json(json.dumps(data, indent=2, ensure_ascii=False), secrets)
