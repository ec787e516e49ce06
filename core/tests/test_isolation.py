"""The isolation machine of llm-memory-testing on the memory backend (in process and in a
file): random operations by adversarial users, compared with a model after every step."""

from __future__ import annotations

import itertools

from llm_memory.storage.memory import MemoryStore
from llm_memory_testing.isolation import run_isolation


def test_no_user_touches_another_in_process() -> None:
    run = run_isolation(MemoryStore, max_examples=40, steps=30)
    print(f"memory: {run}")
    assert run.examples >= 40 and run.refused > 0


def test_no_user_touches_another_in_a_file(tmp_path) -> None:
    n = itertools.count()
    run = run_isolation(lambda: MemoryStore(tmp_path / f"m{next(n)}.json"), max_examples=15)
    print(f"memory file: {run}")
    assert run.examples >= 15
