"""A scripted fake of OpenAI's ``POST /v1/chat/completions`` and ``POST /v1/responses``
(tool calls included).

Each request takes the next step of the script: a text answer, tool calls, an error, or a
function of the request returning one of those (to assert things while the client waits).

>>> with FakeOpenAIChat([tool_call("update_memory", {"content": "..."}), text("Done.")]) as server:
...     model = OpenAIChatModel("fake-chat", provider=OpenAIProvider(base_url=server.base_url, api_key="k"))

Answers use OpenAI's exact wire format, so the real ``openai`` client (inside PydanticAI)
parses them. Point an OpenAI-compatible client at ``server.base_url`` (``…/v1``).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from llm_memory_testing.http import FakeServer, Recorded, Reply, count_tokens


@dataclass(frozen=True)
class Text:
    content: str


@dataclass(frozen=True)
class ToolCalls:
    calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)


@dataclass(frozen=True)
class Error:
    status: int
    message: str | None = None


Step = Text | ToolCalls | Error | Callable[[Recorded], "Text | ToolCalls | Error"]


def text(content: str) -> Text:
    """A final answer."""
    return Text(content)


def tool_call(name: str, arguments: dict[str, Any] | str) -> ToolCalls:
    """One tool call; ``arguments`` as a dict, or a raw string (to send invalid JSON)."""
    return ToolCalls([(name, arguments)])


def tool_calls(*calls: tuple[str, dict[str, Any] | str]) -> ToolCalls:
    return ToolCalls(list(calls))


def error(status: int, message: str | None = None) -> Error:
    """An OpenAI-shaped error (the client retries 408, 409, 429 and 5xx; 400 fails at once)."""
    return Error(status, message)


class FakeOpenAIChat(FakeServer):
    """``/v1/chat/completions`` following a script; records every request in ``requests``.

    A request after the script is exhausted gets a 400 error naming the problem.
    """

    def __init__(
        self, script: Iterable[Step] = (), *, api_key: str | None = None, model: str = "fake-chat"
    ) -> None:
        super().__init__(api_key)
        self.model = model
        self._script: deque[Step] = deque(script)
        self._script_lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def add(self, *steps: Step) -> None:
        with self._script_lock:
            self._script.extend(steps)

    @property
    def remaining(self) -> int:
        with self._script_lock:
            return len(self._script)

    def responses_requests(self) -> list[dict[str, Any]]:
        """The bodies of the Responses API requests received, in order."""
        return [
            r.body
            for r in self.received()
            if r.path.endswith("/responses") and isinstance(r.body, dict)
        ]

    def chat_requests(self) -> list[dict[str, Any]]:
        """The bodies of the chat-completion requests received, in order."""
        return [
            r.body
            for r in self.received()
            if r.path.endswith("/chat/completions") and isinstance(r.body, dict)
        ]

    def error_body(self, status: int, message: str | None) -> Any:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {
            "error": {
                "message": message or f"HTTP {status}",
                "type": kind,
                "param": None,
                "code": None,
            }
        }

    def handle(self, request: Recorded) -> Reply:
        responses = request.path.endswith("/responses")
        if request.method != "POST" or not (
            responses or request.path.endswith("/chat/completions")
        ):
            return self.error(404, f"Invalid URL ({request.method} {request.path})")
        field = "input" if responses else "messages"
        if not isinstance(request.body.get(field), list) or not request.body[field]:
            return self.error(400, f"'{field}' must be a non-empty array")
        with self._script_lock:
            step = self._script.popleft() if self._script else None
        if step is None:
            return self.error(400, "FakeOpenAIChat: the script has no step left for this request")
        if callable(step):
            step = step(request)
        if isinstance(step, Error):
            return self.error(step.status, step.message)
        answer = (self._response if responses else self._completion)(request.body, step)
        return 200, {"x-request-id": f"req_{next(self._ids)}"}, answer

    def _response(self, body: dict[str, Any], step: Text | ToolCalls) -> dict[str, Any]:
        """A Responses API ``response`` object: one message, or one function call per tool call."""
        output: list[dict[str, Any]]
        if isinstance(step, Text):
            text_part = {"type": "output_text", "text": step.content, "annotations": []}
            output = [
                {
                    "type": "message",
                    "id": f"msg_{next(self._ids)}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [text_part],
                }
            ]
        else:
            output = [
                {
                    "type": "function_call",
                    "id": f"fc_{next(self._ids)}",
                    "call_id": f"call_{next(self._ids)}",
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                    "status": "completed",
                }
                for name, args in step.calls
            ]
        prompt = count_tokens(json.dumps(body.get("input")))
        completion = count_tokens(json.dumps(output))
        return {
            "id": f"resp_{next(self._ids)}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": body.get("model") or self.model,
            "output": output,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "metadata": {},
            "parallel_tool_calls": True,
            "temperature": body.get("temperature"),
            "top_p": None,
            "tool_choice": body.get("tool_choice") or "auto",
            "tools": body.get("tools") or [],
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + completion,
            },
        }

    def _completion(self, body: dict[str, Any], step: Text | ToolCalls) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if isinstance(step, Text):
            message["content"] = step.content
            finish = "stop"
        else:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": args if isinstance(args, str) else json.dumps(args),
                    },
                }
                for name, args in step.calls
            ]
            finish = "tool_calls"
        prompt = sum(count_tokens(json.dumps(m.get("content") or "")) for m in body["messages"])
        completion = count_tokens(json.dumps(message))
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            "system_fingerprint": None,
        }


__all__ = [
    "Error",
    "FakeOpenAIChat",
    "Text",
    "ToolCalls",
    "error",
    "text",
    "tool_call",
    "tool_calls",
]
