"""Images attached to a question: read from disk, checked by their own bytes, made immutable values.

The engine never touches a file: the front ends (through the `Session`, and `quorum mcp` with its
project rule) read each image here and hand the engine an `Image` — its bytes, media type, size,
SHA-256, width and height and the path it was given as. What a file is, is read from its bytes,
never from its name: a JPEG called `shot.png` is sent as the JPEG it is, and a text file called
`diagram.png` is refused as not an image. The dimensions come from the header alone (PNG's IHDR,
GIF's screen descriptor, WebP's VP8/VP8L/VP8X chunk, JPEG's frame header), with the standard
library: no image library is loaded, and no pixel is decoded.

The limits are the strictest of the vision-capable providers', so that every member that can see
images can see every image attached:

- `MAX_IMAGE_BYTES` (3,932,160 bytes, 3.75 MiB): Anthropic refuses an image whose base64 is over
  5 MiB, which is that many bytes before encoding (OpenAI takes up to 20 MB).
- `MAX_IMAGE_SIDE` (8,000 pixels): Anthropic refuses an image wider or taller than that.
- `MAX_IMAGES` (20): beyond 20 images in one request Anthropic refuses any side over 2,000 pixels.
- `MAX_IMAGES_BYTES` (15 MiB together): every request of a member that sees the images carries them
  all, and Anthropic refuses a request over 32 MB; 15 MiB is 20 MiB of base64, leaving room for the
  question, its files and the panel's positions.

Only a regular file is read (`tui.files.read_limited`): a FIFO, a device or a directory is refused
for what it is. A file too big is refused from its size on disk, before it is read; one that holds
more than its size says, or grows while it is read, is read one byte past the limit and refused,
so a huge or endless file costs nothing.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tui.attachments.changes import as_sent
from tui.engine.types import Image, ImageRecord, ImageType
from tui.errors import AttachmentError
from tui.files import FileRefused, FileTooBig, read_limited

MAX_IMAGE_BYTES = 5 * 1024 * 1024 * 3 // 4
MAX_IMAGE_SIDE = 8000
MAX_IMAGES = 20
MAX_IMAGES_BYTES = 15 * 1024 * 1024

_PNG = b"\x89PNG\r\n\x1a\n"
# JPEG frame headers (SOF0-SOF15) carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM, RST0-7 (and SOI, met only at the start).
_JPEG_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})

# Formats people try to attach that no provider takes as an image, by how their bytes start.
_OTHER_FORMATS = (
    (b"%PDF", "a PDF"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"<svg", "an SVG (text)"),
    (b"<?xml", "an XML (or SVG) text"),
)
_TAKEN = "PNG, JPEG, WebP or GIF"


class _NotAnImage(Exception):
    """The bytes are not an image Quorum can send; the message says why, as a phrase."""


def read_image(path: str | Path) -> Image:
    """The image at `path`, read and checked; `AttachmentError` says, naming it, why it cannot be
    attached: no such file, a directory or other non-file, empty, too big, unreadable, not an
    image (whatever its name says), a header cut short, or too many pixels on a side."""
    file = Path(path).expanduser()
    try:
        data = _read_bytes(file)
        media_type, width, height = sniff_image(data)
    except (FileRefused, _NotAnImage) as err:
        raise AttachmentError(f"cannot attach image {path}: {_reason(err)}") from None
    return Image.of(
        data, path=str(path), media_type=media_type, width=width, height=height, full_path=str(file.resolve())
    )


def recover_image(record: ImageRecord) -> Image | str:
    """A recorded image read again from where it was, if it is still there as it was; otherwise
    what became of it, as a phrase: `is no longer on disk`, `has changed on disk`, `cannot be read
    now (…)`. The history keeps an image's hash, never its bytes: a changed file is not the image
    that was asked about, so it is not sent in its place."""
    found = as_sent(Path(record.full_path or record.path).expanduser(), record.sha256, _read_bytes)
    if isinstance(found, str):
        return found
    return Image.of(
        found,
        path=record.path,
        media_type=record.media_type,
        width=record.width,
        height=record.height,
        full_path=record.full_path,
    )


def _reason(err: FileRefused | _NotAnImage) -> str:
    if isinstance(err, FileTooBig):
        return (
            f"{err.reason} for an image (Anthropic's 5 MB of base64, which every vision-capable "
            "member must be able to take); scale it down or save it as a JPEG"
        )
    return err.reason if isinstance(err, FileRefused) else str(err)


def _read_bytes(file: Path) -> bytes:
    """The file's bytes, if it is a regular file of a size an image may have and not empty
    (raises `FileRefused` with the reason)."""
    data = read_limited(file, MAX_IMAGE_BYTES)
    if not data:
        raise FileRefused(file, "it is empty (0 bytes)")
    return data


def sniff_image(data: bytes) -> tuple[ImageType, int, int]:
    """What image `data` is, by its bytes, and its width and height from its header; raises
    `_NotAnImage` with the reason for anything else."""
    media_type: ImageType
    if data.startswith(_PNG):
        media_type, (width, height) = "image/png", _png_size(data)
    elif data.startswith(b"\xff\xd8\xff"):
        media_type, (width, height) = "image/jpeg", _jpeg_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        media_type, (width, height) = "image/gif", _gif_size(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        media_type, (width, height) = "image/webp", _webp_size(data)
    else:
        raise _NotAnImage(_not_an_image(data))
    kind = media_type.removeprefix("image/").upper()
    if width < 1 or height < 1:
        raise _NotAnImage(f"its {kind} header says it is {width}x{height} pixels: not a usable image")
    if max(width, height) > MAX_IMAGE_SIDE:
        raise _NotAnImage(
            f"it is {width}x{height} pixels, over the {MAX_IMAGE_SIDE:,}-pixel limit on a side "
            "(Anthropic refuses larger); scale it down"
        )
    return media_type, width, height


def _not_an_image(data: bytes) -> str:
    start = data.lstrip()[:8]
    for magic, what in _OTHER_FORMATS:
        if start.startswith(magic):
            return f"it is {what}, not an image the models take ({_TAKEN}): convert it to PNG"
    return f"it is not an image: its bytes are not {_TAKEN}, whatever its name says"


def _cut_short(kind: str) -> _NotAnImage:
    return _NotAnImage(f"not a complete {kind}: its header is cut short or damaged")


def _png_size(data: bytes) -> tuple[int, int]:
    # The signature, then the IHDR chunk: length, type, width, height (big-endian).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _cut_short("PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _gif_size(data: bytes) -> tuple[int, int]:
    # The logical screen descriptor follows the signature: width, height (little-endian).
    if len(data) < 10:
        raise _cut_short("GIF")
    width, height = struct.unpack("<HH", data[6:10])
    return int(width), int(height)


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        # Lossy: after the frame tag and start code, 14-bit width and height.
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        # Lossless: after the signature byte, width - 1 and height - 1 in 14 bits each.
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        # Extended: the canvas's width - 1 and height - 1 in 24 bits each.
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise _cut_short("WebP")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The size in the first frame header, walking the segments that come before it."""
    at = 2
    while at < len(data):
        if data[at] != 0xFF:
            raise _cut_short("JPEG")
        while at < len(data) and data[at] == 0xFF:  # fill bytes before a marker
            at += 1
        if at >= len(data):
            break
        marker = data[at]
        at += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA) or at + 2 > len(data):  # the end, or the scan, before any frame
            break
        (length,) = struct.unpack(">H", data[at : at + 2])
        if length < 2:
            break
        if marker in _JPEG_FRAMES:
            if at + 7 > len(data):
                break
            height, width = struct.unpack(">HH", data[at + 3 : at + 7])
            return int(width), int(height)
        at += length
    raise _cut_short("JPEG")
