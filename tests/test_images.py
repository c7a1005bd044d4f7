"""Images attached to a question: read and checked by their bytes, sent as image parts to the members
that can see them (both real SDKs, against the wire server, which checks every part), counted in the
context check, noted for the members that cannot, recorded by hash, reopened, and refused in words
when they are not what they claim (or too big, missing, unreadable, outside an MCP server's project).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import FAST_DEMO, FAST_SPEED, write
from tests.fakes import FakeProvider, Script, lookup, member
from tests.wire_server import Scenario, WireServer
from tui.ask import Ask
from tui.attachments.images import MAX_IMAGE_BYTES, read_image
from tui.cli.main import main
from tui.config import paths
from tui.config.catalog import Catalog
from tui.config.loading import load_settings
from tui.config.schema import parse_member
from tui.engine import events as ev
from tui.engine.orchestrator import run_panel
from tui.engine.provider import ChatMessage, ChatRequest, ErrorKind, Provider, ProviderError
from tui.engine.types import CallStatus, Image, Mode, Phase, RunRequest, RunStatus, Stance
from tui.engine.vision import image_tokens
from tui.errors import AttachmentError
from tui.history.store import RunStore
from tui.providers.anthropic_messages import AnthropicProvider
from tui.providers.openai_compat import OpenAICompatProvider
from tui.session import Session

# --------------------------------------------------------------------------------------------
# Images as files are: built byte by byte (no image library), each with its own header


def png(width: int, height: int) -> bytes:
    """A real, decodable greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """A JPEG's headers: SOI, a JFIF segment, the frame header (SOF0) with the size, EOI."""
    jfif = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + jfif + frame + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def _riff(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_lossy(width: int, height: int) -> bytes:
    return _riff(b"VP8 ", b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", width, height))


def webp_lossless(width: int, height: int) -> bytes:
    return _riff(b"VP8L", b"\x2f" + ((width - 1) | ((height - 1) << 14)).to_bytes(4, "little"))


def webp_extended(width: int, height: int) -> bytes:
    return _riff(
        b"VP8X", b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )


def image_file(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def an_image(name: str = "diagram.png", width: int = 1024, height: int = 768) -> Image:
    return Image.of(png(4, 3), path=name, media_type="image/png", width=width, height=height)


# --------------------------------------------------------------------------------------------
# 1. Reading: the bytes say what a file is, the header says its size


@pytest.mark.parametrize(
    ("name", "data", "media_type", "size"),
    [
        ("a.png", png(640, 480), "image/png", (640, 480)),
        ("b.jpg", jpeg(1920, 1080), "image/jpeg", (1920, 1080)),
        ("c.gif", gif(300, 200), "image/gif", (300, 200)),
        ("d.webp", webp_lossy(800, 600), "image/webp", (800, 600)),
        ("e.webp", webp_lossless(1000, 7999), "image/webp", (1000, 7999)),
        ("f.webp", webp_extended(4000, 3000), "image/webp", (4000, 3000)),
    ],
)
def test_each_format_is_read_by_its_bytes_with_its_size(
    tmp_path: Path, name: str, data: bytes, media_type: str, size: tuple[int, int]
) -> None:
    path = image_file(tmp_path, name, data)
    image = read_image(path)
    assert (image.media_type, image.width, image.height) == (media_type, *size)
    assert image.data == data and image.size == len(data)
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert image.path == str(path) and image.full_path == str(path.resolve())


def test_a_jpeg_called_png_is_sent_as_the_jpeg_it_is(tmp_path: Path) -> None:
    image = read_image(image_file(tmp_path, "screenshot.png", jpeg(1280, 720)))
    assert image.media_type == "image/jpeg" and (image.width, image.height) == (1280, 720)


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


BAD_FILES: list[tuple[str, Any, str]] = [
    ("missing", lambda d: d / "nope.png", "nope.png: no such file"),
    ("directory", lambda d: d, "it is a directory"),
    ("empty", lambda d: image_file(d, "empty.png", b""), "it is empty (0 bytes)"),
    (
        "text with an image's name",
        lambda d: image_file(d, "diagram.png", b"hello, I am text\n"),
        "it is not an image: its bytes are not PNG, JPEG, WebP or GIF, whatever its name says",
    ),
    (
        "a PDF",
        lambda d: image_file(d, "slide.png", b"%PDF-1.7\n"),
        "it is a PDF, not an image the models take",
    ),
    ("an SVG", lambda d: image_file(d, "logo.png", b"  <svg xmlns=...>"), "it is an SVG (text)"),
    ("a PNG cut short", lambda d: image_file(d, "cut.png", png(10, 10)[:20]), "not a complete PNG"),
    ("a JPEG with no frame", lambda d: image_file(d, "x.jpg", jpeg(10, 10)[:20]), "not a complete JPEG"),
    ("a WebP cut short", lambda d: image_file(d, "x.webp", webp_lossy(10, 10)[:24]), "not a complete WebP"),
    ("zero pixels wide", lambda d: image_file(d, "zero.gif", gif(0, 10)), "says it is 0x10 pixels"),
    ("too many pixels", lambda d: image_file(d, "huge.png", png(9000, 1)), "9000x1 pixels, over the 8,000"),
    ("a pipe", _fifo, "it is not a regular file"),
    ("a device", lambda d: Path("/dev/zero"), "it is not a regular file"),
]


@pytest.mark.parametrize(("what", "make", "reason"), BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_what_is_not_an_image_is_refused_in_words(tmp_path: Path, what: str, make: Any, reason: str) -> None:
    path = make(tmp_path)
    with pytest.raises(AttachmentError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"cannot attach image {path}: ") and reason in message, message
    assert info.value.exit_code == 2


def test_a_file_over_the_limit_is_refused_by_its_size_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = tmp_path / "huge.png"
    with huge.open("wb") as out:  # 10 GB on paper, a few bytes on disk
        out.write(png(1, 1))
        out.truncate(10 * 1024**3)

    def no_reading(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a file over the limit was read")

    monkeypatch.setattr(os, "read", no_reading)
    with pytest.raises(AttachmentError) as info:
        read_image(huge)
    assert "10,737,418,240 bytes is over the 3,932,160-byte limit" in str(info.value)
    assert "Anthropic's 5 MB of base64" in str(info.value)


def test_an_unreadable_file_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = image_file(tmp_path, "locked.png", png(2, 2))

    def denied(*_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)  # tests run as root too, whom no file mode stops
    with pytest.raises(AttachmentError, match=r"locked.png: cannot read it \(Permission denied\)"):
        read_image(path)


def test_the_largest_image_allowed_is_the_largest_anthropic_takes(tmp_path: Path) -> None:
    at_limit = png(1, 1).ljust(MAX_IMAGE_BYTES, b"\x00")
    assert read_image(image_file(tmp_path, "max.png", at_limit)).size == MAX_IMAGE_BYTES
    with pytest.raises(AttachmentError, match="3,932,161 bytes is over"):
        read_image(image_file(tmp_path, "over.png", at_limit + b"\x00"))
    # 5 MiB of base64 exactly: what Anthropic's server still takes (the wire server checks it below).
    assert len(read_image(tmp_path / "max.png").base64) == 5 * 1024 * 1024


def test_an_image_is_immutable_says_what_its_bytes_are_and_is_never_dumped_with_them() -> None:
    image = an_image()
    with pytest.raises(ValidationError):
        image.width = 1  # type: ignore[misc]
    assert image.sha256 == hashlib.sha256(png(4, 3)).hexdigest() and image.size == len(png(4, 3))
    with pytest.raises(ValidationError, match="sha256 'beef' is not that of the bytes given"):
        Image.model_validate(
            {
                "path": "x.png",
                "media_type": "image/png",
                "width": 1,
                "height": 1,
                "data": b"abc",
                "sha256": "beef",
            }
        )
    dumped = image.model_dump_json()
    assert "data" not in json.loads(dumped) and image.base64.decode() not in dumped
    assert image.record().model_dump() == json.loads(dumped)
    assert image.base64.decode() not in repr(image)


# --------------------------------------------------------------------------------------------
# 2. The engine: who is sent the images, who is told, what they cost


def test_image_tokens_follow_each_providers_published_rule() -> None:
    openai = {(1024, 1024): 765, (2048, 4096): 1105, (512, 512): 255, (100, 100): 255}
    for (width, height), expected in openai.items():
        assert image_tokens(an_image(width=width, height=height), "openai") == expected
    anthropic = {(1000, 1000): 1334, (200, 200): 54, (4000, 3000): 1600, (1568, 400): 837}
    for (width, height), expected in anthropic.items():
        assert image_tokens(an_image(width=width, height=height), "anthropic") == expected
    assert image_tokens(an_image(width=1024, height=1024), "demo") == 765


def _with_images(request: RunRequest, *images: Image) -> RunRequest:
    return request.model_copy(update={"images": list(images)})


def _panel(members: list[Any], synth: Any, **extra: Any) -> RunRequest:
    return RunRequest(
        question="Is this architecture diagram sound?",
        members=members,
        synthesizers=[synth],
        images=[an_image("arch.png"), an_image("flow.png", 800, 600)],
        **extra,
    )


def _images_sent(request: ChatRequest) -> list[str]:
    return [image.path for message in request.messages for image in message.images]


async def test_members_that_see_images_get_them_in_every_phase_and_the_others_are_told() -> None:
    provider = FakeProvider(
        {
            "eyes": Script(votes=["VERDICT: REJECT\n- label the queue", "VERDICT: ACCEPT"]),
            "blind": Script(votes=["VERDICT: REJECT\n- say who owns it", "VERDICT: ACCEPT"]),
            "synth": Script(),
        }
    )
    request = _panel(
        [member("eyes", Stance.FOR, vision=True), member("blind", Stance.AGAINST)],
        member("synth", vision=True),
        max_rounds=2,
    )
    events: list[ev.Event] = []
    result = await run_panel(request, lookup(provider), events.append)
    assert result.status is RunStatus.SUCCESS and result.rounds_used == 2
    note = "blind: not vision-capable in the catalog — answered from the text only, 2 images not sent"
    assert result.notes == [note]
    assert [e.message for e in events if isinstance(e, ev.Notice)] == [note]
    phases: dict[str, set[Phase]] = {}
    for sent in provider.requests:
        phases.setdefault(sent.model_id, set()).add(sent.phase)
        expected = [] if sent.model_id == "blind" else ["arch.png", "flow.png"]
        assert _images_sent(sent) == expected, (sent.model_id, sent.phase)
        # Every model reads that the images exist, and what they are, whether it sees them or not.
        text = sent.messages[-1].content
        listed = "Images attached to the question:\n1. arch.png (PNG, 1024x768)\n2. flow.png (PNG, 800x600)"
        assert listed in text
    assert phases == {
        "eyes": {Phase.POSITION, Phase.VOTE},
        "blind": {Phase.POSITION, Phase.VOTE},
        "synth": {Phase.DRAFT},
    }


async def test_a_synthesizer_that_cannot_see_is_noted_and_so_is_a_fallback_that_takes_over() -> None:
    failing = ProviderError(ErrorKind.SERVER, "synth is down")
    provider = FakeProvider({"eyes": Script(), "synth": Script(fail=failing), "backup": Script()})
    request = _panel([member("eyes", vision=True)], member("synth"), mode=Mode.CONSULT)
    request = request.model_copy(update={"synthesizers": [member("synth"), member("backup")]})
    result = await run_panel(request, lookup(provider), lambda _e: None)
    assert result.status is RunStatus.SUCCESS and result.synthesizer == "backup"
    assert result.notes == [
        "synth (synthesizer): not vision-capable in the catalog — answered from the text only, "
        "2 images not sent",
        "backup (synthesizer): not vision-capable in the catalog — answered from the text only, "
        "2 images not sent",
    ]


async def test_a_panel_where_nobody_can_see_the_images_still_runs() -> None:
    provider = FakeProvider({"a": Script(), "b": Script(), "synth": Script()})
    request = _panel([member("a"), member("b")], member("a"), mode=Mode.CONSULT)
    result = await run_panel(request, lookup(provider), lambda _e: None)
    assert result.status is RunStatus.SUCCESS and result.synthesis
    assert all(_images_sent(sent) == [] for sent in provider.requests)
    assert len(result.notes) == 2 and all("2 images not sent" in note for note in result.notes)


async def test_images_count_in_the_context_check() -> None:
    """A window the text fits in, and two images (765 + 765 tokens by OpenAI's rule) do not: the
    call is refused before it is sent, and says what the images cost. The same model without
    vision is sent the text alone, which fits."""
    provider = FakeProvider({"small": Script(), "synth": Script()})
    seeing = member("small", vision=True, context_window=2400, max_output_tokens=600)
    request = RunRequest(
        question="What is wrong in these two screenshots?",
        members=[seeing],
        synthesizers=[member("synth")],
        images=[an_image("one.png", 1024, 1024), an_image("two.png", 1024, 1024)],
        mode=Mode.CONSULT,
    )
    result = await run_panel(request, lookup(provider), lambda _e: None)
    position = result.positions[0]
    assert position is not None and position.status is CallStatus.ERROR
    assert position.error_kind == ErrorKind.CONTEXT_TOO_LONG.value
    assert position.error is not None and "(1,530 of them for 2 images)" in position.error
    assert "small's 2,400-token window leaves 1,800" in position.error
    assert not [sent for sent in provider.requests if sent.model_id == "small"]  # never sent

    blind = request.model_copy(update={"members": [seeing.model_copy(update={"vision": False})]})
    result = await run_panel(blind, lookup(provider), lambda _e: None)
    assert result.positions[0] is not None and result.positions[0].status is CallStatus.SUCCESS


async def test_the_budget_look_ahead_counts_the_images_the_voters_are_sent() -> None:
    """A budget two rounds of text fit: with two voters who are sent two images each, the
    look-ahead sees a round would not, and the curator decides at once."""

    def run_with(vision: bool) -> RunRequest:
        voters = [member(alias, vision=vision) for alias in ("a", "b")]
        return _panel(voters, member("synth"), max_rounds=2, token_budget=6000).model_copy(
            update={"images": [an_image("big.png", 2048, 2048), an_image("big2.png", 2048, 2048)]}
        )

    scripts = {alias: Script(votes=["VERDICT: REJECT\n- no"], usage=(300, 100)) for alias in ("a", "b")}
    scripts["synth"] = Script(usage=(300, 100))
    without = await run_panel(run_with(False), lookup(FakeProvider(dict(scripts))), lambda _e: None)
    assert without.rounds[1].votes and "token budget" not in (without.rounds[1].note or "")
    with_images = await run_panel(run_with(True), lookup(FakeProvider(dict(scripts))), lambda _e: None)
    last = with_images.rounds[-1]
    assert last.votes == [] and (last.note or "").startswith("token budget:")  # decided before a vote
    assert len(with_images.rounds) < len(without.rounds) or without.rounds[-1].votes


# --------------------------------------------------------------------------------------------
# 3. Over the wire: both real SDKs, every image part checked by the server

KINDS = ["openai", "anthropic"]


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


@pytest.fixture
def wire(server: WireServer) -> WireServer:
    server.clear()
    return server


def provider_for(kind: str, server: WireServer) -> Provider:
    if kind == "openai":
        return OpenAICompatProvider(
            "openai", base_url=server.openai_base_url, api_key="sk-wire", api_key_env="OPENAI_API_KEY"
        )
    return AnthropicProvider(
        "anthropic",
        base_url=server.anthropic_base_url,
        api_key="sk-ant-wire",
        api_key_env="ANTHROPIC_API_KEY",
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_both_sdks_send_the_images_as_image_parts_to_the_members_that_see(
    kind: str, wire: WireServer, tmp_path: Path
) -> None:
    shots = [
        read_image(image_file(tmp_path, "ui.png", png(64, 48))),
        read_image(image_file(tmp_path, "photo.jpg", jpeg(1600, 1200))),
    ]
    wire.script("seer", Scenario(text="Conclusion: the queue is unlabelled.\nLean: mixed"))
    wire.script("reader", Scenario(text="Conclusion: cannot tell without the images.\nLean: mixed"))
    provider = provider_for(kind, wire)
    seer = member("seer", vision=True, provider_kind=kind)
    request = RunRequest(
        question="Which of these screens confuses users?",
        members=[seer, member("reader", provider_kind=kind)],
        synthesizers=[seer],
        images=shots,
        mode=Mode.CONSULT,
    )
    try:
        result = await run_panel(request, lookup(provider), lambda _e: None)
    finally:
        await provider.aclose()
    assert result.status is RunStatus.SUCCESS, result.errors
    expected = [(shot.media_type, shot.sha256) for shot in shots]
    seen = [r for r in wire.requests if r.body["model"] == "seer"]
    assert len(seen) == 2  # its position and the synthesis
    for sent in seen:
        assert sent.images == expected  # decoded by the server, of the type declared
        content = sent.body["messages"][-1]["content"]
        if kind == "openai":  # the text, then each image as a data: URL
            assert content[0]["type"] == "text" and f"1. {shots[0].path} (PNG, 64x48)" in content[0]["text"]
            assert [p["type"] for p in content[1:]] == ["image_url", "image_url"]
            assert content[2]["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
        else:  # each image as a base64 block, ahead of the text
            assert [b["type"] for b in content] == ["image", "image", "text"]
            assert content[1]["source"]["media_type"] == "image/jpeg"
            assert content[1]["source"]["type"] == "base64"
    reader = [r for r in wire.requests if r.body["model"] == "reader"]
    assert len(reader) == 1 and reader[0].images == []
    # A body with images is made by Quorum, not the SDK's `create` (see tui.providers.image_body):
    # it goes with the headers `create` sends, the key among them.
    same = ("authorization", "x-api-key", "anthropic-version", "content-type", "user-agent")
    for sent in seen:
        assert {h: sent.headers.get(h) for h in same} == {h: reader[0].headers.get(h) for h in same}
        assert set(sent.headers) == set(reader[0].headers)
    key = "sk-wire" if kind == "openai" else "sk-ant-wire"
    assert key in reader[0].headers.get("authorization", "") + reader[0].headers.get("x-api-key", "")
    assert isinstance(reader[0].body["messages"][-1]["content"], str)  # text alone, as before
    assert result.notes == [
        "reader: not vision-capable in the catalog — answered from the text only, 2 images not sent"
    ]


def test_a_body_with_images_is_the_json_the_sdk_would_write_with_the_base64_put_in() -> None:
    """The base64 goes in where its stand-in was, and only there: text that looks like a stand-in
    (a model quoting one back) has not got this body's random word, and stays text."""
    from tui.providers.image_body import ImageSlots

    image = an_image()
    slots = ImageSlots()
    forged = "\x00" + "0" * 16 + ":0\x00"
    body = {"messages": [{"content": ["quoted: " + forged, "ünïcode ✓", slots.slot(image)]}], "n": 1}
    encoded = slots.encode(body)
    expected = {"messages": [{"content": ["quoted: " + forged, "ünïcode ✓", image.base64.decode()]}], "n": 1}
    assert json.loads(encoded) == expected
    assert encoded == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
    assert not ImageSlots()


def _chat(image: Image) -> ChatRequest:
    return ChatRequest(
        model_id="m",
        system="terse",
        messages=(ChatMessage("user", "What is this?", (image,)),),
        max_output_tokens=64,
    )


async def _refusal(kind: str, server: WireServer, image: Image) -> ProviderError:
    provider = provider_for(kind, server)
    try:
        with pytest.raises(ProviderError) as info:
            async for _ in provider.stream(_chat(image)):
                pass
    finally:
        await provider.aclose()
    return info.value


@pytest.mark.parametrize("kind", KINDS)
async def test_the_wire_server_refuses_an_image_whose_bytes_are_not_its_type(
    kind: str, wire: WireServer
) -> None:
    """What keeps the checks above honest: a part whose bytes are not the media type it declares
    is refused, as the real APIs refuse it."""
    lying = Image.of(jpeg(1, 1), path="x.png", media_type="image/png", width=1, height=1)
    err = await _refusal(kind, wire, lying)
    assert err.kind is ErrorKind.BAD_REQUEST
    assert "Image does not match the provided media type image/png" in err.message
    assert wire.requests[-1].images == []


async def test_anthropics_limit_is_the_limit_quorum_holds_images_to(wire: WireServer, tmp_path: Path) -> None:
    at_limit = read_image(image_file(tmp_path, "max.png", png(1, 1).ljust(MAX_IMAGE_BYTES, b"\x00")))
    provider = provider_for("anthropic", wire)
    try:
        items = [item async for item in provider.stream(_chat(at_limit))]
    finally:
        await provider.aclose()
    assert items and wire.requests[-1].images == [("image/png", at_limit.sha256)]
    one_more = Image.of(
        at_limit.data + b"\x00\x00\x00", path="o.png", media_type="image/png", width=1, height=1
    )
    err = await _refusal("anthropic", wire, one_more)
    assert "image exceeds 5 MB maximum" in err.message


# --------------------------------------------------------------------------------------------
# 4. quorum run, the report, the JSON and the history


def _demo(tmp_path: Path) -> Path:
    return write(tmp_path / "fast.toml", FAST_DEMO)


def test_quorum_run_sends_images_to_the_demo_members_that_see_and_notes_the_one_that_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = image_file(tmp_path, "dash board.png", png(320, 200))
    photo = image_file(tmp_path, "whiteboard.jpeg", jpeg(4032, 3024))
    config = _demo(tmp_path)
    code = main(["--config", str(config), "run", "Is this layout clear?", "--image", str(shot),
                 "--image", str(photo), "--mode", "consult", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    images = data["asked"]["images"]
    assert [(i["path"], i["media_type"], i["width"], i["height"]) for i in images] == [
        (str(shot), "image/png", 320, 200),
        (str(photo), "image/jpeg", 4032, 3024),
    ]
    assert images[0]["sha256"] == hashlib.sha256(shot.read_bytes()).hexdigest()
    assert images[0]["size"] == shot.stat().st_size and "data" not in images[0]
    assert read_image(shot).base64[:40].decode() not in out  # no bytes in the JSON
    note = "demo-cirrus: not vision-capable in the catalog — answered from the text only, 2 images not sent"
    assert note in data["notes"] and note in err  # the JSON, and the progress lines
    vision = {m["alias"]: m["vision"] for m in data["members"]}
    assert vision == {"demo-atlas": True, "demo-bolt": True, "demo-cirrus": False}
    answers = {p["alias"]: p["content"] for p in data["positions"]}
    assert "shown 2 images" in answers["demo-atlas"] and "shown 2 images" in answers["demo-bolt"]
    assert "shown" not in answers["demo-cirrus"]

    store = RunStore(paths.history_file(""))
    try:
        run_id = data["run_id"]
        recorded = store.load(run_id)
        assert recorded.asked is not None
        assert [i.model_dump() for i in recorded.asked.images] == images  # by what they were
        assert note in recorded.notes
    finally:
        store.close()
    database = paths.history_file("").read_bytes()
    assert b"\x89PNG" not in database and read_image(shot).base64[:40] not in database

    assert main(["show", run_id[:8], "--md"]) == 0
    report = capsys.readouterr().out
    assert f"- **Image:** `{shot}` · PNG 320×200 · " in report
    assert f"sha256 {images[0]['sha256'][:12]}" in report
    assert f"- {note}" in report
    assert main(["show", run_id[:8], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["asked"]["images"] == images


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: d / "gone.png", "gone.png: no such file"),
        (lambda d: image_file(d, "notes.png", b"# just text"), "it is not an image"),
        (lambda d: d, "it is a directory"),
    ],
)
def test_a_bad_image_stops_quorum_run_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, reason: str
) -> None:
    path = make(tmp_path)
    code = main(["--config", str(_demo(tmp_path)), "run", "Q?", "--image", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert f"cannot attach image {path}" in err and reason in err and "Traceback" not in err
    assert not paths.history_file("").exists() or RunStore(paths.history_file("")).count() == 0


def test_more_images_than_the_providers_take_at_full_size_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = image_file(tmp_path, "s.png", png(2, 2))
    args = ["--config", str(_demo(tmp_path)), "run", "Q?"] + ["--image", str(shot)] * 21
    assert main(args) == 2
    assert f"cannot attach image {shot}: at most 20 images go with one question" in capsys.readouterr().err


def test_more_image_bytes_than_one_request_can_carry_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four images at the limit fit (15 MiB together); a fifth would make every request of a
    member that sees them larger than Anthropic takes."""
    big = [
        image_file(tmp_path, f"big{n}.png", png(1, 1).ljust(MAX_IMAGE_BYTES, bytes([n]))) for n in range(5)
    ]
    session = Session(_settings(tmp_path), Ask(images=tuple(str(path) for path in big[:4])))
    assert len(session.images) == 4
    with pytest.raises(
        AttachmentError, match="may come to 15,728,640 bytes together, and with it they would be"
    ):
        session.attach_image(str(big[4]))
    assert len(session.images) == 4  # nothing attached is lost


# --------------------------------------------------------------------------------------------
# 5. Reopened from the history: sent again if still there as it was, said if not


def _settings(tmp_path: Path) -> Any:
    return load_settings(_demo(tmp_path))


async def _recorded(tmp_path: Path, *images: Path) -> tuple[Any, Any]:
    """A consult run of the demo panel with `images`, recorded; its result and settings."""
    from tui.pool import ProviderPool
    from tui.session import open_store, start_run

    settings = _settings(tmp_path)
    session = Session(settings, Ask(images=tuple(str(path) for path in images)))
    store = open_store(settings)
    assert store is not None
    try:
        session.mode = Mode.CONSULT
        request = session.prepare("Which chart is honest?").request
        run = start_run(settings, request, ProviderPool(settings), [], store=store)
        await run.execute()
        assert await store.recorded(run.result.run_id) is None  # the writer's, not the run's, to finish
        return store.load(run.result.run_id), settings
    finally:
        store.close()


async def test_a_rerun_sends_what_is_still_there_as_it_was_and_says_what_is_not(tmp_path: Path) -> None:
    kept = image_file(tmp_path, "kept.png", png(10, 10))
    changed = image_file(tmp_path, "changed.png", png(20, 20))
    gone = image_file(tmp_path, "gone.gif", gif(5, 5))
    recorded, settings = await _recorded(tmp_path, kept, changed, gone)
    assert recorded.asked is not None and len(recorded.asked.images) == 3
    changed.write_bytes(png(21, 20))
    gone.unlink()
    session = Session(settings)
    notes = session.adopt(recorded)
    run_id = recorded.run_id
    expected = [
        f"image {changed} has changed on disk since run {run_id}: not sent "
        "(attach it again to send it as it is now)",
        f"image {gone} is no longer on disk: run {run_id} sent it, this run cannot "
        "(the history keeps its hash, not its bytes)",
    ]
    assert [n for n in notes if n.startswith("image ")] == expected
    prepared = session.prepare(recorded.question)
    sent = [(i.path, i.sha256) for i in prepared.request.images]
    assert sent == [(str(kept), recorded.asked.images[0].sha256)]
    assert prepared.request.images[0].data == kept.read_bytes()
    assert prepared.request.notes == expected  # the new run says so too


async def test_a_follow_up_through_the_dashboard_session_carries_the_images(tmp_path: Path) -> None:
    kept = image_file(tmp_path, "kept.png", png(10, 10))
    recorded, settings = await _recorded(tmp_path, kept)
    session = Session(settings)
    session.adopt(recorded)
    session.follow_up([])
    assert [i.sha256 for i in session.prepare("And now?").request.images] == [
        hashlib.sha256(kept.read_bytes()).hexdigest()
    ]


# --------------------------------------------------------------------------------------------
# 6. The catalog says who can see


def test_the_shipped_catalog_marks_the_vision_capable_models() -> None:
    catalog = Catalog(load_settings())
    seeing = {e.alias for e in catalog.entries() if e.vision}
    assert {"gpt-sol", "gpt-luna", "claude-sonnet", "claude-haiku", "gemini-flash", "gemini-pro"} <= seeing
    assert {"demo-atlas", "demo-bolt"} <= seeing
    assert not {"deepseek", "llama-local", "qwen-local", "demo-cirrus"} & seeing
    sonnet = catalog.member(parse_member("sonnet:against"))
    assert sonnet.vision and sonnet.provider_kind == "anthropic"


def test_a_vision_setting_that_is_not_a_boolean_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "bad.toml", '[models.demo-atlas]\nprovider = "demo"\nid = "atlas"\n'
                   'context_window = 1000\nmax_output = 100\nvision = "maybe"\n')  # fmt: skip
    assert main(["--config", str(config), "models"]) == 2
    err = capsys.readouterr().err
    assert "models.demo-atlas.vision" in err and str(config) in err


# --------------------------------------------------------------------------------------------
# 7. Over MCP: images inside the project only, held to the same rule as files


async def test_an_agent_attaches_images_from_its_project_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_mcp import call_error, connected, demo_config, text_of

    project = tmp_path / "project"
    shot = image_file(project, "ui/shot.png", png(40, 30))
    secret = image_file(tmp_path, "outside/passport.jpg", jpeg(600, 400))
    (project / "link.png").symlink_to(secret)
    monkeypatch.chdir(project)  # the project the client started the server in
    async with connected(demo_config(tmp_path, FAST_SPEED)) as client:
        for path in (str(secret), "../outside/passport.jpg", "link.png", "~/passport.jpg"):
            refused = await call_error(client, "consensus", {"question": "Whose is it?", "images": [path]})
            assert "only files inside the project the server was started in" in refused, path
            assert "quorum run --image" in refused, path
        text = await call_error(client, "consensus", {"question": "Q?", "images": ["ui/nothing.png"]})
        assert "cannot attach image ui/nothing.png: no such file" in text
        (project / "notes.png").write_text("# not an image")
        assert "it is not an image" in await call_error(
            client, "consensus", {"question": "Q?", "images": ["notes.png"]}
        )
        assert (await client.call_tool("history", {})).structured_content == {"runs": []}  # none ran

        answered = await client.call_tool(
            "consensus", {"question": "Is this screen clear?", "images": ["ui/shot.png"], "mode": "consult"}
        )
        models = await client.call_tool("list_models", {})
    report = answered.structured_content or {}
    assert report["status"] == "success"
    note = "demo-cirrus: not vision-capable in the catalog — answered from the text only, 1 image not sent"
    assert note in report["notes"] and note in text_of(answered)
    vision = {m["model"]: m["vision"] for m in (models.structured_content or {})["models"]}
    assert vision["demo-atlas"] and vision["claude-sonnet"] and not vision["demo-cirrus"]
    assert "| vision |" in text_of(models)
    store = RunStore(paths.history_file(""))
    try:
        asked = store.load(report["run_id"]).asked
        assert asked is not None and [i.sha256 for i in asked.images] == [read_image(shot).sha256]
    finally:
        store.close()


async def test_an_agents_follow_up_carries_the_runs_images_unless_it_gives_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_mcp import connected, demo_config

    first = image_file(tmp_path, "v1.png", png(8, 8))
    second = image_file(tmp_path, "v2.png", png(9, 9))
    monkeypatch.chdir(tmp_path)
    async with connected(demo_config(tmp_path, FAST_SPEED)) as client:

        async def ask(**arguments: Any) -> dict[str, Any]:
            answer = await client.call_tool("consensus", {"mode": "consult", **arguments})
            return answer.structured_content or {}

        parent = await ask(question="Is v1 clear?", images=["v1.png"])
        first.write_bytes(png(8, 9))  # changed since: the follow-up cannot send it as it was
        carried = await ask(question="And now?", continuation_id=parent["run_id"])
        own = await ask(question="And v2?", continuation_id=parent["run_id"], images=["v2.png"])
    changed = f"image v1.png has changed on disk since run {parent['run_id']}: not sent"
    assert [note for note in carried["notes"] if note.startswith("image ")] == [
        f"{changed} (attach it again to send it as it is now)"
    ]
    assert not any(note.startswith("image ") for note in own["notes"])
    store = RunStore(paths.history_file(""))
    try:
        assert store.load(carried["run_id"]).asked.images == []  # type: ignore[union-attr]
        own_images = store.load(own["run_id"]).asked.images  # type: ignore[union-attr]
        assert [i.sha256 for i in own_images] == [hashlib.sha256(second.read_bytes()).hexdigest()]
    finally:
        store.close()


# --------------------------------------------------------------------------------------------
# 8. The dashboard: the chip on the prompt, the note on a pane, attaching from the palette


def _chips(subtitle: object) -> str:
    """The prompt's bottom chips as they read on screen."""
    from textual.content import Content

    return Content.from_markup(str(subtitle or "")).plain


async def test_the_dashboard_shows_the_images_on_the_prompt_and_the_note_on_a_pane_that_cannot_see(
    tmp_path: Path,
) -> None:
    from tests.dashboard import make_app
    from tests.test_app import settle

    shot = image_file(tmp_path, "shot.png", png(64, 48))
    app, provider = make_app(["alpha:for", "beta:against"])
    app.settings.models["alpha"].vision = True
    app.session.attach_image(str(shot))
    async with app.run_test(size=(160, 50)) as pilot:
        prompt = app.prompt_bar
        assert prompt.images == ("shot.png",) and "1 image: shot.png" in _chips(prompt.border_subtitle)
        app.submit("Is this screen clear?")
        await settle(app, pilot)
        sent = {r.model_id: _images_sent(r) for r in provider.requests if r.phase is Phase.POSITION}
        assert sent == {"alpha": [str(shot)], "beta": []}
        note = "beta: not vision-capable in the catalog — answered from the text only, 1 image not sent"
        assert note in app.panes[1].body.text and "vision" not in app.panes[0].body.text
        assert note in app.synthesis.body.text  # with the run's other notices
        assert app.shown_result is not None and note in app.shown_result.notes
        assert "1 image: shot.png" in _chips(prompt.border_subtitle)  # it goes with the next question too


def _palette_command(app: Any, title: str) -> None:
    """Run the command palette's command `title`, as choosing it does."""
    [command] = [command for command in app.get_system_commands(app.screen) if command.title == title]
    command.callback()


async def test_an_image_is_attached_from_the_palette_and_a_bad_path_is_said_where_it_was_typed(
    tmp_path: Path,
) -> None:
    from textual.widgets import Input

    from tests.dashboard import make_app
    from tui.dashboard.screens.image_path import ImagePathScreen

    chart = image_file(tmp_path, "chart.webp", webp_extended(1200, 800))
    app, _ = make_app(["alpha:for", "beta:against"])
    app.settings.models["beta"].vision = True
    async with app.run_test(size=(160, 50)) as pilot:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Attach an image" in titles and "Detach the images" not in titles
        _palette_command(app, "Attach an image")
        await pilot.pause()
        assert isinstance(app.screen, ImagePathScreen)
        path = app.screen.query_one("#image-path", Input)
        path.value = str(tmp_path / "chart.txt")  # as if typed or pasted
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ImagePathScreen)  # still open: the path can be corrected
        error = str(app.screen.query_one("#image-error").render())
        assert "chart.txt: no such file" in error
        path.value = str(chart)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, ImagePathScreen)
        assert [i.path for i in app.session.images] == [str(chart)]
        assert "1 image: chart.webp" in _chips(app.prompt_bar.border_subtitle)
        said = [n.message for n in app._notifications]
        attached = [n for n in said if n.startswith("Attached chart.webp (WEBP 1200×800, ")]
        assert attached and "it goes to beta; alpha answers from the text" in attached[0], said
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Detach the images" in titles
        _palette_command(app, "Detach the images")
        await pilot.pause()
        assert app.session.images == [] and app.prompt_bar.border_subtitle is None


def test_quorum_models_says_which_models_take_images(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:5] == ["alias", "provider", "model", "id", "context"] and header[5] == "vision"
    sonnet = next(line for line in lines if line.startswith("claude-sonnet ")).split()
    cirrus = next(line for line in lines if line.startswith("demo-cirrus ")).split()
    assert sonnet[4] == "yes" and cirrus[4] == "no"
    assert main(["models", "--json"]) == 0
    rows = {row["alias"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["gpt-sol"]["vision"] is True and rows["deepseek"]["vision"] is False


async def test_a_recorded_image_no_longer_on_disk_is_named_not_sent_on_the_chip(tmp_path: Path) -> None:
    from tests.dashboard import make_app

    kept = image_file(tmp_path, "kept.png", png(10, 10))
    gone = image_file(tmp_path, "gone.png", png(11, 11))
    recorded, _ = await _recorded(tmp_path, kept, gone)
    gone.unlink()
    app, _ = make_app(["alpha"])
    async with app.run_test(size=(160, 50)) as pilot:
        app.run_display.show_recorded(recorded)
        await pilot.pause()
        assert app.prompt_bar.images == ("kept.png", "gone.png (not sent)")
        assert "2 images: kept.png, gone.png (not sent)" in _chips(app.prompt_bar.border_subtitle)
