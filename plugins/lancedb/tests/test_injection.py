"""Issue 11, finding 1: a backslash before a quote ended lancedb's SQL literal early.

``Expr.to_sql()`` doubles quotes but keeps backslashes, and lance's parser reads ``\\'`` as
an escaped quote, so ``x\\')) OR ((1=1)) --`` closed the literal and deleted every row. The
store now hands lancedb expression objects; these tests drive the store (under the core's
id checks) with exactly those values.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from llm_memory.testing.storage import INFO, item, vec
from llm_memory_lancedb.store import LanceDBStore

ATTACKS = [
    "x\\')) OR ((1=1)) --",
    "x\\') OR (1=1) --",
    "x\\' OR 1=1 --",
    "\\",
    "x\\\\') OR true --",
    "' OR ''='",
]


@pytest.fixture
def store(tmp_path) -> LanceDBStore:
    store = LanceDBStore(tmp_path / "lancedb", "memories")
    store.set_embedding_info(INFO)
    store.upsert([item(1), item(2, "bob"), item(3, "carol")], [vec(1)] * 3)
    yield store
    store.close()


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_crafted_memory_id_deletes_nothing_of_anyone(store, attack) -> None:
    assert store.delete("alice", [attack]) == 0
    assert store.count() == 3


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_crafted_user_id_is_a_user_of_its_own(store, attack) -> None:
    assert store.count(attack) == 0
    assert store.get(attack, ["m1", "m2"]) == []
    assert store.delete_user(attack) == 0
    store.upsert([item(9, attack)], [vec(1)])
    assert store.count(attack) == 1 and store.count() == 4
    store.record_access({(attack, "m9"): (2, datetime(2024, 1, 1, tzinfo=UTC))})
    assert [m.access_count for m in store.get("alice", ["m1"])] == [0]
    assert store.delete(attack, ["m9", "m1"]) == 1
    assert store.count() == 3 and store.count("alice") == 1
