"""The items `quorum eval` asks: inspect-style and GSM8K lines read as they are, every bad line
named by file, line and field, the shipped GSM8K, the generated arithmetic (Du et al.'s at level
1), and a seeded choice of a development slice and scored items that never overlap."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import write
from tui.config import paths
from tui.errors import EXIT_USAGE
from tui.eval import datasets
from tui.eval.datasets import (
    Dataset,
    DatasetError,
    Sample,
    arithmetic,
    gsm8k,
    load_dataset,
    load_jsonl,
    select,
)
from tui.files import FileRefused, FileTooBig

REPO = Path(__file__).resolve().parent.parent


def jsonl(path: Path, *records: object) -> Path:
    return write(path, "".join(json.dumps(record) + "\n" for record in records))


def refusal(path: Path) -> list[str]:
    with pytest.raises(DatasetError) as caught:
        load_jsonl(path)
    assert caught.value.exit_code == EXIT_USAGE
    return str(caught.value).splitlines()


# --------------------------------------------------------------------------------------------
# GSM8K, shipped


def test_gsm8k_is_its_1319_test_items_scored_against_the_number_after_the_last_marks() -> None:
    items = load_dataset("gsm8k").samples
    assert len(items) == 1319
    first = items[0]
    assert first.id == "1"
    assert first.input.startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert first.target == ("18",)
    # The worked solution is kept as inspect-ai keeps it, without its final mark.
    assert "16 - 3 - 4" in first.metadata["reasoning"] and "####" not in first.metadata["reasoning"]


def test_a_gsm8k_answer_with_thousands_commas_is_the_bare_number() -> None:
    # Line 147 of the test split ends "#### 2,125".
    assert gsm8k()[146].target == ("2125",)


def test_every_gsm8k_target_is_a_whole_number() -> None:
    assert all(re.fullmatch(r"-?\d+", sample.target[0]) for sample in gsm8k())


def test_the_shipped_gsm8k_is_found_where_a_wheel_puts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "tui"
    jsonl(package / "_shipped" / "data" / "gsm8k" / "test.jsonl", {"question": "1+1?", "answer": "#### 2"})
    monkeypatch.setattr(paths, "_PACKAGE_DIR", package)
    assert gsm8k() == (Sample(id="1", input="1+1?", target=("2",), metadata={"reasoning": ""}),)


def test_the_wheel_and_the_sdist_carry_the_data_folder() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    build = project["tool"]["hatch"]["build"]["targets"]
    assert build["wheel"]["force-include"]["data"] == "tui/_shipped/data"
    assert "data" in build["sdist"]["include"]


def test_gsm8k_ships_with_its_licence_and_where_it_comes_from() -> None:
    folder = REPO / "data" / "gsm8k"
    licence = (folder / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "Copyright (c) 2021 OpenAI" in licence
    assert "openai/grade-school-math" in (folder / "README.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Inspect-style and GSM8K lines


def test_an_inspect_style_line_keeps_every_field_a_sample_has(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "set.jsonl",
        {
            "id": "q-7",
            "input": "Which is a prime?",
            "target": "B",
            "choices": ["4", "5", "6"],
            "metadata": {"source": "hand"},
            "files": {"ignored": "as inspect-ai's loader ignores what it does not map"},
        },
    )
    (sample,) = load_jsonl(path)
    assert sample == Sample(
        id="q-7",
        input="Which is a prime?",
        target=("B",),
        choices=("4", "5", "6"),
        metadata={"source": "hand"},
    )


def test_a_list_target_is_several_right_answers_and_numbers_are_read_as_written(tmp_path: Path) -> None:
    path = write(
        tmp_path / "set.jsonl",
        '{"input": "a", "target": ["Paris", "paris, France"]}\n'
        '{"input": "b", "target": 18}\n'
        '{"input": "c", "target": 0.1, "id": 40}\n',
    )
    items = load_jsonl(path)
    assert [sample.target for sample in items] == [("Paris", "paris, France"), ("18",), ("0.1",)]
    assert [sample.id for sample in items] == ["1", "2", "40"]  # no id: its place in the file, from 1


def test_a_file_of_gsm8k_lines_is_read_as_gsm8k(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "mine.jsonl", {"question": "How many?", "answer": "2 + 2 = 4\n#### 1,004"})
    (sample,) = load_jsonl(path)
    assert (sample.input, sample.target, sample.metadata["reasoning"]) == (
        "How many?",
        ("1004",),
        "2 + 2 = 4",
    )


def test_blank_lines_crlf_line_ends_and_a_byte_order_mark_are_read_past(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"input": "a", "target": "1"}\r\n\r\n\n{"input": "b", "target": "2"}\r\n')
    assert [sample.target for sample in load_jsonl(path)] == [("1",), ("2",)]


def test_a_line_separator_inside_a_string_does_not_split_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "set.jsonl", '{"input": "one\u2028two", "target": "x"}\n')
    assert load_jsonl(path)[0].input == "one\u2028two"


def test_every_bad_line_is_named_with_its_file_line_and_field_one_line_each(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.jsonl",
        "\n".join(
            [
                '{"input": "fine", "target": "1", "id": "a"}',
                '{"input": "no target"}',
                '{"target": "no input"}',
                '{"input": [{"role": "user", "content": "hi"}], "target": "x"}',
                '{"input": "q", "target": {"value": 1}}',
                '{"input": "q", "target": "x", "choices": "A, B"}',
                '{"input": "q", "target": "x", "id": "a"}',
                '{"input": "q", "target": NaN}',
                "[1, 2]",
                '{"input": "q", "target": "x",',
            ]
        ),
    )
    assert refusal(path) == [
        f'{path} line 2: no "target"',
        f'{path} line 3: no "input"',
        f'{path} line 4: "input" is a list (chat messages): only a question as text is read',
        f'{path} line 5: "target" must be text, a number or a list of them, not an object',
        f'{path} line 6: "choices" must be a list of texts',
        f"{path} line 7: the id 'a' is also line 1's",
        f"{path} line 8: not JSON (NaN is not a number JSON has)",
        f"{path} line 9: a line is one JSON object, not a list",
        f"{path} line 10: not JSON (Expecting property name enclosed in double quotes at column 30)",
    ]


def test_an_empty_question_and_metadata_that_is_not_an_object_are_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.jsonl",
        '{"input": "q", "target": "x", "metadata": [1]}\n{"input": "  ", "target": "x"}\n',
    )
    assert refusal(path) == [
        f'{path} line 1: "metadata" must be an object, not a list',
        f'{path} line 2: "input" is empty',
    ]


def test_a_gsm8k_answer_without_its_final_marks_is_named(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "g.jsonl", {"question": "q", "answer": "#### 1"}, {"question": "q", "answer": "4"}
    )
    assert refusal(path) == [f'{path} line 2: "answer" ends with no final answer after "#### "']


def test_a_first_line_of_neither_format_says_what_each_needs(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "x.jsonl", {"prompt": "q", "completion": "a"})
    assert refusal(path) == [
        f'{path} line 1: neither "input" and "target" (inspect) nor "question" and "answer" (GSM8K)'
    ]


def test_past_ten_bad_lines_the_rest_are_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", "oops\n" * 25)
    lines = refusal(path)
    assert len(lines) == 11
    assert lines[9].startswith(f"{path} line 10: not JSON")
    assert lines[10] == f"{path}: 15 more bad lines"


def test_an_empty_file_has_no_items(tmp_path: Path) -> None:
    assert refusal(write(tmp_path / "empty.jsonl", "\n\n")) == [
        f"{tmp_path / 'empty.jsonl'}: no items (the file holds no line of JSON)"
    ]


def test_a_file_that_is_not_utf8_is_refused_where_it_goes_wrong(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"input": "caf\xe9", "target": "x"}\n')
    assert refusal(path) == [f"{path}: not UTF-8 text (bad byte 0xe9 at offset 14, line 1)"]


def test_a_dataset_over_the_limit_is_refused_from_what_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets, "MAX_DATASET_BYTES", 100)
    path = jsonl(tmp_path / "big.jsonl", *({"input": "q" * 10, "target": "x"} for _ in range(10)))
    with pytest.raises(FileTooBig):
        load_jsonl(path)


def test_the_dataset_limit_is_tens_of_megabytes() -> None:
    assert datasets.MAX_DATASET_BYTES == 50_000_000


def test_a_fifo_named_as_a_dataset_is_refused_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "pipe.jsonl"
    os.mkfifo(path)
    with pytest.raises(FileRefused, match="FIFO"):
        load_dataset(str(path))


def test_a_name_that_is_neither_a_file_nor_built_in_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_dataset("gsm8")
    assert str(caught.value) == (
        "no dataset gsm8: no such file, and not a built-in one (gsm8k, arithmetic, arithmetic:LEVEL)"
    )


def test_a_path_reads_a_file_even_where_a_built_in_has_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jsonl(tmp_path / "gsm8k", {"input": "mine", "target": "1"})
    assert load_dataset("./gsm8k").samples[0].input == "mine"


# --------------------------------------------------------------------------------------------
# Arithmetic

_DU_ET_AL = re.compile(r"What is the result of (\d+)\+(\d+)\*(\d+)\+(\d+)-(\d+)\*(\d+)\?")


def test_arithmetic_level_1_is_du_et_al_six_integers_below_30_as_a_plus_b_times_c() -> None:
    items = load_dataset("arithmetic").samples
    assert len(items) == 1000
    seen: set[int] = set()
    for sample in items:
        match = _DU_ET_AL.fullmatch(sample.input)
        assert match, sample.input
        a, b, c, d, e, f = (int(group) for group in match.groups())
        seen.update((a, b, c, d, e, f))
        assert sample.target == (str(a + b * c + d - e * f),)
    assert seen == set(range(30))  # drawn from all of [0, 30), and nothing outside it


def test_each_arithmetic_level_adds_a_group_and_widens_the_operands_tenfold() -> None:
    for level in range(1, 6):
        sample = arithmetic(level, count=50)[7]
        expression = sample.metadata["expression"]
        operands = [int(number) for number in re.findall(r"\d+", expression)]
        assert len(operands) == 6 + 3 * (level - 1)
        assert expression.endswith("+{}*{}-{}".format(*operands[-3:])) or level == 1
        # Python's own arithmetic is the independent check of the target.
        assert sample.target == (str(eval(expression)),)  # only digits, +, - and *
    widest = max(
        int(n) for s in arithmetic(3, count=200) for n in re.findall(r"\d+", s.metadata["expression"])
    )
    assert 2000 < widest < 3000


def test_arithmetic_is_the_same_items_on_every_run_and_every_machine() -> None:
    # A pin of the first item: SHA-256 draws change only if the generator does.
    assert arithmetic(1, count=1)[0].input == "What is the result of 13+16*24+20-26*16?"
    assert arithmetic(1, count=1)[0].target == ("1",)
    assert arithmetic(2, count=30) == arithmetic(2, count=30)
    assert arithmetic(1, count=30, seed=1) != arithmetic(1, count=30, seed=0)


@pytest.mark.parametrize(
    "spec", ["arithmetic:0", "arithmetic:6", "arithmetic:two", "arithmetic:", "arithmetic:²"]
)
def test_an_arithmetic_level_outside_1_to_5_is_refused(spec: str) -> None:
    with pytest.raises(DatasetError, match="whole number from 1 to 5"):
        load_dataset(spec)


def test_arithmetic_level_is_named_after_the_colon() -> None:
    dataset = load_dataset("arithmetic:2")
    assert dataset.name == "arithmetic:2"
    assert dataset.samples[0].metadata["level"] == 2


# --------------------------------------------------------------------------------------------
# Which items are asked


def numbered(count: int) -> Dataset:
    return Dataset(
        "numbered", tuple(Sample(id=str(i), input=f"q{i}", target=(str(i),)) for i in range(count))
    )


def test_the_development_slice_and_the_scored_items_never_overlap() -> None:
    dev, scored = select(numbered(100), limit=30, seed=4, dev=20)
    assert (len(dev), len(scored)) == (20, 30)
    assert not {s.id for s in dev} & {s.id for s in scored}


def test_the_order_is_the_sha256_of_seed_and_id() -> None:
    dataset = numbered(50)
    expected = sorted(dataset.samples, key=lambda s: hashlib.sha256(f"7:{s.id}".encode()).hexdigest())
    dev, scored = select(dataset, limit=10, seed=7, dev=5)
    assert [*dev, *scored] == expected[:15]


def test_the_choice_does_not_depend_on_the_order_of_the_file() -> None:
    dataset = numbered(60)
    backwards = Dataset("numbered", dataset.samples[::-1])
    assert select(dataset, limit=10, seed=3, dev=5) == select(backwards, limit=10, seed=3, dev=5)


def test_a_larger_limit_keeps_the_items_a_smaller_one_chose_and_the_same_slice() -> None:
    small = select(numbered(200), limit=10, seed=1, dev=8)
    large = select(numbered(200), limit=50, seed=1, dev=8)
    assert large.dev == small.dev
    assert large.scored[:10] == small.scored


def test_another_seed_chooses_other_items() -> None:
    assert select(numbered(200), limit=20, seed=1).scored != select(numbered(200), limit=20, seed=2).scored


def test_without_a_limit_or_past_the_end_every_other_item_is_scored() -> None:
    assert len(select(numbered(30), seed=0, dev=5).scored) == 25
    assert len(select(numbered(30), limit=1000, seed=0, dev=5).scored) == 25


def test_a_development_slice_that_leaves_nothing_to_score_is_refused() -> None:
    with pytest.raises(
        DatasetError, match="numbered holds 10 items: a development slice of 10 leaves none to score"
    ):
        select(numbered(10), dev=10)
