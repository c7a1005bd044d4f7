"""Following a run in the history as it is recorded: each poll's events, the whole run's replay.

A run is recorded through the real `RunRecorder` while a `RunFollower` polls the same database
after every event (or after a random few), as the dashboard does from another process. What the
follower shows over all its polls must be what a replay of the finished run shows: every call
started and finished once, its text whole and never repeated, every round decided once and before
the next begins, the run's end last.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeProvider, Script, lookup, rate_limited, request
from tests.test_store import FAKE_CONFIG, INTERRUPTED_NOTE, dead_pid, raw
from tui.engine import events as ev
from tui.engine.orchestrator import Run
from tui.engine.types import CallResult, CallStatus, Mode, Phase, RunRequest, RunResult, RunStatus
from tui.history.follow import RunFollower, RunGone
from tui.history.liveness import LIVE_RUNS
from tui.history.recorder import RunRecorder
from tui.history.replay import replay_events
from tui.history.store import RunStore

RUN_ID = "followed0001"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with closing(RunStore(tmp_path / "history.sqlite3")) as opened:
        yield opened


def scripts() -> dict[str, Script]:
    """A panel that takes three rounds: one member fails, one rejects twice, then accepts."""
    return {
        "alpha": Script(position="Alpha: yes, adopt X.\nLean: favourable\nConfidence: 8/10", chunks=5),
        "beta": Script(
            position="Beta: adopt X, but carefully and in steps.",
            votes=["VERDICT: REJECT\n- no rollback plan", "VERDICT: REJECT\n- no owner", "VERDICT: ACCEPT"],
            chunks=7,
        ),
        "gamma": Script(fail=rate_limited(), fail_phases=("position",)),
        "synth": Script(draft="DRAFT: adopt X in two steps, with a rollback plan", chunks=4),
    }


class FlushingRecorder(RunRecorder):
    """The recorder, each write it hands over made before the next event comes: a poll reads all
    that was recorded up to that event (the writer makes writes off the loop, a moment later)."""

    def __call__(self, event: ev.Event) -> None:
        super().__call__(event)
        self.store.flush()

    def checkpoint(self) -> None:
        super().checkpoint()
        self.store.flush()


class Watcher:
    """The recorder's sink, and a follower reading the same database behind it: after each event
    is recorded (and checkpointed) the follower polls: after every event, or with `rng` after
    about one in three."""

    def __init__(self, store: RunStore, rng: random.Random | None = None, **recorder: Any) -> None:
        self.recorder = FlushingRecorder(store, config=FAKE_CONFIG, **recorder)
        # Its own connection, as another process would have.
        self.reader = RunStore(store.path)
        self.follower = RunFollower(self.reader, RUN_ID)
        self.rng = rng
        self.events: list[ev.Event] = []
        self.polls: list[list[ev.Event]] = []

    def __call__(self, event: ev.Event) -> None:
        self.recorder(event)
        if self.recorder.run_id is None:
            return
        self.recorder.checkpoint()
        if self.rng is None or self.rng.random() < 0.3:
            self.poll()

    def poll(self) -> None:
        events = self.follower.poll()
        self.polls.append(events)
        self.events += events


async def run_watched(
    store: RunStore, req: RunRequest, provider: FakeProvider, watcher: Watcher, **extra: Any
):
    result = await Run(req, lookup(provider), watcher, run_id=RUN_ID, **extra).execute()
    watcher.poll()  # the last word: whatever the random polls had not yet read
    return result


def per_call(events: list[ev.Event]) -> dict[str, list[Any]]:
    """Each call's events in order, its text deltas joined: what a pane ends up showing of it."""
    calls: dict[str, list[Any]] = {}
    for event in events:
        match event:
            case ev.CallStarted(call_id=call_id, round=number, phase=phase, member_index=index):
                calls.setdefault(call_id, []).append(("started", number, phase, index))
            case ev.FirstToken(call_id=call_id, ttft_ms=ttft):
                calls.setdefault(call_id, []).append(("first token", ttft))
            case ev.TextDelta(call_id=call_id, text=text) | ev.SynthesisDelta(call_id=call_id, text=text):
                seen = calls.setdefault(call_id, [])
                if seen and seen[-1][0] == "text":
                    seen[-1] = ("text", seen[-1][1] + text)
                else:
                    seen.append(("text", text))
            case ev.CallFinished(result=call):
                calls.setdefault(call.call_id, []).append(("finished", call.status, call.content))
    return calls


