"""What the members see of the question's images: who is sent them, what they cost, who is told not.

Images go with the question: every call whose prompt carries the question (a position, a draft or
revision, a review, the curator's decision, consult's synthesis) sends them to a member, or a
synthesizer, whose catalog entry marks it vision-capable, and to no other. A model that cannot
take them is asked from the text alone, and the run says so once per model, in its notes and on
every display: `deepseek: not vision-capable in the catalog — answered from the text only, 2
images not sent`. A panel where nobody can see them still runs.

An image's cost in tokens is estimated from its dimensions alone, by the rule of the provider's
wire protocol, for the pre-flight context check, the budget's look-ahead and a call whose provider
reported no usage:

- OpenAI (and the OpenAI-compatible servers, Gemini's, and the demo): the image is scaled to fit
  2048 x 2048, then its shorter side down to 768 pixels; it costs 170 tokens per 512-pixel tile
  plus 85 (`high` detail, which `auto` picks for a detailed image: 1024 x 1024 is 765 tokens).
- Anthropic: the image is scaled down to a long edge of 1568 pixels; it costs width x height / 750
  tokens, at most 1,600 (the provider scales a larger image down to that).

Both are the providers' published rules. Other servers land near them (Gemini counts 258 tokens
per 768-pixel tile), and the estimate only has to keep a prompt that cannot fit from being sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from tui.engine.types import Image, ImageRecord, Member, RunRequest

# OpenAI's tile rule (high detail).
OPENAI_FIT_PX = 2048
OPENAI_SHORT_SIDE_PX = 768
OPENAI_TILE_PX = 512
OPENAI_TILE_TOKENS = 170
OPENAI_BASE_TOKENS = 85
# Anthropic's pixel rule.
ANTHROPIC_LONG_EDGE_PX = 1568
ANTHROPIC_PIXELS_PER_TOKEN = 750
ANTHROPIC_MAX_TOKENS = 1600


def image_tokens(image: ImageRecord, kind: str) -> int:
    """About how many input tokens `image` costs a model behind a provider of `kind`: Anthropic's
    rule for `anthropic`, OpenAI's tiles for every other kind."""
    width, height = float(image.width), float(image.height)
    if kind == "anthropic":
        scale = min(1.0, ANTHROPIC_LONG_EDGE_PX / max(width, height))
        pixels = (width * scale) * (height * scale)
        return min(ANTHROPIC_MAX_TOKENS, math.ceil(pixels / ANTHROPIC_PIXELS_PER_TOKEN))
    scale = min(1.0, OPENAI_FIT_PX / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, OPENAI_SHORT_SIDE_PX / min(width, height))
    width, height = width * scale, height * scale
    tiles = math.ceil(width / OPENAI_TILE_PX) * math.ceil(height / OPENAI_TILE_PX)
    return OPENAI_BASE_TOKENS + OPENAI_TILE_TOKENS * tiles


def images_tokens(images: Iterable[ImageRecord], member: Member) -> int:
    """What `images` cost `member` when they are sent to it."""
    return sum(image_tokens(image, member.provider_kind) for image in images)


def images_for(member: Member, images: Sequence[Image]) -> tuple[Image, ...]:
    """The images a call of `member` sends: all of them to a vision-capable model, none otherwise."""
    return tuple(images) if member.vision else ()


def _images(count: int) -> str:
    return f"{count} image{'' if count == 1 else 's'}"


def withheld_note(member: Member, count: int, synthesizer: bool = False) -> str:
    """What the run says of a model that is not sent the question's `count` images."""
    who = f"{member.alias} (synthesizer)" if synthesizer else member.alias
    return (
        f"{who}: not vision-capable in the catalog — answered from the text only, {_images(count)} not sent"
    )


def withheld_notes(request: RunRequest) -> list[str]:
    """One note for each model of the run that will not see its images: every member without
    vision, and the synthesizer when it is not one of them (its fallbacks are noted if they
    take over). Nothing when the question has no images."""
    if not request.images:
        return []
    count = len(request.images)
    notes: list[str] = []
    noted: set[str] = set()
    for member in request.members:
        if not member.vision and member.alias not in noted:
            noted.add(member.alias)
            notes.append(withheld_note(member, count))
    members = {member.alias for member in request.members}
    synthesizer = request.synthesizers[0] if request.synthesizers else None
    if synthesizer is not None and not synthesizer.vision and synthesizer.alias not in members:
        notes.append(withheld_note(synthesizer, count, synthesizer=True))
    return notes
