"""The agent's model, from settings: a PydanticAI model string, an OpenAI-compatible server,
or ``demo`` (the offline pattern-rule model of :mod:`llm_memory.agent.demo`, not an LLM).

Which OpenAI API a setting picks: ``openai:<model>`` (and ``openai-responses:``) speaks the
Responses API, PydanticAI's default for that prefix; ``openai-chat:<model>`` and any model
with ``AGENT_BASE_URL`` (vLLM, Ollama, LiteLLM, llama.cpp) speak chat completions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_memory.errors import ConfigError, one_line

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from llm_memory.settings import Settings

#: ``AGENT_MODEL`` value of the offline demo model (pattern rules, not an LLM).
DEMO = "demo"
DEMO_NOTICE = "AGENT_MODEL=demo: the offline demo model answers (pattern rules, not an LLM)."
NO_MODEL = (
    "No agent model configured: set AGENT_MODEL to a PydanticAI model (e.g. openai:gpt-4o-mini), "
    "with AGENT_BASE_URL for an OpenAI-compatible server (Ollama, vLLM, llama.cpp), "
    "or AGENT_MODEL=demo for the offline demo model (pattern rules, not an LLM)."
)


def no_openai() -> str:
    """The one-line error for a missing OpenAI client, with an install command that works."""
    from llm_memory.plugins import CORE_DISTRIBUTION, checkout_root, install_hint

    hint = (
        install_hint(CORE_DISTRIBUTION, "openai")
        if checkout_root()
        else "pip install 'pydantic-ai-slim[openai]'"
    )
    return f"The agent's OpenAI client is not installed: {hint}"


_OPENAI_PREFIXES = ("openai:", "openai-chat:", "openai-responses:")
#: Names PydanticAI accepts that cannot serve a chat, refused before anything starts.
_REFUSED = {
    "test": "AGENT_MODEL=test is PydanticAI's TestModel for unit tests (it calls every tool with "
    "made-up arguments); use AGENT_MODEL=demo for an offline model, or a real model.",
}


def check_agent_model(settings: Settings) -> None:
    """Refuse, without importing PydanticAI, a configured model that cannot chat (one line).

    ``serve`` calls this before binding; a missing model is not an error here (the memory
    endpoints work without one; ``/chat`` answers 503 naming what to set).
    """
    name = (settings.agent_model or "").strip()
    if name in _REFUSED:
        raise ConfigError(_REFUSED[name])


def model_from_settings(settings: Settings) -> Model:
    """The model ``AGENT_MODEL`` names; with ``AGENT_BASE_URL``, an OpenAI-compatible server.

    Raises :class:`ConfigError` with one line that says what to set or install.
    """
    check_agent_model(settings)
    name = (settings.agent_model or "").strip()
    if name == DEMO:
        from llm_memory.agent.demo import demo_model

        return demo_model()
    if not name:
        if settings.agent_base_url:
            raise ConfigError(
                f"AGENT_BASE_URL is {settings.agent_base_url!r} but AGENT_MODEL is not set: set it to "
                "the name of a model that server serves (e.g. llama3.2)."
            )
        raise ConfigError(NO_MODEL)
    api_key = settings.agent_api_key.get_secret_value() if settings.agent_api_key else None
    if settings.agent_base_url:
        return openai_chat_model(
            _strip_openai(name), base_url=settings.agent_base_url, api_key=api_key
        )
    if name.startswith(_OPENAI_PREFIXES) and api_key:
        if name.startswith("openai-chat:"):
            return openai_chat_model(_strip_openai(name), api_key=api_key)
        return openai_responses_model(_strip_openai(name), api_key=api_key)
    return _infer(name)


def openai_chat_model(
    model_name: str, *, base_url: str | None = None, api_key: str | None = None
) -> Model:
    """An ``OpenAIChatModel``, importing the OpenAI SDK only now."""
    try:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError as exc:
        raise ConfigError(no_openai()) from exc
    try:
        provider = OpenAIProvider(base_url=base_url, api_key=api_key)
    except Exception as exc:  # pydantic-ai's UserError: no key for api.openai.com
        raise ConfigError(_key_hint(model_name, exc)) from exc
    return OpenAIChatModel(model_name, provider=provider)


def openai_responses_model(model_name: str, *, api_key: str | None = None) -> Model:
    """An ``OpenAIResponsesModel`` (what ``openai:`` means to PydanticAI) with this key."""
    try:
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError as exc:
        raise ConfigError(no_openai()) from exc
    return OpenAIResponsesModel(model_name, provider=OpenAIProvider(api_key=api_key))


def _infer(name: str) -> Model:
    from pydantic_ai.exceptions import UserError
    from pydantic_ai.models import infer_model

    try:
        return infer_model(name)
    except ImportError as exc:
        if name.startswith(_OPENAI_PREFIXES):
            raise ConfigError(no_openai()) from exc
        raise ConfigError(
            f"AGENT_MODEL {name!r} needs a client that is not installed: {one_line(exc, None)}"
        ) from exc
    except UserError as exc:
        if "api_key" in str(exc).lower():
            raise ConfigError(_key_hint(name, exc)) from exc
        raise ConfigError(
            f"AGENT_MODEL {name!r} is not a model PydanticAI knows ({one_line(exc, None)}); use provider:model, "
            "e.g. openai:gpt-4o-mini, or set AGENT_BASE_URL for an OpenAI-compatible server."
        ) from exc


def _key_hint(name: str, exc: Exception) -> str:
    if name.startswith(_OPENAI_PREFIXES) or ":" not in name:
        return f"Agent model {name!r} needs an API key: set AGENT_API_KEY (or OPENAI_API_KEY)."
    return f"Agent model {name!r} cannot be used: {one_line(exc, None)}"


def _strip_openai(name: str) -> str:
    for prefix in _OPENAI_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def model_settings(settings: Settings) -> dict[str, Any]:
    """Per-request settings for the agent's model."""
    return {"temperature": settings.agent_temperature}
