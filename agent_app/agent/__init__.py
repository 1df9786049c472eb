"""The agent: a ReAct loop that works with any model, or native tool calling where supported.

    from agent_app.agent import build_agent, AgentSettings
    agent = build_agent(model, tools, settings=AgentSettings(max_steps=4))
    for event in agent.stream("What is 15% of 80?", history):
        ...                                   # StepStarted, ToolCall, Observation, FinalAnswerToken, ...
    result = agent.invoke("Weather in Paris?")  # AgentResult: answer, steps, n_steps, seconds

Importing this package is light; LangChain and the model stack load when an agent is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_app.agent.run import (
    Agent,
    AgentEvent,
    AgentResult,
    AgentStep,
    FinalAnswerToken,
    Finished,
    Observation,
    StepStarted,
    ThoughtToken,
    ToolCall,
)
from agent_app.agent.settings import AgentMode, AgentSettings

if TYPE_CHECKING:
    from agent_app.agent.factory import build_agent, choose_mode

__all__ = [
    "Agent", "AgentEvent", "AgentMode", "AgentResult", "AgentSettings", "AgentStep", "FinalAnswerToken",
    "Finished", "Observation", "StepStarted", "ThoughtToken", "ToolCall", "build_agent", "choose_mode",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in {"build_agent", "choose_mode"}:
        from agent_app.agent import factory

        return getattr(factory, name)
    raise AttributeError(name)
