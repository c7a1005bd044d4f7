"""Reading what a user names: only regular files, never more than the limit and one byte, a FIFO
that never hangs anything, a NUL byte in a path said in words, a question on standard input
held to a limit and to UTF-8, and an MCP server whose other tools answer while a file is read.

Bytes read are counted (every read goes through `os.read`, or through the stream handed in);
nothing is timed. A generous guard (a thread join, a subprocess timeout) only keeps a test that
would hang from hanging the suite.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import FAST_SPEED, write
from tui.attachments.images import read_image
from tui.attachments.text import MAX_ATTACHMENT_BYTES, read_attachment
from tui.cli.main import main
from tui.cli.run import MAX_QUESTION_BYTES, question_from
from tui.config import paths
from tui.config.loading import load_settings
from tui.errors import AttachmentError, ConfigError, UsageError
from tui.files import NUL_IN_PATH, FileRefused, read_limited
from tui.history.store import RunStore

GUARD_S = 60.0
"""How long a guard waits before it calls a read hung: never reached unless something blocks."""


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every `os.read` made while the test runs."""
    sizes: list[int] = []
    real = os.read

    def counted(descriptor: int, size: int) -> bytes:
        data = real(descriptor, size)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counted)
    return sizes


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO no one writes to. Should a reader block on it, a writer comes and goes at the end,
    so the reader's thread ends."""
    path = tmp_path / "pipe.md"
    os.mkfifo(path)
    yield path
    _give_a_writer(path)


def _give_a_writer(path: Path) -> None:
    # Succeeds only while a reader waits in open(); that reader then reads the end of the file.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def in_thread(call: Callable[[], Any], fifo: Path | None = None) -> Any:
    """What `call()` returns (or raises), called in a thread of its own: a call still blocked after
    the guard fails the test instead of hanging it (the FIFO it waits on is given a writer)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as err:  # handed to the test's thread as it was raised
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(GUARD_S)
    if thread.is_alive():
        if fifo is not None:
            _give_a_writer(fifo)
        pytest.fail("the read blocked on a file")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _memory_cap() -> None:
    # A child that reads /dev/zero to its end stops at 2 GB here, not where the kernel kills it.
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def quorum(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """The real `quorum` command in a process of its own (memory capped, a timeout as a guard)."""
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        preexec_fn=_memory_cap,
        timeout=GUARD_S,
    )


def nothing_recorded() -> bool:
    history = paths.history_file("")
    if not history.exists():
        return True
    store = RunStore(history)
    try:
        return store.count() == 0
    finally:
        store.close()


# --------------------------------------------------------------------------------------------
# The reading primitive


def test_a_device_is_refused_for_what_it_is_without_a_byte_read(reads: list[int]) -> None:
    with pytest.raises(FileRefused) as info:
        read_limited("/dev/zero", 1000)
    assert info.value.reason == "it is not a regular file (a character device)"
    assert sum(reads) == 0


def test_a_fifo_with_no_writer_is_refused_at_once(fifo: Path, reads: list[int]) -> None:
    with pytest.raises(FileRefused) as info:
        in_thread(lambda: read_limited(fifo, 1000), fifo)
    assert info.value.reason == "it is not a regular file (a FIFO)"
    assert sum(reads) == 0


def test_a_file_is_bounded_by_what_is_read_not_by_what_stat_says(reads: list[int]) -> None:
    """/proc's files say they are empty and are not: the read stops one byte past the limit."""
    with pytest.raises(FileRefused) as info:
        read_limited("/proc/self/maps", 100)
    assert info.value.reason == "more than 100 bytes is over the 100-byte limit"
    assert sum(reads) == 101


def test_a_file_over_the_limit_on_disk_is_refused_unread(tmp_path: Path, reads: list[int]) -> None:
    big = tmp_path / "big.md"
    with big.open("wb") as out:
        out.truncate(5000)
    with pytest.raises(FileRefused, match="5,000 bytes is over the 4,999-byte limit"):
        read_limited(big, 4999)
    assert sum(reads) == 0
    assert read_limited(big, 5000) == b"\x00" * 5000


