"""The items `quorum eval` asks: questions with known answers, and which of them are asked.

An item is a `Sample` with the fields an inspect-ai `Sample` has, so a set moves between the two:
`id`, `input` (the question), `target` (one or more right answers), `choices` (a multiple-choice
item's options, lettered A, B, C… in order) and `metadata`.

`load_dataset(spec)` finds them:
- `gsm8k` — the GSM8K test split shipped with Quorum (1,319 items; MIT, `data/gsm8k/LICENSE`);
- `arithmetic` or `arithmetic:LEVEL` — generated, see `arithmetic`;
- anything else is a path to a JSONL file (`./gsm8k` reads a file of that name). A file is read
  in one of two formats, told from its first line: inspect-style (`input` and `target`; `id`,
  `choices` and `metadata` optional; other fields ignored, as inspect ignores them) or GSM8K's own
  (`question` and `answer`, whose target is the number after the last `#### `). A file is read
  through the bounded reader, at most `MAX_DATASET_BYTES`; every bad line is named, one a line.

`select` chooses the items asked. Each item has a place in a seeded order — items sorted by the
SHA-256 of `"{seed}:{id}"` — so a seed picks the same items on every machine and every version of
Python (no `random.shuffle`, whose algorithm the language does not promise to keep), whatever
order the file lists them in. The first `dev` items of that order are the development slice
(where the best single member is chosen), the next `limit` the scored items: the two never
overlap, the slice does not move when `limit` does, and a larger `limit` keeps every item a
smaller one chose.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from tui.config import paths
from tui.errors import UsageError
from tui.files import FileMissing, NotText, read_limited, utf8_text
from tui.render.words import counted

MAX_DATASET_BYTES = 50_000_000
"""The most a dataset file may hold: 50 MB, 65 times GSM8K's test split, and well within memory."""

MAX_LINES_REPORTED = 10
"""How many bad lines a refused file names; the rest are counted."""

ARITHMETIC_ITEMS = 1000
"""How many items `arithmetic` generates at each level (Du et al. asked 100)."""

MAX_ARITHMETIC_LEVEL = 5
BUILT_IN = ("gsm8k", "arithmetic", "arithmetic:LEVEL")
_GSM8K_MARK = "####"
_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


class DatasetError(UsageError):
    """A dataset that cannot be used as given; each bad line named by its file and number, one a
    line."""


@dataclass(frozen=True)
class Sample:
    """One question with its known answer, as inspect-ai has it."""

    id: str
    input: str
    target: tuple[str, ...]
    """The right answers: one, or several of which any is right (inspect's list target)."""
    choices: tuple[str, ...] | None = None
    """A multiple-choice item's options, lettered A, B, C… in this order."""
    # Not hashed (a mapping is not), so a sample can still be a key or in a set.
    metadata: Mapping[str, Any] = field(default_factory=lambda: _NO_METADATA, hash=False)


@dataclass(frozen=True)
class Dataset:
    name: str
    """As the user named it: `gsm8k`, `arithmetic:2`, or the file's path."""
    samples: tuple[Sample, ...]


class Selection(NamedTuple):
    """The items asked: the development slice and the scored items, never overlapping."""

    dev: tuple[Sample, ...]
    scored: tuple[Sample, ...]


def load_dataset(spec: str) -> Dataset:
    """The dataset `spec` names: a built-in one or a JSONL file. A `DatasetError` (or the
    reader's `FileRefused`) says in words why it cannot be used."""
    if spec == "gsm8k":
        return Dataset(spec, gsm8k())
    if spec == "arithmetic" or spec.startswith("arithmetic:"):
        return Dataset(spec, arithmetic(_level(spec)))
    try:
        return Dataset(spec, load_jsonl(spec))
    except FileMissing:
        names = ", ".join(BUILT_IN)
        raise DatasetError(f"no dataset {spec}: no such file, and not a built-in one ({names})") from None


def gsm8k() -> tuple[Sample, ...]:
    """GSM8K's 1,319 test items, read from the copy shipped with Quorum."""
    return load_jsonl(paths.shipped_dir("data") / "gsm8k" / "test.jsonl")


