"""What a recorded run must share with a new request for its answer to be served from the cache.

Three keys, each a string the history keeps on the run's row (so the lookup is an indexed equality,
not a scan):

- the *question key*: the question normalized by the hit check (Unicode-folded, lower-cased,
  greetings and thanks dropped, words only), so "Should we use Postgres?" and "should we use
  postgres" are the same question, and "Should we not use Postgres?" is not;
- the *scope key*: everything else the answer was an answer to — the mode, the asking team's
  context (its SHA-256), the attached files and images (by their SHA-256, in order: the same
  question about another file is another question), the focus areas and a declared answer shape;
- the *panel key*: who answered — each member's model, stance and stance prompt, and the
  synthesizer chain. Whether it must match is the `[cache] match_panel` setting.

Pure: no file, database or network access.
"""

from __future__ import annotations

import hashlib
import json
import re

from tui.engine.types import RunRequest
from tui.question.terms import normalize


def question_key(question: str) -> str:
    """The question as exact matching compares it. A question made only of words the hit check
    drops still keys on its own words, folded and with its spacing collapsed."""
    return normalize(question) or re.sub(r"\s+", " ", question.strip().casefold())


def _digest(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def scope_key(request: RunRequest) -> str:
    """The SHA-256 of what, beside the question and the panel, the answer depends on."""
    scope: dict[str, object] = {
        "mode": request.mode.value,
        "context": request.context.sha256 if request.context is not None else None,
        "files": [attachment.sha256 for attachment in request.files],
        "images": [image.sha256 for image in request.images],
        "focus": [re.sub(r"\s+", " ", area.strip().casefold()) for area in request.focus],
    }
    if request.answer is not None:  # only then: the history's keys of every other run stay valid
        scope["answer"] = request.answer.model_dump(mode="json")
    return _digest(scope)


def panel_key(request: RunRequest) -> str:
    """The SHA-256 of who answered: members (model, stance, stance prompt) and synthesizers."""
    return _digest(
        {
            "members": [[m.alias, m.model_id, m.stance.value, m.stance_prompt] for m in request.members],
            "synthesizers": [s.alias for s in request.synthesizers],
        }
    )
