"""Fixtures for the core's tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_model_requests() -> Iterator[None]:
    """No test reaches a real model: PydanticAI refuses model requests (TestModel and
    FunctionModel still work) unless a test allows them with override_allow_model_requests.

    Only where PydanticAI is loaded (the agent and chat tests import it), so that the other
    tests do not pay for importing it."""
    if "pydantic_ai.models" not in sys.modules:
        yield
        return
    # A server's warm-up thread may be importing it right now: the import statement waits
    # for that import to finish (sys.modules alone may hold a partly initialised module).
    import pydantic_ai.models as models

    with models.override_allow_model_requests(False):
        yield
