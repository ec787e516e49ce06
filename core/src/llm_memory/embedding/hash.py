"""The ``hash`` embedder: deterministic feature hashing, offline, no dependencies."""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm_memory.embedding import Embedder
from llm_memory.text import content_terms


class HashOptions(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASH_")

    dimension: int = Field(1024, ge=16, le=65536, description="Vector length (HASH_DIMENSION).")


class HashEmbedder(Embedder):
    """Signed feature hashing of stemmed word unigrams and bigrams, L2-normalised.

    No model, no network: the same text always gives the same vector, and texts that share
    words (after stemming and stop-word removal) are close in cosine. Term frequency is
    dampened (1 + log tf) so a repeated word does not dominate.
    """

    name = "hash"

    def __init__(self, dimension: int = 1024, bigram_weight: float = 0.5) -> None:
        super().__init__()
        if dimension < 16:
            raise ValueError("hash embedder dimension must be at least 16")
        self._dimension = dimension
        self.bigram_weight = bigram_weight
        self.model = f"hash-v1-{dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _features(self, text: str) -> Counter[str]:
        terms = content_terms(text)
        feats: Counter[str] = Counter(terms)
        for a, b in pairwise(terms):
            feats[f"{a} {b}"] += 1
        return feats

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.usage.requests += 1
        self.usage.texts += len(texts)
        return [self._embed(text) for text in texts]

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self._dimension
        for feature, tf in self._features(text).items():
            h = zlib.crc32(feature.encode())
            weight = (1.0 + math.log(tf)) * (self.bigram_weight if " " in feature else 1.0)
            vector[h % self._dimension] += weight if (h >> 31) & 1 else -weight
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            # No content words (e.g. "ok!"): a fixed unit vector keeps cosine defined.
            vector[0] = 1.0
            return vector
        return [v / norm for v in vector]