def run_level(events: list[ev.Event]) -> list[Any]:
    """The events that are not one call's, as comparable values (a poll's request is the record's
    so far, so only the run id of `RunStarted` is compared)."""
    out: list[Any] = []
    for event in events:
        match event:
            case ev.RunStarted(run_id=run_id):
                out.append(("run started", run_id))
            case (
                ev.CallStarted() | ev.FirstToken() | ev.TextDelta() | ev.SynthesisDelta() | ev.CallFinished()
            ):
                pass
            case ev.RunFinished(result=r) | ev.RunFailed(result=r) | ev.RunCancelled(result=r):
                out.append((type(event).__name__, r.status, r.outcome, r.synthesis))
            case _:
                out.append(event)
    return out


def assert_shown_once_in_order(events: list[ev.Event], final: RunResult) -> None:
    """The follower's events over all polls show `final` exactly as its replay does."""
    replayed = replay_events(final)
    assert per_call(events) == per_call(replayed)
    assert run_level(events) == run_level(replayed)
    index = {id(e): i for i, e in enumerate(events)}

    def first(kind: type, **fields: Any) -> int:
        return next(
            i
            for i, e in enumerate(events)
            if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
        )

    for call in final.calls:
        started = first(ev.CallStarted, call_id=call.call_id)
        finished = first(ev.CallFinished, result=call)
        deltas = [
            index[id(e)]
            for e in events
            if isinstance(e, ev.TextDelta | ev.SynthesisDelta) and e.call_id == call.call_id
        ]
        assert all(started < i < finished for i in deltas)
        if final.mode is Mode.DELIBERATE:
            assert first(ev.RoundStarted, number=call.round) < started
            decided = [
                i
                for i, e in enumerate(events)
                if isinstance(e, ev.RoundDecided) and e.round.number == call.round
            ]
            assert all(finished < i for i in decided)  # a round is decided after its calls end
    for round_ in final.rounds[1:]:
        assert first(ev.RoundDecided, round=final.rounds[round_.number - 2]) < first(
            ev.RoundStarted, number=round_.number
        )
    assert isinstance(events[-1], ev.RunFinished | ev.RunFailed | ev.RunCancelled)


# ------------------------------------------------------------------------------------------------


async def test_a_run_polled_after_every_event_shows_each_event_once_in_order(store: RunStore) -> None:
    watcher = Watcher(store)
    result = await run_watched(store, request(["alpha", "beta", "gamma"]), FakeProvider(scripts()), watcher)
    assert result.status is RunStatus.SUCCESS and result.rounds_used == 3
    final = store.load(RUN_ID)
    assert_shown_once_in_order(watcher.events, final)
    # it streamed: text reached the follower while its calls were in flight, a few pieces at a time
    deltas = [
        e for e in watcher.events if isinstance(e, ev.TextDelta) and e.call_id == final.calls[0].call_id
    ]
    assert len(deltas) > 1 and "".join(d.text for d in deltas) == final.calls[0].content
    assert watcher.follower.ended and watcher.follower.in_flight == {}
    assert watcher.follower.poll() == []  # nothing new: nothing again


@pytest.mark.parametrize("seed", range(6))
async def test_polls_at_random_moments_add_up_to_the_replay(store: RunStore, seed: int) -> None:
    watcher = Watcher(store, random.Random(seed))
    await run_watched(store, request(["alpha", "beta", "gamma"]), FakeProvider(scripts()), watcher)
    assert_shown_once_in_order(watcher.events, store.load(RUN_ID))


async def test_consult_mode_shows_the_agreement_before_the_synthesis_ends(store: RunStore) -> None:
    watcher = Watcher(store)
    await run_watched(store, request(["alpha", "beta"], mode=Mode.CONSULT), FakeProvider(scripts()), watcher)
    final = store.load(RUN_ID)
    assert_shown_once_in_order(watcher.events, final)
    [agreement] = [i for i, e in enumerate(watcher.events) if isinstance(e, ev.AgreementRead)]
    synthesis = next(i for i, e in enumerate(watcher.events) if isinstance(e, ev.SynthesisDelta))
    assert agreement < synthesis  # recorded when read, not only at the end


