"""A provider's limit on calls in flight (`max_concurrency`): Quorum queues the calls beyond it itself.

The line (`tui.engine.slots.CallSlots`) on its own first: first come, first served, a slot passing
straight to the next in line, and cancellation in line or at the hand-over. Then over the wire, the
real SDKs against the local wire server, which counts the requests it has in flight rather than
timing them: one at a time means it never sees two; a member queued behind slower ones keeps its
whole deadline on a server that answers one request at a time (without the limit it times out
inside the server); retries and a vote's weaker form keep their slot; two runs in one process share
the limit. Then the engine's hostile cases (a call cancelled or replaced in line, a provider that
hangs holding the slot, a display that breaks on the new events, sixteen calls in line), what
people see (the progress lines, the pane, MCP's progress, the history), and the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write
from tests.dashboard import make_app
from tests.fakes import FakeProvider, Script
from tests.fakes import member as fake_member
from tests.wire_server import Scenario, WireServer
from tui.cli.progress import ProgressPrinter
from tui.config.catalog import Catalog
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.engine import events as ev
from tui.engine.connection import Connection
from tui.engine.orchestrator import Run
from tui.engine.provider import ChatRequest, ErrorKind, StreamEvent
from tui.engine.slots import CallSlots
from tui.engine.types import CallResult, CallStatus, Mode, Phase, RunRequest, RunResult, RunStatus, Stance
from tui.errors import ConfigError
from tui.history.recorder import RunRecorder
from tui.history.replay import replay_events
from tui.history.store import RunStore
from tui.mcp.runs import Milestones
from tui.pool import ProviderPool
from tui.render.words import CallState

POSITION = "Conclusion: yes, carefully.\nLean: favourable\nConfidence: 7/10"


@pytest.fixture(autouse=True)
def fresh(server: WireServer) -> None:
    server.clear()
    server.serves_at_once = None
    server.default_scenario = Scenario(text=POSITION)


# --------------------------------------------------------------------------------------------
# 1. The line itself


async def holding(slots: CallSlots, taken: list[str], name: str, release: asyncio.Event) -> None:
    """Take a slot, note it, hold it until `release` is set, give it back."""
    await slots.take()
    taken.append(name)
    try:
        await release.wait()
    finally:
        slots.give_back()


async def until(condition: Any) -> None:
    """Let the loop run until `condition()` holds (each step one pass of the loop: no clock)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_calls_get_their_slots_in_the_order_they_asked() -> None:
    slots = CallSlots("local", 1)
    taken: list[str] = []
    gates = {name: asyncio.Event() for name in "abcde"}
    tasks = []
    for name in "abcde":
        tasks.append(asyncio.create_task(holding(slots, taken, name, gates[name])))
        await asyncio.sleep(0)  # each asks in turn
    await until(lambda: slots.waiting == 4)
    assert taken == ["a"] and slots.taken == 1
    for name in "abcde":
        gates[name].set()
        await until(lambda name=name: name in taken and (name == "e" or slots.waiting < 4))
    await asyncio.gather(*tasks)
    assert taken == list("abcde")
    assert (slots.taken, slots.waiting) == (0, 0)


async def test_a_slot_given_back_goes_to_the_first_in_line_not_to_a_newcomer() -> None:
    slots = CallSlots("local", 1)
    taken: list[str] = []
    first, second, late = asyncio.Event(), asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(holding(slots, taken, "holder", first))
    await until(lambda: taken == ["holder"])
    queued = asyncio.create_task(holding(slots, taken, "queued", second))
    await until(lambda: slots.waiting == 1)
    first.set()
    await until(holder.done)
    # The slot is on its way to the call in line, which has not run yet: a call asking now waits.
    assert not slots.free()
    newcomer = asyncio.create_task(holding(slots, taken, "newcomer", late))
    await until(lambda: "queued" in taken)
    assert taken == ["holder", "queued"] and slots.waiting == 1
    second.set()
    late.set()
    await asyncio.gather(queued, newcomer)
    assert taken == ["holder", "queued", "newcomer"] and slots.taken == 0


