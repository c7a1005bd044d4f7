"""What a run's settings were, for its record."""

from __future__ import annotations

from typing import Any

from tui.config.schema import Settings
from tui.engine.types import RunRequest
from tui.errors import redact


def settings_snapshot(settings: Settings, request: RunRequest) -> dict[str, Any]:
    """What a run's settings were, for its record: the run, demo and prompt settings, and the
    catalog entries and providers of the models it used (not the whole catalog every time).
    Keys are never part of settings: providers name only the variables that hold them."""
    aliases = {m.alias for m in request.members} | {s.alias for s in request.synthesizers}
    models = {name: model for name, model in settings.models.items() if name in aliases}
    providers = {model.provider for model in models.values()}
    asked = {  # the request's own values win: a rerun of a recorded run asks what that run asked
        "mode": request.mode.value,
        "max_rounds": request.max_rounds,
        "majority_threshold": request.majority_threshold,
        "quorum": request.quorum,
        "token_budget": request.token_budget,
    }
    return {
        "run": {**settings.run.model_dump(mode="json"), **asked},
        "demo": settings.demo.model_dump(mode="json"),
        "prompts": settings.prompts.model_dump(mode="json"),
        "models": {name: model.model_dump(mode="json") for name, model in models.items()},
        "providers": {
            name: _without_credentials(provider.model_dump(mode="json"))
            for name, provider in settings.providers.items()
            if name in providers
        },
    }


def _without_credentials(provider: dict[str, Any]) -> dict[str, Any]:
    """A provider's settings with the user-info of its base URL (`http://user:key@host`) redacted."""
    if provider.get("base_url"):
        provider["base_url"] = redact(provider["base_url"])
    return provider
