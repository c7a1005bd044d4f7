"""The per-item log of an evaluation: what every run answered, one JSON line per finished run, from
which the report is computed.

A JSONL file. Its first line is the header: what is measured — the dataset and a SHA-256 of the
items asked (their ids, questions, targets and choices), the item ids of the development slice and
of the scored items in their seeded order, the limit, the seed, the scorer, the panel (each seat's
model, id, provider, stance and stance prompt), the synthesizer chain, the modes, the round limit
and the seed the runs are asked with. Then one line per run that finished (never one cancelled
half-way), appended and flushed as it finishes, in the order runs finished: the item, the slice
(`dev` or `scored`), the mode, the run's id in the history and its status, the final answer read,
whether it is right, each seat's first answer (its key, whether it is right, and its call's
tokens, cost and latency), every call's text with the answer read from it, a council's ballots
(each reviewer, the seats it was shown in label order, and its ranking or its abstention and why),
and the run's tokens, cost, calls and wall time. A line written before ballots were logged has
none, and still loads and resumes: the report says how many council runs it holds no ballots of.

A process stopped at any moment leaves every finished run's line whole (a line cut short by a kill
is dropped when the log is resumed); `EvalLog.resume` continues a log only under the same header,
naming what differs otherwise. The report comes from the lines alone (`summarize_log`): a resumed
evaluation reports exactly what an uninterrupted one does.

`single` has no lines of its own: each member's answer alone is its first answer in the `vote`
run of the same item (the same call: paired exactly with the vote, no extra tokens), its tokens,
cost and latency that call's.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from tui.engine.answers import AnswerReading, read_position, round_answers, seat_readings
from tui.engine.names import member_names
from tui.engine.types import AnswerSpec, Ballot, CallResult, Member, Mode, Phase, RunResult, RunStatus
from tui.engine.vote_count import TIE_RULE, final_answer
from tui.errors import UsageError
from tui.eval.datasets import Sample
from tui.eval.modes import SINGLE, run_modes
from tui.eval.plan import DEV, SCORED
from tui.eval.results import EvalSummary, ItemOutcome, council_ballots, summarize
from tui.eval.scoring import Scorer
from tui.eval.stats import DEFAULT_RESAMPLES

LOG_FORMAT = 1
"""The version of the log's lines, in its header (`quorum_eval`)."""

RUN_FAILED = "the run failed: "
"""How a run's failure begins when the run itself failed (every member did, or its synthesizers)."""

NO_ANSWER = "no answer: "
"""How a seat's failure begins when its call gave no answer at all (it failed, or never ended)."""


class LogError(UsageError):
    """A log that cannot be used as asked: not a log, another evaluation's, or already there."""


# --------------------------------------------------------------------------------------------
# The header


