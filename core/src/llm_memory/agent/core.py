"""The memory agent: a stateless PydanticAI agent whose tools only change the run's MemoryState."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from pydantic_ai import Agent, ModelRetry, RunContext

from llm_memory.agent.policy import MEMORY_POLICY, recall, render_active, secret_reason
from llm_memory.models import MemoryState, MemoryUpdate

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from llm_memory.settings import Settings

log = logging.getLogger("llm_memory.agent")
MemoryAgent = Agent[MemoryState, str]
SUMMARY_KEY = "conversation_summary"


def build_agent(
    model: Model | str | None = None, *, temperature: float | None = None
) -> MemoryAgent:
    """A new memory agent. ``model`` may be left out and given per run or by ``agent.override``.

    The agent holds no per-user state: build it once per model configuration and run it
    with ``deps=MemoryState(...)`` for each message.
    """
    agent: MemoryAgent = Agent(
        model,
        deps_type=MemoryState,
        output_type=str,
        name="llm-memory",
        instructions=MEMORY_POLICY,
        model_settings={"temperature": temperature} if temperature is not None else None,
        defer_model_check=True,
    )

    # Instructions, not system_prompt parts: PydanticAI sends them on every request, also
    # when the run continues a conversation (message_history), where system prompts are dropped.
    @agent.instructions
    def active_memories(ctx: RunContext[MemoryState]) -> str:
        text = render_active(ctx.deps)
        summary = next(
            (h.get("content") for h in ctx.deps.history if h.get("kind") == SUMMARY_KEY), None
        )
        if summary:
            text += f"\n\nSummary of the earlier part of this conversation:\n{summary}"
        return text

    @agent.tool
    def update_memory(ctx: RunContext[MemoryState], update: MemoryUpdate) -> str:
        """Propose a new long-term memory about the user. It is saved after your reply if valid."""
        reason = secret_reason(update.content)
        if reason:
            return f"Not saved: {reason}. Never store secrets; tell the user it was not saved."
        ctx.deps.propose(update)
        return f"Proposed ({update.type}, importance {update.importance:.2f}): {update.content}"

    @agent.tool
    def forget_memory(ctx: RunContext[MemoryState], memory_id: str) -> str:
        """Propose removing one of the active memories, by the id shown in the list."""
        if not ctx.deps.propose_forget(memory_id.strip()):
            raise ModelRetry(
                f"{memory_id!r} is not the id of an active memory; use an id from the list."
            )
        return f"Memory {memory_id} will be forgotten after your reply."

    @agent.tool(name="recall")
    def recall_tool(ctx: RunContext[MemoryState], query: str) -> list[dict[str, Any]] | str:
        """Search the active memories (only those) for words in ``query``."""
        found = recall(ctx.deps.active, query)
        return found or "No active memory matches."

    return agent


_cache: dict[tuple[Any, ...], MemoryAgent] = {}
_cache_lock = threading.Lock()


def agent_from_settings(settings: Settings) -> MemoryAgent:
    """The agent for the configured model, built once per model configuration.

    Raises :class:`llm_memory.errors.ConfigError` (one line, what to set) without a model.
    """
    from llm_memory.agent.model import DEMO, DEMO_NOTICE, model_from_settings

    secret = settings.agent_api_key.get_secret_value() if settings.agent_api_key else None
    key = (settings.agent_model, settings.agent_base_url, secret, settings.agent_temperature)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build_agent(
                model_from_settings(settings), temperature=settings.agent_temperature
            )
            if (settings.agent_model or "").strip() == DEMO:
                log.warning(DEMO_NOTICE)
        return _cache[key]
