"""Building the dashboard for tests: the real app, a scripted provider, a frozen clock, no timers."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.strip import Strip

from tests.fakes import FakeProvider, Script
from tui.ask import Ask
from tui.config.loading import load_settings
from tui.config.schema import MemberSpec, Settings, parse_member
from tui.dashboard.app import QuorumApp
from tui.engine.connection import Connection
from tui.engine.types import Member
from tui.session import Session

CALM_POSITION = (
    "Verdict: Yes, with a staged rollout.\nLean: favourable\n"
    "Analysis: The plan removes a class of bugs and can be reverted behind a flag.\n"
    "Confidence: 7/10\nKey takeaways:\n- Stage it.\n- Measure tail latency first."
)


def fake_settings(models: list[str], **overrides: Any) -> Settings:
    """Settings whose catalog has a `fake` provider with the given model aliases (ids = aliases)."""
    table: dict[str, Any] = {
        # An OpenAI-compatible provider that needs no key; tests hand the app a scripted lookup, so
        # nothing is ever sent to its (unreachable) address.
        "providers": {"fake": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {
            alias: {
                "provider": "fake",
                "id": alias,
                "context_window": 100000,
                "max_output": 1000,
                "input_price": 1.0,
                "output_price": 2.0,
                # The scripted provider votes in text, as a server that takes no structured output.
                "structured_output": "text",
            }
            for alias in models
        },
    }
    for key, value in overrides.items():
        table.setdefault(key, {}).update(value)
    return load_settings(overrides=table)


class FakeLookup:
    """Routes every member to one FakeProvider, keyed by model id, through one connection that
    serves `max_concurrency` calls at a time (None: as many as are made)."""

    def __init__(self, provider: FakeProvider, max_concurrency: int | None = None) -> None:
        self.provider = provider
        self.connection = Connection.limited(provider, max_concurrency)

    def __call__(self, member: Member) -> Connection:
        return self.connection


def make_app(
    panel: list[str],
    scripts: dict[str, Script] | None = None,
    *,
    synthesizer: str = "synth",
    question: str = "",
    flush_interval: float | None = None,
    watch: bool = False,
    watch_run: str | None = None,
    max_concurrency: int | None = None,
    **settings_overrides: Any,
) -> tuple[QuorumApp, FakeProvider]:
    aliases = sorted({parse_member(spec).model for spec in panel} | {synthesizer})
    settings = fake_settings(aliases, **settings_overrides)
    default = {alias: Script(position=CALM_POSITION) for alias in aliases}
    provider = FakeProvider({**default, **(scripts or {})})
    seats: list[MemberSpec] = [parse_member(spec) for spec in panel]
    session = Session(settings, Ask(members=tuple(seats), synthesizer=synthesizer))
    app = QuorumApp(
        settings,
        session,
        question=question,
        providers=FakeLookup(provider, max_concurrency),
        clock=lambda: 1000.0,
        flush_interval=flush_interval,
        save_settings=False,
        cursor_blink=False,
        watch=watch,
        watch_run=watch_run,
    )
    return app, provider


def cells(strip: Strip) -> list[tuple[str, Any]]:
    """A strip as (character, style) pairs, whichever way its segments are split."""
    return [(character, segment.style) for segment in strip for character in segment.text]


async def enter_question(pilot: Pilot[Any], question: str) -> None:
    """Put `question` in the prompt, as a paste does, and send it with Enter: a question asked
    without typing it key by key (the tests of typing type)."""
    app = pilot.app
    assert isinstance(app, QuorumApp)
    prompt = app.prompt_bar
    app.set_focus(prompt)
    prompt.load_text(question)
    await pilot.press("enter")


async def palette_search(pilot: Pilot[Any], query: str) -> list[str]:
    """Search the open command palette for `query` (set in its box as a paste does) and return
    what it offers, once its search, which runs in a worker, is done."""
    from textual.widgets import Input, OptionList

    palette = pilot.app.screen
    palette.query_one("CommandInput", Input).value = query
    await pilot.pause()  # the box's change starts the search
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    found = palette.query_one("CommandList", OptionList)
    return [str(found.get_option_at_index(i).prompt) for i in range(found.option_count)]
