"""Selecting the backend through settings, its options, the embedder record, describe()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from llm_memory import plugins
from llm_memory.errors import ConfigError, DimensionMismatch, EmbedderMismatch
from llm_memory.manager import MemoryManager
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.settings import load_settings
from llm_memory.storage import MemoryFilter
from llm_memory_lancedb.options import LanceDBOptions
from llm_memory_lancedb.store import LanceDBStore

SMALL = EmbedderInfo(name="test", model="small", dimension=4)


def build_store(**overrides: object) -> LanceDBStore:
    settings = load_settings(**overrides)
    store = plugins.build("storage", "lancedb", settings)
    assert isinstance(store, LanceDBStore)
    return store


def test_default_location_is_under_vector_store_dir(tmp_path) -> None:
    store = build_store(storage_backend="lancedb", vector_store_dir=str(tmp_path / "data"))
    assert store.uri == str(tmp_path / "data" / "lancedb")
    assert store.table_name == "memories"
    store.set_embedding_info(SMALL)
    assert (tmp_path / "data" / "lancedb" / "memories.lance").is_dir()
    assert store.describe()["table"] == "memories"
    store.close()


def test_options_come_from_the_toml_table_and_the_environment(tmp_path, monkeypatch) -> None:
    Path("llm-memory.toml").write_text(
        'storage_backend = "lancedb"\ncollection = "ignored"\n\n'
        f'[lancedb]\nuri = "{tmp_path / "from-toml"}"\ntable = "notes"\n'
        'ann_index_threshold = 5000\nindex_type = "IVF_PQ"\nfts = false\n'
    )
    store = build_store()
    assert (store.uri, store.table_name) == (str(tmp_path / "from-toml"), "notes")
    assert store.options.ann_index_threshold == 5000 and store.options.index_type == "IVF_PQ"
    assert "keyword_search" not in store.capabilities
    store.close()

    monkeypatch.setenv("LANCEDB_URI", str(tmp_path / "from-env"))
    monkeypatch.setenv("LANCEDB_FTS", "true")
    store = build_store()
    assert store.uri == str(tmp_path / "from-env") and "keyword_search" in store.capabilities
    store.close()


def test_bad_options_name_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("LANCEDB_INDEX_TYPE", "IVF_MAGIC")
    with pytest.raises(ConfigError, match="LANCEDB_INDEX_TYPE"):
        build_store(storage_backend="lancedb")


def test_storage_options_for_an_s3_compatible_server() -> None:
    options = LanceDBOptions(
        endpoint="http://127.0.0.1:9000",
        region="eu-west-1",
        access_key_id="AKIA",
        secret_access_key="s3cr3t",
        storage_options={"timeout": "60s"},
    )
    assert options.resolved_storage_options() == {
        "endpoint": "http://127.0.0.1:9000",
        "region": "eu-west-1",
        "access_key_id": "AKIA",
        "secret_access_key": "s3cr3t",
        "allow_http": "true",  # inferred from the http:// endpoint
        "timeout": "60s",
    }
    https = LanceDBOptions(endpoint="https://s3.example.com")
    assert "allow_http" not in https.resolved_storage_options()
    assert LanceDBOptions(endpoint="http://x", allow_http=False).resolved_storage_options() == {
        "endpoint": "http://x"
    }


@pytest.mark.server
def test_describe_masks_credentials_and_lists_indexes(s3_options) -> None:
    options = s3_options()
    assert options.uri is not None
    store = LanceDBStore(options.uri.replace("s3://", "s3://AKIA:s3cr3t@"), "m", options)
    described = store.describe()
    text = repr(described)
    assert "testing" not in text and "s3cr3t" not in text
    assert described["storage_options"]["secret_access_key"] == "********"
    assert described["storage_options"]["allow_http"] == "true"
    store.close()

    store = LanceDBStore(options.uri, "m", options)
    store.set_embedding_info(SMALL)
    store.upsert([MemoryItem(user_id="u", content="hello")], [[1.0, 0, 0, 0]])
    described = store.describe()
    assert described["memories"] == 1 and described["embedder"] == str(SMALL)
    assert {ix["name"]: ix["type"] for ix in described["indexes"]} == {
        "key_idx": "BTree",
        "user_id_idx": "BTree",
        "content_idx": "FTS",
    }
    store.clear()
    store.close()


@pytest.mark.server
def test_plain_http_endpoint_needs_allow_http(s3_options) -> None:
    with pytest.raises(ConfigError, match="LANCEDB_ALLOW_HTTP=true"):
        LanceDBStore("s3://unused/x", "m", s3_options(allow_http=False))
    with pytest.raises(ConfigError, match="bucket does not exist"):
        LanceDBStore("s3://no-such-bucket/x", "m", s3_options())


def test_dimension_mismatch(tmp_path) -> None:
    store = LanceDBStore(tmp_path / "db", "m")
    store.set_embedding_info(SMALL)
    store.upsert([MemoryItem(user_id="u", content="four numbers")], [[1.0, 0, 0, 0]])
    with pytest.raises(DimensionMismatch, match="4-dimensional"):
        store.upsert([MemoryItem(user_id="u", content="three")], [[1.0, 0, 0]])
    with pytest.raises(DimensionMismatch):
        store.query([1.0, 0.0], MemoryFilter("u"), k=3)
    with pytest.raises(DimensionMismatch, match="reindex"):
        store.set_embedding_info(EmbedderInfo(name="test", model="big", dimension=8))
    assert store.embedding_info() == SMALL and store.count() == 1

    store.clear()  # what reindex does first: now any dimension may follow
    assert store.embedding_info() is None and store.count() == 0
    store.set_embedding_info(EmbedderInfo(name="test", model="big", dimension=8))
    store.upsert([MemoryItem(user_id="u", content="eight")], [[1.0] * 8])
    assert store.count() == 1
    store.close()


def test_a_table_written_without_an_embedder_record_keeps_its_dimension(tmp_path) -> None:
    store = LanceDBStore(tmp_path / "db", "m")
    store.upsert([MemoryItem(user_id="u", content="no record")], [[0.0, 1.0, 0.0]])
    assert store.embedding_info() is None
    with pytest.raises(DimensionMismatch, match="3-dimensional"):
        store.upsert([MemoryItem(user_id="u", content="two")], [[0.0, 1.0]])
    store.set_embedding_info(EmbedderInfo(name="late", model="m", dimension=3))
    assert store.embedding_info() == EmbedderInfo(name="late", model="m", dimension=3)
    store.close()


def test_memory_manager_end_to_end_and_reindex(tmp_path, monkeypatch) -> None:
    overrides = {"storage_backend": "lancedb", "vector_store_dir": str(tmp_path / "data")}
    settings = load_settings(**overrides)
    store = plugins.build("storage", "lancedb", settings)
    embedder = plugins.build("embedder", "hash", settings)
    # No core keyword index: hybrid search goes to the store's own full-text index.
    with MemoryManager(store, embedder, settings=settings) as memory:
        memory.write_memory("Alice keeps bees on her allotment", "alice", type="fact")
        memory.write_memory("Alice is allergic to penicillin", "alice", importance=0.9)
        memory.write_memory("Bob plays the bassoon", "bob")
        found = memory.retrieve("penicillin allergy", "alice")
        assert found[0].memory.content == "Alice is allergic to penicillin"
        assert "keyword" in found[0].sources
        assert all(m.memory.user_id == "alice" for m in found)

    monkeypatch.setenv("HASH_DIMENSION", "64")
    with pytest.raises(EmbedderMismatch), MemoryManager.from_settings(**overrides) as memory:
        memory.retrieve("bees", "alice")
    with MemoryManager.from_settings(**overrides) as memory:
        assert memory.reindex() == 3  # clear() drops the table; it comes back with 64 dims
        info = memory.store.embedding_info()
        assert info is not None and info.dimension == 64
        assert memory.retrieve("bees", "alice")[0].memory.content.endswith("allotment")


def test_the_hook_module_does_not_import_lancedb() -> None:
    code = (
        "import sys, llm_memory_lancedb; from llm_memory.plugins import get_plugin_manager; "
        "get_plugin_manager().get('storage', 'lancedb'); "
        "print(sorted({'lancedb', 'pyarrow'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_batch_of_new_and_refreshed_memories_is_one_commit(tmp_path) -> None:
    """write_memories with new memories and refreshes of stored ones: one merge_insert
    (one table version), the refreshed rows keeping their vectors."""
    overrides = {
        "storage_backend": "lancedb",
        "vector_store_dir": str(tmp_path / "data"),
        "lancedb": {"optimize_every": 0, "optimize_growth": 0},
    }
    with MemoryManager.from_settings(**overrides) as memory:
        store = memory.store
        assert isinstance(store, LanceDBStore)
        first = memory.write_memories(
            [{"user_id": "u", "content": f"stored {n}", "importance": 0.1} for n in range(3)]
        )
        before = store.get_vectors("u", [m.id for m in first])
        version = store.describe()["version"]
        batch = [{"user_id": "u", "content": f"stored {n}", "importance": 0.9} for n in range(2)]
        batch += [{"user_id": "v", "content": f"new {n}"} for n in range(3)]
        written = memory.write_memories(batch)
        assert store.describe()["version"] == version + 1  # one commit for the batch
        assert [m.id for m in written[:2]] == [m.id for m in first[:2]]
        assert [m.importance for m in store.get("u", [m.id for m in first])] == [0.9, 0.9, 0.1]
        assert store.get_vectors("u", [m.id for m in first]) == before
        assert store.count() == 6
        assert [m.memory.content for m in memory.retrieve("new 1", "v", limit=1)] == ["new 1"]


def test_stats_and_config_name_the_native_index_when_chosen(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from llm_memory.cli import cli

    monkeypatch.setenv("STORAGE_BACKEND", "lancedb")
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path))
    monkeypatch.setenv("KEYWORD_INDEX", "native")
    runner = CliRunner()
    stats = runner.invoke(cli, ["stats", "--json"], catch_exceptions=False)
    config = runner.invoke(cli, ["config", "--json"], catch_exceptions=False)
    shown = "store: the core's keyword text in lancedb's own database (LanceRowKeywords)"
    assert json.loads(stats.output)["keyword_index"] == shown
    assert json.loads(config.output)["keyword_index"] == shown


def test_single_writes_do_not_count_the_table_every_time(tmp_path) -> None:
    """The ANN threshold is checked against the last count plus this process's rows, not a
    count_rows per write (a request per write on object storage)."""
    store = LanceDBStore(tmp_path / "db", "m", LanceDBOptions(optimize_every=0))
    store.set_embedding_info(SMALL)
    table = store._table()
    counted: list[int] = []
    count_rows = table.count_rows
    table.count_rows = lambda *args, **kwargs: counted.append(1) or count_rows(*args, **kwargs)
    for n in range(30):
        store.upsert([MemoryItem(id=f"m{n}", user_id="u", content=f"m {n}")], [[1.0, n, 0, 0]])
    assert len(counted) == 1
    assert store.count() == 30
    store.close()