def test_a_path_swapped_for_a_fifo_after_it_was_looked_at_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is checked is what was opened: a regular file replaced by a FIFO between the look and
    the open is still refused, and the open did not wait for a writer."""
    path = write(tmp_path / "plan.md", "the plan")
    real_open = os.open

    def swapped(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(name) == path and path.is_file():
            path.unlink()
            os.mkfifo(path)
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", swapped)
    with pytest.raises(FileRefused, match=r"not a regular file \(a FIFO\)"):
        in_thread(lambda: read_limited(path, 1000), path)


def test_a_symbolic_link_to_a_regular_file_is_read(tmp_path: Path) -> None:
    target = write(tmp_path / "real.md", "followed")
    (tmp_path / "link.md").symlink_to(target)
    assert read_limited(tmp_path / "link.md", 100) == b"followed"


# --------------------------------------------------------------------------------------------
# Attached files and images


def test_dev_zero_is_refused_as_a_file_without_a_byte_read(reads: list[int]) -> None:
    with pytest.raises(AttachmentError) as info:
        read_attachment("/dev/zero")
    assert str(info.value) == "cannot attach /dev/zero: it is not a regular file (a character device)"
    assert sum(reads) == 0


@pytest.mark.parametrize(
    ("limit", "read", "what"),
    [
        ("tui.attachments.text.MAX_ATTACHMENT_BYTES", read_attachment, "an attached file"),
        ("tui.attachments.images.MAX_IMAGE_BYTES", read_image, "an image"),
    ],
    ids=["file", "image"],
)
def test_an_attached_file_or_image_reads_one_byte_past_its_limit_and_no_more(
    limit: str, read: Callable[[str], object], what: str, reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limit, 100)
    with pytest.raises(AttachmentError) as info:
        read("/proc/self/maps")
    assert f"more than 100 bytes is over the 100-byte limit for {what}" in str(info.value)
    assert sum(reads) == 101


def test_the_attached_files_limit_is_named(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * (MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(AttachmentError) as info:
        read_attachment(big)
    assert "2,000,001 bytes is over the 2,000,000-byte limit for an attached file" in str(info.value)


def test_a_fifo_is_refused_as_a_file_and_as_an_image(fifo: Path) -> None:
    with pytest.raises(AttachmentError) as info:
        in_thread(lambda: read_attachment(fifo), fifo)
    assert str(info.value) == f"cannot attach {fifo}: it is not a regular file (a FIFO)"
    with pytest.raises(AttachmentError) as info:
        in_thread(lambda: read_image(fifo), fifo)
    assert str(info.value) == f"cannot attach image {fifo}: it is not a regular file (a FIFO)"


def test_a_directory_is_refused_as_a_file_and_as_an_image(tmp_path: Path) -> None:
    with pytest.raises(AttachmentError, match="it is a directory"):
        read_attachment(tmp_path)
    with pytest.raises(AttachmentError, match="it is a directory"):
        read_image(tmp_path)


def test_a_recorded_file_or_image_now_a_fifo_is_said_not_waited_on(fifo: Path) -> None:
    from tui.attachments.images import recover_image
    from tui.attachments.text import attachment_changes
    from tui.engine.types import Attachment, ImageRecord

    sent = Attachment(path="pipe.md", content="x", size=1, sha256="0" * 64, full_path=str(fifo))
    notes = in_thread(lambda: attachment_changes([sent], "r1"), fifo)
    assert notes == [
        "pipe.md cannot be read now (it is not a regular file (a FIFO)): the text run r1 sent is used"
    ]
    record = ImageRecord(
        path="pipe.png", media_type="image/png", size=1, sha256="0" * 64, width=1, height=1,
        full_path=str(fifo),
    )  # fmt: skip
    assert in_thread(lambda: recover_image(record), fifo) == (
        "cannot be read now (it is not a regular file (a FIFO))"
    )


def test_what_became_of_a_recorded_file_or_image_is_said_in_the_same_words(tmp_path: Path) -> None:
    """Gone, changed, emptied or grown past the limit: a recorded text file and a recorded image
    read again are told apart in the same phrases (a rerun sends neither in the file's place)."""
    import hashlib

    from tui.attachments.images import recover_image
    from tui.attachments.text import attachment_changes
    from tui.engine.types import Attachment, ImageRecord

    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (1).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    sent = hashlib.sha256(png).hexdigest()
    now = {"gone": None, "changed": png + b"!", "emptied": b"", "kept": png}
    for name, data in now.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)

    def told(name: str) -> tuple[list[str], Any]:
        full = str(tmp_path / name)
        text = Attachment(path=name, content="x", size=len(png), sha256=sent, full_path=full)
        image = ImageRecord(
            path=name, media_type="image/png", size=len(png), sha256=sent, width=1, height=1, full_path=full
        )
        return attachment_changes([text], "r1"), recover_image(image)

    assert told("gone") == (
        ["gone is no longer on disk: the text run r1 sent is used"],
        "is no longer on disk",
    )
    assert told("changed") == (
        ["changed has changed on disk since run r1: the text sent then is used, not the file as it is now"],
        "has changed on disk",
    )
    notes, image = told("emptied")
    assert notes == [
        "emptied has changed on disk since run r1: the text sent then is used, not the file as it is now"
    ]
    assert image == "cannot be read now (it is empty (0 bytes))"
    notes, image = told("kept")
    assert notes == [] and image.sha256 == sent


