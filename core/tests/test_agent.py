"""The memory agent on its own: prompts, typed tools, the model from settings, the demo model."""

from __future__ import annotations

import sys

import pytest
from llm_memory.agent import (
    NO_MODEL,
    agent_from_settings,
    build_agent,
    demo_model,
    model_from_settings,
)
from llm_memory.agent.demo import LABEL
from llm_memory.agent.policy import vet
from llm_memory.errors import ConfigError, LLMMemoryError
from llm_memory.models import MemoryItem, MemoryState, MemoryUpdate, ScoredMemory
from llm_memory.settings import load_settings
from llm_memory.summarize.llm import LLMSummarizer
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel


def scored(content: str, type: str = "preference", user: str = "ada") -> ScoredMemory:
    item = MemoryItem(user_id=user, content=content, type=type, importance=0.7)
    return ScoredMemory(memory=item, score=0.9, relevance=1.0, importance=0.7, recency=1.0)


def scripted(*steps):
    """A FunctionModel answering each request with the next step; records what it saw."""
    seen: list[tuple[list, AgentInfo]] = []

    def respond(messages, info):
        seen.append((messages, info))
        step = steps[len(seen) - 1]
        return step(messages) if callable(step) else step

    return FunctionModel(respond), seen


def call(name: str, **args) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(name, args)])


def say(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)])


def tool_returns(messages) -> list[ToolReturnPart]:
    return [p for p in messages[-1].parts if isinstance(p, ToolReturnPart)]


@pytest.fixture
def agent():
    return build_agent()


def test_instructions_state_the_policy_and_list_active_memories_with_ids(agent):
    tea = scored("The user likes green tea.")
    model, seen = scripted(say("Hello"))
    with agent.override(model=model):
        result = agent.run_sync("hi", deps=MemoryState(user_id="ada", active=[tea]))
    assert result.output == "Hello"
    instructions = seen[0][1].instructions
    for phrase in (
        '"fact"',
        '"preference"',
        '"semantic"',
        "importance",
        "from 0 to 1",
        "Never store secrets",
        "passwords",
    ):
        assert phrase in instructions
    assert (
        f"id={tea.memory.id} type=preference importance=0.70: The user likes green tea."
        in instructions
    )


def test_tools_only_change_the_state(agent):
    state = MemoryState(user_id="ada")
    with agent.override(model=TestModel(call_tools=["update_memory", "recall"])):
        agent.run_sync("remember something", deps=state)
    assert len(state.proposed) == 1 and isinstance(state.proposed[0], MemoryUpdate)
    assert state.forget == []


def test_update_memory_schema_is_the_memory_update_model(agent):
    model = TestModel(call_tools=[])
    with agent.override(model=model):
        agent.run_sync("hi", deps=MemoryState(user_id="ada"))
    tools = {t.name: t for t in model.last_model_request_parameters.function_tools}
    schema = tools["update_memory"].parameters_json_schema
    assert schema["properties"]["type"]["enum"] == ["semantic", "preference", "fact"]
    assert (
        schema["properties"]["importance"]["minimum"],
        schema["properties"]["importance"]["maximum"],
    ) == (0, 1)
    assert schema["additionalProperties"] is False
    assert set(tools) == {"update_memory", "forget_memory", "recall"}


def test_invalid_type_or_importance_is_rejected_and_never_proposed(agent):
    state = MemoryState(user_id="ada")
    model, seen = scripted(
        call("update_memory", content="The user is Ada.", type="episodic", importance=3),
        call("update_memory", content="The user is Ada.", type="fact", importance=0.8, id="forged"),
        say("ok"),
    )
    with agent.override(model=model), pytest.raises(Exception, match="exceeded max retries"):
        agent.run_sync("I am Ada", deps=state)
    retry = tool_returns(seen[1][0])[0]
    assert retry.outcome == "retried"
    assert {e["loc"][0] for e in retry.content} == {"type", "importance"}
    assert state.proposed == []


def test_a_rejected_call_can_be_corrected(agent):
    state = MemoryState(user_id="ada")
    model, _ = scripted(
        call("update_memory", content="The user is Ada.", importance=-1),
        call("update_memory", content="The user is Ada.", type="fact", importance=0.8),
        say("Noted."),
    )
    with agent.override(model=model):
        assert agent.run_sync("I am Ada", deps=state).output == "Noted."
    assert state.proposed == [MemoryUpdate(content="The user is Ada.", type="fact", importance=0.8)]


def test_forget_accepts_only_ids_of_active_memories(agent):
    tea = scored("The user likes green tea.")
    state = MemoryState(user_id="ada", active=[tea])
    model, seen = scripted(
        call("forget_memory", memory_id="not-an-active-id"),
        call("forget_memory", memory_id=tea.memory.id),
        say("Forgotten."),
    )
    with agent.override(model=model):
        agent.run_sync("forget that I like tea", deps=state)
    assert "not the id of an active memory" in str(tool_returns(seen[1][0])[0].content)
    assert state.forget == [tea.memory.id]


