"""The memory agent (PydanticAI): proposes memories during a run; the chat flow persists them.

>>> from llm_memory.agent import build_agent, demo_model
>>> agent = build_agent(demo_model())           # or agent_from_settings(settings)
>>> result = agent.run_sync("I like tea", deps=MemoryState(user_id="ada"))

Tools change only the run's :class:`~llm_memory.models.MemoryState`: ``update_memory``
proposes a memory, ``forget_memory`` proposes removing an active one, ``recall`` searches
the active memories. Nothing is written during a run; see :mod:`llm_memory.chat`.
:func:`memory_toolset` gives any other PydanticAI agent memory tools, saved after its run.

PydanticAI takes seconds to import, so this package loads it only when one of these names
is first used (``llm_memory.agent.history`` and ``.policy`` stay light).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_memory.agent.core import MemoryAgent, agent_from_settings, build_agent
    from llm_memory.agent.demo import LABEL as DEMO_LABEL
    from llm_memory.agent.demo import demo_model
    from llm_memory.agent.model import NO_MODEL, model_from_settings
    from llm_memory.agent.policy import MEMORY_POLICY, secret_reason
    from llm_memory.agent.toolset import MemoryCapability, memory_toolset

_WHERE = {
    "MemoryAgent": ("core", "MemoryAgent"),
    "agent_from_settings": ("core", "agent_from_settings"),
    "build_agent": ("core", "build_agent"),
    "DEMO_LABEL": ("demo", "LABEL"),
    "demo_model": ("demo", "demo_model"),
    "NO_MODEL": ("model", "NO_MODEL"),
    "model_from_settings": ("model", "model_from_settings"),
    "MEMORY_POLICY": ("policy", "MEMORY_POLICY"),
    "secret_reason": ("policy", "secret_reason"),
    "MemoryCapability": ("toolset", "MemoryCapability"),
    "memory_toolset": ("toolset", "memory_toolset"),
}

__all__ = [
    "DEMO_LABEL",
    "MEMORY_POLICY",
    "NO_MODEL",
    "MemoryAgent",
    "MemoryCapability",
    "agent_from_settings",
    "build_agent",
    "demo_model",
    "memory_toolset",
    "model_from_settings",
    "secret_reason",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'llm_memory.agent' has no attribute {name!r}")
    module, attr = _WHERE[name]
    return getattr(importlib.import_module(f"llm_memory.agent.{module}"), attr)
