"""``llm-memory demo``: the whole flow on the configured (by default embedded, offline) setup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from llm_memory.cli.common import emit_json, get_manager, table

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
QUESTIONS = ["Where should we eat when my sister visits?", "What does Maya do on weekends?"]


@click.command()
@click.option("--user", "-u", "user_id", default="demo-user", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print what happened as JSON.")
def demo(user_id: str, as_json: bool) -> None:
    """Show the memory flow: ingest a conversation, store facts, retrieve with scores."""
    manager = get_manager()
    say = (lambda *a, **k: None) if as_json else click.echo
    report: dict[str, Any] = {
        "storage": manager.store.describe(),
        "embedder": manager.embedder.info().model_dump(),
    }
    say(f"Storage: {_where(report['storage'])}   Embedder: {manager.embedder.info()} (offline)\n")

    start = datetime.now(UTC) - timedelta(days=3)
    turns = [
        {
            "role": role,
            "content": text,
            "timestamp": start + timedelta(minutes=i),
            "metadata": {"turn": i},
        }
        for i, (role, text) in enumerate(CONVERSATION)
    ]
    episodic = manager.ingest_conversation(turns, user_id, session_id="demo-session")
    say(f"1. Stored {len(episodic)} conversation turns as episodic memories of {user_id!r}.")
    facts = manager.write_memories(
        {"user_id": user_id, "content": c, "type": t, "importance": i} for c, t, i in FACTS
    )
    say(
        f"2. Stored {len(facts)} facts and preferences (writing them again refreshes, never duplicates)."
    )
    report.update(episodic=len(episodic), facts=len(facts), searches=[])

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
    report["chat"] = _chat(manager, user_id, say)
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
        reply = service.chat(message, user_id, session_id="demo-chat")
        turns.append(reply.model_dump(mode="json"))
        say(f"   you: {message}\n   agent: {reply.response}")
        created = ", ".join(repr(m.content) for m in reply.created if m.type != "episodic")
        say(f"   (retrieved {reply.memories_retrieved}; stored {created or 'no new facts'})")
    return turns


def _where(described: dict[str, Any]) -> str:
    location = (
        described.get("path")
        or described.get("location")
        or described.get("uri")
        or described.get("url")
    )
    return f"{described.get('backend')} ({location})" if location else str(described.get("backend"))
