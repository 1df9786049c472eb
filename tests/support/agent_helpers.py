"""Helpers for the agent tests: running an agent and looking at its events."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from agent_app.agent import FinalAnswerToken, Finished


def run(agent: Any, question: str, **kwargs: Any) -> tuple[list[Any], Any]:
    """All events of one run, and its result; checks the answer-token invariant on the way."""
    events = list(agent.stream(question, **kwargs))
    assert isinstance(events[-1], Finished)
    result = events[-1].result
    streamed = "".join(e.text for e in events if isinstance(e, FinalAnswerToken))
    assert streamed == result.answer, "the streamed answer tokens add up to the answer"
    return events, result


def kinds(events: list[Any]) -> list[str]:
    """Event class names without token events (those depend on chunking)."""
    return [type(e).__name__ for e in events if "Token" not in type(e).__name__]


class Recorder(BaseCallbackHandler):
    """Records callback events by kind."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_chain_start(self, serialized, inputs, **kwargs: Any) -> None:
        self.events.append(("chain_start", kwargs.get("name")))

    def on_chain_end(self, outputs, **kwargs: Any) -> None:
        self.events.append(("chain_end", outputs))

    def on_tool_start(self, serialized, input_str, **kwargs: Any) -> None:
        self.events.append(("tool_start", (serialized or {}).get("name"), input_str))

    def on_tool_end(self, output, **kwargs: Any) -> None:
        self.events.append(("tool_end", str(getattr(output, "content", output))))

    def on_tool_error(self, error, **kwargs: Any) -> None:
        self.events.append(("tool_error", str(error)))

    def on_chat_model_start(self, serialized, messages, **kwargs: Any) -> None:
        self.events.append(("model_start", None))

    def on_llm_start(self, serialized, prompts, **kwargs: Any) -> None:
        self.events.append(("llm_start", None))

    def named(self, kind: str) -> list[tuple]:
        return [e for e in self.events if e[0] == kind]
