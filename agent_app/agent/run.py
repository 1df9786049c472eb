"""An agent run: the events it reports, its result, the `Agent` protocol and the base class
that turns an event generator into `invoke` / `stream` inside one LangChain run.

`Agent.stream()` yields these events in order; the concatenated `FinalAnswerToken` texts always
equal `Finished.result.answer`, so a consumer may print answer tokens and ignore the rest. The
run is one `agent` chain run for the callbacks, with the model and tool calls nested under it
(what the JSONL log and the live event printer show).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from agent_app.agent import rules
from agent_app.tool_profile import ToolProfile

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig


@dataclass(frozen=True)
class AgentStep:
    """One tool use: what was called with what, and what came back."""

    tool: str
    input: str
    observation: str
    error: bool = False
    """True when the step failed (unknown tool, bad format, tool error): the model was told why."""

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "input": self.input, "observation": self.observation, "error": self.error}


@dataclass(frozen=True)
class AgentResult:
    """The outcome of one question."""

    answer: str
    steps: list[AgentStep] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = "react"
    forced: bool = False
    """True when the step limit was reached and the answer was forced from what was known."""
    injection_blocked: bool = False
    """True when text injected through a tool result was removed from the answer."""
    answer_replaced: str | None = None
    """Why the model's answer was replaced by what the tools said ("tool failed", "unsupported")."""

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for `ask --agent --json`)."""
        return {
            "answer": self.answer,
            "steps": [s.as_dict() for s in self.steps],
            "n_steps": self.n_steps,
            "seconds": round(self.seconds, 3),
            "mode": self.mode,
            "forced": self.forced,
            "injection_blocked": self.injection_blocked,
            "answer_replaced": self.answer_replaced,
        }


@dataclass(frozen=True)
class StepStarted:
    """A new reasoning step begins (1-based)."""

    index: int


@dataclass(frozen=True)
class ThoughtToken:
    """A piece of the model's reasoning text (show it dimmed)."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The agent is about to run `tool` with `input`."""

    tool: str
    input: str
    index: int


@dataclass(frozen=True)
class Observation:
    """What came back from the tool (or why the step failed)."""

    text: str
    tool: str
    index: int
    error: bool = False


@dataclass(frozen=True)
class FinalAnswerToken:
    """A piece of the final answer, streamed as it is generated."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The run is over."""

    result: AgentResult


AgentEvent = StepStarted | ThoughtToken | ToolCall | Observation | FinalAnswerToken | Finished


class Agent(Protocol):
    mode: str
    """'react', 'react-constrained' or 'native'."""

    def stream(
        self, input: str, history: Sequence[BaseMessage] = (), *, config: RunnableConfig | None = None
    ) -> Iterator[AgentEvent]:
        """Events as the run goes; the last one is `Finished(result)`."""
        ...

    def invoke(
        self, input: str, history: Sequence[BaseMessage] = (), config: RunnableConfig | None = None
    ) -> AgentResult:
        """Run to the end and return the result."""
        ...


@dataclass
class AgentRun:
    config: RunnableConfig
    """The config to pass to model and tool calls (children of the agent run)."""
    result: AgentResult | None = None


@contextmanager
def agent_run(config: RunnableConfig | None, question: str, mode: str) -> Iterator[AgentRun]:
    """Open an `agent` chain run; end it with the result, or with the error that stopped it."""
    from langchain_core.callbacks import CallbackManager
    from langchain_core.runnables.config import ensure_config, patch_config

    config = ensure_config(config)
    manager = CallbackManager.configure(
        config.get("callbacks"),
        inheritable_tags=config.get("tags"),
        inheritable_metadata={**config.get("metadata", {}), "agent_mode": mode},
    )
    run_manager = manager.on_chain_start({"name": "agent"}, {"input": question}, name=config.get("run_name") or "agent")
    run = AgentRun(patch_config(config, callbacks=run_manager.get_child()))
    try:
        yield run
    except BaseException as exc:  # includes a consumer closing the stream early
        run_manager.on_chain_error(exc)
        raise
    result = run.result
    run_manager.on_chain_end({"output": result.answer if result else "", "steps": result.n_steps if result else 0})


def result_of(events: Iterable[AgentEvent]) -> AgentResult:
    """Drain an event stream and return its `AgentResult`."""
    result: Any = None
    for event in events:
        if isinstance(event, Finished):
            result = event.result
    if result is None:
        raise RuntimeError("the agent stopped without a result")
    return result


def _checked(
    run: Generator[AgentEvent, None, AgentResult], question: str, profiles: Mapping[str, ToolProfile]
) -> Generator[AgentEvent, None, AgentResult]:
    """Pass the run's events through, but once a tool has been called, hold the final answer
    back until it is checked against the steps: text injected through a tool result is removed
    (`injection.guard_answer`), and an answer that ignores or contradicts the tool results is
    replaced by what the tools said (`grounding.ground_answer`). Runs without tool calls stream
    their answer untouched."""
    from agent_app.agent.checks import ground_answer, guard_answer

    observations: list[str] = []
    held: list[str] = []
    while True:
        try:
            event = next(run)
        except StopIteration as stop:
            result: AgentResult = stop.value
            break
        if isinstance(event, Observation):
            observations.append(event.text)
        if observations and isinstance(event, FinalAnswerToken):
            held.append(event.text)
            continue
        yield event
    if not observations:
        return result
    answer, blocked = guard_answer(result.answer, observations)
    replaced = None
    if rules.on("grounded_answer"):
        answer, replaced = ground_answer(question, answer, result.steps, profiles)
    # Tokens streamed before the first observation were already shown; the answer itself only
    # starts after the last observation, so all of it was held.
    text = answer if (blocked or replaced) else "".join(held)
    if text:
        yield FinalAnswerToken(text)
    if not (blocked or replaced):
        return result
    return replace(result, answer=answer, injection_blocked=blocked, answer_replaced=replaced)


class EventAgent:
    """`invoke` and `stream` for an agent that implements `_run` as an event generator: the
    run is wrapped in one `agent` chain run for the callbacks and ends with `Finished`."""

    mode: str
    profiles: Mapping[str, ToolProfile] = {}
    """What each tool said of itself (agent_app.tool_profile): the answer is checked by it."""

    def invoke(
        self, input: str, history: Sequence[BaseMessage] = (), config: RunnableConfig | None = None
    ) -> AgentResult:
        """Run to the end; the result holds the answer and every step."""
        return result_of(self.stream(input, history, config=config))

    def stream(
        self, input: str, history: Sequence[BaseMessage] = (), *, config: RunnableConfig | None = None
    ) -> Iterator[AgentEvent]:
        """Run, yielding step events live, answer tokens as they are written, then `Finished`."""
        with agent_run(config, input, self.mode) as run:
            result = yield from _checked(self._run(input, history, run.config), input, self.profiles)
            run.result = result
        yield Finished(result)

    def _run(
        self, question: str, history: Sequence[BaseMessage], config: RunnableConfig
    ) -> Generator[AgentEvent, None, AgentResult]:
        raise NotImplementedError
