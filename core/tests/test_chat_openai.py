"""End to end over HTTP: PydanticAI's real OpenAI client against a loopback chat-completions server."""

from __future__ import annotations

import pytest
from llm_memory.chat import ChatFailed, ChatService
from llm_memory.embedding.hash import HashEmbedder
from llm_memory.manager import MemoryManager
from llm_memory.settings import load_settings
from llm_memory.storage.memory import MemoryStore
from llm_memory_testing.openai_chat import FakeOpenAIChat, error, text, tool_call
from pydantic_ai.models import override_allow_model_requests

TEA = {"content": "The user likes green tea.", "type": "preference", "importance": 0.7}


@pytest.fixture
def server():
    with FakeOpenAIChat(api_key="sk-local") as fake:
        yield fake


@pytest.fixture
def service(server) -> ChatService:
    settings = load_settings(
        agent_model="openai:fake-chat", agent_base_url=server.base_url, agent_api_key="sk-local"
    )
    manager = MemoryManager(MemoryStore(), HashEmbedder(dimension=256), settings=settings)
    with override_allow_model_requests(True):  # the only model requests of the suite: to loopback
        yield ChatService(manager)


def test_memory_is_persisted_after_the_run_and_retrieved_next_time(server, service):
    store = service.manager.store
    during: list[int] = []

    def after_tool(request):
        during.append(store.count())  # the tool has run and its result is in this request
        tool_result = request.body["messages"][-1]
        assert tool_result["role"] == "tool" and "Proposed" in tool_result["content"]
        return text("Noted: you like green tea.")

    server.add(tool_call("update_memory", TEA), after_tool)
    reply = service.chat("I like green tea", "ada", "s1")
    assert during == [0]
    assert reply.response == "Noted: you like green tea."
    assert [m.content for m in reply.created] == [TEA["content"]]

    server.add(text("You like green tea."))
    reply = service.chat("Which tea do I like?", "ada", "s2")
    assert TEA["content"] in [m.memory.content for m in reply.retrieved]
    request = server.chat_requests()[-1]
    system = " ".join(m["content"] for m in request["messages"] if m["role"] == "system")
    assert TEA["content"] in system and "Never store secrets" in system
    assert request["model"] == "fake-chat" and request["temperature"] == 0.7
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in request["tools"]}
    assert tools["update_memory"]["properties"]["type"]["enum"] == [
        "semantic",
        "preference",
        "fact",
    ]
    assert server.received()[0].headers["authorization"] == "Bearer sk-local"


def test_a_model_call_failing_midway_persists_nothing(server, service):
    server.add(tool_call("update_memory", TEA), error(400, "context length exceeded"))
    with pytest.raises(ChatFailed, match=r"nothing was saved.*context length exceeded"):
        service.chat("I like green tea", "ada")
    assert service.manager.store.count() == 0


def test_invalid_type_or_importance_is_rejected_and_persists_nothing(server, service):
    bad = {"content": "The user is Ada.", "type": "episodic", "importance": 1.5}
    server.add(tool_call("update_memory", bad), tool_call("update_memory", bad))
    with pytest.raises(ChatFailed, match="exceeded max retries"):
        service.chat("I am Ada", "ada")
    retry = server.chat_requests()[1]["messages"][-1]
    assert (
        retry["role"] == "tool" and "type" in retry["content"] and "importance" in retry["content"]
    )
    assert service.manager.store.count() == 0


def test_malformed_tool_arguments_persist_nothing(server, service):
    server.add(
        tool_call("update_memory", '{"content": "The user is Ada", "importance": '), text("Sorry.")
    )
    reply = service.chat("I am Ada", "ada")
    assert reply.created == []
    assert {i.type for i in service.manager.list("ada")} == {"episodic"}
    retry = server.chat_requests()[1]["messages"][-1]
    assert retry["role"] == "tool" and "Invalid JSON" in retry["content"]


def test_openai_prefix_speaks_the_responses_api_and_base_url_chat_completions(server, monkeypatch):
    # openai:<model> is PydanticAI's Responses API; OPENAI_BASE_URL points the SDK at the fake.
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    settings = load_settings(agent_model="openai:fake-chat")
    manager = MemoryManager(MemoryStore(), HashEmbedder(dimension=256), settings=settings)
    server.add(tool_call("update_memory", TEA), text("Noted: green tea."))
    with override_allow_model_requests(True):
        reply = ChatService(manager).chat("I like green tea", "ada")
    assert reply.response == "Noted: green tea." and reply.memories_created == 1
    assert [m.content for m in reply.created] == [TEA["content"]]
    sent = server.responses_requests()
    assert len(sent) == 2 and server.chat_requests() == []
    assert sent[0]["model"] == "fake-chat" and "Never store secrets" in sent[0]["instructions"]
    assert {t["name"] for t in sent[0]["tools"]} >= {"update_memory", "forget_memory"}
    assert any(i.get("type") == "function_call_output" for i in sent[1]["input"])


def test_agent_base_url_stays_on_chat_completions(server, service):
    server.add(text("Hello."))
    assert service.chat("hi", "ada").response == "Hello."
    assert len(server.chat_requests()) == 1 and server.responses_requests() == []
