"""An offline demo model: pattern rules instead of a language model, clearly labelled.

It proposes memories for simple statements ("my name is Ada", "I like green tea", "I live in
Oslo"), forgets on "forget that …", and otherwise answers from the active memories listed in
the agent's instructions. It shows the memory flow end to end without any model server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from llm_memory.agent.policy import secret_reason
from llm_memory.text import content_terms

LABEL = "[offline demo model]"
_END = r"(?=[.,!?;]|\s+(?:and|but|because)\s|$)"
_VALUE = r"([^.,!?;]+?)"

# (pattern, type, importance, sentence template)
_RULES: list[tuple[re.Pattern[str], str, float, str]] = [
    (re.compile(r"\bmy name is " + _VALUE + _END, re.I), "fact", 0.9, "The user's name is {0}."),
    (
        re.compile(r"\bcall me " + _VALUE + _END, re.I),
        "preference",
        0.7,
        "The user wants to be called {0}.",
    ),
    (
        re.compile(r"\bI(?:'m| am) allergic to " + _VALUE + _END, re.I),
        "fact",
        0.9,
        "The user is allergic to {0}.",
    ),
    (re.compile(r"\bI live in " + _VALUE + _END, re.I), "fact", 0.7, "The user lives in {0}."),
    (
        re.compile(r"\bI work (as|at|for|on) " + _VALUE + _END, re.I),
        "fact",
        0.6,
        "The user works {0} {1}.",
    ),
    (
        re.compile(r"\bI(?:'m| am) (\d{1,3}) years old", re.I),
        "fact",
        0.6,
        "The user is {0} years old.",
    ),
    (
        re.compile(r"\bmy favou?rite (\w+) is " + _VALUE + _END, re.I),
        "preference",
        0.6,
        "The user's favorite {0} is {1}.",
    ),
    (
        re.compile(r"\bI (?:really )?(?:like|love|enjoy|prefer) " + _VALUE + _END, re.I),
        "preference",
        0.6,
        "The user likes {0}.",
    ),
    (
        re.compile(r"\bI (?:really )?(?:hate|dislike|can't stand) " + _VALUE + _END, re.I),
        "preference",
        0.6,
        "The user dislikes {0}.",
    ),
]
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_QUESTION = re.compile(
    r"^\s*(?:what|where|who|whom|whose|which|when|why|how|do|does|did|is|are|am|can|could|"
    r"would|will|should|have|has)\b",
    re.I,
)
_FORGET = re.compile(r"\bforget (?:that |about |the fact that )?(.+)", re.I)
_ACTIVE = re.compile(r"^- id=(\w+) type=(\w+) importance=[\d.]+: (.*)$", re.M)


def demo_model() -> FunctionModel:
    """A PydanticAI model that needs no server: see the module docstring."""
    return FunctionModel(_respond, model_name="offline-demo")


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    last = messages[-1]
    returns = [p for p in getattr(last, "parts", []) if isinstance(p, ToolReturnPart)]
    if returns:
        return _text(_after_tools(returns))
    prompt = _last_prompt(messages)
    active = _ACTIVE.findall(info.instructions or "")
    if secret_reason(prompt):
        return _text(
            "That looks like a secret, so I will not remember it. Keep it in a password manager."
        )
    calls = list(_forget_calls(prompt, active)) or list(_update_calls(prompt))
    if calls:
        return ModelResponse(parts=calls)
    return _text(_answer(prompt, active))


def _statements(prompt: str) -> Iterator[str]:
    """The sentences of ``prompt`` that state something: "what do I like?" proposes nothing."""
    for sentence in _SENTENCE.findall(prompt):
        if not sentence.rstrip().endswith("?") and not _QUESTION.match(sentence):
            yield sentence


def _update_calls(prompt: str) -> Iterator[ToolCallPart]:
    for pattern, type_, importance, template in _RULES:
        for match in (m for s in _statements(prompt) for m in pattern.finditer(s)):
            parts = [g.strip() for g in match.groups()]
            if type_ == "fact" and template.startswith("The user's name"):
                parts = [p.title() if p.islower() else p for p in parts]
            content = template.format(*parts)
            yield ToolCallPart(
                "update_memory", {"content": content, "type": type_, "importance": importance}
            )


def _forget_calls(prompt: str, active: list[tuple[str, str, str]]) -> Iterator[ToolCallPart]:
    match = _FORGET.search(prompt)
    if not match:
        return
    wanted = set(content_terms(match.group(1)))
    best = max(active, key=lambda m: len(wanted & set(content_terms(m[2]))), default=None)
    if best is not None and wanted & set(content_terms(best[2])):
        yield ToolCallPart("forget_memory", {"memory_id": best[0]})


def _after_tools(returns: list[ToolReturnPart]) -> str:
    notes = []
    for part in returns:
        content = part.content if isinstance(part.content, str) else str(part.content)
        if part.tool_name == "update_memory" and content.startswith("Proposed"):
            notes.append("I'll remember: " + content.split(": ", 1)[-1])
        elif part.tool_name == "forget_memory" and "forgotten" in content:
            notes.append("I'll forget that.")
        else:
            notes.append(content)
    return " ".join(notes)


def _answer(prompt: str, active: list[tuple[str, str, str]]) -> str:
    wanted = set(content_terms(prompt))
    ranked = sorted(
        (m for m in active if wanted & set(content_terms(m[2]))),
        key=lambda m: -len(wanted & set(content_terms(m[2]))),
    )
    if ranked:
        return "From memory: " + " ".join(m[2] for m in ranked[:3])
    if active:
        return "Nothing in memory matches that. What I know: " + " ".join(m[2] for m in active[:3])
    return (
        "I have nothing in memory yet. Tell me things like 'my name is ...' or 'I like ...', "
        "then ask me about them."
    )


def _last_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def _text(body: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(f"{LABEL} {body}")])


__all__ = ["LABEL", "demo_model"]