async def test_positions_carried_over_from_an_earlier_run_show_before_the_run_ends(store: RunStore) -> None:
    provider = FakeProvider(scripts())
    earlier = await Run(
        request(["alpha", "beta", "gamma"]), lookup(provider), FlushingRecorder(store, config=FAKE_CONFIG)
    ).execute()
    watcher = Watcher(store)
    reuse = {0: earlier.positions[0], 1: earlier.positions[1]}
    await run_watched(store, request(["alpha", "beta", "gamma"]), provider, watcher, reuse=reuse)
    final = store.load(RUN_ID)
    assert_shown_once_in_order(watcher.events, final)
    carried = [e for e in watcher.events if isinstance(e, ev.CallFinished) and e.result.reused_from]
    assert [e.result.alias for e in carried] == ["alpha", "beta"]
    first_vote = next(
        i for i, e in enumerate(watcher.events) if isinstance(e, ev.CallStarted) and e.phase is Phase.VOTE
    )
    assert all(watcher.events.index(e) < first_vote for e in carried)


async def test_a_finished_run_is_one_poll_equal_to_its_replay(store: RunStore) -> None:
    await Run(
        request(["alpha", "beta", "gamma"]),
        lookup(FakeProvider(scripts())),
        FlushingRecorder(store, config=FAKE_CONFIG),
        run_id=RUN_ID,
    ).execute()
    follower = RunFollower(store, RUN_ID)
    assert follower.poll() == replay_events(store.load(RUN_ID))
    assert follower.ended and follower.poll() == []


def started_run(store: RunStore, aliases: list[str]) -> RunRecorder:
    """A run started by hand through the recorder (no event loop: checkpoints are called)."""
    recorder = FlushingRecorder(store, config=FAKE_CONFIG)
    req = request(aliases)
    recorder(ev.RunStarted(RUN_ID, req))
    recorder(ev.RoundStarted(1, req.max_rounds))
    return recorder


def texts_since_last_start(events: list[ev.Event]) -> dict[str, str]:
    """Each call's text as a display shows it: a `RunStarted` starts the display over."""
    shown: dict[str, str] = {}
    for event in events:
        if isinstance(event, ev.RunStarted):
            shown = {}
        elif isinstance(event, ev.TextDelta | ev.SynthesisDelta):
            shown[event.call_id] = shown.get(event.call_id, "") + event.text
    return shown


def test_a_text_rewritten_rather_than_grown_starts_the_display_over(store: RunStore) -> None:
    recorder = started_run(store, ["alpha", "beta"])
    for index, alias in enumerate(["alpha", "beta"]):
        recorder(ev.CallStarted(f"{RUN_ID}-{index + 1}", 1, Phase.POSITION, index, alias))
        recorder(ev.FirstToken(f"{RUN_ID}-{index + 1}", index, 300 + index))
        recorder(
            ev.TextDelta(f"{RUN_ID}-{index + 1}", index, Phase.POSITION, f"{alias} says: the key is sk-")
        )
    recorder.checkpoint()
    follower = RunFollower(store, RUN_ID)
    events = follower.poll()
    assert texts_since_last_start(events) == {
        f"{RUN_ID}-1": "alpha says: the key is sk-",
        f"{RUN_ID}-2": "beta says: the key is sk-",
    }
    assert [e.ttft_ms for e in events if isinstance(e, ev.FirstToken)] == [300, 301]
    # The record's text of alpha is no longer the continuation of what was shown (e.g. a secret
    # that straddled a checkpoint, redacted once whole), while beta's grew as usual.
    store.save_texts(
        {
            f"{RUN_ID}-1": "alpha says: the key is [redacted]. More.",
            f"{RUN_ID}-2": "beta says: the key is sk- no",
        }
    )
    again = follower.poll()
    assert isinstance(again[0], ev.RunStarted)
    shown = texts_since_last_start(events + again)
    assert shown == {
        f"{RUN_ID}-1": "alpha says: the key is [redacted]. More.",
        f"{RUN_ID}-2": "beta says: the key is sk- no",
    }
    assert [type(e).__name__ for e in again].count("CallStarted") == 2  # each once, after the new start
    store.save_texts({f"{RUN_ID}-1": "alpha says: the key is [redacted]. More. And more."})
    assert [(type(e), getattr(e, "text", None)) for e in follower.poll()] == [(ev.TextDelta, " And more.")]


