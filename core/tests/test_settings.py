"""Settings from defaults, the environment, llm-memory.toml and --config."""

from __future__ import annotations

import pytest
from llm_memory.errors import ConfigError
from llm_memory.settings import load_settings, masked

SEED_VARIABLES = {
    "EMBEDDING_PROVIDER": ("embedding_provider", "openai", "openai"),
    "EMBEDDING_MODEL": ("embedding_model", "text-embedding-3-small", "text-embedding-3-small"),
    "VECTOR_STORE_DIR": ("vector_store_dir", "/data/vectors", "/data/vectors"),
    "AGENT_MODEL": ("agent_model", "openai:gpt-4o-mini", "openai:gpt-4o-mini"),
    "AGENT_TEMPERATURE": ("agent_temperature", "0.2", 0.2),
    "MAX_ACTIVE_MEMORIES": ("max_active_memories", "7", 7),
    "RETENTION_DAYS": ("retention_days", "30", 30),
    "API_PORT": ("api_port", "9001", 9001),
    "S3_BUCKET": ("s3_bucket", "backups", "backups"),
    "SNAPSHOT_INTERVAL": ("snapshot_interval", "6", 6.0),
    "STORAGE_BACKEND": ("storage_backend", "lancedb", "lancedb"),
    "SCORER": ("scorer", "weighted", "weighted"),
    "SUMMARIZER": ("summarizer", "llm", "llm"),
    "SNAPSHOT_STORE": ("snapshot_store", "s3", "s3"),
}


def test_defaults_are_the_seeds() -> None:
    settings = load_settings()
    assert settings.storage_backend == "chroma"
    assert str(settings.vector_store_dir) == "chroma_db"
    assert settings.embedding_provider == "hash"
    assert settings.scorer == "weighted"
    assert settings.snapshot_store == "local"
    assert settings.max_active_memories == 10


@pytest.mark.parametrize("variable", sorted(SEED_VARIABLES))
def test_each_documented_variable_is_read(monkeypatch, variable: str) -> None:
    field, raw, expected = SEED_VARIABLES[variable]
    monkeypatch.setenv(variable, raw)
    value = getattr(load_settings(), field)
    assert (str(value) if field == "vector_store_dir" else value) == expected


def test_toml_file_in_the_working_directory(tmp_path) -> None:
    (tmp_path / "llm-memory.toml").write_text(
        'storage_backend = "memory"\nmax_active_memories = 3\n'
    )
    settings = load_settings()
    assert settings.storage_backend == "memory"
    assert settings.max_active_memories == 3
    assert settings.config_file is not None


def test_environment_beats_the_file_and_overrides_beat_both(tmp_path, monkeypatch) -> None:
    (tmp_path / "llm-memory.toml").write_text("max_active_memories = 3\n")
    monkeypatch.setenv("MAX_ACTIVE_MEMORIES", "4")
    assert load_settings().max_active_memories == 4
    assert load_settings(max_active_memories=5).max_active_memories == 5