def arithmetic(level: int = 1, count: int = ARITHMETIC_ITEMS, seed: int = 0) -> tuple[Sample, ...]:
    """`count` generated arithmetic questions ("What is the result of 3+14*7+0-22*5?").

    Level 1 is Du et al.'s task exactly: six integers drawn uniformly from [0, 30), asked as
    `a+b*c+d-e*f`. Each level above adds a group `+g*h-i` and widens the range tenfold: level L
    has 6 + 3(L-1) operands drawn from [0, 30*10^(L-1)), up to level 5 (18 operands below
    300,000). Strong models saturate level 1; the higher levels are where they err.

    Operand k of item i is the SHA-256 of `"arithmetic/{seed}/{level}/{i}/{k}"`, its first eight
    bytes as an integer, modulo the range (a bias of under 1e-13): the same items everywhere. The
    target is the exact integer value; `metadata` holds the expression and the level.
    """
    if not 1 <= level <= MAX_ARITHMETIC_LEVEL:
        raise DatasetError(f"arithmetic: the level is a whole number from 1 to {MAX_ARITHMETIC_LEVEL}")
    bound = 30 * 10 ** (level - 1)
    samples = []
    for index in range(count):
        draws = [_draw(f"arithmetic/{seed}/{level}/{index}/{k}", bound) for k in range(3 + 3 * level)]
        a, b, c, d, e, f, *more = draws
        expression = f"{a}+{b}*{c}+{d}-{e}*{f}"
        value = a + b * c + d - e * f
        for g, h, i in zip(more[0::3], more[1::3], more[2::3], strict=True):
            expression += f"+{g}*{h}-{i}"
            value += g * h - i
        samples.append(
            Sample(
                id=str(index + 1),
                input=f"What is the result of {expression}?",
                target=(str(value),),
                metadata=MappingProxyType({"expression": expression, "level": level}),
            )
        )
    return tuple(samples)


def select(dataset: Dataset, *, limit: int | None = None, seed: int = 0, dev: int = 0) -> Selection:
    """The development slice (`dev` items) and the scored items (`limit` of them, or all the
    rest), in the seeded order the module describes."""
    if dev < 0:
        raise UsageError(f"the development slice cannot hold {dev} items")
    if limit is not None and limit < 1:
        raise UsageError(f"the limit is at least 1 item, not {limit}")
    total = len(dataset.samples)
    if dev >= total:
        raise DatasetError(
            f"{dataset.name} holds {total:,} items: a development slice of {dev:,} leaves none to score"
        )
    ordered = sorted(dataset.samples, key=lambda sample: _place(seed, sample.id))
    end = total if limit is None else min(total, dev + limit)
    return Selection(dev=tuple(ordered[:dev]), scored=tuple(ordered[dev:end]))


def load_jsonl(path: str | os.PathLike[str]) -> tuple[Sample, ...]:
    """The samples of a JSONL file, inspect-style or GSM8K's format (told from its first line)."""
    try:
        text = utf8_text(read_limited(path, MAX_DATASET_BYTES))
    except NotText as err:
        raise DatasetError(f"{path}: {err}") from None
    reader: _Reader | None = None
    samples: list[Sample] = []
    lines_of_ids: dict[str, int] = {}
    problems: list[str] = []
    # JSON strings may hold U+2028 and other line separators `splitlines` would cut at.
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = _json_object(line)
            reader = reader or _reader_for(record)
            sample = reader(record, len(samples) + 1)
            if sample.id in lines_of_ids:
                raise _BadLine(f"the id {sample.id!r} is also line {lines_of_ids[sample.id]}'s")
        except _BadLine as bad:
            problems.append(f"{path} line {number:,}: {bad}")
            continue
        lines_of_ids[sample.id] = number
        samples.append(sample)
    if problems:
        shown = problems[:MAX_LINES_REPORTED]
        if len(problems) > len(shown):
            shown.append(f"{path}: {counted(len(problems) - len(shown), 'more bad line')}")
        raise DatasetError("\n".join(shown))
    if not samples:
        raise DatasetError(f"{path}: no items (the file holds no line of JSON)")
    return tuple(samples)


# --------------------------------------------------------------------------------------------
# Reading one line

_Reader = Callable[[Mapping[str, Any], int], Sample]


class _BadLine(Exception):
    """Why one line cannot be read, as a phrase for `file line N: …`."""


