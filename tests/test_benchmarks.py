"""The LoCoMo benchmark reads both layouts of the data, and scores what it should."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def locomo():
    spec = importlib.util.spec_from_file_location("locomo", ROOT / "benchmarks" / "locomo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["locomo"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("locomo", None)


def sample(name: str) -> dict:
    """A tiny conversation in the authors' layout: turns under ``conversation``."""
    return {
        "sample_id": name,
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Bob",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a dog."},
                {"speaker": "Bob", "dia_id": "D1:2", "text": "Name?", "blip_caption": "a leash"},
            ],
            "session_2_date_time": "9:00 am on 1 June, 2023",
            "session_2": [{"speaker": "Ann", "dia_id": "D2:1", "text": "Biscuit loves the park."}],
            "session_1_summary": "never read",
        },
        "qa": [
            {"question": "What pet?", "evidence": ["D1:1"], "category": 4},
            {"question": "Adversarial", "evidence": ["D1:1"], "category": 5},
            {"question": "No known evidence", "evidence": ["D9:9", "D"], "category": 1},
            {"question": "Which park?", "evidence": ["D2:1", "D7:7"], "category": 2},
        ],
    }


def test_the_release_file_and_one_file_per_conversation_read_alike(locomo, tmp_path) -> None:
    release = tmp_path / "locomo10.json"
    release.write_text(json.dumps([sample("conv-1"), sample("conv-2")]))
    flat = tmp_path / "conv-9.json"
    one = sample("ignored")
    flat.write_text(json.dumps({**one["conversation"], "qa": one["qa"]}))

    first, second = locomo.load_conversations(release)
    (alone,) = locomo.load_conversations(flat)
    assert (first.name, second.name, alone.name) == ("conv-1", "conv-2", "conv-9")
    assert first.turns == alone.turns and first.questions == alone.questions
    assert [t["metadata"] for t in alone.turns] == [{"dia_id": d} for d in ("D1:1", "D1:2", "D2:1")]
    assert alone.turns[1]["content"] == "Name? (shares a photo: a leash)"
    assert [(q.text, q.category, sorted(q.evidence)) for q in alone.questions] == [
        ("What pet?", 4, ["D1:1"]),
        ("Which park?", 2, ["D2:1"]),
    ]
    assert alone.last_date.month == 6


def test_recall_counts_each_evidence_turn_once(locomo) -> None:
    curve = locomo.recall_curve(["D1", "x", "D1", "D2"], frozenset({"D1", "D2"}))
    assert curve[0] == 0.5 and curve[3] == 1.0 and curve[-1] == 1.0
