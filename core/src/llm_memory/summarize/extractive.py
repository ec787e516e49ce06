"""The ``extractive`` summarizer: picks the most informative sentences, no LLM."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from llm_memory.models import MemoryItem
from llm_memory.summarize import Summarizer
from llm_memory.text import content_terms

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class ExtractiveSummarizer(Summarizer):
    """Scores each sentence by the frequency of its content words across all turns and
    keeps the best ones, in their original order, within ``max_chars``."""

    name = "extractive"

    def summarize(self, turns: Sequence[MemoryItem], max_chars: int = 1000) -> str:
        sentences = [s.strip() for t in turns for s in _SENTENCE.split(t.content) if s.strip()]
        if not sentences:
            return ""
        freq = Counter(term for s in sentences for term in set(content_terms(s)))
        scores = []
        for i, sentence in enumerate(sentences):
            terms = content_terms(sentence)
            scores.append((sum(freq[t] for t in set(terms)) / (len(terms) + 1) ** 0.5, i))
        chosen: list[int] = []
        used = 0
        for _, i in sorted(scores, reverse=True):
            cost = len(sentences[i]) + 1
            if used + cost <= max_chars:
                chosen.append(i)
                used += cost
        if not chosen:
            return sentences[0][: max_chars - 1] + "…"
        return " ".join(sentences[i] for i in sorted(chosen))
