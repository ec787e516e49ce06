"""The persistent embedding cache: hits, misses, identity, kinds, persistence, concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from llm_memory.embedding import Embedder
from llm_memory.embedding.cache import CachedEmbedder, EmbeddingCache, wrap_if_enabled
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import ConfigError, EmbeddingError
from llm_memory.settings import load_settings
from llm_memory_testing import EmbedderContract


class Remote(Embedder):
    """A stand-in for a paid API: records every batch it is asked for, counts tokens."""

    name = "remote"
    remote = True

    def __init__(self, dimension: int = 32, model: str = "m1") -> None:
        super().__init__()
        self.model = model
        self._hash = HashEmbedder(dimension=dimension)
        self.calls: list[tuple[str, list[str]]] = []
        self.fail: Exception | None = None
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self._hash.dimension

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._call("document", texts)

    def _call(self, kind: str, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.calls.append((kind, list(texts)))
            if self.fail is not None:
                raise self.fail
            self.usage.requests += 1
            self.usage.texts += len(texts)
            self.usage.tokens += sum(len(t.split()) for t in texts)
        # float64 values that are not float32-exact, to see the rounding
        return [[x + 1e-9 for x in v] for v in self._hash.embed_documents(texts)]


class RemoteWithQueries(Remote):
    """Like Cohere: queries are embedded differently from documents."""

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._call("query", texts)
        return [[-x for x in v] for v in vectors]


def f32(vectors: list[list[float]]) -> list[list[float]]:
    return np.asarray(vectors, dtype="<f4").tolist()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "embeddings.sqlite3"


class TestCachedEmbedderContract(EmbedderContract):
    semantic = True

    @pytest.fixture
    def embedder(self, db: Path) -> Embedder:
        return CachedEmbedder(Remote(), db)


def test_second_embedding_of_the_same_texts_makes_no_call(db: Path) -> None:
    inner = Remote()
    cached = CachedEmbedder(inner, db)
    first = cached.embed_documents(["alpha beta", "gamma"])
    assert inner.calls == [("document", ["alpha beta", "gamma"])]
    assert cached.embed_documents(["gamma", "alpha beta"]) == [first[1], first[0]]
    assert len(inner.calls) == 1
    assert cached.usage.as_dict() == {
        "requests": 1,
        "texts": 4,
        "tokens": 3,
        "cache_hits": 2,
        "cache_misses": 2,
    }


def test_only_the_misses_go_to_the_inner_embedder_in_one_batch(db: Path) -> None:
    inner = Remote()
    cached = CachedEmbedder(inner, db)
    cached.embed_documents(["one", "two"])
    result = cached.embed_documents(["three", "one", "four", "three", "two"])
    assert inner.calls[1] == ("document", ["three", "four"])  # once each, in one call
    assert len(inner.calls) == 2
    assert result[0] == result[3]
    assert result == f32(Remote().embed_documents(["three", "one", "four", "three", "two"]))


def test_identity_is_the_inner_embedders(db: Path) -> None:
    inner = Remote(dimension=48, model="m-large")
    cached = CachedEmbedder(inner, db)
    assert (cached.name, cached.model, cached.dimension, cached.remote) == (
        "remote",
        "m-large",
        48,
        True,
    )
    assert cached.info() == inner.info()


def test_vectors_are_float32_whether_cached_or_not(db: Path) -> None:
    inner = Remote()
    cached = CachedEmbedder(inner, db)
    fresh = cached.embed_documents(["red fox"])
    again = cached.embed_documents(["red fox"])
    assert fresh == again == f32(inner.embed_documents(["red fox"]))
    with sqlite3.connect(db) as conn:
        (blob,) = conn.execute("SELECT vector FROM embeddings").fetchone()
    assert len(blob) == 4 * 32
    assert np.frombuffer(blob, dtype="<f4").tolist() == fresh[0]


def test_documents_and_queries_are_cached_apart_when_they_differ(db: Path) -> None:
    inner = RemoteWithQueries()
    cached = CachedEmbedder(inner, db)
    doc = cached.embed_documents(["where is the cat"])[0]
    query = cached.embed_query("where is the cat")
    assert query == [-x for x in doc]
    assert [kind for kind, _ in inner.calls] == ["document", "query"]
    assert cached.embed_queries(["where is the cat"]) == [query]
    assert cached.embed_documents(["where is the cat"]) == [doc]
    assert len(inner.calls) == 2


def test_queries_share_document_entries_when_the_embedder_does_not_distinguish(db: Path) -> None:
    inner = Remote()
    cached = CachedEmbedder(inner, db)
    doc = cached.embed_documents(["where is the cat"])[0]
    assert cached.embed_query("where is the cat") == doc
    assert len(inner.calls) == 1


def test_entries_are_keyed_by_provider_model_and_dimension(db: Path) -> None:
    CachedEmbedder(Remote(dimension=32, model="m1"), db).embed_documents(["same text"])
    for other in (Remote(dimension=64, model="m1"), Remote(dimension=32, model="m2")):
        CachedEmbedder(other, db).embed_documents(["same text"])
        assert len(other.calls) == 1, "another model or dimension must not reuse the entry"
    hashed = HashEmbedder(dimension=32)
    hashed.name = "other-provider"
    hashed.model = "m1"
    cached = CachedEmbedder(hashed, db)
    cached.embed_documents(["same text"])
    assert cached.usage.cache_misses == 1
    assert EmbeddingCache(db).count() == 4


def test_the_cache_persists_across_instances(db: Path) -> None:
    CachedEmbedder(Remote(), db).embed_documents(["kept on disk", "also kept"])
    later = Remote()
    cached = CachedEmbedder(later, db)
    assert cached.embed_documents(["also kept", "kept on disk"]) == f32(
        Remote().embed_documents(["also kept", "kept on disk"])
    )
    assert later.calls == []
    assert cached.usage.cache_hits == 2 and cached.usage.requests == 0


def test_a_failed_call_stores_nothing_and_raises(db: Path) -> None:
    inner = Remote()
    inner.fail = EmbeddingError("quota exceeded")
    cached = CachedEmbedder(inner, db)
    with pytest.raises(EmbeddingError, match="quota exceeded"):
        cached.embed_documents(["a", "b"])
    assert EmbeddingCache(db).count() == 0
    inner.fail = None
    cached.embed_documents(["a", "b"])
    assert inner.calls[-1] == ("document", ["a", "b"])


def test_a_wrong_length_entry_is_ignored(db: Path) -> None:
    inner = Remote()
    cached = CachedEmbedder(inner, db)
    cached.embed_documents(["broken entry"])
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE embeddings SET vector = ?", (b"\0" * 12,))
    assert cached.embed_documents(["broken entry"]) == f32(
        Remote().embed_documents(["broken entry"])
    )
    assert len(inner.calls) == 2


def test_empty_batch_touches_nothing(db: Path) -> None:
    inner = Remote()
    cached = CachedEmbedder(inner, db)
    assert cached.embed_documents([]) == [] and cached.embed_queries([]) == []
    assert inner.calls == [] and cached.usage.texts == 0


def test_threads_share_one_cache(db: Path) -> None:
    inner = Remote()
    cached = CachedEmbedder(inner, db)
    texts = [f"text number {i}" for i in range(40)]
    expected = f32(Remote().embed_documents(texts))
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for start in range(0, 40, 8):
                chunk = texts[(start + offset) % 40 :][:8]
                assert cached.embed_documents(chunk) == expected[(start + offset) % 40 :][:8]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 3,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert EmbeddingCache(db).count() == 40
    usage = cached.usage
    assert usage.cache_hits + usage.cache_misses == usage.texts
    assert usage.cache_misses >= 40 and usage.cache_hits > 0


def _worker(path: str, worker: int) -> None:
    # Runs in a forked process: its own connection to the shared file.
    inner = HashEmbedder(dimension=64)
    inner.remote = True
    cached = CachedEmbedder(inner, path)
    for round in range(20):
        texts = [f"shared {round} {i}" for i in range(10)] + [
            f"own {worker} {round} {i}" for i in range(10)
        ]
        if cached.embed_documents(texts) != f32(inner.embed_documents(texts)):
            raise SystemExit(3)
    raise SystemExit(0 if cached.usage.cache_misses >= 10 else 4)


@pytest.mark.skipif(sys.platform == "win32", reason="uses fork")
def test_processes_share_one_cache_file(db: Path) -> None:
    EmbeddingCache(db).close()  # create the file first, as a running app would have
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_worker, args=(str(db), n)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    assert EmbeddingCache(db).count() == 20 * 10 + 3 * 20 * 10
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_wrap_if_enabled_defaults_to_remote_embedders_only() -> None:
    settings = load_settings()
    remote, local = Remote(), HashEmbedder(dimension=32)
    wrapped = wrap_if_enabled(remote, settings)
    assert isinstance(wrapped, CachedEmbedder) and wrapped.inner is remote
    assert wrapped.cache.path == settings.embedding_cache_path
    assert str(settings.embedding_cache_path).startswith(
        str(Path.cwd())
    )  # the test's private cache home
    assert wrap_if_enabled(local, settings) is local
    assert wrap_if_enabled(wrapped, settings) is wrapped


def test_wrap_if_enabled_follows_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "elsewhere.sqlite3"
    monkeypatch.setenv("EMBEDDING_CACHE_PATH", str(path))
    monkeypatch.setenv("EMBEDDING_CACHE", "true")
    local = HashEmbedder(dimension=32)
    wrapped = wrap_if_enabled(local, load_settings())
    assert isinstance(wrapped, CachedEmbedder) and wrapped.cache.path == path
    wrapped.embed_documents(["x"])
    assert path.exists()
    monkeypatch.setenv("EMBEDDING_CACHE", "false")
    remote = Remote()
    assert wrap_if_enabled(remote, load_settings()) is remote


def test_an_unusable_cache_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as info:
        CachedEmbedder(Remote(), blocker / "embeddings.sqlite3")
    message = str(info.value)
    assert (
        "EMBEDDING_CACHE_PATH" in message
        and "EMBEDDING_CACHE=false" in message
        and "\n" not in message
    )


def test_usage_totals_add_up_across_processes_sharing_the_cache(tmp_path) -> None:
    """Two managers (as two CLI runs would be) share running totals through the cache file."""
    from llm_memory import MemoryManager
    from llm_memory.embedding.hash import HashEmbedder
    from llm_memory.storage.memory import MemoryStore

    settings = {"embedding_cache": True, "embedding_cache_path": tmp_path / "cache.sqlite3"}
    for _ in range(2):
        memory = MemoryManager.from_settings(
            storage_backend="memory", vector_store_dir=tmp_path, **settings
        )
        memory.write_memories(
            [{"user_id": "u", "content": "tea"}, {"user_id": "u", "content": "jazz"}]
        )
        stats = memory.stats()
        memory.close()
    assert stats["embedding_usage"]["cache_hits"] == 0  # this process: refreshed, nothing embedded
    totals = stats["embedding_usage_total"]
    assert totals["cache_misses"] == 2 and totals["texts"] == 2
    assert isinstance(
        MemoryManager(MemoryStore(), HashEmbedder()).stats()["embedding_usage_total"], type(None)
    )
