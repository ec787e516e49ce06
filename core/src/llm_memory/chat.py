"""The chat flow: retrieve → run the agent → validate and persist, only after a successful run.

>>> service = ChatService(manager, demo_model())     # or ChatService(manager): AGENT_MODEL
>>> reply = service.chat("I like green tea", user_id="ada", session_id="s1")
>>> reply.response, reply.memories_created, [m.content for m in reply.created]

One message is one transaction as far as the store allows: the agent's tools only change a
:class:`MemoryState`; after the run, accepted proposals and the exchange itself (two episodic
memories, see :mod:`llm_memory.agent.history`) go to the store in one ``write_memories``
call, then the proposed forgets are applied. A run that fails writes nothing. Afterwards,
older turns of a long session are compressed into a summary by ``manager.summarizer``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from llm_memory.agent.history import DEFAULT_SESSION, ConversationLog, Window, is_chat_history
from llm_memory.agent.policy import corrections, vet
from llm_memory.errors import LLMMemoryError, ValidationFailed
from llm_memory.models import Content, MemoryItem, MemoryState, ScoredMemory, UserId, utcnow
from llm_memory.settings import validation_problems

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from llm_memory.agent.core import MemoryAgent
    from llm_memory.manager import MemoryManager

log = logging.getLogger("llm_memory.chat")
Observer = Callable[[str, float], None]


class ChatFailed(LLMMemoryError):
    """The agent run failed; nothing was written."""


class ChatRequest(BaseModel):
    """One user message. ``session_id`` defaults to ``"default"``."""

    model_config = ConfigDict(extra="forbid")

    user_input: Content
    user_id: UserId
    session_id: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")


class ChatResponse(BaseModel):
    """The reply, and what memory did.

    ``memories_created`` / ``memories_retrieved`` / ``memories_forgotten`` are counts (the
    seed's contract: ``{"response": ..., "memories_created": 1, "memories_retrieved": 0}``);
    the records themselves are under ``created``, ``retrieved`` (with scores) and ``forgotten``
    (ids). The counts are derived from the lists, so they always agree.
    """

    response: str
    user_id: str
    session_id: str
    created: list[MemoryItem] = Field(
        default_factory=list, description="Memories the agent proposed and the store accepted."
    )
    retrieved: list[ScoredMemory] = Field(
        default_factory=list, description="Memories retrieved for this message, with scores."
    )
    forgotten: list[str] = Field(default_factory=list, description="Ids of forgotten memories.")
    proposals_refused: list[str] = Field(
        default_factory=list,
        description="Why proposed memories were not stored (secrets, invalid).",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def memories_created(self) -> int:
        """How many memories this message created (``len(created)``)."""
        return len(self.created)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def memories_retrieved(self) -> int:
        """How many memories were retrieved for this message (``len(retrieved)``)."""
        return len(self.retrieved)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def memories_forgotten(self) -> int:
        """How many memories this message forgot (``len(forgotten)``)."""
        return len(self.forgotten)


@dataclass
class _Turn:
    request: ChatRequest
    session_id: str
    state: MemoryState
    window: Window
    started: float


class ChatService:
    """Chat with memory for many users: one instance per manager.

    Use :meth:`achat` in an event loop (the HTTP API does), :meth:`chat` from synchronous
    code; the model's HTTP client belongs to the loop it first ran on, so do not call
    :meth:`chat` from several threads at once.

    ``agent`` is a memory agent (:func:`llm_memory.agent.build_agent`), a PydanticAI model or
    model string (an agent is built around it; ``"demo"`` is the offline demo model), or None:
    the model configured in ``manager.settings`` (``AGENT_MODEL``…, ``demo`` included),
    resolved at the first message.
    ``observe(name, seconds)`` receives the latency of ``retrieve`` and ``chat``.
    """

    def __init__(
        self,
        manager: MemoryManager,
        agent: MemoryAgent | Model | str | None = None,
        *,
        observe: Observer | None = None,
    ) -> None:
        from pydantic_ai import Agent

        from llm_memory.agent.core import build_agent

        self.manager = manager
        self.log = ConversationLog(manager)
        self.observe = observe or (lambda name, seconds: None)
        if agent is None:
            from llm_memory.agent.model import check_agent_model

            check_agent_model(manager.settings)  # AGENT_MODEL=test: refused now, in one line
            self._agent = None
        elif isinstance(agent, Agent):
            self._agent = agent
        elif agent == "demo":
            from llm_memory.agent.demo import demo_model

            self._agent = build_agent(demo_model())
        else:
            self._agent = build_agent(agent, temperature=manager.settings.agent_temperature)

    @property
    def agent(self) -> MemoryAgent:
        if self._agent is None:
            from llm_memory.agent.core import agent_from_settings

            self._agent = agent_from_settings(self.manager.settings)
        return self._agent

    # -- the flow ----------------------------------------------------------------------------
    def chat(self, user_input: str, user_id: str, session_id: str | None = None) -> ChatResponse:
        """Answer one message (blocking). Raises :class:`ChatFailed` if the run fails."""
        agent = self.agent
        turn = self._begin(user_input, user_id, session_id)
        try:
            result = agent.run_sync(
                turn.request.user_input, deps=turn.state, message_history=turn.window.messages()
            )
        except Exception as exc:
            raise _failed(exc) from exc
        response = self._commit(turn, result.output, result.run_id)
        try:
            self.log.compress(response.user_id, response.session_id)
        except Exception as exc:  # the exchange is stored; compress again next time
            log.warning("summarizing session %s failed: %s", response.session_id, exc)
        return response

    async def achat(
        self, user_input: str, user_id: str, session_id: str | None = None
    ) -> ChatResponse:
        """:meth:`chat` for the event loop: storage calls run in worker threads."""
        from anyio import to_thread

        agent = self.agent
        turn = await to_thread.run_sync(self._begin, user_input, user_id, session_id)
        try:
            result = await agent.run(
                turn.request.user_input, deps=turn.state, message_history=turn.window.messages()
            )
        except Exception as exc:
            raise _failed(exc) from exc
        response = await to_thread.run_sync(self._commit, turn, result.output, result.run_id)
        try:
            await self.log.acompress(response.user_id, response.session_id)
        except Exception as exc:
            log.warning("summarizing session %s failed: %s", response.session_id, exc)
        return response

    def _begin(self, user_input: str, user_id: str, session_id: str | None) -> _Turn:
        started = time.perf_counter()
        try:
            request = ChatRequest(user_input=user_input, user_id=user_id, session_id=session_id)
        except ValidationError as exc:
            raise ValidationFailed(f"Invalid chat message: {validation_problems(exc)}") from exc
        session = request.session_id or DEFAULT_SESSION
        window = self.log.window(request.user_id, session)
        limit = self.manager.settings.max_active_memories
        t0 = time.perf_counter()
        retrieved = self.manager.retrieve(
            request.user_input, request.user_id, limit=min(1000, limit + len(window.turns) + 1)
        )
        self.observe("retrieve", time.perf_counter() - t0)
        ids = window.ids()
        active = [m for m in retrieved if not is_chat_history(m.memory, session, ids)][:limit]
        state = MemoryState(
            user_id=request.user_id,
            session_id=session,
            query=request.user_input,
            active=active,
            history=window.as_state_history(),
        )
        return _Turn(request, session, state, window, started)

    def _commit(self, turn: _Turn, output: str, run_id: str | None = None) -> ChatResponse:
        state = turn.state
        actor = f"agent:{run_id}" if run_id else "agent"
        accepted, refused = vet(state.proposed)
        proposals: list[dict[str, Any]] = [
            {
                "content": u.content,
                "type": u.type,
                "importance": u.importance,
                "user_id": state.user_id,
                "session_id": turn.session_id,
                "metadata": {"source": "agent"},
            }
            for u in accepted
        ]
        exchange = ConversationLog.turn_items(
            state.user_id, turn.session_id, turn.request.user_input, output, utcnow()
        )
        # One call: proposals and the exchange are validated and embedded together, all or nothing.
        written = self.manager.write_memories(proposals + exchange, actor=actor)
        # A forget paired with a correction in the same run is one supersession: the old
        # value stays in the history of the memory that replaced it.
        successor = corrections(state.active, state.forget, written[: len(proposals)])
        forgotten = [
            mid
            for mid in state.forget
            if self.manager.forget(
                mid, state.user_id, actor=actor, superseded_by=successor.get(mid)
            )
        ]
        self.observe("chat", time.perf_counter() - turn.started)
        if refused:
            log.info("refused %d proposed memories for user %s", len(refused), state.user_id)
        return ChatResponse(
            response=output,
            user_id=state.user_id,
            session_id=turn.session_id,
            created=written[: len(proposals)],
            retrieved=state.active,
            forgotten=forgotten,
            proposals_refused=refused,
        )


def _failed(exc: Exception) -> LLMMemoryError:
    if isinstance(exc, LLMMemoryError):  # ConfigError included: say what to set, as is
        return exc
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
    return ChatFailed(f"The agent run failed, nothing was saved: {detail}")
