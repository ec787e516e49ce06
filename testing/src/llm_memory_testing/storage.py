"""The storage contract: one test class every :class:`~llm_memory.storage.VectorStore` passes.

A backend's test module subclasses :class:`StorageContract` and provides a ``store`` fixture
yielding an EMPTY store (and closing it afterwards)::

    from llm_memory_testing import StorageContract

    class TestMyStore(StorageContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "db")
            yield store
            store.close()

        @pytest.fixture
        def reopen_store(self, tmp_path):  # only for persistent backends
            opened = []
            def reopen(store):
                store.close()
                opened.append(MyStore(tmp_path / "db"))
                return opened[-1]
            yield reopen
            for store in opened:
                store.close()

Capabilities are read from ``store.capabilities`` (``"persistent"``, ``"keyword_search"``);
set ``supports_persistence`` / ``supports_keyword_search`` on the subclass to override.
Every test takes only ``store`` (and ``reopen_store``), so a test can also be called
directly with a store instance, as ``core/tests/test_contract_kit.py`` does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest
from llm_memory.errors import DimensionMismatch, NotSupported
from llm_memory.models import EmbedderInfo, MemoryItem
from llm_memory.storage import MemoryFilter, StoreHit, VectorStore

__all__ = ["DIMENSION", "INFO", "StorageContract", "item", "vec"]

#: Vectors in the kit are this long: small, so every backend runs the kit in seconds.
DIMENSION = 8
INFO = EmbedderInfo(name="contract", model="kit-v1", dimension=DIMENSION)
BASE_TIME = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
ALICE, BOB = "alice", "bob"
Reopen = Callable[[VectorStore], VectorStore]


def vec(*weights: float) -> list[float]:
    """A kit vector: the given leading components, zero-padded to :data:`DIMENSION`."""
    return [float(w) for w in weights] + [0.0] * (DIMENSION - len(weights))


def item(n: int, user: str = ALICE, **fields: Any) -> MemoryItem:
    """Memory number ``n`` of ``user``: id ``m<n>``, created ``n`` minutes after the base time."""
    values: dict[str, Any] = {
        "id": f"m{n}",
        "user_id": user,
        "content": f"memory number {n} of {user}",
        "created_at": BASE_TIME + timedelta(minutes=n),
    }
    return MemoryItem(**{**values, **fields})


def put(
    store: VectorStore, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]
) -> None:
    """Write as the core does: record the embedder before the first write."""
    if store.embedding_info() is None:
        store.set_embedding_info(INFO)
    store.upsert(list(items), [list(v) for v in vectors])


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def ids(results: Sequence[MemoryItem | StoreHit]) -> list[str]:
    return [r.item.id if isinstance(r, StoreHit) else r.id for r in results]


def scalar_types(metadata: dict[str, Any]) -> dict[str, type]:
    return {key: type(value) for key, value in metadata.items()}


def decoys(
    user: str, start: int, count: int, **fields: Any
) -> tuple[list[MemoryItem], list[list[float]]]:
    """``count`` memories whose vectors all lie almost on the first axis."""
    items = [item(start + i, user, **fields) for i in range(count)]
    vectors = [vec(1.0, 0.0, 0.001 * (i % 50), 0.001 * (i // 50)) for i in range(count)]
    return items, vectors


class StorageContract:
    """What every storage backend must do; subclass it and provide a ``store`` fixture.

    The fixture yields an empty store. Reads and writes are scoped by ``user_id`` and keyed
    by ``(user_id, id)``; fields round-trip exactly; filters apply before the top-k of a
    query; wrong-length vectors are refused before anything is written.
    """

    #: None: read from ``store.capabilities``; True/False overrides.
    supports_persistence: ClassVar[bool | None] = None
    supports_keyword_search: ClassVar[bool | None] = None
    #: How many items the large-batch test writes in one upsert.
    large_batch_size: ClassVar[int] = 2_000
    #: How many near decoys the prefiltering tests plant.
    decoy_count: ClassVar[int] = 300

    @pytest.fixture
    def store(self) -> Iterator[VectorStore]:
        """Override: yield an empty store of the backend under test, close it afterwards."""
        raise NotImplementedError("Subclasses of StorageContract must define a `store` fixture.")

    @pytest.fixture
    def reopen_store(self) -> Reopen | None:
        """Override for persistent backends: a callable that closes the given store and
        returns a new one opened on the same data."""
        return None

    def has_persistence(self, store: VectorStore) -> bool:
        flag = self.supports_persistence
        return "persistent" in store.capabilities if flag is None else flag

    def has_keyword_search(self, store: VectorStore) -> bool:
        flag = self.supports_keyword_search
        return "keyword_search" in store.capabilities if flag is None else flag

    # -- the empty store -------------------------------------------------------------
    def test_new_store_is_empty(self, store: VectorStore) -> None:
        """A new store holds nothing: no memories, no users, no embedder recorded."""
        assert store.count() == 0
        assert store.count(ALICE) == 0
        assert store.users() == []
        assert store.embedding_info() is None
        assert store.get(ALICE, ["m1"]) == []
        assert store.list(MemoryFilter(ALICE)) == []
        assert store.query(vec(1), MemoryFilter(ALICE), k=5) == []

    def test_describe_names_the_backend(self, store: VectorStore) -> None:
        """``name`` is set, and ``describe()`` reports it under ``"backend"``."""
        assert store.name
        assert store.describe()["backend"] == store.name

    # -- embedder record and dimensions --------------------------------------------------
    def test_embedding_info_round_trips(self, store: VectorStore) -> None:
        """``set_embedding_info`` is read back by ``embedding_info`` and can be re-stamped."""
        store.set_embedding_info(INFO)
        assert store.embedding_info() == INFO
        other = EmbedderInfo(name="other", model="m2", dimension=4)
        store.set_embedding_info(other)
        assert store.embedding_info() == other

    def test_wrong_dimension_is_refused_and_nothing_written(self, store: VectorStore) -> None:
        """An upsert holding one wrong-length vector raises DimensionMismatch and writes
        none of its items."""
        store.set_embedding_info(INFO)
        items = [item(1), item(2), item(3)]
        with pytest.raises(DimensionMismatch):
            store.upsert(items, [vec(1), vec(0, 1), [1.0] * (DIMENSION - 1)])
        assert store.count() == 0
        assert store.get(ALICE, ["m1", "m2", "m3"]) == []

    def test_empty_upsert_is_a_no_op(self, store: VectorStore) -> None:
        """``upsert([], [])``, ``update([])`` and ``delete(user, [])`` do nothing and do not fail."""
        store.set_embedding_info(INFO)
        store.upsert([], [])
        store.update([])
        assert store.delete(ALICE, []) == 0
        assert store.count() == 0

    # -- writes and reads ------------------------------------------------------------------
    def test_upsert_then_get_round_trips_every_field(self, store: VectorStore) -> None:
        """Every field comes back equal: content, type, importance, times (to the
        microsecond), access_count, session_id and metadata."""
        full = MemoryItem(
            id="full",
            user_id=ALICE,
            content="Prefers tea — «no sugar» 🍵, says \"thanks\" and 'bye'",
            type="preference",
            importance=0.875,
            created_at=BASE_TIME,
            updated_at=BASE_TIME + timedelta(hours=1, microseconds=7),
            last_accessed_at=BASE_TIME + timedelta(days=2, microseconds=999_999),
            access_count=42,
            session_id="session-1",
            metadata={"source": "chat", "turn": 3, "weight": 0.25, "pinned": True},
        )
        bare = item(2, type="episodic")
        put(store, [full, bare], [vec(1), vec(0, 1)])
        got = store.get(ALICE, ["full", "m2"])
        assert [m.model_dump() for m in got] == [full.model_dump(), bare.model_dump()]
        assert got[1].session_id is None and got[1].metadata == {}

    def test_metadata_scalar_types_round_trip(self, store: VectorStore) -> None:
        """Metadata values keep their type: a bool stays a bool, an int stays an int
        (not 1.0 or True), a float stays a float, a string stays a string."""
        metadata = {
            "s": "7",
            "i": 7,
            "zero": 0,
            "neg": -3,
            "f": 2.5,
            "whole": 1.0,
            "t": True,
            "no": False,
        }
        put(store, [item(1, metadata=metadata)], [vec(1)])
        (got,) = store.get(ALICE, ["m1"])
        assert got.metadata == metadata
        assert scalar_types(got.metadata) == scalar_types(metadata)

    def test_datetimes_come_back_in_utc(self, store: VectorStore) -> None:
        """Times written in another zone come back as the same instant, timezone-aware, in UTC."""
        plus_two = timezone(timedelta(hours=2))
        written = item(1, created_at=datetime(2024, 6, 1, 14, 30, 0, 123_456, tzinfo=plus_two))
        put(store, [written], [vec(1)])
        (got,) = store.get(ALICE, ["m1"])
        assert got.created_at == datetime(2024, 6, 1, 12, 30, 0, 123_456, tzinfo=UTC)
        for value in (got.created_at, got.updated_at):
            assert value is not None and value.utcoffset() == timedelta(0)

    def test_upsert_replaces_an_existing_memory(self, store: VectorStore) -> None:
        """Upserting an existing ``(user_id, id)`` replaces its fields and its vector; the
        count does not grow."""
        put(store, [item(1, content="old words", metadata={"v": 1})], [vec(1)])
        new = item(1, content="new words", metadata={"v": 2}, type="fact")
        put(store, [new], [vec(0, 1)])
        assert store.count(ALICE) == 1
        assert store.get(ALICE, ["m1"]) == [new]
        assert store.get_vectors(ALICE, ["m1"])["m1"] == pytest.approx(vec(0, 1), abs=1e-6)
        assert store.list(MemoryFilter(ALICE, types=("semantic",))) == []

    def test_update_replaces_fields_and_keeps_the_vector(self, store: VectorStore) -> None:
        """``update`` replaces every stored field, filterable ones included (type, session,
        created_at), and keeps the vector."""
        put(store, [item(1), item(2)], [vec(1, 1), vec(0, 0, 1)])
        changed = item(
            1,
            content="rewritten",
            type="fact",
            session_id="s9",
            importance=0.9,
            access_count=5,
            last_accessed_at=BASE_TIME + timedelta(days=3),
            created_at=BASE_TIME + timedelta(days=1),
            metadata={"edited": True},
        )
        store.update([changed])
        assert store.get(ALICE, ["m1", "m2"]) == [changed, item(2)]
        assert store.get_vectors(ALICE, ["m1"])["m1"] == pytest.approx(vec(1, 1), abs=1e-6)
        assert ids(store.list(MemoryFilter(ALICE, types=("fact",), session_id="s9"))) == ["m1"]
        assert ids(store.list(MemoryFilter(ALICE, since=BASE_TIME + timedelta(hours=12)))) == ["m1"]
        hits = store.query(vec(1, 1), MemoryFilter(ALICE), k=1)
        assert ids(hits) == ["m1"] and hits[0].item == changed

    def test_update_with_unchanged_content_replaces_every_other_field(
        self, store: VectorStore
    ) -> None:
        """The common update (a refresh, access statistics) keeps the content: every other
        field is still replaced, a session set to None is cleared, filters see the new
        values, and the vector stays."""
        put(store, [item(1, session_id="s1"), item(2)], [vec(1, 1), vec(0, 0, 1)])
        changed = item(1, type="fact", importance=0.2, access_count=3, metadata={"k": 2})
        store.update([changed])
        assert store.get(ALICE, ["m1"]) == [changed]
        assert store.list(MemoryFilter(ALICE, session_id="s1")) == []
        assert ids(store.list(MemoryFilter(ALICE, types=("fact",)))) == ["m1"]
        assert store.get_vectors(ALICE, ["m1"])["m1"] == pytest.approx(vec(1, 1), abs=1e-6)
        assert ids(store.query(vec(1, 1), MemoryFilter(ALICE), k=1)) == ["m1"]

    def test_update_ignores_unknown_ids(self, store: VectorStore) -> None:
        """``update`` of an id the user does not have creates nothing, for that user or any
        other, and leaves another user's memory with that id untouched."""
        put(store, [item(1)], [vec(1)])
        store.update([item(99), item(1, user=BOB, content="bob's version")])
        assert store.count() == 1
        assert store.get(ALICE, ["m99"]) == []
        assert store.get(BOB, ["m1"]) == []
        assert store.get(ALICE, ["m1"]) == [item(1)]

    def test_get_follows_the_order_of_ids_and_skips_missing(self, store: VectorStore) -> None:
        """``get`` returns memories in the order of the ids asked for; unknown ids are skipped."""
        put(store, [item(n) for n in range(1, 5)], [vec(1, n) for n in range(1, 5)])
        assert ids(store.get(ALICE, ["m3", "nope", "m1", "m4"])) == ["m3", "m1", "m4"]
        assert store.get(ALICE, ["nope"]) == []

    def test_get_many_finds_keys_of_several_users_and_only_those(self, store: VectorStore) -> None:
        """``get_many`` looks up ``(user_id, id)`` pairs across users: a pair matches only
        that user's memory, however the id is shared; unknown pairs are skipped."""
        put(store, [item(1), item(2), item(1, BOB)], [vec(1), vec(0, 1), vec(1)])
        found = store.get_many([(ALICE, "m2"), (BOB, "m1"), (BOB, "m2"), ("nobody", "m1")])
        assert sorted((m.user_id, m.id) for m in found) == [(ALICE, "m2"), (BOB, "m1")]
        assert {(m.user_id, m.id): m for m in found}[(BOB, "m1")] == item(1, BOB)
        assert store.get_many([]) == []

    def test_record_access_adds_counts_and_keeps_the_latest_time(self, store: VectorStore) -> None:
        """``record_access`` adds to ``access_count``, raises ``last_accessed_at`` (never
        lowers it), skips unknown ids, touches no other user and no other field."""
        later = BASE_TIME + timedelta(days=3)
        put(
            store,
            [item(1), item(2, access_count=4, last_accessed_at=later), item(1, BOB)],
            [vec(1), vec(0, 1), vec(1)],
        )
        at = BASE_TIME + timedelta(days=1)
        store.record_access({(ALICE, "m1"): (2, at), (ALICE, "m2"): (1, at), (ALICE, "x"): (1, at)})
        one, two = store.get(ALICE, ["m1", "m2"])
        assert (one.access_count, one.last_accessed_at) == (2, at)
        assert (two.access_count, two.last_accessed_at) == (5, later)
        assert one.model_copy(update={"access_count": 0, "last_accessed_at": None}) == item(1)
        assert store.get(BOB, ["m1"]) == [item(1, BOB)]
        assert store.count() == 3
        assert store.get_vectors(ALICE, ["m1"])["m1"] == pytest.approx(vec(1), abs=1e-6)

    def test_delete_returns_how_many_existed(self, store: VectorStore) -> None:
        """``delete`` removes those memories and counts only the ids that existed."""
        put(store, [item(n) for n in range(1, 4)], [vec(1, n) for n in range(1, 4)])
        assert store.delete(ALICE, ["m1", "m3", "nope"]) == 2
        assert ids(store.list(MemoryFilter(ALICE))) == ["m2"]
        assert store.delete(ALICE, ["m1"]) == 0
        assert ids(store.query(vec(1, 1), MemoryFilter(ALICE), k=5)) == ["m2"]
        assert store.get_vectors(ALICE, ["m1"]) == {}

    def test_delete_user_removes_only_that_user(self, store: VectorStore) -> None:
        """``delete_user`` removes every memory of the user, returns the count, and leaves
        other users alone; an unknown user gives 0."""
        put(store, [item(1), item(2), item(1, BOB)], [vec(1), vec(0, 1), vec(1)])
        assert store.delete_user(ALICE) == 2
        assert store.count(ALICE) == 0
        assert store.users() == [BOB]
        assert store.get(BOB, ["m1"]) == [item(1, BOB)]
        assert store.delete_user("nobody") == 0

    def test_count_per_user_and_overall(self, store: VectorStore) -> None:
        """``count(user)`` counts that user's memories; ``count()`` counts everyone's."""
        put(store, [item(1), item(2), item(3), item(1, BOB)], [vec(1)] * 4)
        assert store.count(ALICE) == 3
        assert store.count(BOB) == 1
        assert store.count("nobody") == 0
        assert store.count() == 4

    def test_users_are_listed_sorted(self, store: VectorStore) -> None:
        """``users()`` lists each user with a memory once, sorted; emptied users disappear."""
        put(store, [item(1, "carol"), item(2, ALICE), item(3, BOB), item(4, ALICE)], [vec(1)] * 4)
        assert store.users() == [ALICE, BOB, "carol"]
        store.delete(BOB, ["m3"])
        assert store.users() == [ALICE, "carol"]

    # -- list ----------------------------------------------------------------------------
    def test_list_orders_by_created_at_then_id(self, store: VectorStore) -> None:
        """``list`` orders by ``created_at``, ties broken by ``id``, whatever the write order."""
        same = BASE_TIME + timedelta(minutes=5)
        first = BASE_TIME - timedelta(hours=1)
        items = [
            item(1),
            item(9, created_at=first),
            item(7, created_at=same),
            item(3, created_at=same),
        ]
        put(store, [*items, item(10), item(2)], [vec(1, n) for n in range(6)])
        assert ids(store.list(MemoryFilter(ALICE))) == ["m9", "m1", "m2", "m3", "m7", "m10"]

    def test_list_paginates_with_limit_and_offset(self, store: VectorStore) -> None:
        """Pages of ``limit`` starting at ``offset`` cover the ordered list exactly once;
        an offset past the end gives an empty page."""
        order = [7, 3, 5, 1, 6, 2, 4]
        newest_first = [item(n, created_at=BASE_TIME - timedelta(minutes=n)) for n in order]
        put(store, newest_first, [vec(1, n) for n in order])
        flt = MemoryFilter(ALICE)
        pages = [ids(store.list(flt, limit=3, offset=start)) for start in (0, 3, 6)]
        assert pages == [["m7", "m6", "m5"], ["m4", "m3", "m2"], ["m1"]]
        assert store.list(flt, limit=3, offset=7) == []
        assert ids(store.list(flt, limit=2, offset=1)) == ["m6", "m5"]

    def test_list_is_scoped_to_the_user(self, store: VectorStore) -> None:
        """``list`` returns only the filter's user's memories."""
        put(store, [item(1), item(2, BOB), item(3)], [vec(1)] * 3)
        assert ids(store.list(MemoryFilter(ALICE))) == ["m1", "m3"]
        assert ids(store.list(MemoryFilter(BOB))) == ["m2"]
        assert store.list(MemoryFilter("nobody")) == []

    def test_list_filters_by_types(self, store: VectorStore) -> None:
        """``types`` keeps memories whose type is any of the given ones."""
        kinds = ["semantic", "fact", "preference", "episodic", "fact"]
        put(store, [item(n, type=t) for n, t in enumerate(kinds)], [vec(1)] * 5)
        assert ids(store.list(MemoryFilter(ALICE, types=("fact",)))) == ["m1", "m4"]
        assert ids(store.list(MemoryFilter(ALICE, types=("episodic", "semantic")))) == ["m0", "m3"]

    def test_list_filters_by_time_range(self, store: VectorStore) -> None:
        """``since`` is inclusive and ``until`` exclusive, on ``created_at``, to the microsecond."""
        put(store, [item(n) for n in range(6)], [vec(1)] * 6)
        at = [BASE_TIME + timedelta(minutes=n) for n in range(6)]
        assert ids(store.list(MemoryFilter(ALICE, since=at[2]))) == ["m2", "m3", "m4", "m5"]
        assert ids(store.list(MemoryFilter(ALICE, until=at[2]))) == ["m0", "m1"]
        assert ids(store.list(MemoryFilter(ALICE, since=at[1], until=at[4]))) == ["m1", "m2", "m3"]
        tick = timedelta(microseconds=1)
        assert ids(store.list(MemoryFilter(ALICE, since=at[1] + tick, until=at[4] + tick))) == [
            "m2",
            "m3",
            "m4",
        ]

    def test_list_filters_by_session(self, store: VectorStore) -> None:
        """``session_id`` keeps only that session's memories."""
        sessions = ["a", "b", None, "a"]
        put(store, [item(n, session_id=s) for n, s in enumerate(sessions)], [vec(1)] * 4)
        assert ids(store.list(MemoryFilter(ALICE, session_id="a"))) == ["m0", "m3"]
        assert store.list(MemoryFilter(ALICE, session_id="zzz")) == []

    # -- query ---------------------------------------------------------------------------
    def test_query_returns_nearest_first(self, store: VectorStore) -> None:
        """``query`` returns the ``k`` nearest memories by cosine, best first."""
        vectors = [vec(0, 1), vec(1, 0.1), vec(1, 1), vec(-1), vec(1, 0.5)]
        put(store, [item(n) for n in range(5)], vectors)
        hits = store.query(vec(1), MemoryFilter(ALICE), k=3)
        assert ids(hits) == ["m1", "m4", "m2"]
        assert all(isinstance(hit, StoreHit) for hit in hits)
        assert hits[0].item == item(1)

    def test_query_scores_are_cosine_similarities(self, store: VectorStore) -> None:
        """A hit's score is the cosine similarity to the query (not a distance, not a dot
        product): vector length does not matter, and scores do not increase down the list."""
        vectors = [vec(10), vec(1, 1), vec(0, 3), vec(-2, 0.5)]
        put(store, [item(n) for n in range(4)], vectors)
        query = vec(1, 0.2)
        hits = store.query(query, MemoryFilter(ALICE), k=4)
        expected = {f"m{n}": cosine(query, v) for n, v in enumerate(vectors)}
        assert ids(hits) == sorted(expected, key=expected.__getitem__, reverse=True)
        for hit in hits:
            assert hit.score == pytest.approx(expected[hit.item.id], abs=1e-3)

    def test_query_k_larger_than_matches_returns_all_matches(self, store: VectorStore) -> None:
        """Asking for more than there is returns every matching memory, and nothing else."""
        put(store, [item(1), item(2), item(3, BOB)], [vec(1), vec(0, 1), vec(1)])
        assert sorted(ids(store.query(vec(1), MemoryFilter(ALICE), k=50))) == ["m1", "m2"]

    def test_query_filters_by_type_before_top_k(self, store: VectorStore) -> None:
        """Prefiltering: many closer memories of other types must not push the one memory
        of the wanted type out of the top k."""
        near, near_vectors = decoys(ALICE, 1000, self.decoy_count, type="semantic")
        target = item(1, type="fact")
        put(store, [*near, target], [*near_vectors, vec(1, 1)])
        hits = store.query(vec(1), MemoryFilter(ALICE, types=("fact",)), k=3)
        assert ids(hits) == ["m1"]
        assert "m1" not in ids(store.query(vec(1), MemoryFilter(ALICE), k=3))

    def test_query_filters_by_user_before_top_k(self, store: VectorStore) -> None:
        """Prefiltering: many closer memories of another user must not push this user's
        memory out of the top k, and never appear in it."""
        near, near_vectors = decoys(BOB, 1000, self.decoy_count)
        put(store, [*near, item(1)], [*near_vectors, vec(0.2, 1)])
        assert ids(store.query(vec(1), MemoryFilter(ALICE), k=5)) == ["m1"]
        assert len(store.query(vec(1), MemoryFilter(BOB), k=5)) == 5

    def test_query_filters_by_time_and_session(self, store: VectorStore) -> None:
        """``since``/``until`` and ``session_id`` apply to queries as they do to ``list``."""
        items = [item(n, session_id="s1" if n % 2 else "s2") for n in range(6)]
        put(store, items, [vec(1, n) for n in range(6)])
        at = [BASE_TIME + timedelta(minutes=n) for n in range(6)]
        flt = MemoryFilter(ALICE, since=at[1], until=at[4])
        assert sorted(ids(store.query(vec(1), flt, k=10))) == ["m1", "m2", "m3"]
        flt = MemoryFilter(ALICE, session_id="s1", until=at[5])
        assert sorted(ids(store.query(vec(1), flt, k=10))) == ["m1", "m3"]

    # -- user isolation ------------------------------------------------------------------
    def test_same_id_under_two_users_is_two_memories(self, store: VectorStore) -> None:
        """``(user_id, id)`` is the key: the same id under two users is two memories with
        their own fields and vectors."""
        mine, theirs = item(1, content="alice's"), item(1, BOB, content="bob's")
        put(store, [mine], [vec(1)])
        put(store, [theirs], [vec(0, 1)])
        assert store.count() == 2
        assert store.get(ALICE, ["m1"]) == [mine]
        assert store.get(BOB, ["m1"]) == [theirs]
        assert store.get_vectors(ALICE, ["m1"])["m1"] == pytest.approx(vec(1), abs=1e-6)
        assert store.get_vectors(BOB, ["m1"])["m1"] == pytest.approx(vec(0, 1), abs=1e-6)

    def test_delete_cannot_touch_another_users_memory(self, store: VectorStore) -> None:
        """Deleting an id as one user never deletes another user's memory with that id."""
        put(store, [item(1), item(1, BOB), item(2, BOB)], [vec(1)] * 3)
        assert store.delete(BOB, ["m1"]) == 1
        assert store.get(ALICE, ["m1"]) == [item(1)]
        assert store.delete(ALICE, ["m2"]) == 0
        assert store.get(BOB, ["m2"]) == [item(2, BOB)]

    def test_query_never_returns_another_users_memory(self, store: VectorStore) -> None:
        """Whatever ``k``, a query returns only the filter's user's memories."""
        put(store, [item(1), item(2, BOB), item(3, BOB)], [vec(0, 1), vec(1), vec(1)])
        hits = store.query(vec(1), MemoryFilter(ALICE), k=10)
        assert ids(hits) == ["m1"]
        assert all(hit.item.user_id == ALICE for hit in hits)
        assert store.query(vec(1), MemoryFilter("nobody"), k=10) == []

    def test_ids_and_users_with_quotes_stay_isolated(self, store: VectorStore) -> None:
        """User ids and ids holding quotes, backslashes or filter syntax are data, not
        query syntax: they can neither fail nor widen a filter."""
        sly = "x' OR '1'='1"
        odd = 'o"brien\\'
        put(store, [item(1, sly, id=sly), item(2, odd, id=odd), item(3)], [vec(1)] * 3)
        assert ids(store.list(MemoryFilter(sly))) == [sly]
        assert ids(store.query(vec(1), MemoryFilter(odd), k=10)) == [odd]
        assert ids(store.get(sly, [sly, odd, "m3"])) == [sly]
        assert store.delete(sly, [odd, "m3"]) == 0
        assert store.delete_user(sly) == 1
        assert store.count() == 2

    # -- vectors ---------------------------------------------------------------------------
    def test_get_vectors_returns_stored_vectors(self, store: VectorStore) -> None:
        """``get_vectors`` maps each existing id of the user to its vector (float32 precision
        suffices); missing ids and other users' ids are left out."""
        vectors = [vec(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8), vec(-1, 2, -3)]
        put(store, [item(1), item(2), item(3, BOB)], [*vectors, vec(1)])
        got = store.get_vectors(ALICE, ["m2", "m1", "m3", "nope"])
        assert set(got) == {"m1", "m2"}
        assert got["m1"] == pytest.approx(vectors[0], rel=1e-6)
        assert got["m2"] == pytest.approx(vectors[1], rel=1e-6)
        assert all(isinstance(x, float) for x in got["m1"])

    # -- keyword search --------------------------------------------------------------------
    def _keyword_store(self, store: VectorStore) -> VectorStore:
        if not self.has_keyword_search(store):
            with pytest.raises(NotSupported):
                store.keyword_query("anything", MemoryFilter(ALICE), k=3)
            pytest.skip(f"{store.name} has no keyword search (keyword_query raises NotSupported)")
        words = [
            "the cat sat on the warm mat",
            "quantum chromodynamics lecture notes",
            "grocery list apples bread milk",
            "weekend hiking trip in the alps",
        ]
        put(store, [item(n, content=w) for n, w in enumerate(words)], [vec(1, n) for n in range(4)])
        return store

    def test_keyword_query_ranks_the_match_first(self, store: VectorStore) -> None:
        """With ``"keyword_search"``, ``keyword_query`` puts the memory holding the word
        first, whatever the vectors say. Without it, it raises NotSupported."""
        store = self._keyword_store(store)
        hits = store.keyword_query("quantum", MemoryFilter(ALICE), k=3)
        assert ids(hits)[:1] == ["m1"]
        assert ids(store.keyword_query("hiking alps", MemoryFilter(ALICE), k=3))[:1] == ["m3"]

    def test_keyword_query_respects_the_filter(self, store: VectorStore) -> None:
        """``keyword_query`` returns only the filter's user's (and types') memories."""
        store = self._keyword_store(store)
        put(store, [item(9, BOB, content="quantum quantum quantum")], [vec(1)])
        assert "m9" not in ids(store.keyword_query("quantum", MemoryFilter(ALICE), k=5))
        assert ids(store.keyword_query("quantum", MemoryFilter(BOB), k=5)) == ["m9"]
        hits = store.keyword_query("quantum", MemoryFilter(ALICE, types=("fact",)), k=5)
        assert hits == []

    # -- persistence -----------------------------------------------------------------------
    def test_data_survives_reopening(self, store: VectorStore, reopen_store: Reopen | None) -> None:
        """A ``"persistent"`` store keeps memories, vectors, deletions and the embedder
        record across ``close()`` and reopening."""
        if not self.has_persistence(store):
            pytest.skip(f"{store.name} is not persistent")
        if reopen_store is None:
            pytest.fail("The store is persistent: define a `reopen_store` fixture to test it.")
        items = [item(1, metadata={"n": 1, "ok": True}), item(2, session_id="s"), item(1, BOB)]
        put(store, items, [vec(1), vec(0, 1), vec(1, 1)])
        store.delete(ALICE, ["m2"])
        store = reopen_store(store)
        assert store.embedding_info() == INFO
        assert store.count() == 2
        assert store.get(ALICE, ["m1", "m2"]) == [items[0]]
        assert ids(store.query(vec(1), MemoryFilter(BOB), k=5)) == ["m1"]
        assert store.get_vectors(BOB, ["m1"])["m1"] == pytest.approx(vec(1, 1), abs=1e-6)
        put(store, [item(3)], [vec(0, 0, 1)])
        store = reopen_store(store)
        assert ids(store.list(MemoryFilter(ALICE))) == ["m1", "m3"]

    # -- history ---------------------------------------------------------------------------
    def test_own_history_log(self, store: VectorStore) -> None:
        """A store that keeps the history itself (``own_history_log``) passes the history
        contract on it; None means the core keeps the history beside the store."""
        from llm_memory.history import HistoryLog
        from llm_memory.settings import load_settings

        from llm_memory_testing.history import HistoryContract

        log = store.own_history_log(load_settings())
        if log is None:
            pytest.skip(f"{store.name} keeps no history of its own (the core's log is used)")
        assert isinstance(log, HistoryLog)
        kit = HistoryContract()
        try:
            for name in sorted(n for n in dir(kit) if n.startswith("test_") and "reopen" not in n):
                log.clear()
                getattr(kit, name)(log)
        finally:
            log.close()

    # -- scale -----------------------------------------------------------------------------
    def test_large_batch_is_stored_whole(self, store: VectorStore) -> None:
        """One upsert of ``large_batch_size`` items stores all of them, searchable."""
        rng = random.Random(7)
        size = self.large_batch_size
        items = [item(n, content=f"bulk memory {n}") for n in range(size)]
        vectors = [[rng.uniform(-1, 1) for _ in range(DIMENSION)] for _ in range(size)]
        put(store, items, vectors)
        assert store.count(ALICE) == size
        assert len(store.list(MemoryFilter(ALICE), limit=size + 10)) == size
        probe = size // 2 + 1
        hits = store.query(vectors[probe], MemoryFilter(ALICE), k=1)
        assert ids(hits) == [f"m{probe}"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
