"""Schema fuzzing of the HTTP API (issue 11): schemathesis generates requests from the live
OpenAPI schema of the real app, served by uvicorn on loopback over the memory backend, with
an admin key and with a key bound to one user. No answer may be a 5xx, and every answer
must match what the schema declares for it (status code, content type, body).

Valid and invalid requests both (schemathesis' positive and negative modes); a share of them
is steered to the key's own user, to a memory that exists and to the latest snapshot, so
that the success paths run too, not only the refusals. Bounded: a few examples per
operation; the test asserts every operation ran and answered 2xx at least once.
"""

from __future__ import annotations

import collections
import os
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from llm_memory.api import create_app  # noqa: E402
from llm_memory.embedding.hash import HashEmbedder  # noqa: E402
from llm_memory.manager import MemoryManager  # noqa: E402
from llm_memory.settings import load_settings  # noqa: E402
from llm_memory.storage.memory import MemoryStore  # noqa: E402
from llm_memory_testing.servers import serve_app  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.fuzz

ADMIN, ALICE = "fuzz-admin-key-01", "fuzz-alice-key-01"
#: Per operation and key (15 operations x 2 keys: well under a minute); FUZZ_EXAMPLES=150
#: (and --timeout 1200) for a deeper run by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "16"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Operations a user-bound key is refused by design (admin only).
ADMIN_ONLY = {"GET /stats"}
SNAPSHOT_WRITES = {"POST /snapshots", "POST /snapshots/{snapshot_id}/restore"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    where = tmp_path_factory.mktemp("fuzz")
    config = load_settings(
        api_keys={ADMIN: "admin", ALICE: ["alice"]},
        api_rate_limit=100_000,
        api_rate_burst=100_000,
        agent_model="demo",
        vector_store_dir=str(where / "store"),
        snapshot_dir=str(where / "snapshots"),
        max_request_bytes=65_536,
    )
    manager = MemoryManager(MemoryStore(), HashEmbedder(dimension=64), settings=config)
    with serve_app(create_app(manager, schedule_snapshots=False)) as base:
        yield base, manager, schemathesis.openapi.from_url(f"{base}/openapi.json")


def _steer(case: Any, user: str, memory_id: str) -> None:
    """Point a generated request at the key's own user, a stored memory, the latest snapshot."""
    params = case.path_parameters or {}
    if "user_id" in params:
        params["user_id"] = user
    if "memory_id" in params:
        params["memory_id"] = memory_id
    if "snapshot_id" in params:
        params["snapshot_id"] = "latest"
    if case.operation.label in SNAPSHOT_WRITES:  # a user's own snapshot, not the whole store
        case.body = {"user_id": user}
    bodies = case.body if isinstance(case.body, list) else [case.body]
    for body in bodies:
        if isinstance(body, dict) and "user_id" in body:
            body["user_id"] = user
            for field in ("content", "query", "user_input"):  # text the rules accept
                if field in body:
                    body[field] = "Alice keeps bees in the garden"
            for field in ("metadata", "created_at", "session_id"):  # rules beyond the schema
                body.pop(field, None)


@pytest.mark.parametrize("key", [ADMIN, ALICE], ids=["admin-key", "user-bound-key"])
def test_no_generated_request_gets_a_5xx_or_an_answer_off_its_schema(served, key):
    base, manager, schema = served
    auth = {"Authorization": f"Bearer {key}"}
    statuses: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, [op.label for op in operations]  # the schema is the app's
    others = _others(manager)

    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @given(case=strategy, steered=st.sampled_from([True, True, False]))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def attack(case: Any, steered: bool) -> None:
            if steered:
                stored = manager.write_memory("Alice keeps bees in the garden", "alice")
                if case.operation.label == "POST /snapshots/{snapshot_id}/restore":
                    manager.snapshots.create("alice")
                _steer(case, "alice", stored.id)
            response = case.call(base_url=base, headers=auth, timeout=30)
            statuses[case.operation.label][response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        attack()

    ran = sum(sum(counts.values()) for counts in statuses.values())
    print(f"schemathesis: {ran} requests over {len(operations)} operations with {key[5:10]} key")
    for operation in operations:  # not vacuous: every operation ran, and not only its refusals
        counts = statuses[operation.label]
        assert counts, f"{operation.label} never ran"
        if key == ALICE and operation.label in ADMIN_ONLY:
            assert set(counts) == {403}, (operation.label, dict(counts))
        else:
            assert any(200 <= code < 300 for code in counts), (operation.label, dict(counts))
        assert not any(code >= 500 for code in counts), (operation.label, dict(counts))
    assert ran >= EXAMPLES // 2 * len(operations)
    if key == ALICE:  # a key bound to alice changed no other user's memories
        assert _others(manager) == others


def _others(manager: MemoryManager) -> dict[str, list[tuple[str, str]]]:
    return {
        user: sorted((m.id, m.content) for m in manager.iter_memories(user))
        for user in manager.users()
        if user != "alice"
    }