@pytest.mark.parametrize("read", [read_attachment, read_image], ids=["file", "image"])
def test_a_nul_byte_in_a_path_is_said_in_words(read: Callable[[str], Any]) -> None:
    with pytest.raises(AttachmentError) as info:
        read("plan\x00.md")
    message = str(info.value)
    assert message.endswith(": the path holds a NUL byte, which no file name can") and "\n" not in message
    assert info.value.exit_code == 2


# --------------------------------------------------------------------------------------------
# Config files


def test_a_config_path_that_is_a_fifo_or_a_device_is_refused(fifo: Path) -> None:
    with pytest.raises(ConfigError) as info:
        in_thread(lambda: load_settings(fifo), fifo)
    assert info.value.reason == "it is not a regular file (a FIFO)" and info.value.file == fifo
    with pytest.raises(ConfigError, match=r"not a regular file \(a character device\)"):
        load_settings("/dev/zero")


def test_a_config_file_over_its_limit_is_refused_naming_it(tmp_path: Path) -> None:
    from tui.config.loading import MAX_CONFIG_BYTES

    big = tmp_path / "big.toml"
    big.write_text("# a comment\n" * (MAX_CONFIG_BYTES // 12 + 1))
    with pytest.raises(ConfigError) as info:
        load_settings(big)
    size = big.stat().st_size
    assert info.value.reason == f"{size:,} bytes is over the 1,000,000-byte limit for a config file"


def test_a_nul_byte_in_a_config_path_or_in_the_history_path_it_sets_is_said_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="the path holds a NUL byte"):
        load_settings("settings\x00.toml")
    nul = write(tmp_path / "nul.toml", '[store]\npath = "history\\u0000.db"\n')
    assert main(["--config", str(nul), "run", "Q?"]) == 2
    err = capsys.readouterr().err
    assert "store.path" in err and "NUL byte" in err and "internal error" not in err


# --------------------------------------------------------------------------------------------
# The question on standard input


class EndlessInput:
    """Standard input that never ends, counting what is read from it."""

    def __init__(self) -> None:
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("read to the end of input that has none")
        self.given += size
        return b"a" * size


def test_the_question_on_standard_input_is_read_one_byte_past_its_limit_and_no_more() -> None:
    endless = EndlessInput()
    with pytest.raises(UsageError) as info:
        question_from(["-"], endless)  # type: ignore[arg-type]
    assert endless.given == MAX_QUESTION_BYTES + 1
    message = str(info.value)
    assert message == (
        "the question on standard input is more than 2,000,000 bytes, the limit for a question "
        "(as for a file attached with --file)"
    )


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (b"caf\xe9 or tea?", "not UTF-8 text (bad byte 0xe9 at offset 3, line 1)"),
        (b"Line one\nline \xff\xfe two", "not UTF-8 text (bad byte 0xff at offset 14, line 2)"),
        (b"\x89PNG\r\n\x1a\n", "not UTF-8 text (bad byte 0x89 at offset 0, line 1)"),
        (b"a\x00b", "it is binary data, not text (a NUL byte at offset 1)"),
    ],
)
def test_a_question_that_is_not_text_is_said_where(given: bytes, said: str) -> None:
    with pytest.raises(UsageError) as info:
        question_from(["-"], io.BytesIO(given))
    assert str(info.value) == f"the question on standard input: {said}"


