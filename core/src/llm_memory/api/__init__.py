"""The HTTP API (FastAPI). ``uvicorn llm_memory.api:app`` serves the app built from settings.

>>> from llm_memory.api import create_app
>>> app = create_app(manager)             # or create_app() to build the manager from settings

``app`` is built on first access, from the environment and ``llm-memory.toml`` (or the file
``LLM_MEMORY_CONFIG`` names), so importing this package stays cheap. (No submodule may be
called ``app``: it would shadow this attribute.)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_memory.api.factory import create_app

__all__ = ["app", "create_app"]

_app: Any = None
_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    global _app
    if name == "create_app":
        from llm_memory.api.factory import create_app

        return create_app
    if name == "app":
        with _lock:
            if _app is None:
                import os

                from llm_memory.api.factory import create_app

                _app = create_app(
                    schedule_snapshots=os.environ.get("LLM_MEMORY_SERVE_SCHEDULE", "1") != "0"
                )
            return _app
    raise AttributeError(f"module 'llm_memory.api' has no attribute {name!r}")
