"""Tokenisation shared by the offline embedder and the keyword index."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)

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
    """Lowercased word tokens (letters and digits; inner apostrophes kept)."""
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower().replace("\u2019", "'"))]


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix-stripping stemmer (plural, -ing, -ed, -ly…), good enough to match
    'painting' with 'paint' and 'adopted' with 'adopt' without a dependency."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, min_len, repl in (
        ("ies", 5, "y"),
        ("sses", 6, "ss"),
        ("ness", 7, ""),
        ("ments", 8, "ment"),
        ("ings", 7, ""),
        ("ing", 6, ""),
        ("edly", 7, ""),
        ("ed", 5, ""),
        ("ly", 6, ""),
        ("es", 6, ""),
        ("s", 4, ""),
    ):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + repl
            if (
                suffix in ("ing", "ed", "ings", "edly")
                and len(word) > 3
                and word[-1] == word[-2]
                and word[-1] not in "lsz"
            ):
                word = word[:-1]  # running -> run, stopped -> stop
            break
    return word


def content_terms(text: str) -> list[str]:
    """Stemmed words without stop words: what keyword search and the hash embedder index."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]
