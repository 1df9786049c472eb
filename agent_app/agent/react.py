"""The ReAct loop: decide, act, observe, until a final answer or the step limit.

Forgiving like smolagents: an unreadable reply, an unknown tool or a failing tool becomes an
observation the model reads at the next step; only programming errors propagate. When the step
limit is reached, or the model repeats a call it already made, the model is asked for its best
final answer from what it has observed.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from agent_app.agent.parsing import Decision, match_tool
from agent_app.agent.policies import LocalPolicy, RunState, TextPolicy
from agent_app.agent.prompting import ReActPrompt, Turn
from agent_app.agent.routing import ExampleRouter
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
from agent_app.tool_profile import profiles as tool_profiles

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool


class ReActAgent(EventAgent):
    """A ReAct agent over any model; see `build_agent`."""

    def __init__(
        self,
        policy: TextPolicy | LocalPolicy,
        prompt: ReActPrompt,
        tools: Sequence[BaseTool],
        router: ExampleRouter,
        settings: AgentSettings,
    ) -> None:
        self.policy, self.prompt, self.router, self.settings = policy, prompt, router, settings
        self.tools = {t.name: t for t in tools}
        self.profiles = tool_profiles(tools)
        self.mode = "react-constrained" if isinstance(policy, LocalPolicy) else "react"
        self.last_decisions: list[Decision] = []
        """The decisions of the latest run (diagnostics: the benchmark reads the scores)."""

    def _run(
        self, question: str, history: Sequence[BaseMessage], config: RunnableConfig
    ) -> Generator[AgentEvent, None, AgentResult]:
        started = time.monotonic()
        sims = self.router.similarities(question) if self.router.enabled else None
        examples = self.router.select(question, self.settings.examples, sims)
        prior = self.router.prior(question, [*self.prompt.tool_names, "none"], sims) if sims else None
        state = RunState(question, list(history), examples, prior, config)
        steps: list[AgentStep] = []
        calls: set[tuple[str, str]] = set()
        self.last_decisions = []
        for index in range(1, self.settings.max_steps + 1):
            yield StepStarted(index)
            decision = yield from self.policy.next_step(state)
            self.last_decisions.append(decision)
            if decision.answer is not None:
                return AgentResult(decision.answer, steps, time.monotonic() - started, self.mode)
            tool = match_tool(decision.action, self.prompt.tool_names)
            if tool is not None and (tool, decision.action_input) in calls:
                break  # the model is going round in circles: nothing new will come of it
            if decision.problem is not None:
                observation, error = self.prompt.message("format_error", problem=decision.problem), True
                name = decision.action or ""
            elif tool is None:
                name = decision.action or ""
                observation, error = self.prompt.message("unknown_tool", tool=name), True
            else:
                name = tool
                calls.add((tool, decision.action_input))
                yield ToolCall(tool, decision.action_input, index)
                observation, error = self._run_tool(tool, decision.action_input, config)
            yield Observation(observation, name, index, error)
            steps.append(AgentStep(name, decision.action_input, observation, error))
            state.turns.append(
                Turn(
                    decision.thought,
                    name,
                    decision.action_input,
                    observation,
                    raw=decision.raw if error and decision.problem else "",
                )
            )
        yield StepStarted(len(steps) + 1)
        answer = yield from self.policy.final_answer(state)
        return AgentResult(answer, steps, time.monotonic() - started, self.mode, forced=True)

    def _run_tool(self, name: str, text: str, config: RunnableConfig) -> tuple[str, bool]:
        """Run a tool through LangChain (so callbacks see it); any failure is an observation."""
        tool = self.tools[name]
        try:
            output = tool.invoke(_tool_input(tool, text), config=config)
        except Exception as exc:  # a tool's failure is something for the model to read
            return f"tool error: {type(exc).__name__}: {exc}", True
        from agent_app.tool_profile import is_failure

        observation = output if isinstance(output, str) else str(getattr(output, "content", output))
        limit = self.settings.observation_chars
        if len(observation) > limit:
            observation = observation[: limit - 1].rstrip() + "…"
        return observation, is_failure(observation)


def _tool_input(tool: BaseTool, text: str) -> Any:
    """A JSON object for a several-argument tool, the text itself otherwise."""
    import json

    if text.startswith("{") and len(tool.args) > 1:
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict):
            return data
    return text
