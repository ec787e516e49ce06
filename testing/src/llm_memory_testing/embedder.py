"""The embedding contract: one test class every :class:`~llm_memory.embedding.Embedder` passes.

A provider's test module subclasses :class:`EmbedderContract` with an ``embedder`` fixture::

    from llm_memory_testing import EmbedderContract

    class TestMyEmbedder(EmbedderContract):
        semantic = True          # a real model: similar texts must be closer

        @pytest.fixture
        def embedder(self):
            return MyEmbedder(base_url=fake_server.url)

Set ``deterministic = False`` for providers whose vectors may vary between calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import pytest
from llm_memory.embedding import Embedder
from llm_memory.models import EmbedderInfo

__all__ = ["EmbedderContract"]

TEXTS = ["The cat sat on the mat.", "Quarterly tax filing deadlines.", "Ein Hund läuft im Park 🐕"]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def check_vectors(embedder: Embedder, vectors: object, count: int) -> list[list[float]]:
    assert isinstance(vectors, list), f"expected a list of vectors, got {type(vectors).__name__}"
    assert len(vectors) == count, f"expected {count} vectors, got {len(vectors)}"
    for vector in vectors:
        assert isinstance(vector, list), (
            f"a vector must be a list of floats, not {type(vector).__name__}"
        )
        assert len(vector) == embedder.dimension
        assert all(isinstance(x, float) and math.isfinite(x) for x in vector)
        assert any(x != 0.0 for x in vector), "a zero vector has no direction to compare"
    return vectors  # type: ignore[return-value]


class EmbedderContract:
    """What every embedder must do; subclass it and provide an ``embedder`` fixture.

    Vectors are lists of finite floats of length ``dimension``, one per text, in order;
    an empty batch costs nothing; the same text gives the same vector (unless the class
    sets ``deterministic = False``); with ``semantic = True``, related texts are closer
    than unrelated ones.
    """

    #: The same text always gives the same vector (to 1e-5).
    deterministic: ClassVar[bool] = True
    #: The embedder captures meaning (a real model), so similar texts are closer.
    semantic: ClassVar[bool] = False
    #: Queries and documents are embedded alike (``embed_queries`` == ``embed_documents``).
    symmetric: ClassVar[bool] = True

    @pytest.fixture
    def embedder(self) -> Embedder:
        """Override: return the embedder under test."""
        raise NotImplementedError(
            "Subclasses of EmbedderContract must define an `embedder` fixture."
        )

    def test_dimension_matches_the_vectors(self, embedder: Embedder) -> None:
        """``dimension`` is a positive int and every vector has exactly that length."""
        assert isinstance(embedder.dimension, int) and embedder.dimension > 0
        check_vectors(embedder, embedder.embed_documents(TEXTS[:1]), 1)

    def test_documents_come_back_one_per_text_in_order(self, embedder: Embedder) -> None:
        """``embed_documents`` returns one vector per text, in the order of the texts."""
        batch = check_vectors(embedder, embedder.embed_documents(TEXTS), len(TEXTS))
        if not self.deterministic:
            return
        for text, vector in zip(TEXTS, batch, strict=True):
            assert embedder.embed_documents([text])[0] == pytest.approx(vector, abs=1e-5)
        reversed_batch = embedder.embed_documents(TEXTS[::-1])
        assert reversed_batch[::-1] == [pytest.approx(v, abs=1e-5) for v in batch]

    def test_queries_come_back_one_per_text_in_order(self, embedder: Embedder) -> None:
        """``embed_queries`` returns one vector per query, in order; ``embed_query(t)`` is
        ``embed_queries([t])[0]``; symmetric embedders embed queries like documents."""
        batch = check_vectors(embedder, embedder.embed_queries(TEXTS), len(TEXTS))
        check_vectors(embedder, [embedder.embed_query(TEXTS[1])], 1)
        if not self.deterministic:
            return
        assert embedder.embed_query(TEXTS[1]) == pytest.approx(batch[1], abs=1e-5)
        if self.symmetric:
            documents = embedder.embed_documents(TEXTS)
            assert documents == [pytest.approx(v, abs=1e-5) for v in batch]

    def test_same_text_gives_the_same_vector(self, embedder: Embedder) -> None:
        """A deterministic embedder returns the same vector for the same text, every call."""
        if not self.deterministic:
            pytest.skip("this embedder is not deterministic")
        first = embedder.embed_documents(TEXTS)
        second = embedder.embed_documents(TEXTS)
        assert second == [pytest.approx(v, abs=1e-5) for v in first]

    def test_different_texts_give_different_vectors(self, embedder: Embedder) -> None:
        """Different texts are not mapped onto one vector."""
        a, b, c = embedder.embed_documents(TEXTS)
        assert cosine(a, b) < 0.999 and cosine(a, c) < 0.999 and cosine(b, c) < 0.999

    def test_empty_batch_returns_an_empty_list(self, embedder: Embedder) -> None:
        """An empty batch returns ``[]`` for documents and queries; a remote embedder makes
        no request for it (an API call costs money, and some APIs reject empty input)."""
        before = embedder.usage.requests
        assert embedder.embed_documents([]) == []
        assert embedder.embed_queries([]) == []
        if embedder.remote:
            assert embedder.usage.requests == before

    def test_similar_texts_are_closer_than_unrelated_ones(self, embedder: Embedder) -> None:
        """With ``semantic = True``: a paraphrase is closer than an unrelated text."""
        if not self.semantic:
            pytest.skip("this embedder does not claim to capture meaning")
        cat, paraphrase, tax = embedder.embed_documents(
            [
                "The cat sat on the mat.",
                "A cat was sitting on the rug.",
                "Quarterly tax filing deadlines.",
            ]
        )
        assert cosine(cat, paraphrase) > cosine(cat, tax)
        query = embedder.embed_query("Where did the cat sit?")
        assert cosine(query, cat) > cosine(query, tax)

    def test_info_names_the_embedder(self, embedder: Embedder) -> None:
        """``info()`` gives the provider name, the model and the dimension."""
        info = embedder.info()
        assert isinstance(info, EmbedderInfo)
        assert info.name and info.name == embedder.name
        assert info.model and info.model == embedder.model
        assert info.dimension == embedder.dimension
