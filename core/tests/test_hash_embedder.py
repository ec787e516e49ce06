"""The offline ``hash`` embedder: deterministic, normalised, and close for shared words."""

from __future__ import annotations

import math

import pytest
from llm_memory import MemoryManager
from llm_memory.embedding.hash import HashEmbedder


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_vectors_are_deterministic_unit_length_and_of_the_configured_dimension() -> None:
    embedder = HashEmbedder(dimension=256)
    first = embedder.embed_documents(["I adopted a puppy", "The cat sat on the mat"])
    again = HashEmbedder(dimension=256).embed_documents(["I adopted a puppy"])
    assert first[0] == again[0]
    assert all(len(v) == 256 and math.isclose(math.fsum(x * x for x in v), 1.0) for v in first)
    assert all(isinstance(x, float) for x in first[0])
    assert embedder.embed_queries(["I adopted a puppy"]) == [first[0]]
    assert embedder.embed_query("I adopted a puppy") == first[0]


def test_shared_stemmed_words_make_texts_close() -> None:
    embedder = HashEmbedder()
    query = embedder.embed_query("Did she adopt a dog?")
    near = embedder.embed_query("She is adopting two dogs from the shelter")
    far = embedder.embed_query("Quantum chromodynamics lecture notes")
    assert cosine(query, near) > 0.4 > 0.1 > cosine(query, far)
    # Word order matters a little (bigrams), stop words and case not at all.
    a, b = embedder.embed_documents(["paint the sunrise", "SUNRISE paint"])
    assert 0.5 < cosine(a, b) < 1.0
    assert embedder.embed_query("The Painting!") == embedder.embed_query("painting")


def test_a_text_without_content_words_still_has_a_unit_vector() -> None:
    vector = HashEmbedder(dimension=32).embed_query("oh, ok!")
    assert vector[0] == 1.0 and sum(abs(x) for x in vector) == 1.0


def test_identity_usage_and_the_dimension_option(monkeypatch, tmp_path) -> None:
    embedder = HashEmbedder(dimension=64)
    assert (embedder.name, embedder.model, embedder.dimension) == ("hash", "hash-v2-64", 64)
    embedder.embed_documents(["a", "b", "c"])
    assert (embedder.usage.requests, embedder.usage.texts) == (1, 3)
    assert 0 < HashEmbedder.fusion_weight < 1
    with pytest.raises(ValueError, match="at least 16"):
        HashEmbedder(dimension=8)
    monkeypatch.setenv("HASH_DIMENSION", "128")
    with MemoryManager.from_settings(storage_backend="memory", vector_store_dir=tmp_path) as m:
        assert m.embedder.info().model_dump() == {
            "name": "hash", "model": "hash-v2-128", "dimension": 128,
        }  # fmt: skip
