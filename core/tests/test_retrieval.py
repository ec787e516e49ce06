"""Candidate selection: reciprocal-rank fusion, fetching only what is returned, the
shortlist's relevance, and a small retrieval-quality regression test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from llm_memory import MemoryManager
from llm_memory.models import Candidate, MemoryItem
from llm_memory.retrieval import RRF_K, candidates, fuse, rrf, shortlist
from llm_memory.scoring.weighted import WeightedOptions, WeightedScorer
from llm_memory.storage import StoreHit


def item(n: int, user: str = "alice") -> MemoryItem:
    return MemoryItem(id=f"m{n}", user_id=user, content=f"memory number {n}")


# -- fusion ---------------------------------------------------------------------------------------
def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = rrf({"dense": ["a", "b", "c"], "keyword": ["c", "a"]}, {"dense": 0.5})
    scores = {f.id: f.score for f in fused}
    assert scores["a"] == pytest.approx(0.5 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert scores["c"] == pytest.approx(0.5 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert [f.id for f in fused] == ["c", "a", "b"]
    assert fused[1].sources == {"dense": 1, "keyword": 2}
    # A list that names a memory twice counts its best rank once.
    assert rrf({"dense": ["a", "a"]})[0].score == pytest.approx(1 / (RRF_K + 1))
    assert rrf({}) == []


def test_fuse_turns_store_hits_into_candidates() -> None:
    hits = {
        "dense": [StoreHit(item(1), 0.9), StoreHit(item(2), 0.8)],
        "keyword": [StoreHit(item(2), 3.0)],
    }
    fused = fuse(hits)
    assert [c.memory.id for c in fused] == ["m2", "m1"]
    assert fused[0].relevance == 1.0 and 0 < fused[1].relevance < 1
    assert fused[0].sources == {"dense": 2, "keyword": 1}


def test_candidates_fetch_only_the_missing_memories_they_return() -> None:
    known = {"m1": item(1), "m3": item(3)}
    fused = rrf({"keyword": ["m2", "m1", "m4", "m5", "m3", "m6"]})
    calls: list[list[str]] = []

    def fetch(ids: list[str]) -> list[MemoryItem]:
        calls.append(ids)
        return [item(int(i[1:])) for i in ids if i != "m4"]  # m4 has vanished from the store

    chosen = candidates(fused, known, fetch, 3)
    assert [c.memory.id for c in chosen] == ["m2", "m1", "m5"]
    assert calls == [["m2", "m4"], ["m5"]]  # one call, then one more to replace m4
    assert candidates(fused, dict(known), lambda ids: [], 10)[-1].memory.id == "m3"


def test_the_shortlist_spreads_relevance_over_what_is_returned() -> None:
    pool = [Candidate(memory=item(n), relevance=r) for n, r in enumerate([0.9, 1.0, 0.95, 0.2])]
    chosen = shortlist(pool, 3)
    assert [c.memory.id for c in chosen] == ["m1", "m2", "m0"]
    assert [c.relevance for c in chosen] == pytest.approx([1.0, 0.5, 0.0])
    assert [c.relevance for c in shortlist(pool[:1], 3)] == [1.0]
    assert shortlist([], 5) == []


# -- through the manager -----------------------------------------------------------------------------
S1, S2, S3 = (datetime(2023, m, d, 14, 0, tzinfo=UTC) for m, d in ((3, 1), (4, 12), (6, 20)))
CONVERSATION = [
    (S1, "Ana", "Hi Ben! How was your week?"),
    (S1, "Ben", "Busy! I finally signed up for a pottery class downtown."),
    (S1, "Ana", "Nice, what made you pick that?"),
    (S1, "Ben", "My therapist said working with my hands would help with stress."),
    (S1, "Ana", "I started learning the cello last month."),
    (S1, "Ben", "Which teacher are you working with?"),
    (S1, "Ana", "Mrs. Okafor, she used to play in the city orchestra."),
    (S1, "Ben", "That sounds amazing."),
    (S2, "Ben", "Guess what, we adopted a rescue greyhound!"),
    (S2, "Ana", "No way! What did you name her?"),
    (S2, "Ben", "Biscuit. She loves sleeping on the couch."),
    (S2, "Ana", "I went hiking in the Dolomites with my sister."),
    (S2, "Ben", "How long were you there?"),
    (S2, "Ana", "Ten days, mostly around Cortina."),
    (S2, "Ben", "Pictures please!"),
    (S3, "Ana", "I got the job at the planetarium!"),
    (S3, "Ben", "Congratulations! What will you do there?"),
    (S3, "Ana", "I'll write the scripts for the evening star shows."),
    (S3, "Ben", "My pottery teacher wants to exhibit my vase."),
    (S3, "Ana", "Where is the exhibition?"),
    (S3, "Ben", "At the library gallery in September."),
]
QUESTIONS = [  # (question, index of the turn that answers it)
    ("What class did Ben sign up for?", 1),
    ("Why did Ben start pottery?", 3),
    ("Who teaches Ana the cello?", 6),
    ("What is the name of Ben's greyhound?", 10),
    ("How long was Ana's hiking trip?", 13),
    ("What does Ana do at the planetarium?", 17),
    ("When will Ben's vase be exhibited?", 20),
]


def hits_at(manager: MemoryManager, k: int) -> int:
    found = 0
    for question, answer in QUESTIONS:
        got = manager.retrieve(question, "ana", limit=k, now=S3 + timedelta(days=1))
        found += f"t{answer}" in [m.memory.metadata["turn"] for m in got]
    return found


@pytest.fixture
def conversation(tmp_path):
    def build(**settings) -> MemoryManager:
        manager = MemoryManager.from_settings(
            storage_backend="memory", vector_store_dir=tmp_path / str(len(settings)), **settings
        )
        turns = [
            {"speaker": who, "content": text, "timestamp": when, "metadata": {"turn": f"t{n}"}}
            for n, (when, who, text) in enumerate(CONVERSATION)
        ]
        manager.ingest_conversation(turns, "ana")
        return manager

    return build


def test_answers_are_found_through_their_neighbouring_turns(conversation) -> None:
    """Most answers here never repeat the question's words; the turns before them do."""
    with conversation() as hybrid, conversation(hybrid_search=False) as dense_only:
        assert hits_at(hybrid, 3) == len(QUESTIONS)
        assert hits_at(dense_only, 3) <= 2


def test_the_default_weights_do_not_cost_recall(conversation) -> None:
    with conversation() as manager:
        with_defaults = hits_at(manager, 3)
        manager.scorer = WeightedScorer(
            WeightedOptions(relevance_weight=1, importance_weight=0, recency_weight=0)
        )
        assert with_defaults == hits_at(manager, 3)


def test_recency_and_importance_reorder_only_what_relevance_chose(conversation) -> None:
    with conversation() as manager:
        manager.write_memory(
            "Ana loves the cello more than anything", "ana", importance=1.0,
            created_at=S3 + timedelta(hours=1),
        )  # fmt: skip
        manager.write_memory("Unrelated: the weather is nice", "ana", importance=1.0)
        got = manager.retrieve("Who teaches Ana the cello?", "ana", limit=3, now=S3)
        contents = [m.memory.content for m in got]
        assert "Unrelated: the weather is nice" not in contents
        assert contents[0] == "Ana loves the cello more than anything"  # recent and important
        assert max(m.relevance for m in got) == 1.0 and min(m.relevance for m in got) == 0.0