@dataclass(frozen=True)
class EvalHeader:
    """What an evaluation measures: everything a resumed one must share with the log it continues."""

    dataset: str
    items: str
    """SHA-256 of the items asked: ids, questions, targets and choices, development slice first."""
    dev: tuple[str, ...]
    """The development slice's item ids, in their seeded order."""
    scored: tuple[str, ...]
    """The scored items' ids, in their seeded order (the order of every table's items)."""
    limit: int | None
    seed: int
    scorer: str
    panel: tuple[Mapping[str, Any], ...]
    """Each seat: model (alias), id, provider, stance and stance prompt."""
    synthesizers: tuple[str, ...]
    modes: tuple[str, ...]
    """The modes asked for, `single` among them when asked."""
    rounds: int
    run_seed: int
    """The seed every run is asked with (`[demo] seed`: what the demo members draw from)."""

    @property
    def members(self) -> list[str]:
        """The seats' names, as the tables show them."""
        return member_names([_seat_member(seat) for seat in self.panel])

    def to_json(self) -> dict[str, Any]:
        return {
            "quorum_eval": LOG_FORMAT,
            "dataset": self.dataset,
            "items": self.items,
            "dev": list(self.dev),
            "scored": list(self.scored),
            "limit": self.limit,
            "seed": self.seed,
            "scorer": self.scorer,
            "panel": [dict(seat) for seat in self.panel],
            "synthesizers": list(self.synthesizers),
            "modes": list(self.modes),
            "rounds": self.rounds,
            "run_seed": self.run_seed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalHeader:
        return cls(
            dataset=data["dataset"],
            items=data["items"],
            dev=tuple(data["dev"]),
            scored=tuple(data["scored"]),
            limit=data["limit"],
            seed=data["seed"],
            scorer=data["scorer"],
            panel=tuple(data["panel"]),
            synthesizers=tuple(data["synthesizers"]),
            modes=tuple(data["modes"]),
            rounds=data["rounds"],
            run_seed=data["run_seed"],
        )

    def differences(self, now: EvalHeader) -> list[str]:
        """What `now` asks that this header (the log's) does not, one phrase each."""
        said: list[str] = []

        def differ(what: str, logged: object, asked: object) -> None:
            said.append(f"{what} {logged} in the log, {asked} now")

        if self.dataset != now.dataset:
            differ("the dataset is", self.dataset, now.dataset)
        if self.limit != now.limit:
            differ("--limit is", _or_all(self.limit), _or_all(now.limit))
        if self.seed != now.seed:
            differ("--seed is", self.seed, now.seed)
        if len(self.dev) != len(now.dev):
            differ("the development slice is", len(self.dev), len(now.dev))
        if self.scorer != now.scorer:
            differ("the scorer is", self.scorer, now.scorer)
        if self.panel != now.panel:
            differ("the panel is", _panel_words(self.panel), _panel_words(now.panel))
        if self.synthesizers != now.synthesizers:
            differ("the synthesizers are", ", ".join(self.synthesizers), ", ".join(now.synthesizers))
        if self.modes != now.modes:
            differ("the modes are", ",".join(self.modes), ",".join(now.modes))
        if self.rounds != now.rounds:
            differ("the round limit is", self.rounds, now.rounds)
        if self.run_seed != now.run_seed:
            differ("[demo] seed is", self.run_seed, now.run_seed)
        if not said and (self.items, self.dev, self.scored) != (now.items, now.dev, now.scored):
            said.append("the items differ (the dataset's file has changed since)")
        return said


def items_digest(samples: Iterable[Sample]) -> str:
    """The SHA-256 of what these items ask and expect, in order."""
    data = [[s.id, s.input, list(s.target), list(s.choices or ())] for s in samples]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


def seat_json(member: Member) -> dict[str, Any]:
    return {
        "model": member.alias,
        "id": member.model_id,
        "provider": member.provider,
        "stance": member.stance.value,
        "stance_prompt": member.stance_prompt,
    }


def _seat_member(seat: Mapping[str, Any]) -> Member:
    return Member(
        alias=seat["model"],
        model_id=seat["id"],
        provider=seat["provider"],
        stance=seat["stance"],
        stance_prompt=seat["stance_prompt"],
    )


def _panel_words(panel: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(
        f"{seat['model']}:{seat['stance']}" + ("*" if seat["stance_prompt"] else "") for seat in panel
    )


def _or_all(limit: int | None) -> str:
    return "all" if limit is None else str(limit)


# --------------------------------------------------------------------------------------------
# One run's line


@dataclass(frozen=True)
class SeatAnswer:
    """A seat's first answer in one run, judged, with what its call spent."""

    member: str
    answer: str | None
    key: str | None
    correct: bool
    failure: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    calls: int = 0
    """1 when the seat's call was made, 0 when it never was."""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ItemRecord:
    """One finished run of one item in one mode, as its log line holds it."""

    item: str
    slice: str
    mode: str
    run_id: str
    status: str
    answer: str | None
    key: str | None
    correct: bool
    failure: str | None
    """Why no final answer could be read (a parse failure, or the run failed), or None."""
    seats: tuple[SeatAnswer, ...]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    calls: int
    wall_ms: int
    call_lines: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)
    """Every call: its phase, round, seat, model, status, text, the answer read from it, tokens,
    cost and latency."""
    ballots: tuple[Ballot, ...] | None = ()
    """A council's ballots (none for any other mode); None on a line logged before ballots were."""

    def to_json(self) -> dict[str, Any]:
        data = {
            key: value
            for key, value in self.__dict__.items()
            if key not in ("seats", "call_lines", "ballots")
        }
        data["seats"] = [seat.to_json() for seat in self.seats]
        data["call_lines"] = [dict(line) for line in self.call_lines]
        data["ballots"] = [_ballot_json(ballot) for ballot in self.ballots or ()]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemRecord:
        """A line read back, without its calls (nothing reads them back)."""
        fields = {key: value for key, value in data.items() if key not in ("seats", "call_lines", "ballots")}
        ballots = data.get("ballots")
        return cls(
            **fields,
            seats=tuple(SeatAnswer(**seat) for seat in data["seats"]),
            ballots=None if ballots is None else tuple(_ballot(ballot) for ballot in ballots),
        )

    def outcome(self) -> ItemOutcome:
        """The run's result on its item, as the tables count it."""
        return ItemOutcome(
            sample_id=self.item,
            correct=self.correct,
            parse_failed=self.key is None,
            first_keys=tuple(seat.key for seat in self.seats),
            first_correct=tuple(seat.correct for seat in self.seats),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            calls=self.calls,
            wall_ms=self.wall_ms,
        )

    def single(self, seat: int) -> ItemOutcome:
        """What the seat answered alone: its first answer, its call's tokens, cost and latency."""
        answer = self.seats[seat]
        return ItemOutcome(
            sample_id=self.item,
            correct=answer.correct,
            parse_failed=answer.key is None,
            first_keys=(answer.key,),
            first_correct=(answer.correct,),
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cost_usd=answer.cost_usd,
            calls=answer.calls,
            wall_ms=answer.latency_ms,
        )


def item_record(result: RunResult, sample: Sample, scorer: Scorer, slice_: str) -> ItemRecord:
    """The log line of a finished run of `sample`: its answers read and judged by `scorer`."""
    spec = result.asked.answer if result.asked is not None else None
    if spec is None:
        raise ValueError(f"run {result.run_id} declared no answer shape")
    final = final_answer(result)
    readings = seat_readings(result) or []
    names = member_names(result.members)
    positions = round_answers(result)
    seats = tuple(
        _seat_answer(names[i], readings[i], positions[i], sample, scorer) for i in range(len(names))
    )
    return ItemRecord(
        item=sample.id,
        slice=slice_,
        mode=result.mode.value,
        run_id=result.run_id,
        status=result.status.value,
        answer=final.answer if final is not None else None,
        key=final.key if final is not None else None,
        correct=final is not None and final.key is not None and scorer.judge(final.key, sample),
        failure=_why_unread(final, result),
        seats=seats,
        input_tokens=result.totals.input_tokens,
        output_tokens=result.totals.output_tokens,
        cost_usd=result.totals.cost_usd,
        calls=len(result.calls),
        wall_ms=result.totals.wall_ms,
        call_lines=tuple(_call_line(call, spec) for call in result.calls),
        ballots=tuple(result.rounds[0].ballots) if result.mode is Mode.COUNCIL and result.rounds else (),
    )


def _ballot_json(ballot: Ballot) -> dict[str, Any]:
    return {
        "reviewer": ballot.member_index,
        "model": ballot.alias,
        "shown": list(ballot.shown),
        "ranking": None if ballot.ranking is None else list(ballot.ranking),
        "reason": ballot.reason,
    }


def _ballot(data: Mapping[str, Any]) -> Ballot:
    return Ballot(
        member_index=data["reviewer"],
        alias=data["model"],
        shown=data["shown"],
        ranking=data["ranking"],
        reason=data["reason"],
    )


def _seat_answer(
    name: str, reading: AnswerReading | None, call: CallResult | None, sample: Sample, scorer: Scorer
) -> SeatAnswer:
    if reading is None:
        why = call.error if call is not None and call.error else "its call did not finish"
        failure: str | None = f"{NO_ANSWER}{why}"
    else:
        failure = reading.failure
    key = reading.key if reading is not None else None
    return SeatAnswer(
        member=name,
        answer=reading.answer if reading is not None else None,
        key=key,
        correct=key is not None and scorer.judge(key, sample),
        failure=failure,
        input_tokens=call.input_tokens if call is not None else 0,
        output_tokens=call.output_tokens if call is not None else 0,
        cost_usd=call.cost_usd if call is not None else 0.0,
        latency_ms=(call.latency_ms or 0) if call is not None else 0,
        calls=1 if call is not None else 0,
    )


def _why_unread(final: AnswerReading | None, result: RunResult) -> str | None:
    """Why the run gave no final answer that could be read: the run failed, or its answer could
    not be read (a parse failure); None when it gave one."""
    if final is not None and final.key is not None:
        return None
    if result.status is not RunStatus.SUCCESS:
        return f"{RUN_FAILED}{'; '.join(result.errors) or result.status.value}"
    return final.failure if final is not None and final.failure else "no answer"


def _call_line(call: CallResult, spec: AnswerSpec) -> dict[str, Any]:
    reading = None if call.phase is Phase.VOTE else read_position(call, spec)
    return {
        "phase": call.phase.value,
        "round": call.round,
        "seat": call.member_index,
        "model": call.alias,
        "status": call.status.value,
        "text": call.content,
        "answer": reading.answer if reading is not None else None,
        "key": reading.key if reading is not None else None,
        "unread": reading.failure if reading is not None else None,
        "error": call.error,
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "tokens_source": call.tokens_source.value,
        "cost_usd": call.cost_usd,
        "latency_ms": call.latency_ms,
    }


# --------------------------------------------------------------------------------------------
# The file


class EvalLog:
    """An evaluation's log file, open for appending: its header and the lines read or written."""

    def __init__(self, path: Path, header: EvalHeader, records: list[ItemRecord], stream: TextIO) -> None:
        self.path = path
        self.header = header
        self.records: list[ItemRecord] = []
        """Every run's line, without its calls (they are on disk, and nothing here reads them)."""
        self.items_done = 0
        """How many scored items every mode's run has finished on."""
        self._stream = stream
        self._needed = {mode.value for mode in run_modes(header.modes)}
        self._finished: dict[str, set[str]] = {}
        for record in records:
            self._keep(record)

    @classmethod
    def create(cls, path: Path, header: EvalHeader) -> EvalLog:
        """A new log at `path`, in a folder that exists; one that is already there is refused."""
        try:
            stream = path.open("x", encoding="utf-8")
        except FileExistsError:
            raise LogError(
                f"{path} already exists: --resume {path} continues it, or --log names another file"
            ) from None
        except OSError as err:
            raise LogError(f"cannot write the log {path}: {err.strerror or err}") from None
        log = cls(path, header, [], stream)
        log._write(header.to_json())
        return log

    @classmethod
    def resume(cls, path: Path, header: EvalHeader) -> EvalLog:
        """The log at `path`, to continue under `header`: refused, naming what differs, when it was
        written for another evaluation. A last line cut short (the process was killed as it wrote
        it) is dropped."""
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise LogError(f"no log {path} to resume") from None
        except (OSError, UnicodeDecodeError) as err:
            raise LogError(f"cannot read the log {path}: {err}") from None
        whole, _, partial = text.rpartition("\n")
        lines = whole.split("\n") if whole else []
        if not lines:
            raise LogError(f"{path} is not a log of quorum eval (it holds no header line)")
        logged = _header(path, lines[0])
        differences = logged.differences(header)
        if differences:
            raise LogError(f"{path} is the log of another evaluation: {'; '.join(differences)}")
        records = [_record(path, number, line) for number, line in enumerate(lines[1:], start=2) if line]
        try:
            if partial:
                with path.open("r+b") as cut:
                    cut.truncate(len(whole.encode("utf-8")) + 1)
            stream = path.open("a", encoding="utf-8")
        except OSError as err:
            raise LogError(f"cannot write the log {path}: {err.strerror or err}") from None
        return cls(path, logged, records, stream)

    def append(self, record: ItemRecord) -> None:
        """Add a finished run's line, on disk at once (flushed), whatever happens next."""
        self._write(record.to_json())
        self._keep(record)

    def _keep(self, record: ItemRecord) -> None:
        self.records.append(replace(record, call_lines=()))
        if record.slice != SCORED:
            return
        modes = self._finished.setdefault(record.item, set())
        if not self._needed <= modes:
            modes.add(record.mode)
            self.items_done += self._needed <= modes

    def done(self) -> set[tuple[str, str]]:
        """The (item, mode) of every run the log holds."""
        return {(record.item, record.mode) for record in self.records}

    def close(self) -> None:
        self._stream.close()

    def discard(self) -> None:
        """Remove a log just created, before any run was asked (the estimate was refused)."""
        self._stream.close()
        self.path.unlink(missing_ok=True)

    def _write(self, data: Mapping[str, Any]) -> None:
        self._stream.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._stream.flush()


def _header(path: Path, line: str) -> EvalHeader:
    try:
        data = json.loads(line)
        if not isinstance(data, dict) or "quorum_eval" not in data:
            raise ValueError("no header")
        if data["quorum_eval"] != LOG_FORMAT:
            raise LogError(
                f"{path} was written by another version of quorum eval (log format {data['quorum_eval']})"
            )
        return EvalHeader.from_json(data)
    except (ValueError, KeyError, TypeError):
        raise LogError(f"{path} is not a log of quorum eval (its first line is no header)") from None


def _record(path: Path, number: int, line: str) -> ItemRecord:
    try:
        return ItemRecord.from_json(json.loads(line))
    except (ValueError, KeyError, TypeError) as err:
        raise LogError(f"{path} line {number:,} is not a run's line: {err}") from None


# --------------------------------------------------------------------------------------------
# The report's figures


def complete_items(header: EvalHeader, records: Iterable[ItemRecord]) -> list[str]:
    """The scored items every mode's run has finished on, in the seeded order."""
    needed = {mode.value for mode in run_modes(header.modes)}
    finished: dict[str, set[str]] = {}
    for record in records:
        if record.slice == SCORED:
            finished.setdefault(record.item, set()).add(record.mode)
    return [item for item in header.scored if needed <= finished.get(item, set())]


def summarize_log(
    header: EvalHeader, records: Sequence[ItemRecord], *, resamples: int = DEFAULT_RESAMPLES
) -> EvalSummary:
    """The summary of the items every mode has finished on, from the log's lines alone; the best
    single member chosen on the development items whose vote has finished."""
    items = complete_items(header, records)
    by_run = {(record.slice, record.item, record.mode): record for record in records}
    vote = Mode.VOTE.value
    names = header.members
    dev_votes = [by_run[(DEV, item, vote)] for item in header.dev if (DEV, item, vote) in by_run]
    singles: dict[str, list[ItemOutcome]] = {}
    dev: dict[str, list[bool]] = {}
    if SINGLE in header.modes:
        scored_votes = [by_run[(SCORED, item, vote)] for item in items]
        for seat, name in enumerate(names):
            singles[name] = [record.single(seat) for record in scored_votes]
            dev[name] = [record.seats[seat].correct for record in dev_votes]
    modes: dict[str, list[ItemOutcome]] = {
        mode.value: [by_run[(SCORED, item, mode.value)].outcome() for item in items]
        for mode in run_modes(header.modes)
        if mode.value in header.modes
    }
    summary = summarize(
        dataset=header.dataset,
        scorer=header.scorer,
        seed=header.seed,
        dev=dev,
        singles=singles,
        modes=modes,
        tie_rule=TIE_RULE,
        resamples=resamples,
    )
    council = Mode.COUNCIL.value
    if council not in header.modes:
        return summary
    runs = [by_run[(SCORED, item, council)].ballots for item in items]
    pooled = council_ballots([ballots for ballots in runs if ballots is not None])
    return replace(summary, council=replace(pooled, unrecorded=sum(ballots is None for ballots in runs)))


def evals_log_name(dataset: str, stamp: str) -> str:
    """A new log's file name: when it was started and what it measures (`20261207-2131-gsm8k.jsonl`)."""
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in os.path.basename(dataset.rstrip("/\\")))
    return f"{stamp}-{name.strip('-') or 'dataset'}.jsonl"
