"""The contract kits can fail: each deliberately broken backend or embedder is caught by
the contract tests written for that mistake. Contract tests take only their fixtures as
arguments, so they are called directly here."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from llm_memory.embedding import Embedder
from llm_memory.models import MemoryItem
from llm_memory.storage import MemoryFilter, StoreHit, VectorStore
from llm_memory.storage.memory import MemoryStore
from llm_memory_testing import EmbedderContract, StorageContract

CONTRACT_FAILURE = (AssertionError, pytest.fail.Exception)


# -- broken stores: each makes one mistake a real backend could make ---------------------
class LeaksOtherUsers(MemoryStore):
    """Searches every user's memories (forgot the user filter in the query)."""

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        hits: list[StoreHit] = []
        for user in self.users():
            hits += super().query(vector, _as_user(flt, user), k)
        return sorted(hits, key=lambda h: -h.score)[:k]


class PostFilters(MemoryStore):
    """Takes the top k of all the user's memories, then applies the rest of the filter."""

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        return [
            h for h in super().query(vector, MemoryFilter(flt.user_id), k) if flt.matches(h.item)
        ]


class KeysOnIdOnly(MemoryStore):
    """Keys records by id alone: a second user's memory with the same id overwrites the first."""

    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        for memory in items:
            for user in self.users():
                if user != memory.user_id:
                    super().delete(user, [memory.id])
        super().upsert(items, vectors)

    def delete(self, user_id: str, ids: Sequence[str]) -> int:
        return sum(super(KeysOnIdOnly, self).delete(user, ids) for user in self.users())


class LosesTypes(MemoryStore):
    """Stores metadata as floats (ints and bools come back as floats) and drops microseconds."""

    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        lossy = [
            m.model_copy(
                update={
                    "metadata": {
                        k: float(v) if isinstance(v, int) else v for k, v in m.metadata.items()
                    },
                    "created_at": m.created_at.replace(microsecond=0),
                }
            )
            for m in items
        ]
        super().upsert(lossy, vectors)


class SkipsDimensionCheck(MemoryStore):
    """Writes item by item and checks each vector as it goes: half a batch lands."""

    def upsert(self, items: Sequence[MemoryItem], vectors: Sequence[Sequence[float]]) -> None:
        for memory, vector in zip(items, vectors, strict=True):
            super().upsert([memory], [vector])


class SortsById(MemoryStore):
    """Lists in id order, ignoring created_at."""

    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        every = sorted(super().list(flt, limit=10**9), key=lambda m: m.id)
        return every[offset : offset + limit]


class UntilInclusive(MemoryStore):
    """Treats ``until`` as inclusive."""

    def list(self, flt: MemoryFilter, limit: int = 100, offset: int = 0) -> list[MemoryItem]:
        if flt.until is not None:
            flt = MemoryFilter(
                flt.user_id,
                flt.types,
                flt.since,
                flt.until + timedelta(microseconds=1),
                flt.session_id,
            )
        return super().list(flt, limit, offset)


class ScoresAreDistances(MemoryStore):
    """Reports cosine distance (lower is closer) as the score."""

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        return [StoreHit(h.item, 1.0 - h.score) for h in super().query(vector, flt, k)]


class UpdateDropsVector(MemoryStore):
    """``update`` re-writes the record with a placeholder vector."""

    def update(self, items: Sequence[MemoryItem]) -> None:
        for memory in items:
            old = self.get_vectors(memory.user_id, [memory.id]).get(memory.id)
            if old is not None:
                super().upsert([memory], [[1.0] * len(old)])


class IgnoresTimeInQuery(MemoryStore):
    """Forgets ``since`` and ``until`` when searching."""

    def query(self, vector: Sequence[float], flt: MemoryFilter, k: int) -> list[StoreHit]:
        flt = MemoryFilter(flt.user_id, flt.types, session_id=flt.session_id)
        return super().query(vector, flt, k)


class ForgetsOnReopen(MemoryStore):
    """Claims to be persistent but keeps nothing."""

    capabilities = frozenset({"persistent"})  # type: ignore[assignment]


class FakeKeywordSearch(MemoryStore):
    """Claims full-text search but answers with the vector order of the user's memories."""

    capabilities = frozenset({"keyword_search"})  # type: ignore[assignment]

    def keyword_query(self, text: str, flt: MemoryFilter, k: int) -> list[StoreHit]:
        return [StoreHit(m, 0.0) for m in self.list(flt)[:k]]


def _as_user(flt: MemoryFilter, user: str) -> MemoryFilter:
    return MemoryFilter(user, flt.types, flt.since, flt.until, flt.session_id)


def _reopen_empty(store: VectorStore) -> VectorStore:
    store.close()
    return ForgetsOnReopen()


