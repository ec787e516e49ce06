"""Built-in embedder: ``hash`` (offline feature hashing, the default)."""

from __future__ import annotations

from typing import Any

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider


def _hash(options: Any, settings: object) -> object:
    from llm_memory.embedding.hash import HashEmbedder

    return HashEmbedder(dimension=options.dimension)


@hookimpl
def register_embedders() -> list[Provider]:
    return [
        Provider(
            "hash",
            _hash,
            "llm_memory.embedding.hash:HashOptions",
            "Feature hashing of word unigrams and bigrams; offline, deterministic, no model.",
        )
    ]
