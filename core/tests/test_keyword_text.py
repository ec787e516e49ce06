"""The tokeniser shared by keyword search and the hash embedder: words, stop words, Porter."""

from __future__ import annotations

import pytest
from llm_memory.text import STOP_WORDS, content_terms, stem, words


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # Porter's own examples, step by step.
        ("caresses", "caress"), ("ponies", "poni"), ("cats", "cat"), ("agreed", "agre"),
        ("plastered", "plaster"), ("motoring", "motor"), ("sing", "sing"), ("hopping", "hop"),
        ("falling", "fall"), ("hissing", "hiss"), ("filing", "file"), ("happy", "happi"),
        ("relational", "relat"), ("conditional", "condit"), ("digitizer", "digit"),
        ("vietnamization", "vietnam"), ("callousness", "callous"), ("sensibiliti", "sensibl"),
        ("triplicate", "triplic"), ("hopeful", "hope"), ("goodness", "good"),
        ("allowance", "allow"), ("adjustment", "adjust"), ("adoption", "adopt"),
        ("homologous", "homolog"), ("effective", "effect"), ("probate", "probat"),
        ("controll", "control"), ("generalizations", "gener"), ("oscillators", "oscil"),
        # Conversational words the benchmark depends on.
        ("painting", "paint"), ("painted", "paint"), ("researching", "research"),
        ("adopted", "adopt"), ("running", "run"), ("camping", "camp"),
    ],
)  # fmt: skip
def test_porter_stems(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_short_numeric_and_non_ascii_words_are_kept() -> None:
    assert stem("is") == "is"
    assert stem("2023") == "2023"
    assert stem("18th") == "18th"
    assert stem("café") == "café"
    assert stem("caroline's") == "carolin"  # the possessive goes, then Porter


def test_words_are_lowercased_with_inner_apostrophes() -> None:
    assert words("Don't STOP\u2014it's Mel\u2019s 2nd try_out!") == [
        "don't", "stop", "it's", "mel's", "2nd", "try", "out",
    ]  # fmt: skip


def test_content_terms_drop_stop_words_and_stem() -> None:
    text = "What did Caroline research? She's been researching adoption agencies!"
    assert content_terms(text) == ["carolin", "research", "research", "adopt", "agenc"]
    assert {"what", "did", "she's", "been", "when"} <= STOP_WORDS
    assert content_terms("oh ok, yeah, I'm so ...") == []


def test_queries_and_documents_meet_on_the_same_terms() -> None:
    question = set(content_terms("When did Melanie paint a sunrise?"))
    turn = set(content_terms("Melanie: I painted that lake sunrise last year!"))
    assert question <= turn
