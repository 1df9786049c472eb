"""What every agent offers (the ReAct one and the native tool-calling one alike)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

    from agent_app.agent.events import AgentEvent, AgentResult


class Agent(Protocol):
    mode: str
    """'react', 'react-constrained' or 'native'."""

    def stream(self, input: str, history: Sequence[BaseMessage] = (), *,
               config: RunnableConfig | None = None) -> Iterator[AgentEvent]:
        """Events as the run goes; the last one is `Finished(result)`."""
        ...

    def invoke(self, input: str, history: Sequence[BaseMessage] = (),
               config: RunnableConfig | None = None) -> AgentResult:
        """Run to the end and return the result."""
        ...
