"""Vendor APIs on loopback, speaking the real wire formats, for testing the real client SDKs.

>>> from llm_memory.testing.fakes import FakeOpenAI
>>> with FakeOpenAI(api_key="sk-test") as server:
...     client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test")

Each server records what it received (``server.requests``) and can be told to fail the next
requests with a vendor-shaped error (``server.fail(429, retry_after="1")``).
"""

from __future__ import annotations

from llm_memory.testing.fakes.cohere import FakeCohere
from llm_memory.testing.fakes.http import FakeServer, Recorded
from llm_memory.testing.fakes.openai import FakeOpenAI

__all__ = ["FakeCohere", "FakeOpenAI", "FakeServer", "Recorded"]
