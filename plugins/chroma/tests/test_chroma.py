"""What the contract kit does not cover: no network and no Chroma embedding function, batch
limits, dimensions, configuration through the plugin registry, and the server's collection
being recreated under a running store."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromadb.api.models.Collection import Collection
from chromadb.api.types import DefaultEmbeddingFunction
from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2
from llm_memory.errors import ConfigError, DimensionMismatch, EmbedderMismatch, LLMMemoryError
from llm_memory.models import EmbedderInfo
from llm_memory.plugins import build
from llm_memory.settings import build_options, load_settings
from llm_memory.storage import MemoryFilter
from llm_memory_chroma.options import ChromaOptions
from llm_memory_chroma.store import ChromaStore
from llm_memory_testing.storage import INFO, item, vec

LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture
def store(tmp_path) -> Iterator[ChromaStore]:
    store = ChromaStore("memories", path=tmp_path / "chroma_db")
    yield store
    store.close()


@pytest.fixture
def offline(monkeypatch) -> list[str]:
    """Record (and refuse) Chroma's default embedding model and any non-loopback connection."""
    attempts: list[str] = []

    def refuse(what: str):
        def guard(self, input):  # the EmbeddingFunction signature chromadb checks
            attempts.append(what)
            raise AssertionError(f"{what} was called")

        return guard

    monkeypatch.setattr(DefaultEmbeddingFunction, "__call__", refuse("DefaultEmbeddingFunction"))
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", refuse("ONNXMiniLM_L6_V2"))
    monkeypatch.setattr(
        ONNXMiniLM_L6_V2,
        "_download_model_if_not_exists",
        lambda self: refuse("model download")(self, None),
    )
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOCAL_HOSTS:
            attempts.append(f"connect {address}")
            raise OSError("network disabled in this test")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOCAL_HOSTS:
            attempts.append(f"resolve {host}")
            raise OSError("network disabled in this test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def exercise(store: ChromaStore) -> None:
    """Every operation that could reach an embedding function: writes with documents,
    updates of content, queries, reads."""
    store.set_embedding_info(INFO)
    store.upsert([item(1), item(2, session_id="s")], [vec(1), vec(0, 1)])
    store.update([item(1, content="changed words")])
    assert [m.content for m in store.get("alice", ["m1"])] == ["changed words"]
    assert [h.item.id for h in store.query(vec(1), MemoryFilter("alice"), k=2)] == ["m1", "m2"]
    assert len(store.list(MemoryFilter("alice", session_id="s"))) == 1
    assert store.get_vectors("alice", ["m2"])["m2"] == pytest.approx(vec(0, 1))
    assert store.delete("alice", ["m2"]) == 1


def test_embedded_store_never_calls_an_embedding_function_or_the_network(offline, tmp_path) -> None:
    store = ChromaStore("memories", path=tmp_path / "db")
    exercise(store)
    store.close()
    reopened = ChromaStore("memories", path=tmp_path / "db")
    assert reopened.count() == 1 and reopened.embedding_info() == INFO
    reopened.close()
    assert offline == []


def test_server_store_never_calls_an_embedding_function(offline, chroma_http) -> None:
    store = ChromaStore(
        f"offline-{uuid.uuid4().hex[:8]}", host=chroma_http.host, port=chroma_http.port
    )
    try:
        exercise(store)
        assert store._client.get_settings().anonymized_telemetry is False
    finally:
        store._client.delete_collection(store.collection_name)
        store.close()
    assert offline == []


def test_the_offline_guard_catches_chromas_default_embedding_function(offline, store) -> None:
    """The control: a collection fetched the plain chromadb way carries the default model,
    and updating a document through it calls the model, which the guard catches."""
    store.set_embedding_info(INFO)
    store.upsert([item(1)], [vec(1)])
    plain = store._client.get_collection("memories")  # chromadb's default embedding function
    with pytest.raises(AssertionError, match="was called"):
        plain.update(ids=[store._collection.get()["ids"][0]], documents=["new words"])
    assert offline and offline[0] in {"DefaultEmbeddingFunction", "ONNXMiniLM_L6_V2"}


def test_telemetry_is_off(store) -> None:
    assert store._client.get_settings().anonymized_telemetry is False


# -- batches and dimensions ----------------------------------------------------------------
def test_an_upsert_larger_than_the_clients_max_batch(store) -> None:
    """chromadb refuses one call with more than ``get_max_batch_size()`` records; the store
    splits the upsert."""
    limit = store._client.get_max_batch_size()
    assert store.max_batch == limit
    n = limit + 7
    with pytest.raises(Exception, match="max batch size"):
        store._collection.upsert(ids=[str(i) for i in range(n)], embeddings=[vec(1)] * n)
    store.set_embedding_info(INFO)
    store.upsert([item(i) for i in range(n)], [vec(1, i % 7, i % 11) for i in range(n)])
    assert store.count("alice") == n
    assert [m.id for m in store.get("alice", ["m0", f"m{n - 1}"])] == ["m0", f"m{n - 1}"]


def test_every_call_respects_the_batch_size(store, monkeypatch) -> None:
    """Reads, updates and deletes by id are batched too (a small limit keeps this fast)."""
    sizes: list[tuple[str, int]] = []
    for name in ("upsert", "get", "delete"):
        real = getattr(Collection, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            if kwargs.get("ids") is not None:
                sizes.append((_name, len(kwargs["ids"])))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Collection, name, spy)
    store.max_batch = 40
    store.set_embedding_info(INFO)
    items = [item(i) for i in range(100)]
    ids = [m.id for m in items]
    store.upsert(items, [vec(1, i) for i in range(100)])
    assert len(store.get("alice", ids)) == 100
    assert len(store.get_vectors("alice", ids)) == 100
    store.update([m.model_copy(update={"importance": 0.9}) for m in items])
    assert {m.importance for m in store.list(MemoryFilter("alice"), limit=200)} == {0.9}
    assert store.delete("alice", ids) == 100
    assert store.count() == 0
    assert {name for name, _ in sizes} == {"upsert", "get", "delete"}
    assert max(size for _, size in sizes) == 40


def test_users_pages_through_the_collection(store) -> None:
    store.max_batch = 3  # page size of users(); the real limit is thousands
    names = [f"user-{n:02}" for n in range(10)]
    store.set_embedding_info(INFO)
    store.upsert([item(1, name) for name in reversed(names)], [vec(1)] * 10)
    assert store.users() == names


def test_wrong_dimension_on_write_and_query(store) -> None:
    store.set_embedding_info(INFO)
    with pytest.raises(DimensionMismatch, match="8-dimensional vectors from contract/kit-v1"):
        store.upsert([item(1)], [[1.0, 0.0]])
    with pytest.raises(DimensionMismatch):
        store.query([1.0, 0.0], MemoryFilter("alice"), k=3)
    assert store.count() == 0


def test_the_server_side_dimension_check_is_a_dimension_mismatch(store) -> None:
    """Without a recorded embedder, chromadb still fixes the dimension at the first write."""
    store.upsert([item(1)], [vec(1)])
    with pytest.raises(DimensionMismatch, match="dimension"):
        store.upsert([item(2)], [[1.0, 2.0]])
    with pytest.raises(DimensionMismatch, match="dimension of 8, got 2"):
        store.query([1.0, 2.0], MemoryFilter("alice"), k=1)
    with pytest.raises(DimensionMismatch, match="cannot share"):
        store.upsert([item(3), item(4)], [[1.0, 2.0], [1.0, 2.0, 3.0]])
    assert store.count() == 1


def test_changing_the_dimension_needs_an_empty_collection(store) -> None:
    store.set_embedding_info(INFO)
    store.upsert([item(1)], [vec(1)])
    small = EmbedderInfo(name="tiny", model="t1", dimension=3)
    with pytest.raises(EmbedderMismatch, match="holds 1 memories with 8-dimensional"):
        store.set_embedding_info(small)
    assert store.embedding_info() == INFO
    store.delete("alice", ["m1"])  # chromadb keeps the collection's dimension after this
    store.set_embedding_info(small)
    store.upsert([item(2)], [[1.0, 0.0, 0.0]])
    assert store.embedding_info() == small and store.count() == 1


def test_clear_drops_data_and_embedder(store) -> None:
    store.set_embedding_info(INFO)
    store.upsert([item(1), item(2, "bob")], [vec(1), vec(1)])
    store.clear()
    assert store.count() == 0 and store.embedding_info() is None
    store.upsert([item(3)], [[0.5, 0.5]])  # any dimension again
    assert store.count() == 1


def test_a_collection_recreated_by_another_client_is_picked_up(chroma_http) -> None:
    """Another API process may clear (drop and recreate) the shared collection; a running
    store follows it by name instead of failing on the old collection id."""
    name = f"shared-{uuid.uuid4().hex[:8]}"
    first = ChromaStore(name, host=chroma_http.host, port=chroma_http.port)
    second = ChromaStore(name, host=chroma_http.host, port=chroma_http.port)
    try:
        first.set_embedding_info(INFO)
        first.upsert([item(1)], [vec(1)])
        assert second.count() == 1
        first.clear()
        first.set_embedding_info(INFO)
        first.upsert([item(2)], [vec(0, 1)])
        assert [m.id for m in second.list(MemoryFilter("alice"))] == ["m2"]
        second.upsert([item(3)], [vec(1, 1)])
        assert first.count("alice") == 2
    finally:
        first._client.delete_collection(name)
        first.close()
        second.close()


# -- configuration -------------------------------------------------------------------------
def test_hook_module_does_not_import_chromadb() -> None:
    code = "import sys, llm_memory_chroma; print('chromadb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_built_by_name_embedded_at_vector_store_dir(tmp_path) -> None:
    settings = load_settings(vector_store_dir=tmp_path / "data", collection="notes")
    store = build("storage", "chroma", settings)
    try:
        assert isinstance(store, ChromaStore)
        assert store.describe() == {
            "backend": "chroma",
            "mode": "embedded",
            "location": str(tmp_path / "data"),
            "collection": "notes",
            "memories": 0,
        }
        assert "notes" in [c.name for c in store._client.list_collections()]
        assert (tmp_path / "data" / "chroma.sqlite3").exists()
    finally:
        store.close()


def test_default_directory_is_chroma_db_in_the_working_directory(tmp_path) -> None:
    store = build("storage", "chroma", load_settings())
    assert store.path == Path("chroma_db")
    assert store.describe()["location"] == str(tmp_path / "chroma_db")
    store.close()
    assert (tmp_path / "chroma_db" / "chroma.sqlite3").exists()


def test_built_by_name_against_a_server_from_the_environment(monkeypatch, chroma_http) -> None:
    monkeypatch.setenv("CHROMA_HOST", chroma_http.host)
    monkeypatch.setenv("CHROMA_PORT", str(chroma_http.port))
    monkeypatch.setenv("CHROMA_HEADERS", '{"X-Test": "yes"}')
    name = f"env-{uuid.uuid4().hex[:8]}"
    settings = load_settings(collection=name)
    assert build_options(ChromaOptions, settings, "chroma").headers == {"X-Test": "yes"}
    store = build("storage", "chroma", settings)
    try:
        described = store.describe()
        assert described["mode"] == "http" and described["location"] == chroma_http.url
        assert described["collection"] == name
        store.set_embedding_info(INFO)
        store.upsert([item(1)], [vec(1)])
        assert store.count() == 1
    finally:
        store._client.delete_collection(name)
        store.close()


def test_server_settings_from_the_toml_table(tmp_path, chroma_http) -> None:
    name = f"toml-{uuid.uuid4().hex[:8]}"
    (tmp_path / "llm-memory.toml").write_text(
        f'collection = "{name}"\n\n[chroma]\nhost = "{chroma_http.url}"\nport = 1\n'
    )
    store = build("storage", "chroma", load_settings())
    try:
        assert store.describe()["location"] == chroma_http.url  # the URL's port wins
    finally:
        store._client.delete_collection(name)
        store.close()


def test_unreachable_server_is_one_clear_line(monkeypatch) -> None:
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", "9")  # discard: nothing answers HTTP there
    with pytest.raises(
        ConfigError, match=r"Cannot reach the Chroma server at http://127.0.0.1:9 .*CHROMA_HOST"
    ):
        build("storage", "chroma", load_settings())


def test_invalid_collection_name_names_the_setting(tmp_path) -> None:
    with pytest.raises(ConfigError, match="set COLLECTION"):
        ChromaStore("x", path=tmp_path / "db")
    ChromaStore("memories", path=tmp_path / "db").close()  # the failed open released the lock


def test_a_closed_store_says_so(store) -> None:
    store.close()
    store.close()
    with pytest.raises(LLMMemoryError, match="closed"):
        store.count()
