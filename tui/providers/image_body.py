"""Request bodies that carry images, made into JSON without a scan of the images.

An SDK makes a request's JSON on the event loop with `json.dumps`, which reads every character of
every string to see whether it needs escaping: 30 – 65 ms for one 3.75 MiB image (5 MiB of base64)
on the development machine, paid again by every call that carries it, back to back when a phase's
calls start together (8 members and one 0.5 MB screenshot stopped the loop, and the dashboard, for
about 115 ms). Base64 needs no escaping (its 65 characters are plain ASCII), so a body that carries
images is made with a stand-in where each image's base64 goes, encoded, and the base64 is put in
its place: one copy, under a millisecond per image. The adapters send that as the request's raw
content.

A stand-in holds a NUL (which `json.dumps` always writes as `\\u0000`, so the JSON of no text can
hold it as the stand-in is found) and a random word of this body's own, so nothing a model wrote,
quoted back in a later prompt, can be taken for one.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from tui.engine.types import Image


class ImageSlots:
    """The images of one request body: `slot(image)` is the stand-in its base64 is written as, and
    `encode(body)` the body's JSON bytes with each image's base64 in its stand-in's place."""

    def __init__(self) -> None:
        self._images: list[Image] = []
        self._word = secrets.token_hex(8)
        self._found = re.compile(rf"\\u0000{self._word}:(\d+)\\u0000")

    def slot(self, image: Image) -> str:
        self._images.append(image)
        return f"\x00{self._word}:{len(self._images) - 1}\x00"

    def __bool__(self) -> bool:
        return bool(self._images)

    def encode(self, body: Mapping[str, Any]) -> bytes:
        """The JSON of `body`, as the SDKs write it (UTF-8, compact), with the images in it."""
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        pieces = self._found.split(text)  # text, image number, text, image number, ..., text
        return b"".join(
            self._images[int(piece)].base64 if odd else piece.encode("utf-8")
            for odd, piece in ((n % 2 == 1, piece) for n, piece in enumerate(pieces))
        )
