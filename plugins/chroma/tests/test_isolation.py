"""The isolation machine of llm-memory-testing on embedded Chroma and on a Chroma server."""

from __future__ import annotations

import contextlib
import itertools
import uuid

import pytest
from llm_memory_chroma.store import ChromaStore
from llm_memory_testing.isolation import run_isolation


def test_no_user_touches_another_on_embedded_chroma(tmp_path) -> None:
    n = itertools.count()
    run = run_isolation(
        lambda: ChromaStore("memories", path=tmp_path / f"db{next(n)}"), max_examples=8, steps=15
    )
    print(f"embedded chroma: {run}")
    assert run.examples >= 8


@pytest.mark.server
def test_no_user_touches_another_on_a_chroma_server(chroma_http) -> None:
    def open_store() -> ChromaStore:
        name = f"isolation-{uuid.uuid4().hex[:12]}"
        return ChromaStore(name, host=chroma_http.host, port=chroma_http.port)

    def discard(store: ChromaStore) -> None:  # leave the shared server as we found it
        for name in (store.collection_name, f"{store.collection_name}_history"):
            with contextlib.suppress(Exception):
                store._client.delete_collection(name)

    run = run_isolation(open_store, discard=discard, max_examples=8, steps=15)
    print(f"chroma server: {run}")
    assert run.examples >= 8
