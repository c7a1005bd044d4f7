"""Question vectors from an OpenAI-compatible `/embeddings` endpoint (OpenAI's
text-embedding-3-small, Ollama, vLLM, LM Studio), for the cache's semantic lookup.

Blocking (the cache calls it in a thread, off the event loop), through the openai SDK's
synchronous client, with `encoding_format="float"` (not every server speaks the SDK's default
base64). What comes back is checked before it is used — one finite vector per text, all of one
length — since a vector decides which earlier answer is served: anything else is an
`EmbeddingError`, and the lookup falls back to exact matches. The key is never part of a message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tui.errors import QuorumError, redact
from tui.providers.openai_compat import DEFAULT_BASE_URL

if TYPE_CHECKING:  # the SDK loads on first use, in the cache's thread
    from openai import OpenAI

MAX_TEXT_CHARS = 8_000
"""A question is cut to this many characters before it is embedded (embedding models take a few
thousand tokens; the start of a question says what it is about)."""
MAX_DIMENSIONS = 16_384
BATCH = 512
"""Texts per request."""


class EmbeddingError(QuorumError):
    """The embedding endpoint could not be used, or answered with something that is not vectors."""


class OpenAIEmbedder:
    """One embedding model on one OpenAI-compatible server."""

    def __init__(
        self, *, provider: str, model_id: str, base_url: str | None, api_key: str, timeout_s: float = 30.0
    ) -> None:
        """`base_url` None: OpenAI itself, as for a chat provider of kind `openai`."""
        self.name = f"{provider}:{model_id}"
        self._provider = provider
        self._model_id = model_id
        self._base_url = base_url or DEFAULT_BASE_URL
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._client: OpenAI | None = None

    def _connect(self) -> OpenAI:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=self._timeout_s
            )
        return self._client

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):  # OpenAI takes at most 2,048 inputs a request
            vectors += self._embed_batch(texts[start : start + BATCH])
        if len({len(vector) for vector in vectors}) > 1:
            raise EmbeddingError(
                f"{self.name}: the embedding server's answers hold vectors of different lengths"
            )
        return vectors

    def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        try:
            response = self._connect().embeddings.create(
                model=self._model_id,
                input=[text[:MAX_TEXT_CHARS] or " " for text in texts],
                encoding_format="float",
            )
        except openai.APIError as err:
            raise EmbeddingError(
                f"{self._provider} embeddings ({self._model_id}): {redact(str(err), (self._api_key,))}"
            ) from None
        return checked_vectors(getattr(response, "data", None), len(texts), self.name)


def checked_vectors(data: object, count: int, who: str) -> list[list[float]]:
    """The vectors of an `/embeddings` answer in input order, or `EmbeddingError` saying what is wrong."""

    def bad(why: str) -> EmbeddingError:
        return EmbeddingError(f"{who}: the embedding server's answer is unusable: {why}")

    if not isinstance(data, list) or len(data) != count:
        raise bad(f"{len(data) if isinstance(data, list) else 'no'} vectors for {count} texts")
    by_index: dict[int, list[float]] = {}
    for position, item in enumerate(data):
        index = getattr(item, "index", position)
        vector = getattr(item, "embedding", None)
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < count
            or index in by_index
        ):
            raise bad(f"index {index!r} out of place")
        if not isinstance(vector, list) or not 0 < len(vector) <= MAX_DIMENSIONS:
            raise bad(f"vector {index} is not a list of 1 to {MAX_DIMENSIONS:,} numbers")
        if not all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector
        ):
            raise bad(f"vector {index} holds something that is not a finite number")
        by_index[index] = [float(x) for x in vector]
    if len({len(vector) for vector in by_index.values()}) != 1:
        raise bad("vectors of different lengths")
    return [by_index[i] for i in range(count)]
