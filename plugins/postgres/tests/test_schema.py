"""The schema is versioned: an older table is migrated on open, a newer one refused."""

from __future__ import annotations

import pytest
from llm_memory.errors import ConfigError
from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter
from llm_memory_postgres import schema

pytestmark = pytest.mark.server


def _version_and_options(store) -> tuple[str | None, list[str] | None]:
    with store.transaction(None) as conn:
        version = schema.read_meta(conn, store.names, "schema_version")
        row = conn.execute(
            "SELECT c.reloptions FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
            "WHERE s.nspname = %s AND c.relname = %s",
            [store.names.schema, f"{store.names.table}_kw_doc"],
        ).fetchone()
    return version, row[0]


def test_a_version_1_table_is_migrated_on_open_keeping_its_rows(open_store, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])  # what the first release made
        old = open_store()
        old.upsert([MemoryItem(user_id="ada", id="m1", content="Ada likes tea")], [[1.0, 0.0]])
        old.own_keyword_index(None).add(old.get("ada", ["m1"]))
        assert _version_and_options(old) == ("1", None)
    new = open_store()
    assert _version_and_options(new) == (str(len(schema.MIGRATIONS)), ["fastupdate=off"])
    assert [m.content for m in new.get("ada", ["m1"])] == ["Ada likes tea"]
    assert new.own_keyword_index(None).search("tea", MemoryFilter("ada"), 5)[0][0] == "m1"


def test_an_older_release_refuses_a_newer_table(open_store, monkeypatch):
    open_store()
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    with pytest.raises(ConfigError, match="schema version 2; this llm-memory-postgres knows 1"):
        open_store()