def test_a_question_on_standard_input_loses_its_byte_order_mark_and_its_blank_edges() -> None:
    assert question_from(["-"], io.BytesIO("\ufeff  Ship it?\n".encode())) == "Ship it?"
    assert question_from(["-"], io.BytesIO("Über alles?".encode())) == "Über alles?"


def test_no_standard_input_is_said_in_words() -> None:
    with pytest.raises(UsageError, match="no standard input to read the question from"):
        question_from(["-"], None)


def test_a_question_that_is_not_utf8_stops_quorum_run_in_one_line_and_nothing_is_recorded(
    fast_demo_config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9 or tea?")))
    assert main(["--config", str(fast_demo_config), "run", "-"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "quorum: the question on standard input: not UTF-8 text (bad byte 0xe9 at offset 3, line 1)\n"
    )
    assert nothing_recorded()


# --------------------------------------------------------------------------------------------
# The command, as a user runs it


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--file", "/dev/zero"], "cannot attach /dev/zero: it is not a regular file (a character device)"),
        (["--image", "/dev/zero"], "image /dev/zero: it is not a regular file (a character device)"),
        (["--file", "{fifo}"], "cannot attach {fifo}: it is not a regular file (a FIFO)"),
        (["--image", "{fifo}"], "cannot attach image {fifo}: it is not a regular file (a FIFO)"),
        (["--config", "{fifo}"], "why:  it is not a regular file (a FIFO)"),
        (["--config", "/dev/zero"], "why:  it is not a regular file (a character device)"),
    ],
    ids=["file-dev-zero", "image-dev-zero", "file-fifo", "image-fifo", "config-fifo", "config-dev-zero"],
)
def test_quorum_run_refuses_what_is_not_a_regular_file_in_words(
    fifo: Path, fast_demo_config: Path, args: list[str], said: str
) -> None:
    args = [arg.format(fifo=fifo) for arg in args]
    config = [] if "--config" in args else ["--config", str(fast_demo_config)]
    proc = quorum(*config, "run", "Q?", *args)
    assert proc.returncode == 2, proc.stderr
    assert said.format(fifo=fifo) in proc.stderr and "internal error" not in proc.stderr
    assert proc.stdout == ""
    assert nothing_recorded()


def test_quorum_run_reads_a_question_piped_in_and_refuses_one_that_is_not_utf8(
    fast_demo_config: Path,
) -> None:
    bad = quorum("--config", str(fast_demo_config), "run", "-", stdin=b"caf\xe9 ok?")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == (
        "quorum: the question on standard input: not UTF-8 text (bad byte 0xe9 at offset 3, line 1)\n"
    )
    assert nothing_recorded()
    config = str(fast_demo_config)
    good = quorum("--config", config, "run", "-q", "--mode", "consult", "-", stdin="café?".encode())
    assert good.returncode == 0, good.stderr
    assert "café?" in good.stdout.encode("latin-1").decode()


