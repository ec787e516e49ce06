"""The isolation machine of llm-memory-testing on LanceDB: a local directory, and object
storage on the moto S3 server (crafted ids reach LanceDB's filters there too)."""

from __future__ import annotations

import itertools

import pytest
from llm_memory_lancedb.options import LanceDBOptions
from llm_memory_lancedb.store import LanceDBStore
from llm_memory_testing.isolation import run_isolation


def test_no_user_touches_another_on_local_lancedb(tmp_path) -> None:
    n = itertools.count()
    run = run_isolation(
        lambda: LanceDBStore(tmp_path / f"db{next(n)}", "memories"), max_examples=8, steps=15
    )
    print(f"local lancedb: {run}")
    assert run.examples >= 8


@pytest.mark.server
def test_no_user_touches_another_on_lancedb_on_s3(s3_options) -> None:
    options: LanceDBOptions = s3_options(read_consistency_seconds=None)
    assert options.uri is not None
    n = itertools.count()
    run = run_isolation(
        lambda: LanceDBStore(options.uri, f"memories{next(n)}", options), max_examples=4, steps=12
    )
    print(f"lancedb on s3: {run}")
    assert run.examples >= 4
