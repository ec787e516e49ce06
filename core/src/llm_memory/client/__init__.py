"""Talk to a running ``llm-memory serve`` as if the engine were embedded.

>>> from llm_memory.client import MemoryClient
>>> memory = MemoryClient("http://127.0.0.1:8000", api_key="…")   # was: MemoryManager.from_settings()
>>> memory.retrieve("what does Ada drink?", "ada")

:class:`MemoryClient` and :class:`AsyncMemoryClient` have :class:`~llm_memory.manager.MemoryManager`'s
method names, arguments and returned models; errors are the classes of :mod:`llm_memory.errors`
(plus :class:`AccessDenied`, :class:`RateLimited` and :class:`ServerUnavailable`, all
:class:`~llm_memory.errors.LLMMemoryError`).
"""

from __future__ import annotations

from llm_memory.client._calls import AccessDenied, RateLimited, ServerUnavailable
from llm_memory.client.aio import AsyncMemoryClient
from llm_memory.client.sync import MemoryClient

__all__ = ["AccessDenied", "AsyncMemoryClient", "MemoryClient", "RateLimited", "ServerUnavailable"]