async def test_a_call_cancelled_in_line_leaves_it_without_taking_a_slot() -> None:
    slots = CallSlots("local", 1)
    taken: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(holding(slots, taken, "holder", release))
    await until(lambda: taken == ["holder"])
    cancelled = asyncio.create_task(holding(slots, taken, "cancelled", release))
    after = asyncio.create_task(holding(slots, taken, "after", release))
    await until(lambda: slots.waiting == 2)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert slots.waiting == 1 and slots.taken == 1
    release.set()
    await asyncio.gather(holder, after)
    assert taken == ["holder", "after"]
    assert (slots.taken, slots.waiting) == (0, 0)


async def test_a_call_cancelled_as_its_slot_arrives_passes_it_on() -> None:
    slots = CallSlots("local", 1)
    taken: list[str] = []
    release = asyncio.Event()
    await slots.take()
    unlucky = asyncio.create_task(holding(slots, taken, "unlucky", release))
    next_in_line = asyncio.create_task(holding(slots, taken, "next", release))
    await until(lambda: slots.waiting == 2)
    slots.give_back()  # the slot passes to `unlucky`...
    unlucky.cancel()  # ...which is cancelled before it could run
    await asyncio.gather(unlucky, return_exceptions=True)
    await until(lambda: taken == ["next"])
    assert slots.taken == 1
    release.set()
    await next_in_line
    assert (slots.taken, slots.waiting) == (0, 0)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CallSlots("local", 0)


# --------------------------------------------------------------------------------------------
# 2. Over the wire, configured as a user would


def local_config(
    tmp_path: Path, server: WireServer, limit: int | None, *, kind: str = "openai", **models: str
) -> Path:
    """A config with one provider `local` on the wire server (with `max_concurrency = limit`) and
    `models`, each a model of it (the value: extra TOML lines for its table)."""
    base_url = server.openai_base_url if kind == "openai" else server.anthropic_base_url
    text = f'[providers.local]\nkind = "{kind}"\nbase_url = "{base_url}"\n'
    if kind == "anthropic":
        text += 'api_key_env = "WIRE_TEST_KEY"\n'
    if limit is not None:
        text += f"max_concurrency = {limit}\n"
    for name, extra in models.items():
        text += (
            f'\n[models.{name}]\nprovider = "local"\nid = "{name}"\ncontext_window = 8192\n'
            f'max_output = 256\nstructured_output = "text"\n{extra}'
        )
    return write(tmp_path / "local.toml", text)


def panel(config: Path, specs: list[str], synthesizer: str, **extra: Any) -> RunRequest:
    catalog = Catalog(load_settings(config))
    return RunRequest(
        question="Should we move the job queue to Postgres?",
        members=[catalog.member(parse_member(spec)) for spec in specs],
        synthesizers=[catalog.member(parse_member(synthesizer))],
        **extra,
    )


async def run_with_pool(config: Path, request: RunRequest, events: list[ev.Event] | None = None) -> RunResult:
    pool = ProviderPool(load_settings(config))
    try:
        return await Run(request, pool, events.append if events is not None else None).execute()
    finally:
        await pool.aclose()


