"""Tokenisation shared by the offline embedder, the keyword index and the summarizer.

``content_terms`` is what gets indexed and what a query is matched with: lowercased words,
stop words removed, each reduced by the Porter stemmer (M. F. Porter, "An algorithm for
suffix stripping", 1980, with the reference implementation's BLI and LOGI revisions).
On LoCoMo the Porter stemmer beats a light suffix stripper and no stemming for keyword
search (benchmarks/README.md).
"""

from __future__ import annotations

import re
from functools import lru_cache

#: Changes whenever ``content_terms`` gives other terms: indexes built with another rebuild.
TOKENISER_VERSION = "porter-1"

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)

_STOP_WORDS_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself hey hi him himself his how
    how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's lot lots me
    more most mustn't my myself no nor not of off oh ok okay on once only or other ought our
    ours ourselves out over own really same shan't she she'd she'll she's should shouldn't so
    some such than that that's the their theirs them themselves then there there's these they
    they'd they'll they're they've this those through to too under until up very was wasn't we
    we'd we'll we're we've were weren't what what's when when's where where's which while who
    who's whom why why's with won't would wouldn't wow yeah yes you you'd you'll you're you've
    your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def words(text: str) -> list[str]:
    """Lowercased word tokens: letters and digits, inner apostrophes kept (``don't``)."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def content_terms(text: str) -> list[str]:
    """Stemmed words without stop words: what keyword search and the hash embedder index."""
    return list(_content_terms(text))


@lru_cache(maxsize=4096)
def _content_terms(text: str) -> tuple[str, ...]:
    # A write tokenises each memory twice, for the hash embedder and for the keyword
    # index, a batch apart at most: a small cache halves that work.
    return tuple(stem(w) for w in words(text) if w not in STOP_WORDS)


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The Porter stem of a lowercased word (``"adoption"`` -> ``"adopt"``).

    A possessive ``'s`` is dropped first; words with digits or other apostrophes, and
    words of up to two letters, are kept as they are.
    """
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 2 or not word.isalpha() or not word.isascii():
        return word
    return _step5(_step4(_step3(_step2(_step1c(_step1b(_step1a(word)))))))


# -- the Porter algorithm ---------------------------------------------------------------------
def _consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in "aeiou":
        return False
    if ch == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem_: str) -> int:
    """m in [C](VC)^m[V]: the number of vowel-consonant sequences."""
    m, previous_vowel = 0, False
    for i in range(len(stem_)):
        vowel = not _consonant(stem_, i)
        if previous_vowel and not vowel:
            m += 1
        previous_vowel = vowel
    return m


def _has_vowel(stem_: str) -> bool:
    return any(not _consonant(stem_, i) for i in range(len(stem_)))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    """Ends consonant-vowel-consonant, the last not w, x or y (``hop``, not ``snow``)."""
    n = len(word)
    return (
        n >= 3
        and _consonant(word, n - 3)
        and not _consonant(word, n - 2)
        and _consonant(word, n - 1)
        and word[-1] not in "wxy"
    )


def _step1a(word: str) -> str:
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ies"):
        return word[:-2]
    if word.endswith("ss"):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def _step1b(word: str) -> str:
    if word.endswith("eed"):
        return word[:-1] if _measure(word[:-3]) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
            word = word[: -len(suffix)]
            if word.endswith(("at", "bl", "iz")):
                return word + "e"
            if _double_consonant(word) and word[-1] not in "lsz":
                return word[:-1]
            if _measure(word) == 1 and _cvc(word):
                return word + "e"
            return word
    return word


def _step1c(word: str) -> str:
    if word.endswith("y") and _has_vowel(word[:-1]):
        return word[:-1] + "i"
    return word


def _replace(word: str, rules: tuple[tuple[str, str], ...], min_measure: int) -> str:
    """Apply the rule of the longest matching suffix if the stem's measure allows it."""
    for suffix, replacement in rules:
        if word.endswith(suffix):
            stem_ = word[: -len(suffix)]
            return stem_ + replacement if _measure(stem_) > min_measure else word
    return word


def _by_length(rules: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(rules, key=lambda rule: -len(rule[0])))


_STEP2 = _by_length(
    (
        ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"),
        ("izer", "ize"), ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"),
        ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"), ("ator", "ate"),
        ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"),
        ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("logi", "log"),
    )
)  # fmt: skip
_STEP3 = _by_length(
    (
        ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"),
        ("ful", ""), ("ness", ""),
    )
)  # fmt: skip
_STEP4 = _by_length(
    tuple(
        (suffix, "")
        for suffix in (
            "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
            "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize",
        )
    )
)  # fmt: skip


def _step2(word: str) -> str:
    return _replace(word, _STEP2, 0)


def _step3(word: str) -> str:
    return _replace(word, _STEP3, 0)


def _step4(word: str) -> str:
    for suffix, _ in _STEP4:
        if word.endswith(suffix):
            stem_ = word[: -len(suffix)]
            if suffix == "ion" and not stem_.endswith(("s", "t")):
                return word
            return stem_ if _measure(stem_) > 1 else word
    return word


def _step5(word: str) -> str:
    if word.endswith("e"):
        stem_ = word[:-1]
        m = _measure(stem_)
        if m > 1 or (m == 1 and not _cvc(stem_)):
            word = stem_
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word
