"""``llm-memory demo``: the whole flow on the configured (by default embedded, offline) setup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from llm_memory.cli.common import emit_json, get_manager, plural, table
from llm_memory.models import MemoryItem

CONVERSATION = [
    ("user", "Hi! I'm Maya, I just moved to Lisbon for a job at a robotics startup."),
    ("assistant", "Welcome to Lisbon, Maya! How are you settling in?"),
    ("user", "Pretty well. I'm vegetarian, so I'm still hunting for good places to eat."),
    ("assistant", "Lisbon has a growing vegetarian scene; the Príncipe Real area is a good start."),
    ("user", "My sister Ana visits in March and she is allergic to peanuts."),
    ("assistant", "Noted, I'll keep peanut-free options in mind for March."),
    ("user", "On weekends I like to go surfing in Ericeira."),
]
FACTS = [
    ("Maya is vegetarian.", "preference", 0.9),
    ("Maya's sister Ana is allergic to peanuts.", "fact", 0.95),
    ("Maya works at a robotics startup in Lisbon.", "fact", 0.7),
    ("Maya likes surfing in Ericeira on weekends.", "preference", 0.6),
]
_CONTENTS = {f"{role}: {text}" for role, text in CONVERSATION}
SESSION, CHAT_SESSION = "demo-session", "demo-chat"
QUESTIONS = ["Where should we eat when my sister visits?", "What does Maya do on weekends?"]


@click.command()
@click.option("--user", "-u", "user_id", default="demo-user", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print what happened as JSON.")
def demo(user_id: str, as_json: bool) -> None:
    """Show the memory flow: ingest a conversation, store facts, retrieve with scores."""
    manager = get_manager()
    say = (lambda *a, **k: None) if as_json else click.echo
    info = manager.embedder.info()
    report: dict[str, Any] = {"storage": manager.store.describe(), "embedder": info.model_dump()}
    offline = " (offline)" if info.name == "hash" else ""
    say(f"Storage: {_where(report['storage'])}   Embedder: {info}{offline}\n")

    # Run twice, the demo stores nothing twice: the conversation keeps the times (so the
    # ids) of the first run, the facts are refreshed, and the chat is not repeated.
    stored = _stored_turns(manager, user_id, SESSION)
    start = _first_start(stored) or datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    turns = [
        {
            "role": role,
            "content": text,
            "timestamp": start + timedelta(minutes=i),
            "metadata": {"turn": i},
        }
        for i, (role, text) in enumerate(CONVERSATION)
    ]
    if {m.content for m in stored} >= _CONTENTS:
        episodic, new_turns = [m for m in stored if m.content in _CONTENTS], 0
        say(
            f"1. The conversation is already stored for {user_id!r} (an earlier run of the demo): "
            f"{plural(len(episodic), 'turn')} kept, none stored again."
        )
    else:
        before = {m.id for m in stored}
        episodic = manager.ingest_conversation(turns, user_id, session_id=SESSION)
        new_turns = sum(m.id not in before for m in episodic)
        say(
            f"1. Stored {plural(new_turns, 'conversation turn')} as episodic memories of "
            f"{user_id!r}"
            + (
                f" ({len(episodic) - new_turns} already stored)."
                if new_turns < len(episodic)
                else "."
            )
        )
    rows = [{"user_id": user_id, "content": c, "type": t, "importance": i} for c, t, i in FACTS]
    known = sum(_exists(manager, MemoryItem(**row).id, user_id) for row in rows)
    facts = manager.write_memories(rows)
    if known == len(facts):
        say(
            f"2. The {len(facts)} facts and preferences were already stored: refreshed, not "
            "duplicated."
        )
    else:
        stored_now = f"{len(facts) - known} of {len(facts)}" if known else str(len(facts))
        again = f"; {known} already stored, refreshed" if known else ""
        say(
            f"2. Stored {stored_now} facts and preferences{again} "
            "(writing them again refreshes, never duplicates)."
        )
    report.update(
        episodic=len(episodic),
        episodic_new=new_turns,
        facts=len(facts),
        facts_new=len(facts) - known,
        searches=[],
    )

    for question in QUESTIONS:
        results = manager.retrieve(question, user_id, limit=4)
        report["searches"].append(
            {"query": question, "results": [r.model_dump(mode="json") for r in results]}
        )
        say(f"\n3. Retrieve: {question!r}  (score = 0.5·relevance + 0.3·importance + 0.2·recency)")
        if not as_json:
            table(
                [
                    (
                        f"{r.score:.3f}",
                        f"{r.relevance:.2f}",
                        f"{r.importance:.2f}",
                        f"{r.recency:.2f}",
                        r.memory.type,
                        r.memory.content,
                    )
                    for r in results
                ],
                ["score", "rel", "imp", "rec", "type", "content"],
                max_width=70,
            )
    other = manager.retrieve(QUESTIONS[0], f"{user_id}-someone-else", limit=4)
    report["other_user_results"] = len(other)
    say(
        f"\n4. The same question for another user finds {len(other)} memories: users never see each other's."
    )
    earlier = _stored_turns(manager, user_id, CHAT_SESSION)
    report["chat_already_stored"] = bool(earlier)
    report["chat"] = _chat(manager, user_id, say) if not earlier else []
    if earlier:
        say(
            "\n5. The chat through the agent already ran in an earlier demo; not repeated, so "
            "its turns are not stored twice. What it stored:"
        )
        for m in earlier:
            say(f"   {m.content}")
        say(f"   (`llm-memory forget-user --user {user_id} --yes` starts the demo over.)")
    if as_json:
        emit_json(report)


CHAT = ["I like green tea, and my name is Maya.", "Which tea should you make for me?"]


def _chat(manager: Any, user_id: str, say: Any) -> list[dict[str, Any]]:
    """The chat flow: retrieve -> MemoryState -> agent (tools propose) -> persist after the run."""
    from llm_memory.agent import DEMO_LABEL, demo_model
    from llm_memory.chat import ChatService

    configured = manager.settings.agent_model or manager.settings.agent_base_url
    service = ChatService(manager, None if configured else demo_model())
    label = DEMO_LABEL if configured in (None, "demo") else configured
    say(
        f"\n5. Chat through the agent ({label}); it proposes memories, persisted only after the run:"
    )
    turns = []
    for message in CHAT:
        reply = service.chat(message, user_id, session_id=CHAT_SESSION)
        turns.append(reply.model_dump(mode="json"))
        say(f"   you: {message}\n   agent: {reply.response}")
        created = ", ".join(repr(m.content) for m in reply.created if m.type != "episodic")
        say(f"   (retrieved {reply.memories_retrieved}; stored {created or 'no new facts'})")
    return turns


def _stored_turns(manager: Any, user_id: str, session_id: str) -> list[Any]:
    """The episodic memories an earlier run stored in ``session_id``, oldest first."""
    return manager.list(user_id, types=["episodic"], session_id=session_id, limit=1000)


def _first_start(stored: list[Any]) -> datetime | None:
    """When an earlier run's conversation started: its turns then keep their times and ids."""
    for m in stored:
        if m.content in _CONTENTS and isinstance(m.metadata.get("turn"), int):
            return m.created_at - timedelta(minutes=m.metadata["turn"])
    return None


def _exists(manager: Any, memory_id: str, user_id: str) -> bool:
    from llm_memory.errors import NotFound

    try:
        manager.get(memory_id, user_id)
    except NotFound:
        return False
    return True


def _where(described: dict[str, Any]) -> str:
    location = (
        described.get("path")
        or described.get("location")
        or described.get("uri")
        or described.get("url")
    )
    return f"{described.get('backend')} ({location})" if location else str(described.get("backend"))
