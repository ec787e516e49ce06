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
    models = sys.modules.get("pydantic_ai.models")
    if models is None:
        yield
        return
    with models.override_allow_model_requests(False):
        yield
