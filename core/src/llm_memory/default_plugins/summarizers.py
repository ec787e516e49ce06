"""Built-in summarizer: ``extractive`` (no LLM)."""

from __future__ import annotations

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider


def _extractive(options: None, settings: object) -> object:
    from llm_memory.summarize.extractive import ExtractiveSummarizer

    return ExtractiveSummarizer()


@hookimpl
def register_summarizers() -> list[Provider]:
    return [
        Provider("extractive", _extractive, None, "Keeps the most informative sentences; no LLM.")
    ]