def answers(server: WireServer) -> list[str]:
    """The model of every chat request the server received, in order."""
    return [str(r.body.get("model")) for r in server.requests]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_one_at_a_time_the_server_never_sees_two_requests(
    server: WireServer, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIRE_TEST_KEY", "sk-wire-test-key-0123456789")
    # Long enough for the requests to meet at the server, were they sent together.
    server.default_scenario = Scenario(text=POSITION, first_byte_delay_s=0.1)
    server.script("synth", Scenario(text="DRAFT: move it, one queue at a time."))
    config = local_config(tmp_path, server, 1, kind=kind, local="", synth="")
    request = panel(config, ["local:for", "local:against", "local:neutral"], "synth", max_rounds=1)
    events: list[ev.Event] = []
    result = await run_with_pool(config, request, events)
    assert result.status is RunStatus.SUCCESS
    # Positions, the draft and the votes; the answers cast no verdict: no quorum, and no curator.
    assert len(server.requests) == 3 + 1 + 3
    assert server.most_in_flight == 1 and server.in_flight == 0
    # Of each phase's three calls, the first is sent at once and the two others wait in line.
    queued = [e for e in events if isinstance(e, ev.CallQueued)]
    assert [(e.member_index, e.provider, e.limit) for e in queued] == [(1, "local", 1), (2, "local", 1)] * 2


async def test_without_a_limit_the_calls_meet_at_the_server(server: WireServer, tmp_path: Path) -> None:
    """The counter the test above relies on does count requests in flight together."""
    server.script("local", Scenario(text=POSITION, hold_until_requests=3))
    config = local_config(tmp_path, server, None, local="", synth="")
    request = panel(config, ["local:for", "local:against", "local:neutral"], "synth", mode=Mode.CONSULT)
    events: list[ev.Event] = []
    result = await run_with_pool(config, request, events)
    assert result.status is RunStatus.SUCCESS
    assert server.most_in_flight == 3
    assert not [e for e in events if isinstance(e, ev.CallQueued | ev.CallDequeued)]


def member_deadline_config(tmp_path: Path, server: WireServer, limit: int | None) -> RunRequest:
    """Three members on a server that answers one request at a time, each answer taking 0.45 s, and
    a deadline of 1 s each: longer than any one answer, shorter than the three together."""
    server.serves_at_once = 1
    server.script("local", Scenario(text=POSITION, first_byte_delay_s=0.45))
    config = local_config(tmp_path, server, limit, local="deadline_s = 1.0\n", synth="")
    return panel(config, ["local:for", "local:against", "local:neutral"], "synth", mode=Mode.CONSULT)


async def test_a_member_queued_behind_others_keeps_its_whole_deadline(
    server: WireServer, tmp_path: Path
) -> None:
    request = member_deadline_config(tmp_path, server, 1)
    config = tmp_path / "local.toml"
    events: list[ev.Event] = []
    result = await run_with_pool(config, request, events)
    positions = [p for p in result.positions if p is not None]
    assert [p.status for p in positions] == [CallStatus.SUCCESS] * 3, [p.error for p in positions]
    # The last one waited for both others: longer than its own deadline, yet not on its clock.
    last = positions[2]
    assert last.queued_ms is not None and last.queued_ms > 0
    assert last.latency_ms is not None and last.ttft_ms is not None and last.ttft_ms <= last.latency_ms
    assert positions[0].queued_ms is None  # sent at once
    assert server.most_in_flight == 1
    dequeued = {e.call_id: e.queued_ms for e in events if isinstance(e, ev.CallDequeued)}
    assert dequeued == {p.call_id: p.queued_ms for p in positions[1:]}


async def test_without_the_limit_that_member_times_out_inside_the_server(
    server: WireServer, tmp_path: Path
) -> None:
    """Why the limit exists: sent at once, the third call waits inside the server on its own clock."""
    request = member_deadline_config(tmp_path, server, None)
    result = await run_with_pool(tmp_path / "local.toml", request)
    errors = [p.error_kind for p in result.positions if p is not None]
    assert ErrorKind.TIMEOUT.value in errors
    assert server.most_in_flight == 3


async def test_two_runs_in_one_process_share_the_limit(server: WireServer, tmp_path: Path) -> None:
    server.default_scenario = Scenario(text=POSITION, first_byte_delay_s=0.05)
    config = local_config(tmp_path, server, 1, local="", synth="")
    pool = ProviderPool(load_settings(config))
    request = panel(config, ["local:for", "local:against"], "synth", mode=Mode.CONSULT)
    try:
        first, second = await asyncio.gather(Run(request, pool).execute(), Run(request, pool).execute())
    finally:
        await pool.aclose()
    assert first.status is second.status is RunStatus.SUCCESS
    assert len(server.requests) == 2 * 3 and server.most_in_flight == 1


def test_the_pool_hands_out_each_provider_with_its_slots_and_its_vote_forms(
    server: WireServer, tmp_path: Path
) -> None:
    """What a provider connection keeps (its queue, the vote form each model takes) comes with it
    from the pool, one per configured provider; a fresh pool starts knowing nothing."""
    from tui.engine.types import VoteForm

    config = local_config(tmp_path, server, 2, local="")
    member = Catalog(load_settings(config)).member(parse_member("local"))
    pool = ProviderPool(load_settings(config))
    connection = pool(member)
    assert connection.provider.name == "local" and pool(member) is connection
    assert connection.slots is not None and connection.slots.limit == 2
    assert connection.forms.learn(
        member.model_copy(update={"vote_form": VoteForm.JSON_SCHEMA}), VoteForm.TEXT
    )
    fresh = ProviderPool(load_settings(config))(member)
    assert fresh is not connection and fresh.slots is not connection.slots
    assert fresh.forms.form_for(member.model_copy(update={"vote_form": VoteForm.JSON_SCHEMA})) is (
        VoteForm.JSON_SCHEMA
    )


class SlottedProvider:
    """An adapter no weak reference can be taken to (its class has `__slots__`), as a plugin's may be."""

    __slots__ = ("is_demo", "name", "sent")

    def __init__(self) -> None:
        self.name, self.is_demo, self.sent = "slotted", False, 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        from tui.engine.provider import Finished, TextDelta

        self.sent += 1
        await asyncio.sleep(0)
        yield TextDelta(POSITION)
        yield Finished("stop")

    async def aclose(self) -> None:
        return None


async def test_an_adapter_that_cannot_be_weakly_referenced_is_still_held_to_its_limit() -> None:
    provider = SlottedProvider()
    connection = Connection(provider, CallSlots(provider.name, 1))
    events: list[ev.Event] = []
    result = await Run(consult(["alpha", "beta"]), lambda _m: connection, events.append).execute()
    assert result.status is RunStatus.SUCCESS and provider.sent == 3  # two positions, the synthesis
    assert [e.member_index for e in events if isinstance(e, ev.CallQueued)] == [1]


async def test_a_retried_call_keeps_its_slot(server: WireServer, tmp_path: Path) -> None:
    """A 429 retried is not sent back to the end of the line: nobody else's call comes in between."""
    server.script(
        "flaky", Scenario(text=POSITION, failure="status", status=429, retry_after="0", fail_times=1)
    )
    config = local_config(tmp_path, server, 1, flaky="", steady="", synth="")
    request = panel(config, ["flaky", "steady"], "synth", mode=Mode.CONSULT)
    events: list[ev.Event] = []
    result = await run_with_pool(config, request, events)
    assert result.status is RunStatus.SUCCESS
    assert answers(server) == ["flaky", "flaky", "steady", "synth"]
    assert [type(e) for e in events if isinstance(e, ev.CallRetrying | ev.CallQueued)] == [
        ev.CallQueued,  # steady, behind flaky
        ev.CallRetrying,
    ]


async def test_a_refused_vote_form_is_asked_again_in_the_same_slot(
    server: WireServer, tmp_path: Path
) -> None:
    """llama.cpp's refusal of json_schema is asked again as json_object at once, before the next
    member's vote, which was in line first."""
    accept = '{"verdict": "accept", "objections": []}'
    picky = Scenario(
        text=POSITION, structured_text=accept, accepts=frozenset({"json_object"}), refuse_as="llama_cpp"
    )
    server.script("picky", picky)
    server.script("easy", Scenario(text=POSITION, structured_text=accept))
    server.script("synth", Scenario(text="DRAFT: go ahead."))
    auto = 'structured_output = "auto"\n'
    config = local_config(tmp_path, server, 1, synth="")
    text = config.read_text()
    for name in ("picky", "easy"):
        text += (
            f'\n[models.{name}]\nprovider = "local"\nid = "{name}"\ncontext_window = 8192\n'
            f"max_output = 256\n{auto}"
        )
    config.write_text(text)
    request = panel(config, ["picky:for", "easy:against"], "synth", max_rounds=1)
    result = await run_with_pool(config, request)
    assert result.status is RunStatus.SUCCESS and result.outcome is not None
    votes = [
        (str(r.body["model"]), (r.body.get("response_format") or {}).get("type", "text"))
        for r in server.requests
        if r.body.get("model") != "synth" and "response_format" in r.body
    ]
    assert votes == [("picky", "json_schema"), ("picky", "json_object"), ("easy", "json_schema")]
    assert server.most_in_flight == 1


# --------------------------------------------------------------------------------------------
# 3. The engine's hostile cases (a scripted provider)


class HeldProvider(FakeProvider):
    """A FakeProvider whose answers wait until the test lets each model go (`gate(model).set()`);
    `reached` has every request it was sent, held or not."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        super().__init__(scripts)
        self.gates: dict[str, asyncio.Event] = {}
        self.reached: list[str] = []

    def gate(self, model: str) -> asyncio.Event:
        return self.gates.setdefault(model, asyncio.Event())

    async def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.reached.append(request.model_id)
        await self.gate(request.model_id).wait()
        async for item in super()._stream(request):
            yield item


def consult(aliases: list[str], **member_extra: Any) -> RunRequest:
    return RunRequest(
        question="Should we adopt X?",
        mode=Mode.CONSULT,
        members=[fake_member(alias, **member_extra) for alias in aliases],
        synthesizers=[fake_member("synth")],
    )


def sent(provider: FakeProvider) -> list[str]:
    """The models of the requests that reached `provider`, in order."""
    if isinstance(provider, HeldProvider):
        return provider.reached
    return [r.model_id for r in provider.requests]


async def test_a_call_cancelled_while_queued_is_never_sent() -> None:
    provider = HeldProvider({name: Script() for name in ("alpha", "beta", "synth")})
    connection = Connection.limited(provider, 1)
    events: list[ev.Event] = []
    run = Run(consult(["alpha", "beta"]), lambda _m: connection, events.append)
    task = asyncio.create_task(run.execute())
    await until(lambda: any(isinstance(e, ev.CallQueued) for e in events))
    run.cancel()
    result = await task
    assert result.status is RunStatus.CANCELLED
    beta = result.positions[1]
    assert beta is not None and beta.status is CallStatus.CANCELLED
    assert beta.queued_ms is not None and beta.latency_ms == 0 and beta.ttft_ms is None
    assert sent(provider) == ["alpha"]  # beta never reached the provider
    slots = connection.slots
    assert slots is not None and (slots.taken, slots.waiting) == (0, 0)
    assert not [e for e in events if isinstance(e, ev.CallDequeued)]


async def test_a_call_cancelled_in_line_took_no_time_however_slow_the_cancelling() -> None:
    """Its latency is 0, not the time the cancel took to reach it (a busy machine made it 1 ms)."""
    ticks = iter(range(0, 10**6, 7))  # every reading of the clock 7 ms after the last

    provider = HeldProvider({name: Script() for name in ("alpha", "beta", "synth")})
    connection = Connection.limited(provider, 1)
    events: list[ev.Event] = []
    run = Run(
        consult(["alpha", "beta"]), lambda _m: connection, events.append, clock=lambda: next(ticks) / 1000
    )
    task = asyncio.create_task(run.execute())
    await until(lambda: any(isinstance(e, ev.CallQueued) for e in events))
    run.cancel()
    result = await task
    beta = result.positions[1]
    assert beta is not None and beta.status is CallStatus.CANCELLED
    assert beta.latency_ms == 0 and beta.queued_ms is not None and beta.queued_ms > 0


async def test_a_rerun_that_replaces_a_queued_call_takes_it_out_of_the_line() -> None:
    provider = HeldProvider({name: Script() for name in ("alpha", "beta", "synth")})
    connection = Connection.limited(provider, 1)
    events: list[ev.Event] = []
    run = Run(consult(["alpha", "beta"]), lambda _m: connection, events.append)
    task = asyncio.create_task(run.execute())
    await until(lambda: any(isinstance(e, ev.CallQueued) for e in events))
    assert run.replace_members([1])
    await until(lambda: len([e for e in events if isinstance(e, ev.CallQueued)]) == 2)
    slots = connection.slots
    assert slots is not None and slots.waiting == 1  # the replaced call left the line
    for name in ("alpha", "beta", "synth"):
        provider.gate(name).set()
    result = await task
    assert result.status is RunStatus.SUCCESS
    assert sent(provider) == ["alpha", "beta", "synth"]  # beta sent once: by its rerun
    replaced = [c for c in result.calls if c.alias == "beta" and c.status is CallStatus.CANCELLED]
    assert len(replaced) == 1 and replaced[0].error == "replaced by a rerun"
    assert (slots.taken, slots.waiting) == (0, 0)


async def test_a_provider_that_hangs_holding_the_slot_is_cut_by_the_deadline() -> None:
    provider = FakeProvider(
        {"alpha": Script(hang=True, fail_phases=("position",)), "beta": Script(), "synth": Script()}
    )
    connection = Connection.limited(provider, 1)
    result = await Run(consult(["alpha", "beta"], deadline_s=0.3), lambda _m: connection).execute()
    alpha, beta = result.positions
    assert alpha is not None and alpha.error_kind == ErrorKind.TIMEOUT.value
    assert alpha.content == "partial "  # what arrived before it hung is kept
    assert beta is not None and beta.status is CallStatus.SUCCESS and beta.queued_ms is not None
    assert result.status is RunStatus.SUCCESS
    slots = connection.slots
    assert slots is not None and (slots.taken, slots.waiting) == (0, 0)


@pytest.mark.parametrize("breaks_on", [ev.CallQueued, ev.CallDequeued])
async def test_a_display_that_breaks_on_the_queue_events_gives_the_slot_back(breaks_on: type) -> None:
    provider = FakeProvider({name: Script() for name in ("alpha", "beta", "synth")})
    connection = Connection.limited(provider, 1)

    def sink(event: ev.Event) -> None:
        if isinstance(event, breaks_on):
            raise ValueError("boom")

    result = await Run(consult(["alpha", "beta"]), lambda _m: connection, sink).execute()
    assert result.status is RunStatus.ERROR and any("boom" in e for e in result.errors)
    slots = connection.slots
    assert slots is not None and (slots.taken, slots.waiting) == (0, 0)


async def test_sixteen_calls_in_line_cost_nothing_while_they_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued calls wait on a future each, not on a timer: while the one call sent hangs, the loop
    schedules (almost) nothing. A line that polled would schedule a wake-up per call, again and
    again."""
    aliases = [f"m{i}" for i in range(16)]
    provider = HeldProvider({name: Script() for name in [*aliases, "synth"]})
    connection = Connection.limited(provider, 1)
    run = Run(
        RunRequest(
            question="Q?",
            mode=Mode.CONSULT,
            members=[fake_member(a, Stance.NEUTRAL) for a in aliases],
            synthesizers=[fake_member("synth")],
        ),
        lambda _m: connection,
    )
    task = asyncio.create_task(run.execute())
    slots = None
    slots = connection.slots
    assert slots is not None
    await until(lambda: slots.waiting == 15)
    loop = asyncio.get_running_loop()
    scheduled = 0
    real_call_soon, real_call_at = loop.call_soon, loop.call_at

    def call_soon(*args: Any, **kwargs: Any) -> Any:
        nonlocal scheduled
        scheduled += 1
        return real_call_soon(*args, **kwargs)

    def call_at(*args: Any, **kwargs: Any) -> Any:
        nonlocal scheduled
        scheduled += 1
        return real_call_at(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon", call_soon)
    monkeypatch.setattr(loop, "call_at", call_at)
    await asyncio.sleep(0.3)  # the test's own timer: one call_at, one wake-up
    monkeypatch.undo()
    assert scheduled <= 3, f"{scheduled} callbacks scheduled while 15 calls waited in line"
    assert slots is not None and slots.waiting == 15 and sent(provider) == ["m0"]
    for name in [*aliases, "synth"]:
        provider.gate(name).set()
    result = await task
    assert result.status is RunStatus.SUCCESS
    assert sent(provider) == [*aliases, "synth"]  # first come, first served


# --------------------------------------------------------------------------------------------
# 4. What people see


async def test_progress_says_queued_once_per_call_and_how_long_it_waited() -> None:
    provider = FakeProvider({name: Script() for name in ("alpha", "beta", "gamma", "synth")})
    connection = Connection.limited(provider, 1)
    lines: list[str] = []

    class Lines:
        def write(self, text: str) -> None:
            lines.extend(line for line in text.splitlines() if line)

        def flush(self) -> None:
            pass

    printer = ProgressPrinter(Lines())  # type: ignore[arg-type]
    await Run(consult(["alpha", "beta", "gamma"]), lambda _m: connection, printer).execute()
    said = [line.split("] ", 1)[1] for line in lines]  # without the timestamps
    queued = [line for line in said if "queued" in line]
    assert queued == [
        "beta (neutral) queued · fake serves 1 at a time",
        "gamma (neutral) queued · fake serves 1 at a time",
    ]
    done = {line.split(" ", 1)[0]: line for line in said if " done · " in line}
    assert "in queue" not in done["alpha"]
    for name in ("beta", "gamma"):  # the wait apart from the call's own time
        assert re.search(
            r" · first token \d+\.\d s · \d+\.\d s · .* · waited \d+\.\d s in queue$", done[name]
        )


async def test_the_pane_says_queued_and_what_its_provider_serves() -> None:
    app, provider = make_app(
        ["alpha", "beta"], {"alpha": Script(hang=True, fail_phases=("position",))}, max_concurrency=1
    )
    async with app.run_test(size=(160, 50)) as pilot:
        app.submit("Q?")
        for _ in range(500):
            if app.panes[1].queue_note is not None:
                break
            await pilot.pause(0.01)
        beta = app.panes[1]
        assert beta.status is CallState.QUEUED
        # the wait's clock before the reason, so a narrow pane that cuts the line keeps the clock
        assert re.search(r"○ queued \d+\.\d s · fake serves 1 at a time", beta.info_text().plain)
        assert app.panes[0].status is CallState.STREAMING
        await pilot.press("ctrl+g")  # cancel: beta leaves the line without being sent
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.panes[1].status.value == "cancelled" and beta.queue_note is None
        assert "in queue" in beta.info_text().plain
    assert [r.model_id for r in provider.requests] == ["alpha"]


def alpha_position(**fields: Any) -> CallResult:
    """alpha's position, done in 4.1 s, with `fields` besides."""
    return CallResult(
        call_id="r1-1",
        round=1,
        phase=Phase.POSITION,
        member_index=0,
        alias="alpha",
        model_id="alpha",
        provider="fake",
        stance=Stance.NEUTRAL,
        status=CallStatus.SUCCESS,
        latency_ms=4100,
        **fields,
    )


def test_mcp_progress_says_how_long_a_position_waited() -> None:
    request = consult(["alpha"])
    milestones = Milestones()
    milestones.add(ev.RunStarted("r1", request))
    assert milestones.add(ev.CallFinished(alpha_position(queued_ms=38000)))
    assert milestones.items[-1].message.endswith("done in 4.1 s (waited 38.0 s in queue)")


async def test_a_queued_run_is_recorded_and_replays(tmp_path: Path) -> None:
    provider = FakeProvider({name: Script() for name in ("alpha", "beta", "synth")})
    connection = Connection.limited(provider, 1)
    store = RunStore(tmp_path / "history.sqlite3")
    try:
        recorder = RunRecorder(store, config={})
        live = await Run(consult(["alpha", "beta"]), lambda _m: connection, recorder).execute()
        assert await store.recorded(live.run_id) is None
        loaded = store.load(live.run_id)
    finally:
        store.close()
    assert live.positions[1] is not None and live.positions[1].queued_ms is not None
    assert [c.queued_ms for c in loaded.calls] == [c.queued_ms for c in live.calls]
    replayed = replay_events(loaded)
    assert isinstance(replayed[-1], ev.RunFinished)


# --------------------------------------------------------------------------------------------
# 5. Configuration


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "Input should be greater than or equal to 1 (got 0)"),
        ("-3", "Input should be greater than or equal to 1 (got -3)"),
        ('"1"', "Input should be a valid integer (got '1')"),
        ("1.5", "Input should be a valid integer (got 1.5)"),
        ("true", "Input should be a valid integer (got True)"),
    ],
)
def test_a_careless_max_concurrency_is_named_with_its_file_and_key(
    tmp_path: Path, value: str, reason: str
) -> None:
    config = write(
        tmp_path / "bad.toml",
        '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:8080/v1"\n'
        f"max_concurrency = {value}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert info.value.file == config and info.value.key == "providers.local.max_concurrency"
    assert info.value.reason == reason
    assert info.value.exit_code == 2


async def test_the_pool_puts_the_limit_on_the_provider_every_member_of_it_shares(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmax_concurrency = 2\n'
        '[providers.other]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[models.a]\nprovider = "local"\nid = "a"\ncontext_window = 8192\nmax_output = 256\n'
        '[models.b]\nprovider = "local"\nid = "b"\ncontext_window = 8192\nmax_output = 256\n'
        '[models.c]\nprovider = "other"\nid = "c"\ncontext_window = 8192\nmax_output = 256\n',
    )
    settings = load_settings(config)
    assert settings.providers["other"].max_concurrency is None
    catalog = Catalog(settings)
    pool = ProviderPool(settings)
    try:
        a, b, c = (pool(catalog.member(parse_member(name))) for name in "abc")
        slots = a.slots
        assert slots is not None and slots.limit == 2 and slots.provider == "local"
        assert b.slots is slots  # one line per provider, whichever model is asked
        assert c.slots is None
    finally:
        await pool.aclose()


def test_mcp_progress_says_when_a_call_is_retried_and_that_it_was() -> None:
    """A retry may wait out a long Retry-After: the agent waiting hears why nothing comes, and the
    position's line says who retried it."""
    request = consult(["alpha"])
    milestones = Milestones()
    milestones.add(ev.RunStarted("r1", request))
    assert milestones.add(ev.CallRetrying("r1-1", 0, "alpha", 1, 2, 30.0, "rate limited (429)"))
    assert not milestones.add(ev.CallRetrying("r1-1", 0, "alpha", 1, 2, 30.0, "rate limited (429)"))  # once
    assert milestones.add(ev.CallRetrying("r1-1", 0, "alpha", 2, 2, 1.5, "server error (503)"))
    assert milestones.add(ev.CallRetrying("r1-9", None, "synth", 1, 2, 2.0, "connection lost"))
    messages = [m.message for m in milestones.items]
    assert (
        messages[0].endswith(": rate limited (429) — Quorum's retry 1/2 in 30 s") and "alpha" in messages[0]
    )
    assert messages[1].endswith("Quorum's retry 2/2 in 1.5 s")
    assert "synth" in messages[2] and messages[2].endswith("connection lost — Quorum's retry 1/2 in 2 s")
    assert milestones.add(ev.CallFinished(alpha_position(retries=2)))
    assert milestones.items[-1].message.endswith("done in 4.1 s; Quorum retried it 2×")
    progress = [m.progress for m in milestones.items]
    assert progress == sorted(set(progress)) and all(m.progress < m.total for m in milestones.items)


async def test_a_call_waiting_in_line_shows_queued_to_a_process_following_the_run(tmp_path: Path) -> None:
    """Another process following the run (the dashboard's F2 or `quorum watch`) shows a call in
    its provider's line as queued, with the provider's limit, and then how long it waited, as
    the process running it does; before, it read as `waiting`, as if it had been sent."""
    from tui.history.follow import RunFollower, RunGone

    provider = HeldProvider({name: Script() for name in ("alpha", "beta", "synth")})
    connection = Connection.limited(provider, 1)
    path = tmp_path / "history.sqlite3"
    store, reader = RunStore(path), RunStore(path)  # the reader stands for another process
    try:
        run = Run(consult(["alpha", "beta"]), lambda _m: connection, RunRecorder(store, config={}))
        task = asyncio.create_task(run.execute())
        follower = RunFollower(reader, run.result.run_id)
        seen: list[ev.Event] = []
        async with asyncio.timeout(30):  # (a hang guard only)
            while not follower.ended:
                await asyncio.sleep(0.02)  # the follower's poll, as F2's and `quorum watch`'s
                with contextlib.suppress(RunGone):  # (not recorded yet at the first polls)
                    seen += follower.poll()
                if any(isinstance(e, ev.CallQueued) for e in seen):  # seen in line: let them answer
                    for name in ("alpha", "beta", "synth"):
                        provider.gate(name).set()
        await task
    finally:
        store.close()
        reader.close()
    queued = [e for e in seen if isinstance(e, ev.CallQueued)]
    dequeued = [e for e in seen if isinstance(e, ev.CallDequeued)]
    assert [(e.alias, e.provider, e.limit) for e in queued] == [("beta", "fake", 1)]
    assert [e.call_id for e in dequeued] == [queued[0].call_id] and dequeued[0].queued_ms > 0
    assert seen.index(queued[0]) < seen.index(dequeued[0])
    # A finished run's replay is what it always was: no queue events from a record at rest.
    with closing(RunStore(path)) as again:
        replayed = replay_events(again.load(run.result.run_id))
    assert not any(isinstance(e, ev.CallQueued | ev.CallDequeued) for e in replayed)