# --------------------------------------------------------------------------------------------
# Over MCP


async def test_mcp_refuses_a_fifo_or_a_nul_byte_as_a_tool_error(
    fifo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_mcp import call_error, connected, demo_config

    monkeypatch.chdir(tmp_path)  # the project the client started the server in
    # A server that blocked on the FIFO is freed by a writer, late: it must not have needed one.
    guard = threading.Timer(GUARD_S, _give_a_writer, [fifo])
    guard.start()
    try:
        async with connected(demo_config(tmp_path, FAST_SPEED)) as client:
            for field, word in (("files", "cannot attach"), ("images", "cannot attach image")):
                said = await call_error(client, "consensus", {"question": "Q?", field: [fifo.name]})
                assert said.endswith(f": {word} {fifo.name}: it is not a regular file (a FIFO)")
                said = await call_error(client, "consensus", {"question": "Q?", field: ["plan\x00.md"]})
                assert said.endswith(f": {word} plan\x00.md: {NUL_IN_PATH}")
            assert (await client.call_tool("history", {})).structured_content == {"runs": []}
    finally:
        guard.cancel()


async def test_mcp_answers_history_while_a_consensus_call_is_still_reading_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that takes its time (a hung network mount, a hostile FUSE file) holds up the call
    that reads it, never the server: `history` answers while that read is still going on."""
    from tests.test_mcp import connected, demo_config, text_of

    monkeypatch.chdir(tmp_path)
    plan = write(tmp_path / "plan.md", "the plan")
    reading, release = threading.Event(), threading.Event()
    real = read_attachment

    def slow(path: str) -> Any:
        reading.set()
        release.wait()
        return real(path)

    monkeypatch.setattr("tui.session.read_attachment", slow)
    guard = threading.Timer(GUARD_S, release.set)  # a server blocked by the read is freed, late
    guard.start()
    try:
        async with connected(demo_config(tmp_path, FAST_SPEED)) as client:
            answers: dict[str, Any] = {}

            async def ask() -> None:
                answers["consensus"] = await client.call_tool(
                    "consensus", {"question": "Ship it?", "files": [plan.name], "mode": "consult"}
                )

            async with anyio.create_task_group() as group:
                group.start_soon(ask)
                assert await anyio.to_thread.run_sync(reading.wait, GUARD_S), "the file was never read"
                listed = await client.call_tool("history", {})
                held = not release.is_set()  # the file was still being read when history answered
                release.set()
            assert held, "history answered only once the file had been read"
            assert not listed.is_error and listed.structured_content == {"runs": []}
            answered = answers["consensus"]
            assert not answered.is_error, text_of(answered)
            assert (answered.structured_content or {})["status"] == "success"
    finally:
        guard.cancel()
        release.set()  # whatever failed, the read's thread ends


# --------------------------------------------------------------------------------------------
# The dashboard's attach-image path


async def test_the_dashboard_says_a_nul_byte_in_an_image_path_where_it_was_typed(tmp_path: Path) -> None:
    from tests.dashboard import make_app
    from tui.dashboard.screens.image_path import ImagePathScreen

    app, _ = make_app(["alpha"])
    async with app.run_test(size=(160, 50)) as pilot:
        [attach] = [c for c in app.get_system_commands(app.screen) if c.title == "Attach an image"]
        attach.callback()
        await pilot.pause()
        app.screen.query_one("#image-path").value = "shot\x00.png"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ImagePathScreen)  # still open: the path can be corrected
        error = str(app.screen.query_one("#image-error").render())
        assert error == "cannot attach image shot\\x00.png: the path holds a NUL byte, which no file name can"
        assert app.session.images == []