def _json_object(line: str) -> Mapping[str, Any]:
    try:
        value = json.loads(line, parse_constant=_not_a_number)
    except ValueError as err:  # JSONDecodeError, or an integer too long to convert
        where = f" at column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
        reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise _BadLine(f"not JSON ({reason}{where})") from None
    if not isinstance(value, dict):
        raise _BadLine(f"a line is one JSON object, not {_kind(value)}")
    return value


def _not_a_number(constant: str) -> object:
    raise ValueError(f"{constant} is not a number JSON has")


def _reader_for(record: Mapping[str, Any]) -> _Reader:
    if "input" in record or "target" in record:
        return _inspect_sample
    if "question" in record or "answer" in record:
        return _gsm8k_sample
    raise _BadLine('neither "input" and "target" (inspect) nor "question" and "answer" (GSM8K)')


def _inspect_sample(record: Mapping[str, Any], position: int) -> Sample:
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _BadLine(f'"metadata" must be an object, not {_kind(metadata)}')
    return Sample(
        id=_id(record.get("id"), position),
        input=_question(record, "input"),
        target=_target(record.get("target")),
        choices=_choices(record.get("choices")),
        metadata=MappingProxyType(metadata) if metadata else _NO_METADATA,
    )


def _gsm8k_sample(record: Mapping[str, Any], position: int) -> Sample:
    question = _question(record, "question")
    answer = record.get("answer")
    if not isinstance(answer, str):
        raise _BadLine(f'"answer" must be text, not {_kind(answer)}' if answer is not None else 'no "answer"')
    reasoning, mark, final = answer.rpartition(_GSM8K_MARK)
    final = final.strip().replace(",", "")
    if not mark or not final:
        raise _BadLine(f'"answer" ends with no final answer after "{_GSM8K_MARK} "')
    # As inspect-ai keeps it: the worked solution, which no model is shown.
    return Sample(
        id=_id(record.get("id"), position),
        input=question,
        target=(final,),
        metadata=MappingProxyType({"reasoning": reasoning.strip()}),
    )


def _question(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        raise _BadLine(f'no "{name}"')
    if isinstance(value, list):
        raise _BadLine(f'"{name}" is a list (chat messages): only a question as text is read')
    if not isinstance(value, str):
        raise _BadLine(f'"{name}" must be text, not {_kind(value)}')
    if not value.strip():
        raise _BadLine(f'"{name}" is empty')
    return value


def _target(value: Any) -> tuple[str, ...]:
    if value is None:
        raise _BadLine('no "target"')
    answers = value if isinstance(value, list) else [value]
    if not answers:
        raise _BadLine('"target" is an empty list')
    texts = []
    for answer in answers:
        text = _text_or_number(answer)
        if text is None:
            raise _BadLine(f'"target" must be text, a number or a list of them, not {_kind(answer)}')
        if not text.strip():
            raise _BadLine('"target" is empty')
        texts.append(text)
    return tuple(texts)


def _choices(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(choice, str) for choice in value):
        raise _BadLine('"choices" must be a list of texts')
    if len(value) > 26:
        raise _BadLine(f'"choices" holds {len(value)} options; letters A to Z name 26 at most')
    return tuple(value)


def _id(value: Any, position: int) -> str:
    if value is None:  # as inspect-ai numbers them: the item's place in the file, from 1
        return str(position)
    text = _text_or_number(value) if not isinstance(value, float) else None
    if text is None:
        raise _BadLine(f'"id" must be text or a whole number, not {_kind(value)}')
    if not text.strip():
        raise _BadLine('"id" is empty')
    return text


def _text_or_number(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else "text" if isinstance(value, str) else type(value).__name__


# --------------------------------------------------------------------------------------------
# Seeded choices


def _place(seed: int, sample_id: str) -> bytes:
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()


def _draw(key: str, bound: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % bound


def _level(spec: str) -> int:
    if spec == "arithmetic":
        return 1
    text = spec.removeprefix("arithmetic:")
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ARITHMETIC_LEVEL:
        raise DatasetError(
            f"{spec}: the level after `arithmetic:` is a whole number from 1 to {MAX_ARITHMETIC_LEVEL}"
        )
    return int(text)
