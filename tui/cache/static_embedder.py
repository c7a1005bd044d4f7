"""The offline embedder: wordllama's shipped 256-dimension static word vectors (l2_supercat),
averaged over a question's tokens and L2-normalized, reproducing `WordLlama.embed(norm=True)`.

The weights (18 MB, float16 safetensors) and the tokenizer come inside the `wordllama` wheel;
they are read directly with `tokenizers` and numpy. wordllama itself is never imported: its import
sets `logging.basicConfig(INFO)` on the process, and it can download other weights. Nothing here
reaches the network. Loading takes ~0.1 s (once, lazily, off the event loop); a question embeds in
~0.04 ms. Measured on the labelled set (benchmarks/bench_cache.py) together with the hit check.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tui.cache.embedding import OFFLINE_EMBEDDER
from tui.errors import ConfigError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

NAME = OFFLINE_EMBEDDER
WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"
TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"


def package_folder() -> Path:
    """Where the wordllama wheel put its files, found without importing it."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the offline embedder needs the wordllama package's files: pip install 'wordllama==0.2.2.post0' "
            '(or set [cache] embedder = "" for exact matches only)'
        )
    return Path(spec.origin).parent


def read_safetensors_matrix(path: Path) -> np.ndarray:
    """The one float16 matrix (`embedding.weight`) of a safetensors file, as float32."""
    try:
        with path.open("rb") as file:
            (header_size,) = struct.unpack("<Q", file.read(8))
            if header_size > 1_000_000:
                raise ValueError("header too large")
            meta = json.loads(file.read(header_size))["embedding.weight"]
            if meta["dtype"] != "F16" or len(meta["shape"]) != 2:
                raise ValueError(f"unexpected tensor {meta['dtype']} {meta['shape']}")
            start, end = meta["data_offsets"]
            file.seek(8 + header_size + start)
            data = file.read(end - start)
        rows, dim = meta["shape"]
        if len(data) != rows * dim * 2:
            raise ValueError("the file is cut short")
        return np.frombuffer(data, dtype="<f2").reshape(rows, dim).astype(np.float32)
    except (OSError, ValueError, KeyError, TypeError, struct.error, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read the offline embedder's weights {path}: {err}") from err


class StaticEmbedder:
    """Average of static token vectors: no model run, no download, no torch."""

    name = NAME

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder

    @cached_property
    def _weights(self) -> np.ndarray:
        return read_safetensors_matrix((self._folder or package_folder()) / WEIGHTS)

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer

        path = (self._folder or package_folder()) / TOKENIZER
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # the tokenizers library raises its own exception types
            raise ConfigError(f"cannot read the offline embedder's tokenizer {path}: {err}") from err
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def load(self) -> None:
        """Read the weights and tokenizer now (they are otherwise read on the first `embed`)."""
        _ = self._weights, self._tokenizer

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        weights = self._weights
        out = np.zeros((len(texts), weights.shape[1]), dtype=np.float32)
        for i, encoding in enumerate(self._tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids = np.clip(np.asarray(encoding.ids, dtype=np.int64), 0, weights.shape[0] - 1)
            if len(ids):
                vector = weights[ids].mean(axis=0)
                out[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        rows: list[list[float]] = out.tolist()
        return rows