def test_a_run_whose_process_died_ends_interrupted_with_what_had_arrived(store: RunStore) -> None:
    recorder = started_run(store, ["alpha", "beta"])
    recorder(ev.CallStarted(f"{RUN_ID}-1", 1, Phase.POSITION, 0, "alpha"))
    recorder(ev.CallStarted(f"{RUN_ID}-2", 1, Phase.POSITION, 1, "beta"))
    recorder(ev.TextDelta(f"{RUN_ID}-1", 0, Phase.POSITION, "Alpha: half an ans"))
    recorder.checkpoint()
    follower = RunFollower(store, RUN_ID)
    first = follower.poll()
    assert not follower.ended and set(follower.in_flight) == {f"{RUN_ID}-1", f"{RUN_ID}-2"}
    assert not any(isinstance(e, ev.CallFinished) for e in first)  # in flight, not cut short
    recorder(ev.TextDelta(f"{RUN_ID}-1", 0, Phase.POSITION, "wer"))
    recorder.checkpoint()
    # The process recording it is killed: nothing more is written, and its pid is gone.
    LIVE_RUNS.discard(RUN_ID)
    db = raw(store.path)
    db.execute("UPDATE runs SET pid = ?", (dead_pid(),))
    db.close()
    last = follower.poll()
    assert follower.ended and follower.result is not None
    assert follower.result.status is RunStatus.INTERRUPTED and INTERRUPTED_NOTE in follower.result.notes
    assert store.status(RUN_ID) is RunStatus.INTERRUPTED  # marked in the history, once
    assert [e.text for e in last if isinstance(e, ev.TextDelta)] == ["wer"]
    ended = [e.result for e in last if isinstance(e, ev.CallFinished)]
    assert [(c.alias, c.status) for c in ended] == [
        ("alpha", CallStatus.CANCELLED),
        ("beta", CallStatus.CANCELLED),
    ]
    assert ended[0].content == "Alpha: half an answer" and "interrupted" in (ended[0].error or "")
    assert isinstance(last[-1], ev.RunCancelled) and last[-1].result.status is RunStatus.INTERRUPTED
    assert follower.poll() == []


def test_a_run_that_is_not_or_no_longer_in_the_history_is_gone(store: RunStore) -> None:
    with pytest.raises(RunGone, match="nope"):
        RunFollower(store, "nope").poll()
    started_run(store, ["alpha"])
    follower = RunFollower(store, RUN_ID)
    assert isinstance(follower.poll()[0], ev.RunStarted)
    db = raw(store.path)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("DELETE FROM runs WHERE id = ?", (RUN_ID,))
    db.close()
    with pytest.raises(RunGone, match=RUN_ID):
        follower.poll()


def test_a_busy_database_is_read_at_the_next_poll(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    started_run(store, ["alpha"])
    follower = RunFollower(store, RUN_ID)

    def busy(run_id: str) -> Any:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "load_record", busy)
    assert follower.poll() == [] and follower.result is None
    monkeypatch.undo()
    assert isinstance(follower.poll()[0], ev.RunStarted)


def test_the_checkpoint_keeps_the_first_token_time_of_a_call_in_flight(store: RunStore) -> None:
    recorder = started_run(store, ["alpha"])
    recorder(ev.CallStarted(f"{RUN_ID}-1", 1, Phase.POSITION, 0, "alpha"))
    recorder(ev.FirstToken(f"{RUN_ID}-1", 0, 420))
    recorder(ev.TextDelta(f"{RUN_ID}-1", 0, Phase.POSITION, "Alpha"))
    recorder.checkpoint()
    record = store.load_record(RUN_ID)
    [call] = record.result.calls
    assert (call.ttft_ms, call.content, list(record.in_flight)) == (420, "Alpha", [f"{RUN_ID}-1"])
    done = CallResult(
        **{**call.model_dump(), "status": CallStatus.SUCCESS, "content": "Alpha: yes", "ttft_ms": 421}
    )
    recorder(ev.CallFinished(done))
    record = store.load_record(RUN_ID)
    assert record.result.calls[0].ttft_ms == 421 and record.in_flight == {}
