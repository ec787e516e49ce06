"""memory_toolset: any PydanticAI agent gets memory tools, written only after a successful run."""

from __future__ import annotations

import pytest
from llm_memory.agent import memory_toolset
from llm_memory.manager import MemoryManager
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel


@pytest.fixture
def manager():
    with MemoryManager.from_settings(storage_backend="memory") as m:
        yield m


def scripted(*steps: list[ToolCallPart] | str):
    """A model answering each request with the next step: tool calls, or the final text."""
    queue = list(steps)
    seen: list[list[ModelMessage]] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(messages)
        step = queue.pop(0)
        if isinstance(step, str):
            if step == "fail":
                raise RuntimeError("the model went away")
            return ModelResponse(parts=[TextPart(step)])
        return ModelResponse(parts=step)

    return FunctionModel(answer), seen


def test_tools_and_instructions_reach_any_agent(manager):
    agent = Agent(TestModel(call_tools=[]), capabilities=[memory_toolset(manager, "ada")])
    result = agent.run_sync("hello")
    params = result.all_messages()[0]
    assert "long-term memory" in (params.instructions or "")
    tools = {t.name for t in agent_tools(agent)}
    assert tools == {"search_memories", "add_memory", "forget_memory"}


def agent_tools(agent: Agent) -> list:
    captured: list = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        captured.extend(info.function_tools)
        return ModelResponse(parts=[TextPart("ok")])

    with agent.override(model=FunctionModel(answer)):
        agent.run_sync("which tools?")
    return captured


def test_proposals_are_written_after_a_successful_run(manager):
    old = manager.write_memory("Ada lives in Bergen.", "ada", type="fact")
    model, _ = scripted(
        [ToolCallPart("search_memories", {"query": "where does Ada live"})],
        [
            ToolCallPart("forget_memory", {"memory_id": old.id}),
            ToolCallPart("add_memory", {"content": "Ada lives in Oslo.", "type": "fact"}),
            ToolCallPart("add_memory", {"content": "Ada's PIN is 4711."}),
        ],
        "Noted: Oslo.",
    )
    reports = []
    agent = Agent(model, capabilities=[memory_toolset(manager, "ada", on_saved=reports.append)])
    assert agent.run_sync("I moved to Oslo").output == "Noted: Oslo."
    assert [m.content for m in manager.list("ada")] == ["Ada lives in Oslo."]
    saved = manager.list("ada")[0]
    assert (saved.type, saved.metadata) == ("fact", {"source": "agent"})
    assert [m.content for m in reports[0].saved] == ["Ada lives in Oslo."]
    assert manager.list("bob") == []


def test_a_failed_run_writes_nothing(manager):
    model, _ = scripted(
        [ToolCallPart("add_memory", {"content": "Ada likes tea.", "type": "preference"})], "fail"
    )
    agent = Agent(model, capabilities=[memory_toolset(manager, "ada")])
    with pytest.raises(RuntimeError, match="went away"):
        agent.run_sync("I like tea")
    assert manager.list("ada") == []


def test_the_user_comes_from_the_run_not_the_model(manager):
    manager.write_memory("Bob's secret plan is a surprise party.", "bob")
    model, seen = scripted(
        [ToolCallPart("search_memories", {"query": "secret plan"})],
        [ToolCallPart("forget_memory", {"memory_id": manager.list("bob")[0].id})],
        "Nothing.",
    )
    agent = Agent(
        model, deps_type=str, capabilities=[memory_toolset(manager, lambda ctx: ctx.deps)]
    )
    assert agent.run_sync("what is bob planning?", deps="ada").output == "Nothing."
    returns = [p.content for m in seen[2] for p in m.parts if p.part_kind == "tool-return"]
    assert returns[0] == "No memory matches."  # ada's run sees none of bob's memories
    assert "is not an id from search_memories" in str(returns[1])
    assert len(manager.list("bob")) == 1
