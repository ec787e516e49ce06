"""Built-in summarizer: ``llm``, which uses the agent's model (``AGENT_MODEL``)."""

from __future__ import annotations

from typing import Any

from llm_memory.hookspecs import hookimpl
from llm_memory.providers import Provider


def _llm(options: None, settings: Any) -> object:
    from llm_memory.agent.model import DEMO, model_from_settings
    from llm_memory.errors import ConfigError
    from llm_memory.summarize.llm import LLMSummarizer

    if (settings.agent_model or "").strip() == DEMO:
        raise ConfigError(
            "The llm summarizer needs a language model, and AGENT_MODEL=demo is pattern rules: "
            "use SUMMARIZER=extractive, or set AGENT_MODEL to a real model."
        )
    try:
        model = model_from_settings(settings)
    except ConfigError as exc:
        raise ConfigError(f"The llm summarizer uses the agent's model. {exc}") from exc
    return LLMSummarizer(model)


@hookimpl
def register_summarizers() -> list[Provider]:
    return [Provider("llm", _llm, None, "Summaries written by the agent's model (AGENT_MODEL).")]