def test_explicit_config_file(tmp_path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('collection = "notes"\n')
    assert load_settings(path).collection == "notes"


def test_missing_config_file_is_one_clear_line(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_broken_toml_names_the_file(tmp_path) -> None:
    (tmp_path / "llm-memory.toml").write_text("this is = = not toml")
    with pytest.raises(ConfigError, match=r"llm-memory\.toml"):
        load_settings()


def test_invalid_value_names_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("MAX_ACTIVE_MEMORIES", "0")
    with pytest.raises(ConfigError, match=r"max_active_memories \(MAX_ACTIVE_MEMORIES\)"):
        load_settings()


def test_secrets_are_masked(monkeypatch) -> None:
    monkeypatch.setenv("AGENT_API_KEY", "sk-very-secret")
    shown = masked(load_settings())
    assert shown["agent_api_key"] == "********"
    assert "sk-very-secret" not in str(shown)


# -- unknown names are refused, naming the nearest valid one -------------------------------------
def test_a_misspelled_argument_is_refused_naming_the_nearest() -> None:
    from llm_memory.manager import MemoryManager

    with pytest.raises(ConfigError) as err:
        MemoryManager.from_settings(embeding_provider="hash")
    message = str(err.value)
    assert message.startswith(
        "Unknown setting 'embeding_provider'; did you mean 'embedding_provider'?"
    )
    assert "\n" not in message
    with pytest.raises(ConfigError, match="Unknown setting 'max_active'"):
        load_settings(max_active=3)
    with pytest.raises(ConfigError, match="did you mean 'embedding_provider'"):
        load_settings(embeding_provider=None)  # refused even when it would change nothing
    from llm_memory.settings import Settings

    with pytest.raises(ConfigError, match="did you mean 'embedding_model'"):
        Settings(embeding_model="x")
    settings = load_settings(storage_backend="memory")
    with pytest.raises(ConfigError, match="did you mean 'storage_backend'"):
        MemoryManager.from_settings(settings, storge_backend="memory")
    with pytest.raises(ConfigError, match=r"max_active_memories: Input should be greater"):
        MemoryManager.from_settings(settings, max_active_memories=0)


def test_a_misspelled_key_in_the_file_is_refused(tmp_path) -> None:
    (tmp_path / "llm-memory.toml").write_text('storge_backend = "memory"\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(
        "Unknown setting 'storge_backend' in 'llm-memory.toml'; did you mean 'storage_backend'?"
    )


def test_unknown_provider_tables_are_refused_and_known_ones_kept(tmp_path) -> None:
    path = tmp_path / "llm-memory.toml"
    path.write_text('[lancdb]\nuri = "s3://bucket/x"\n')
    with pytest.raises(
        ConfigError, match=r"^Unknown table \[lancdb\] .*did you mean \[lancedb\]\?"
    ):
        load_settings()
    # A table for a provider that is not selected (or not installed) is kept for later.
    path.write_text('[lancedb]\nuri = "s3://bucket/x"\n[api_keys]\nk1 = "admin"\n')
    settings = load_settings()
    assert settings.section("lancedb") == {"uri": "s3://bucket/x"}
    with pytest.raises(ConfigError, match="Unknown setting 'lancdb'; did you mean 'lancedb'"):
        load_settings(lancdb={"uri": "x"})


def test_provider_settings_can_be_arguments(tmp_path, monkeypatch) -> None:
    from llm_memory.manager import MemoryManager

    monkeypatch.setenv("MEMORY_STORE_PATH", str(tmp_path / "from-env.json"))
    chosen = tmp_path / "from-argument.json"
    manager = MemoryManager.from_settings(storage_backend="memory", memory={"path": str(chosen)})
    assert manager.store.describe()["location"] == str(chosen)
    assert manager.settings.source("storage_backend") == "argument"
    manager.close()
    with pytest.raises(
        ConfigError, match=r"pth \(MEMORY_STORE_PTH\): unknown setting; did you mean 'path'\?"
    ):
        MemoryManager.from_settings(storage_backend="memory", memory={"pth": str(chosen)})
    again = MemoryManager.from_settings(
        load_settings(storage_backend="memory"), memory={"path": str(chosen)}
    )
    assert again.store.describe()["location"] == str(chosen)
    again.close()


def test_llm_memory_variables_with_a_typo_are_refused(monkeypatch) -> None:
    monkeypatch.setenv("LLM_MEMORY_LOAD_PLUGIN", "llm-memory-chroma")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(
        "Unknown environment variable LLM_MEMORY_LOAD_PLUGIN; did you mean LLM_MEMORY_LOAD_PLUGINS?"
    )
    monkeypatch.delenv("LLM_MEMORY_LOAD_PLUGIN")
    monkeypatch.setenv("LLM_MEMORY_DEBUG", "1")
    monkeypatch.setenv("UNRELATED_TOOL_SETTING", "x")  # other variables cannot be checked
    assert load_settings().storage_backend == "chroma"


def test_each_value_says_where_it_came_from(tmp_path, monkeypatch) -> None:
    (tmp_path / "llm-memory.toml").write_text('collection = "notes"\nretention_days = 5\n')
    monkeypatch.setenv("RETENTION_DAYS", "7")
    settings = load_settings(scorer="weighted")
    assert settings.source("collection") == "file"
    assert settings.source("retention_days") == "environment" and settings.retention_days == 7
    assert settings.source("scorer") == "argument"
    assert settings.source("summarizer") == "default"
