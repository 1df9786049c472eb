"""What an agent run reports while it works, and what it returns.

`Agent.stream()` yields these events in order; the concatenated `FinalAnswerToken` texts always
equal `Finished.result.answer`, so a consumer may print answer tokens and ignore the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for `ask --agent --json`)."""
        return {"answer": self.answer, "steps": [s.as_dict() for s in self.steps], "n_steps": self.n_steps,
                "seconds": round(self.seconds, 3), "mode": self.mode, "forced": self.forced,
                "injection_blocked": self.injection_blocked}


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
