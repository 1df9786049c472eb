"""Native tool calling: `langchain.agents.create_agent` for models that return real tool calls.

The graph's stream is translated into the same events as the ReAct loop. The step limit is the
graph's recursion limit (a model call and a tool call per step); when it is hit, or when the
model repeats a call it already made (same tool, same arguments), the model is asked once more,
without tools, for its best answer from the conversation so far.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from agent_app.agent.run import (
    AgentEvent,
    AgentResult,
    AgentStep,
    EventAgent,
    Observation,
    StepStarted,
    ToolCall,
)
from agent_app.agent.settings import AgentSettings
from agent_app.agent.streaming import AnswerEmitter
from agent_app.tool_profile import profiles as tool_profiles

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool

# The tools are named and described by the API's tool list (each tool's own description): the
# prompt names none, so a new tool or an MCP server's needs no edit here.
NATIVE_SYSTEM_PROMPT = (
    "You are a helpful assistant. Use a tool when its description says it does what the question "
    "needs (arithmetic, facts you are not sure of, current data). Answer briefly."
)
FORCED_ANSWER = "No more tool calls are possible. Give your best final answer now from what you know."


class _RepeatedCall(Exception):
    """The model asked for a call it has already made: its answer is in the conversation, and
    a small model that asks once more asks again until the step limit (the bundled model on
    llama.cpp did, in json_schema emulation). Ends the run like the step limit does."""


class NativeAgent(EventAgent):
    """A tool-calling agent built with `create_agent`; same API as `ReActAgent`."""

    mode = "native"

    def __init__(
        self,
        model: BaseChatModel,
        tools: Sequence[BaseTool],
        settings: AgentSettings,
        system_prompt: str | None = NATIVE_SYSTEM_PROMPT,
    ) -> None:
        from langchain.agents import create_agent

        self.model, self.settings = model, settings
        self.profiles = tool_profiles(tools)
        self.graph = create_agent(model, list(tools), system_prompt=system_prompt)
        self.system_prompt = system_prompt

    def _run(
        self, question: str, history: Sequence[BaseMessage], config: RunnableConfig
    ) -> Generator[AgentEvent, None, AgentResult]:
        from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
        from langgraph.errors import GraphRecursionError

        from agent_app.tool_profile import is_failure

        started = time.monotonic()
        messages: list[BaseMessage] = [*history, HumanMessage(question)]
        steps: list[AgentStep] = []
        calls: dict[str, tuple[str, str, int]] = {}  # tool_call_id -> (tool, input, step index)
        made: set[str] = set()  # the calls requested so far (_call_key)
        emitter = AnswerEmitter()
        answer = ""
        # Each step is a model call and a tool call; one more model call writes the answer.
        limit = {**config, "recursion_limit": 2 * self.settings.max_steps + 1}
        yield StepStarted(1)
        try:
            for kind, data in self.graph.stream(  # type: ignore[call-overload]
                {"messages": messages}, config=limit, stream_mode=["messages", "updates"]
            ):
                if kind == "messages":
                    chunk, meta = data
                    if isinstance(chunk, AIMessageChunk) and meta.get("langgraph_node") == "model" and chunk.text:
                        yield from emitter.feed(chunk.text)
                    continue
                for node, update in data.items():
                    for message in (update or {}).get("messages", []) if isinstance(update, dict) else []:
                        messages.append(message)
                        if isinstance(message, AIMessage) and message.tool_calls:
                            if any(_call_key(c) in made for c in message.tool_calls):
                                raise _RepeatedCall
                            made.update(_call_key(c) for c in message.tool_calls)
                            for call in message.tool_calls:
                                index = len(calls) + 1
                                text = _input_text(call["args"])
                                calls[call["id"] or str(index)] = (call["name"], text, index)
                                if index > 1:
                                    yield StepStarted(index)
                                yield ToolCall(call["name"], text, index)
                        elif isinstance(message, AIMessage) and node == "model":
                            answer = message.text
                        elif isinstance(message, ToolMessage):
                            fallback = (message.name or "", "", len(steps) + 1)
                            tool, text, index = calls.get(message.tool_call_id, fallback)
                            error = message.status == "error" or is_failure(message.text)
                            yield Observation(message.text, tool, index, error)
                            steps.append(AgentStep(tool, text, message.text, error))
        except (GraphRecursionError, _RepeatedCall):
            # Drop a last tool request that never got its answer: APIs reject such a history.
            while messages and isinstance(messages[-1], AIMessage) and messages[-1].tool_calls:
                messages.pop()
            yield StepStarted(len(steps) + 1)
            forced = AnswerEmitter()
            request = [*self._system(), *messages, HumanMessage(FORCED_ANSWER)]
            for chunk in self.model.stream(request, config=config):
                yield from forced.feed(chunk.text)
            return AgentResult(forced.text, steps, time.monotonic() - started, self.mode, forced=True)
        if answer and not emitter.text:  # a model that did not stream its answer
            yield from emitter.feed(answer)
        return AgentResult(answer.strip() or emitter.text, steps, time.monotonic() - started, self.mode)

    def _system(self) -> list[BaseMessage]:
        from langchain_core.messages import SystemMessage

        return [SystemMessage(self.system_prompt)] if self.system_prompt else []


def _call_key(call: Any) -> str:
    """What makes two tool calls the same request: the tool and its arguments."""
    return json.dumps([call["name"], call["args"]], sort_keys=True, ensure_ascii=False)


def _input_text(args: Any) -> str:
    """A tool call's arguments as the one-line input shown in steps."""
    if isinstance(args, dict) and len(args) == 1:
        return str(next(iter(args.values())))
    return json.dumps(args, ensure_ascii=False)
