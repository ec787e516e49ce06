"""Isolation in the database: the row-level security policy, and hostile ids as plain data."""

from __future__ import annotations

import psycopg
import pytest
from llm_memory.errors import ValidationFailed
from llm_memory.storage import MemoryFilter
from llm_memory_testing.storage import INFO, item, vec
from psycopg import sql

pytestmark = pytest.mark.server

HOSTILE = ["' OR 1=1 --", "a\\'b", "x\\", 'q"; DROP TABLE memories; --', "%s", "$1"]


def _fill(store, users):
    store.set_embedding_info(INFO)
    for n, user in enumerate(users):
        store.upsert([item(1, user), item(2, user)], [vec(1, n), vec(n, 1)])


def _user_ids(conn, store) -> list[str]:
    """A query WITHOUT a user filter, as a buggy statement would be."""
    query = sql.SQL("SELECT user_id FROM {} ORDER BY user_id").format(store.names.of())
    return [row[0] for row in conn.execute(query)]


def test_a_query_without_its_user_filter_sees_only_that_users_rows(open_store):
    store = open_store(row_level_security=True)
    _fill(store, ["alice", "bob"])
    with store.transaction("alice") as conn:
        assert _user_ids(conn, store) == ["alice", "alice"]
    with store.transaction("bob") as conn:
        assert _user_ids(conn, store) == ["bob", "bob"]
        kw = sql.SQL("SELECT count(*) FROM {}").format(store.names.of("_kw"))
        assert conn.execute(kw).fetchone()[0] == 0  # guarded too (and empty here)


def test_a_connection_naming_no_user_sees_no_rows_and_cannot_write_one(open_store, pg_dsn):
    store = open_store(row_level_security=True)
    _fill(store, ["alice"])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert _user_ids(conn, store) == []
        conn.execute("SELECT set_config('llm_memory.user_id', %s, false)", ["bob"])
        assert _user_ids(conn, store) == []
        insert = sql.SQL(
            "INSERT INTO {} (user_id, id, content, type, importance, created_at, metadata) "
            "VALUES (%s, 'x', 'c', 'semantic', 0.5, now(), '{{}}')"
        ).format(store.names.of())
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(insert, ["alice"])  # WITH CHECK: bob may not write alice's row


def test_without_the_option_the_policy_is_lifted(open_store, pg_dsn):
    open_store(row_level_security=True)
    store = open_store(row_level_security=False)
    _fill(store, ["alice"])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert _user_ids(conn, store) == ["alice", "alice"]


@pytest.mark.parametrize("rls", [False, True])
def test_hostile_user_ids_are_data(open_store, rls):
    store = open_store(row_level_security=rls)
    _fill(store, ["alice", *HOSTILE])
    for user in ["alice", *HOSTILE]:
        assert [m.user_id for m in store.list(MemoryFilter(user))] == [user, user]
        hits = store.query(vec(1), MemoryFilter(user), k=10)
        assert {h.item.user_id for h in hits} == {user}
    assert store.delete(HOSTILE[0], ["m1", "' OR 1=1 --"]) == 1
    assert store.count("alice") == 2
    assert store.count() == 2 * (len(HOSTILE) + 1) - 1
    assert store.users() == sorted(["alice", *HOSTILE])


def test_a_nul_character_is_refused_in_one_line_and_nothing_written(open_store):
    store = open_store()
    store.set_embedding_info(INFO)
    # The core refuses NUL before a store sees it; the store still defends itself.
    bad = item(1).model_copy(update={"content": "null\x00byte"})
    with pytest.raises(ValidationFailed, match="NUL") as caught:
        store.upsert([item(2), bad], [vec(1), vec(1)])
    assert "\n" not in str(caught.value)
    assert store.count() == 0
    with pytest.raises(ValidationFailed, match="NUL"):
        store.get("al\x00ice", ["m1"])
