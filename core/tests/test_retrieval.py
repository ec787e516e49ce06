"""Candidate selection: reciprocal-rank fusion, fetching only what is returned, absolute
relevance, scoring in blocks, and a small retrieval-quality regression test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from llm_memory import MemoryManager
from llm_memory.errors import ValidationFailed
from llm_memory.models import MemoryItem
from llm_memory.retrieval import (
    RRF_K,
    calibrated,
    candidates,
    coverage,
    in_blocks,
    query_terms,
    relevance,
    rrf,
)
from llm_memory.scoring.weighted import WeightedOptions, WeightedScorer


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


def test_candidates_fetch_only_the_missing_memories_they_return() -> None:
    known = {"m1": item(1), "m3": item(3)}
    fused = rrf({"keyword": ["m2", "m1", "m4", "m5", "m3", "m6"]})
    calls: list[list[str]] = []

    def fetch(ids: list[str]) -> list[MemoryItem]:
        calls.append(ids)
        return [item(int(i[1:])) for i in ids if i != "m4"]  # m4 has vanished from the store

    def score(memory: MemoryItem) -> float:
        return 0.5

    chosen = candidates(fused, known, fetch, 3, score)
    assert [c.memory.id for c in chosen] == ["m2", "m1", "m5"]
    assert calls == [["m2", "m4"], ["m5"]]  # one call, then one more to replace m4
    assert candidates(fused, dict(known), lambda ids: [], 10, score)[-1].memory.id == "m3"
    assert {c.relevance for c in chosen} == {0.5}


def test_candidates_below_the_floor_are_dropped_and_replaced() -> None:
    known = {f"m{n}": item(n) for n in range(6)}
    fused = rrf({"keyword": [f"m{n}" for n in range(6)]})
    chosen = candidates(fused, known, lambda ids: [], 3, lambda m: int(m.id[1:]) / 10, 0.2)
    assert [c.memory.id for c in chosen] == ["m2", "m3", "m4"]
    assert [c.relevance for c in chosen] == pytest.approx([0.2, 0.3, 0.4])
    assert candidates(fused, known, lambda ids: [], 3, lambda m: 0.1, 0.2) == []


def test_coverage_counts_the_query_words_a_memory_holds() -> None:
    terms = query_terms("Where did Ana hike with her sister?")
    assert coverage(terms, "Ana: I went hiking in the Dolomites with my sister.") == 1.0
    assert coverage(terms, "Ben: my sister is visiting") == pytest.approx(1 / len(terms))
    assert coverage(terms, "the weather is nice") == 0.0
    assert coverage(query_terms("who is it?"), "anything at all") == 0.0  # no content word


def test_cosine_is_calibrated_onto_the_unit_interval() -> None:
    assert calibrated(None, (0.2, 0.7)) == 0.0
    assert calibrated(0.1, (0.2, 0.7)) == 0.0
    assert calibrated(0.45, (0.2, 0.7)) == pytest.approx(0.5)
    assert calibrated(0.95, (0.2, 0.7)) == 1.0


def test_keyword_hits_share_the_best_answer_and_others_do_not() -> None:
    assert relevance(0.2, 0.8, keyword_hit=True) == pytest.approx(0.5)
    assert relevance(0.2, 0.8, keyword_hit=False) == pytest.approx(0.2)
    assert relevance(0.9, 0.8, keyword_hit=True) == pytest.approx(0.9)
    assert relevance(0.0, 0.0, keyword_hit=True) == 0.0


def test_blocks_are_consecutive() -> None:
    assert in_blocks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert in_blocks([], 3) == []


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
        # The scorer orders MAX_ACTIVE_MEMORIES chosen by relevance at a time: 3 here, as
        # many as hits_at asks for.
        settings.setdefault("max_active_memories", 3)
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
        everything = manager.retrieve("Who teaches Ana the cello?", "ana", limit=30, now=S3)
        unrelated = [m for m in everything if m.memory.content.startswith("Unrelated")]
        assert not unrelated  # below MIN_RELEVANCE
        unfiltered = manager.retrieve("Who teaches Ana the cello?", "ana", 30, min_relevance=0)
        assert [m.relevance for m in unfiltered if m.memory.content.startswith("Unrelated")] == [
            0.0
        ]


# -- absolute relevance, through the manager ---------------------------------------------------
@pytest.fixture
def ana(conversation):
    with conversation(max_active_memories=10) as manager:
        yield manager


def test_an_unrelated_query_scores_low_on_every_memory(ana) -> None:
    query = "quantum chromodynamics on a lattice"
    assert ana.retrieve(query, "ana", limit=10) == []  # nothing reaches MIN_RELEVANCE
    everything = ana.retrieve(query, "ana", limit=30, min_relevance=0)
    assert len(everything) == len(CONVERSATION)
    assert max(m.relevance for m in everything) < 0.2


def test_a_strong_match_scores_high_whatever_the_limit(ana) -> None:
    query = "What does Ana do at the planetarium?"
    for limit in (1, 2, 5, 20):
        got = ana.retrieve(query, "ana", limit=limit, now=S3)
        best = next(m for m in got if m.memory.metadata["turn"] == "t15")
        assert best.relevance == 1.0  # every content word of the question
    relevance = {
        limit: {m.memory.id: m.relevance for m in ana.retrieve(query, "ana", limit=limit)}
        for limit in (3, 10, 20)
    }
    for memory_id, value in relevance[3].items():
        assert relevance[10][memory_id] == value == relevance[20][memory_id]
    assert all(0.0 <= v <= 1.0 for v in relevance[20].values())


@pytest.mark.parametrize("query", [q for q, _ in QUESTIONS] + ["pottery teacher", "cello"])
def test_retrieving_k_gives_the_first_k_of_retrieving_more(ana, query) -> None:
    ids = {
        limit: [m.memory.id for m in ana.retrieve(query, "ana", limit=limit, now=S3)]
        for limit in (1, 2, 3, 7, 10, 15, 25)
    }
    longest = ids[25]
    assert len(longest) > 3
    for limit, got in ids.items():
        assert got == longest[: len(got)]
        assert len(got) == min(limit, len(longest))


def test_min_relevance_drops_memories_below_it(ana) -> None:
    query = "Who teaches Ana the cello?"
    everything = ana.retrieve(query, "ana", limit=30, min_relevance=0)
    floor = sorted(m.relevance for m in everything)[len(everything) // 2]
    kept = ana.retrieve(query, "ana", limit=30, min_relevance=floor)
    assert kept and all(m.relevance >= floor for m in kept)
    assert {m.memory.id for m in kept} == {m.memory.id for m in everything if m.relevance >= floor}
    perfect = ana.retrieve(query, "ana", limit=30, min_relevance=1.0)
    assert {m.memory.id for m in perfect} == {m.memory.id for m in kept if m.relevance == 1.0}
    for bad in (-0.1, 1.5, float("nan"), "high"):
        with pytest.raises(ValidationFailed, match="min_relevance must be a number between 0"):
            ana.retrieve(query, "ana", min_relevance=bad)


def test_min_relevance_is_a_setting(conversation) -> None:
    with conversation(min_relevance=0) as manager:
        assert len(manager.retrieve("quantum chromodynamics", "ana", limit=30)) == len(CONVERSATION)
