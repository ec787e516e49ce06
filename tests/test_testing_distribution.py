"""The test kits are a distribution of their own; the old import path is an alias of it."""

from __future__ import annotations

import importlib

import llm_memory_testing
import llm_memory_testing.http
import llm_memory_testing.openai_chat
import llm_memory_testing.servers
import llm_memory_testing.storage


def test_the_old_paths_name_the_same_modules_and_classes() -> None:
    from llm_memory.testing import StorageContract

    assert StorageContract is llm_memory_testing.StorageContract
    assert importlib.import_module("llm_memory.testing.servers") is llm_memory_testing.servers
    assert importlib.import_module("llm_memory.testing.storage") is llm_memory_testing.storage
    assert importlib.import_module("llm_memory.testing.fakes.http") is llm_memory_testing.http
    chat = importlib.import_module("llm_memory.testing.fakes.openai_chat")
    assert chat.FakeOpenAIChat is llm_memory_testing.openai_chat.FakeOpenAIChat


def test_the_core_package_holds_no_test_kit_or_vendor_fake() -> None:
    from importlib import resources

    names = {p.name for p in resources.files("llm_memory.testing").iterdir()}
    assert names <= {"__init__.py", "__pycache__"}, names