def test_recall_searches_only_the_active_memories(agent):
    tea = scored("The user likes green tea.")
    state = MemoryState(user_id="ada", active=[tea, scored("The user lives in Oslo.", "fact")])
    model, seen = scripted(
        call("recall", query="which tea?"), call("recall", query="bicycles"), say("done")
    )
    with agent.override(model=model):
        agent.run_sync("what tea do I like?", deps=state)
    found = tool_returns(seen[1][0])[0].content
    assert [m["id"] for m in found] == [tea.memory.id]
    assert tool_returns(seen[2][0])[0].content == "No active memory matches."


def test_secrets_are_refused_by_the_tool(agent):
    state = MemoryState(user_id="ada")
    model, seen = scripted(
        call("update_memory", content="The user's wifi password is hunter2."), say("ok")
    )
    with agent.override(model=model):
        agent.run_sync("my wifi password is hunter2", deps=state)
    assert "Not saved" in tool_returns(seen[1][0])[0].content
    assert state.proposed == []


# -- the model from settings ---------------------------------------------------------------------
def test_no_model_configured_says_what_to_set():
    with pytest.raises(ConfigError) as err:
        model_from_settings(load_settings())
    assert str(err.value) == NO_MODEL
    assert "AGENT_MODEL" in NO_MODEL and "AGENT_BASE_URL" in NO_MODEL and "\n" not in NO_MODEL


def test_base_url_without_model_names_agent_model():
    with pytest.raises(ConfigError, match="AGENT_MODEL is not set"):
        model_from_settings(load_settings(agent_base_url="http://127.0.0.1:11434/v1"))


def test_agent_model_test_and_demo():
    from pydantic_ai.models.function import FunctionModel

    with pytest.raises(ConfigError, match=r"^AGENT_MODEL=test is PydanticAI's TestModel"):
        model_from_settings(load_settings(agent_model="test"))
    assert isinstance(model_from_settings(load_settings(agent_model="demo")), FunctionModel)


def test_openai_prefix_picks_the_responses_api_and_openai_chat_chat_completions():
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel

    def built(name: str, **extra):
        return model_from_settings(load_settings(agent_model=name, agent_api_key="sk-x", **extra))

    assert type(built("openai:gpt-4o-mini")) is OpenAIResponsesModel
    assert type(built("openai-responses:gpt-4o-mini")) is OpenAIResponsesModel
    assert type(built("openai-chat:gpt-4o-mini")) is OpenAIChatModel
    assert type(built("openai:llama3.2", agent_base_url="http://127.0.0.1:9/v1")) is OpenAIChatModel


def test_base_url_builds_an_openai_compatible_model():
    from pydantic_ai.models.openai import OpenAIChatModel

    model = model_from_settings(
        load_settings(agent_model="openai:llama3.2:3b", agent_base_url="http://127.0.0.1:9/v1")
    )
    assert isinstance(model, OpenAIChatModel)
    assert model.model_name == "llama3.2:3b"
    assert model.base_url.rstrip("/") == "http://127.0.0.1:9/v1"


def test_openai_model_without_key_names_the_key_setting():
    with pytest.raises(ConfigError, match="AGENT_API_KEY"):
        model_from_settings(load_settings(agent_model="openai:gpt-4o-mini"))
    model = model_from_settings(
        load_settings(agent_model="openai:gpt-4o-mini", agent_api_key="sk-test")
    )
    assert model.model_name == "gpt-4o-mini"


def test_unknown_model_is_one_line():
    with pytest.raises(ConfigError, match="is not a model PydanticAI knows"):
        model_from_settings(load_settings(agent_model="nonsense-model"))


def test_missing_openai_sdk_says_what_to_install(monkeypatch):
    for name in list(sys.modules):
        if name == "openai" or name.startswith(
            ("openai.", "pydantic_ai.models.openai", "pydantic_ai.providers.openai")
        ):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ConfigError) as err:
        model_from_settings(
            load_settings(agent_model="openai:gpt-4o", agent_base_url="http://127.0.0.1:9/v1")
        )
    assert "core[openai]'" in str(err.value)  # from this checkout: pip install './core[openai]'
    assert "llm-memory[openai]" not in str(err.value)  # PyPI's llm-memory is another project


def test_real_model_requests_are_forbidden_in_tests():
    agent = build_agent(
        model_from_settings(load_settings(agent_model="m", agent_base_url="http://127.0.0.1:9/v1"))
    )
    with pytest.raises(RuntimeError, match="ALLOW_MODEL_REQUESTS is False"):
        agent.run_sync("hello", deps=MemoryState(user_id="ada"))