@pytest.mark.parametrize(
    ("broken", "test_name"),
    [
        (LeaksOtherUsers, "test_query_never_returns_another_users_memory"),
        (LeaksOtherUsers, "test_query_filters_by_user_before_top_k"),
        (PostFilters, "test_query_filters_by_type_before_top_k"),
        (IgnoresTimeInQuery, "test_query_filters_by_time_and_session"),
        (KeysOnIdOnly, "test_same_id_under_two_users_is_two_memories"),
        (KeysOnIdOnly, "test_delete_cannot_touch_another_users_memory"),
        (LosesTypes, "test_metadata_scalar_types_round_trip"),
        (LosesTypes, "test_upsert_then_get_round_trips_every_field"),
        (SkipsDimensionCheck, "test_wrong_dimension_is_refused_and_nothing_written"),
        (SortsById, "test_list_orders_by_created_at_then_id"),
        (SortsById, "test_list_paginates_with_limit_and_offset"),
        (UntilInclusive, "test_list_filters_by_time_range"),
        (ScoresAreDistances, "test_query_scores_are_cosine_similarities"),
        (UpdateDropsVector, "test_update_replaces_fields_and_keeps_the_vector"),
        (FakeKeywordSearch, "test_keyword_query_ranks_the_match_first"),
    ],
)
def test_storage_contract_catches_the_mistake(broken: type[MemoryStore], test_name: str) -> None:
    contract_test = getattr(StorageContract(), test_name)
    with pytest.raises(CONTRACT_FAILURE):
        contract_test(broken())
    if "keyword" not in test_name:  # the memory backend has no keyword search to pass with
        contract_test(MemoryStore())  # the same test passes on a correct store


def test_storage_contract_catches_a_store_that_forgets_on_reopening() -> None:
    with pytest.raises(CONTRACT_FAILURE):
        StorageContract().test_data_survives_reopening(ForgetsOnReopen(), _reopen_empty)


def test_storage_contract_demands_a_reopen_fixture_from_persistent_stores(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="reopen_store"):
        StorageContract().test_data_survives_reopening(MemoryStore(tmp_path / "m.json"), None)


def test_capability_flags_override_the_store(tmp_path: Path) -> None:
    """A subclass flag forces a capability test the store itself does not claim."""

    class ClaimsKeywords(StorageContract):
        supports_keyword_search = True

    with pytest.raises(Exception, match="no full-text index"):
        ClaimsKeywords().test_keyword_query_ranks_the_match_first(MemoryStore())


def test_a_store_that_is_not_empty_fails_at_once() -> None:
    store = MemoryStore()
    store.upsert([MemoryItem(user_id="alice", content="left over")], [[1.0, 0.0]])
    with pytest.raises(AssertionError):
        StorageContract().test_new_store_is_empty(store)


# -- embedders -------------------------------------------------------------------------
class WordHashEmbedder(Embedder):
    """Bag of hashed words: deterministic, and texts sharing words are close."""

    name, model = "words", "hash-64"

    @property
    def dimension(self) -> int:
        return 64

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if texts:
            self.usage.requests += 1
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        vector = np.zeros(self.dimension)
        for word in re.findall(r"\w+", text.lower()):
            vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        return (vector / (np.linalg.norm(vector) or 1.0)).tolist()


class TestWordHashEmbedder(EmbedderContract):
    semantic = True

    @pytest.fixture
    def embedder(self) -> Embedder:
        return WordHashEmbedder()


class ShortVectors(WordHashEmbedder):
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [v[:-1] for v in super().embed_documents(texts)]


class ReversesBatches(WordHashEmbedder):
    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return super().embed_documents(texts)[::-1]


class Noisy(WordHashEmbedder):
    calls = 0

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return [[x + 0.01 * self.calls for x in v] for v in super().embed_documents(texts)]


class RequestsForNothing(WordHashEmbedder):
    remote = True

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.usage.requests += 1
        return super().embed_documents(texts)


class WholeTextHash(WordHashEmbedder):
    """Deterministic but meaningless: every pair of different texts is equally far apart."""

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(hashlib.sha1(text.encode()).hexdigest()) for text in texts]


class Unnamed(WordHashEmbedder):
    name = ""


@pytest.mark.parametrize(
    ("broken", "test_name"),
    [
        (ShortVectors, "test_dimension_matches_the_vectors"),
        (ReversesBatches, "test_documents_come_back_one_per_text_in_order"),
        (Noisy, "test_same_text_gives_the_same_vector"),
        (RequestsForNothing, "test_empty_batch_returns_an_empty_list"),
        (WholeTextHash, "test_similar_texts_are_closer_than_unrelated_ones"),
        (Unnamed, "test_info_names_the_embedder"),
    ],
)
def test_embedder_contract_catches_the_mistake(
    broken: Callable[[], Embedder], test_name: str
) -> None:
    contract = TestWordHashEmbedder()
    with pytest.raises(CONTRACT_FAILURE):
        getattr(contract, test_name)(broken())
    getattr(contract, test_name)(WordHashEmbedder())
