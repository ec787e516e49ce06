"""The chat flow: retrieve, run, then persist; history per user and session; summaries."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner
from llm_memory.agent import build_agent
from llm_memory.agent.history import SUMMARY, TURN
from llm_memory.chat import ChatFailed, ChatService
from llm_memory.cli import cli
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.errors import ConfigError, ValidationFailed
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory.storage.memory import MemoryStore
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import FunctionModel


@pytest.fixture
def manager() -> MemoryManager:
    return MemoryManager(MemoryStore(), HashEmbedder(dimension=256), settings=load_settings())


def scripted(*steps):
    seen: list = []

    def respond(messages, info):
        seen.append((messages, info))
        step = steps[len(seen) - 1]
        return step(messages, info) if callable(step) else step

    return FunctionModel(respond), seen


def call(name: str, **args) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(name, args)])


def say(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)])


def stored(manager: MemoryManager, user: str = "ada", kind: str | None = None) -> list:
    items = manager.list(user, limit=1000)
    return [i for i in items if kind is None or i.type == kind]


def test_memories_are_persisted_only_after_the_run(manager):
    counts: list[int] = []

    def check_store(messages, info):
        counts.append(manager.store.count())  # the tool has run; nothing may be stored yet
        return say("Noted, you like green tea.")

    model, _ = scripted(
        call(
            "update_memory", content="The user likes green tea.", type="preference", importance=0.7
        ),
        check_store,
    )
    reply = ChatService(manager, build_agent(model)).chat("I like green tea", "ada", "s1")
    assert counts == [0]
    assert [m.content for m in reply.created] == ["The user likes green tea."]
    assert reply.response == "Noted, you like green tea." and reply.session_id == "s1"
    facts = [i for i in stored(manager) if i.type != "episodic"]
    assert [(f.content, f.type, f.importance, f.session_id) for f in facts] == [
        ("The user likes green tea.", "preference", 0.7, "s1")
    ]


def test_a_second_chat_retrieves_the_memory(manager):
    agent = build_agent()
    service = ChatService(manager, agent)
    first, _ = scripted(
        call("update_memory", content="The user likes green tea.", type="preference"), say("Noted.")
    )
    with agent.override(model=first):
        service.chat("I like green tea", "ada", "s1")
    second, seen = scripted(say("You like green tea."))
    with agent.override(model=second):
        reply = service.chat("which tea do I like?", "ada", "s2")
    assert [m.memory.content for m in reply.retrieved if m.memory.type != "episodic"] == [
        "The user likes green tea."
    ]
    assert "The user likes green tea." in seen[0][1].instructions
    assert (
        ChatService(manager, build_agent(scripted(say("?"))[0])).chat("tea?", "bob").retrieved == []
    )


def test_a_run_that_fails_midway_persists_nothing(manager):
    def boom(messages, info):
        raise ConnectionError("model server went away")

    model, _ = scripted(call("update_memory", content="The user likes green tea."), boom)
    with pytest.raises(
        ChatFailed, match="nothing was saved: ConnectionError: model server went away"
    ):
        ChatService(manager, build_agent(model)).chat("I like green tea", "ada")
    assert manager.store.count() == 0


def test_invalid_tool_arguments_persist_nothing(manager):
    bad = {"content": "The user is Ada.", "type": "episodic", "importance": 7}
    model, _ = scripted(call("update_memory", **bad), call("update_memory", **bad), say("ok"))
    with pytest.raises(ChatFailed, match="exceeded max retries"):
        ChatService(manager, build_agent(model)).chat("I am Ada", "ada")
    assert manager.store.count() == 0
    model, _ = scripted(call("update_memory", **bad), say("Sorry, I could not save that."))
    reply = ChatService(manager, build_agent(model)).chat("I am Ada", "ada")
    assert reply.created == [] and {i.type for i in stored(manager)} == {"episodic"}


def test_secrets_are_never_stored(manager):
    model, _ = scripted(
        call("update_memory", content="The user's API key is sk-abcdefghijklmnopqrstuv1234."),
        say("I won't keep that."),
    )
    reply = ChatService(manager, build_agent(model)).chat("remember my key", "ada")
    assert reply.created == []
    assert all("sk-abc" not in i.content for i in stored(manager))


def test_forget_is_applied_after_the_run(manager):
    tea = manager.write_memory("The user likes green tea.", "ada", type="preference")
    during: list[bool] = []

    def check(messages, info):
        during.append(manager.store.get("ada", [tea.id]) != [])
        return say("Forgotten.")

    model, _ = scripted(call("forget_memory", memory_id=tea.id), check)
    reply = ChatService(manager, build_agent(model)).chat("forget that I like green tea", "ada")
    assert during == [True] and reply.forgotten == [tea.id]
    assert manager.store.get("ada", [tea.id]) == []


def test_history_is_kept_per_user_and_session(manager):
    agent = build_agent()
    service = ChatService(manager, agent)
    for user, session, text in [
        ("ada", "s1", "first in s1"),
        ("ada", "s2", "first in s2"),
        ("bob", "s1", "bob in s1"),
    ]:
        with agent.override(model=scripted(say(f"re: {text}"))[0]):
            service.chat(text, user, session)
    model, seen = scripted(say("ok"))
    with agent.override(model=model):
        service.chat("second in s1", "ada", "s1")
    history = [(type(m).__name__, m.parts[0].content) for m in seen[0][0]]
    assert history == [
        ("ModelRequest", "first in s1"),
        ("ModelResponse", "re: first in s1"),
        ("ModelRequest", "second in s1"),
    ]
    turns = [i for i in stored(manager) if i.metadata.get("chat") == TURN and i.session_id == "s1"]
    assert [(t.metadata["role"], t.content) for t in turns] == [
        ("user", "user: first in s1"),
        ("assistant", "assistant: re: first in s1"),
        ("user", "user: second in s1"),
        ("assistant", "assistant: ok"),
    ]


def test_long_sessions_are_compressed_into_a_summary(manager):
    manager = MemoryManager(
        MemoryStore(), HashEmbedder(dimension=256), settings=load_settings(summarize_after_turns=4)
    )
    agent = build_agent()
    service = ChatService(manager, agent)
    for i in range(6):
        with agent.override(model=scripted(say(f"answer {i}."))[0]):
            service.chat(f"I visited city number {i}.", "ada", "trip")
        window = service.log.window("ada", "trip")
        assert len(window.turns) <= 4
    window = service.log.window("ada", "trip")
    assert window.summary is not None and window.summary.metadata == {"chat": SUMMARY, "turns": 8}
    assert "city number 0" in window.summary.content  # the oldest turn survives in the summary
    assert window.summary.content.count("Summary of conversation") == 1
    summaries = [i for i in stored(manager) if i.metadata.get("chat") == SUMMARY]
    assert len(summaries) == 1
    model, seen = scripted(say("ok"))
    with agent.override(model=model):
        service.chat("where did I go first?", "ada", "trip")
    assert "Summary of the earlier part of this conversation" in seen[0][1].instructions
    assert len(seen[0][0]) <= 4 + 1


def test_the_async_flow_matches_the_sync_one(manager):
    model, _ = scripted(
        call("update_memory", content="The user lives in Oslo.", type="fact"), say("Oslo, noted.")
    )
    reply = asyncio.run(
        ChatService(manager, build_agent(model)).achat("I live in Oslo", "ada", "s1")
    )
    assert [m.content for m in reply.created] == ["The user lives in Oslo."]
    assert len(stored(manager, kind="episodic")) == 2


def test_invalid_messages_are_refused_before_the_model_runs(manager):
    model, seen = scripted(say("never"))
    service = ChatService(manager, build_agent(model))
    with pytest.raises(ValidationFailed, match="user_input"):
        service.chat("   ", "ada")
    with pytest.raises(ValidationFailed, match="user_id"):
        service.chat("hello", "")
    assert seen == [] and manager.store.count() == 0


def test_no_model_configured_fails_in_one_line(manager):
    with pytest.raises(
        ConfigError, match=r"set AGENT_MODEL .* with AGENT_BASE_URL .*AGENT_MODEL=demo"
    ):
        ChatService(manager).chat("hello", "ada")


def test_agent_model_demo_works_through_the_python_api(tmp_path):
    manager = MemoryManager.from_settings(
        storage_backend="memory", vector_store_dir=str(tmp_path / "s"), agent_model="demo"
    )
    service = ChatService(manager)
    first = service.chat("My name is Ada.", "ada", "s1")
    assert first.response.startswith("[offline demo model]")
    assert [m.content for m in first.created] == ["The user's name is Ada."]
    assert (first.memories_created, first.memories_retrieved) == (1, 0)
    second = service.chat("What is my name?", "ada", "s2")
    assert "The user's name is Ada." in second.response
    assert second.memories_retrieved == len(second.retrieved) >= 1
    dumped = second.model_dump(mode="json")
    assert dumped["memories_created"] == 0 and dumped["created"] == []
    # "demo" as the agent argument means the same model, whatever AGENT_MODEL says.
    other = MemoryManager(MemoryStore(), HashEmbedder(dimension=256), settings=load_settings())
    assert ChatService(other, "demo").chat("I live in Oslo.", "bo").memories_created == 1


def test_agent_model_test_is_refused_before_any_message(manager):
    settings = load_settings(agent_model="test")
    refused = MemoryManager(MemoryStore(), HashEmbedder(dimension=256), settings=settings)
    with pytest.raises(ConfigError, match=r"AGENT_MODEL=test .* use AGENT_MODEL=demo") as err:
        ChatService(refused)
    assert "\n" not in str(err.value)


def test_message_history_is_rebuilt_from_the_store(manager):
    model, _ = scripted(say("hi there"))
    ChatService(manager, build_agent(model)).chat("hello", "ada")
    restarted = ChatService(manager, build_agent(scripted(say("again"))[0]))
    messages = restarted.log.window("ada", "default").messages()
    assert isinstance(messages[0], ModelRequest) and isinstance(
        messages[0].parts[0], UserPromptPart
    )
    assert [m.parts[0].content for m in messages] == ["hello", "hi there"]


# -- the CLI ---------------------------------------------------------------------------------------------
def test_cli_chat_without_a_model_says_what_to_set():
    result = CliRunner().invoke(cli, ["chat", "hello"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "AGENT_MODEL" in lines[0] and "AGENT_BASE_URL" in lines[0]


def test_cli_chat_with_the_demo_model(monkeypatch, tmp_path):
    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path / "store"))
    runner = CliRunner()
    first = runner.invoke(
        cli, ["chat", "--demo", "--user", "ada", "--json", "My name is Ada and I like green tea."]
    )
    assert first.exit_code == 0, first.output
    created = json.loads(first.stdout)["created"]
    assert {m["content"] for m in created} == {
        "The user's name is Ada.",
        "The user likes green tea.",
    }
    second = runner.invoke(
        cli, ["chat", "--demo", "-u", "ada", "-s", "other"], input="what is my name?\n\n"
    )
    assert second.exit_code == 0, second.output
    assert "[offline demo model] From memory: The user's name is Ada." in second.stdout


def test_cli_chat_with_agent_model_demo(monkeypatch, tmp_path):
    monkeypatch.setenv("STORAGE_BACKEND", "memory")
    monkeypatch.setenv("VECTOR_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("AGENT_MODEL", "demo")
    runner = CliRunner()
    first = runner.invoke(cli, ["chat", "-u", "ada", "--json", "I live in Oslo."])
    assert first.exit_code == 0, first.output
    reply = json.loads(first.stdout)
    assert (reply["memories_created"], reply["memories_retrieved"]) == (1, 0)
    assert [m["content"] for m in reply["created"]] == ["The user lives in Oslo."]
    second = runner.invoke(cli, ["chat", "-u", "ada", "Where do I live?"])
    assert second.exit_code == 0, second.output
    assert "Offline demo model: pattern rules, not an LLM." in second.stderr
    assert "The user lives in Oslo." in second.stdout


def test_cli_chat_refuses_agent_model_test(monkeypatch):
    monkeypatch.setenv("AGENT_MODEL", "test")
    result = CliRunner().invoke(cli, ["chat", "hello"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: AGENT_MODEL=test is PydanticAI's TestModel")
    assert len(result.output.strip().splitlines()) == 1


def test_the_event_loop_flow_summarizes_with_the_llm_summarizer():
    from llm_memory.summarize.llm import LLMSummarizer

    prompts: list[str] = []

    def summarize(messages, info):
        prompts.append(messages[-1].parts[-1].content)
        return say(f"The user talked about cities (summary {len(prompts)}).")

    manager = MemoryManager(
        MemoryStore(),
        HashEmbedder(dimension=256),
        summarizer=LLMSummarizer(FunctionModel(summarize)),
        settings=load_settings(summarize_after_turns=2),
    )
    agent = build_agent()
    service = ChatService(manager, agent)

    async def talk() -> None:
        for i in range(3):
            with agent.override(model=scripted(say(f"answer {i}."))[0]):
                await service.achat(f"I visited city number {i}.", "ada", "trip")

    asyncio.run(talk())
    window = service.log.window("ada", "trip")
    assert len(prompts) == 2 and "user: I visited city number 0." in prompts[0]
    assert "The user talked about cities (summary 1)." in prompts[1]  # the old summary is folded in
    assert (
        window.summary.content
        == "Summary of conversation trip: The user talked about cities (summary 2)."
    )
    assert len(window.turns) == 1