def test_proposals_are_vetted_again_after_the_run():
    accepted, refused = vet(
        [
            MemoryUpdate(content="The user's email password is hunter2."),
            MemoryUpdate(content="The user uses a password manager.", type="preference"),
            MemoryUpdate.model_construct(content="forged", type="episodic", importance=5.0),
        ]
    )
    assert [u.content for u in accepted] == ["The user uses a password manager."]
    assert refused[0] == "not stored because it states a secret (password)"
    assert refused[1].startswith("invalid:")


def test_agent_is_built_once_per_model_configuration():
    first = agent_from_settings(load_settings(agent_model="demo"))
    assert agent_from_settings(load_settings(agent_model="demo")) is first
    assert (
        agent_from_settings(load_settings(agent_model="demo", agent_temperature=0.1)) is not first
    )


# -- the offline demo model ------------------------------------------------------------------------
def test_demo_model_extracts_facts_and_preferences():
    agent = build_agent(demo_model())
    state = MemoryState(user_id="ada")
    result = agent.run_sync("Hi, my name is ada and I like green tea. I live in Oslo.", deps=state)
    assert result.output.startswith(LABEL)
    assert {(p.content, p.type) for p in state.proposed} == {
        ("The user's name is Ada.", "fact"),
        ("The user likes green tea.", "preference"),
        ("The user lives in Oslo.", "fact"),
    }


def test_demo_model_proposes_nothing_for_a_question():
    agent = build_agent(demo_model())
    state = MemoryState(user_id="ada")
    agent.run_sync("What do I like to drink? Do I live in Oslo", deps=state)
    assert state.proposed == []
    agent.run_sync("Where do I live? I live in Bergen.", deps=state)
    assert [p.content for p in state.proposed] == ["The user lives in Bergen."]


def test_demo_model_answers_from_active_memories_and_forgets():
    agent = build_agent(demo_model())
    name, tea = scored("The user's name is Ada.", "fact"), scored("The user likes green tea.")
    state = MemoryState(user_id="ada", active=[name, tea])
    answer = agent.run_sync("what is my name?", deps=state).output
    assert answer.startswith(LABEL) and "Ada" in answer and "tea" not in answer
    agent.run_sync("please forget that I like green tea", deps=state)
    assert state.forget == [tea.memory.id] and state.proposed == []


def test_demo_model_does_not_keep_secrets():
    state = MemoryState(user_id="ada")
    answer = build_agent(demo_model()).run_sync("my bank PIN is 1234", deps=state).output
    assert "secret" in answer and state.proposed == []


# -- the llm summarizer ----------------------------------------------------------------------------------
def test_llm_summarizer_uses_the_model_and_respects_the_length():
    turns = [
        MemoryItem(user_id="ada", type="episodic", content="user: I moved to Oslo last week."),
        MemoryItem(user_id="ada", type="episodic", content="assistant: Welcome to Oslo!"),
    ]
    model, seen = scripted(say("The user moved to Oslo last week. " * 20))
    summary = LLMSummarizer(model).summarize(turns, max_chars=60)
    assert len(summary) <= 60 and summary.startswith("The user moved to Oslo")
    prompt = seen[0][0][-1].parts[-1].content
    assert "user: I moved to Oslo last week." in prompt and "assistant: Welcome to Oslo!" in prompt
    assert "at most 60 characters" in seen[0][1].instructions


def test_llm_summarizer_failure_is_an_llm_memory_error():
    def broken(messages, info):
        raise ConnectionError("model server down")

    turn = MemoryItem(user_id="ada", type="episodic", content="user: hello")
    with pytest.raises(
        LLMMemoryError, match="llm summarizer failed: ConnectionError: model server down"
    ):
        LLMSummarizer(FunctionModel(broken)).summarize([turn])


def test_llm_summarizer_provider_needs_the_agent_model():
    from llm_memory.default_plugins import llm_summarizer
    from llm_memory.plugins import PluginManager, build

    pm = PluginManager(load_entry_points=False)
    if "llm" not in pm.providers("summarizer"):  # until it is listed in DEFAULT_PLUGINS
        pm.register(llm_summarizer, name="llm_memory.default_plugins.llm_summarizer")
    with pytest.raises(
        ConfigError, match=r"uses the agent's model\. No agent model configured: set AGENT_MODEL"
    ):
        build("summarizer", "llm", load_settings(), manager=pm)
    with pytest.raises(
        ConfigError, match="AGENT_MODEL=demo is pattern rules: use SUMMARIZER=extractive"
    ):
        build("summarizer", "llm", load_settings(agent_model="demo"), manager=pm)
    real = load_settings(agent_model="openai:gpt-4o-mini", agent_api_key="sk-local")
    summarizer = build("summarizer", "llm", real, manager=pm)
    assert isinstance(summarizer, LLMSummarizer) and summarizer.name == "llm"
