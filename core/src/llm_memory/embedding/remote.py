"""The shared work of embedders that call a remote API, so a vendor plugin writes only its request.

A subclass sets ``label`` (the vendor, in messages), ``env_prefix`` (its settings' prefix) and
``max_batch_limit`` (the API's inputs per request), and implements :meth:`RemoteEmbedder._request`:
one API call for one batch, with its retries (see :mod:`llm_memory.retry`). The base refuses
empty texts, splits batches, checks the number and length of the vectors (learning the
dimension from the first answer, or from a one-word probe), and counts usage.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self

from llm_memory.embedding import Embedder
from llm_memory.errors import EmbeddingError
from llm_memory.retry import RetryPolicy

__all__ = ["RemoteEmbedder"]


class RemoteEmbedder(Embedder):
    """An embedder behind an HTTP API: batched, all-or-nothing, dimension-checked, usage counted.

    ``from_options`` builds one from the provider's options model, which has at least
    ``model``, ``api_key``, ``base_url``, ``timeout``, ``max_retries``, ``retry_backoff``,
    ``max_retry_wait`` and ``max_batch_size``; a subclass adds its own arguments in
    :meth:`option_arguments`. Queries are embedded as documents unless the subclass
    overrides ``embed_queries`` (with ``self._embed(texts, query=True)``).
    """

    remote = True
    #: The vendor as messages name it ("OpenAI").
    label: ClassVar[str] = ""
    #: Prefix of the provider's settings ("OPENAI_"), named in retry messages.
    env_prefix: ClassVar[str] = ""
    #: The API's limit on inputs per request; ``max_batch_size`` is capped to it.
    max_batch_limit: ClassVar[int] = 2048
    #: What is embedded to learn an unknown model's dimension.
    probe_text: ClassVar[str] = "dimension probe"

    def __init__(
        self,
        model: str,
        *,
        where: str,
        dimension: int | None = None,
        retry: RetryPolicy | None = None,
        max_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        #: Who answered, as messages name it ("OpenAI", "The embedding server at ...").
        self.where = where
        self.retry = retry or RetryPolicy(env_prefix=self.env_prefix)
        limit = self.max_batch_limit
        self.max_batch_size = max(1, min(max_batch_size or limit, limit))
        self._dimension = dimension
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Any, embedding_model: str | None = None) -> Self:
        """The embedder its options describe; ``EMBEDDING_MODEL`` (``embedding_model``) wins
        over the provider's own ``model``."""
        return cls(embedding_model or options.model, **cls.option_arguments(options))

    @classmethod
    def option_arguments(cls, options: Any) -> dict[str, Any]:
        """Constructor arguments (besides the model) from the provider's options."""
        return {
            "api_key": options.api_key.get_secret_value() if options.api_key else None,
            "base_url": options.base_url,
            "timeout": options.timeout,
            "retry": RetryPolicy.from_options(options, cls.env_prefix),
            "max_batch_size": options.max_batch_size,
        }

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._embed_batch([self.probe_text], query=False)  # sets _dimension from the answer
        assert self._dimension is not None
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts, query=False)

    def batches(self, texts: list[str]) -> Iterator[list[str]]:
        """Consecutive batches within the per-request limits (here: ``max_batch_size``)."""
        for start in range(0, len(texts), self.max_batch_size):
            yield texts[start : start + self.max_batch_size]

    @abstractmethod
    def _request(self, batch: list[str], query: bool) -> tuple[Sequence[Sequence[float]], int]:
        """One API call (retried as the vendor's failures warrant): the batch's vectors in
        order, and the tokens it was billed. Failures raise :class:`EmbeddingError`."""

    def _dimension_hint(self) -> str:
        """Appended to a wrong-dimension message: the setting that may explain it."""
        return ""

    def _embed(self, texts: Sequence[str], query: bool) -> list[list[float]]:
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise EmbeddingError(
                    f"Cannot embed text #{i}: {self.label} embeds only non-empty strings."
                )
        vectors: list[list[float]] = []
        for batch in self.batches(texts):
            vectors.extend(self._embed_batch(batch, query))
        return vectors

    def _embed_batch(self, batch: list[str], query: bool) -> list[list[float]]:
        answer, tokens = self._request(batch, query)
        if len(answer) != len(batch):
            raise EmbeddingError(
                f"{self.where} returned {len(answer)} embeddings for {len(batch)} texts; "
                "nothing was stored."
            )
        vectors = [[float(x) for x in vector] for vector in answer]
        self._check_dimension(vectors)
        with self._lock:
            self.usage.requests += 1
            self.usage.texts += len(batch)
            self.usage.tokens += tokens
        return vectors

    def _check_dimension(self, vectors: list[list[float]]) -> None:
        lengths = sorted({len(v) for v in vectors})
        with self._lock:
            if self._dimension is None and len(lengths) == 1 and lengths[0] > 0:
                self._dimension = lengths[0]
            expected = self._dimension
        if lengths != [expected]:
            got = ", ".join(map(str, lengths))
            raise EmbeddingError(
                f"{self.where} returned {got}-dimensional vectors from {self.model}; "
                f"expected {expected}{self._dimension_hint()}."
            )
