"""What the agent must know of a tool, said by the tool itself.

The agent checks a small model's answer against what its tools returned (agent.checks): a
calculator's number must be in the answer, a search result's numbers are incidental, a failed
call is said plainly. Each tool carries a `ToolProfile` in its LangChain metadata (`attach`), so
the agent names no tool and imports no tool module: a new tool describes itself, and a tool
without a profile (an MCP server's) gets the rules for a tool the agent knows nothing about.

How a tool says it failed is one line format for every tool ("<name> unavailable: why",
"calculator error: ..."): `is_failure` recognises it, for the agent and the tools alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ResultKind = Literal["number", "place", "sources", "documents"]

PROFILE_KEY = "agent_profile"

_FAILURE = re.compile(r"^\s*(?:[\w ]{1,40}? (?:unavailable|failed|error|refused)|tool error):", re.IGNORECASE)


def is_failure(observation: str) -> bool:
    """True when a tool's observation reports that the tool could not do its job."""
    return bool(_FAILURE.match(observation))


@dataclass(frozen=True)
class ToolProfile:
    result: ResultKind
    """What the tool returns: `number` (the number is the fact: a calculation), `place` (figures
    about a named place: the weather), `sources` (search results, first one first: their numbers
    and names are incidental), `documents` (passages of the user's files)."""
    task: str
    """What a call does, for "I couldn't <task>: <why>." ({input}: what it was asked)."""
    quote: str
    """How a result is given as the answer when the model's answer is not ({observation})."""
    input_words: str = ""
    """Words an input may hold besides the question's own (the calculator's operators)."""
    subject: Callable[[str], str | None] | None = None
    """The part of an input a failure names (the weather tool: the place, not the whole question)."""
    reads_question: Callable[[str], str | None] | None = None
    """The input this tool reads from a whole question, or None when it cannot read it (the
    calculator reads "What is 14 squared?" as 14**2): then the agent need not copy one."""

    @property
    def numbers_are_facts(self) -> bool:
        """An answer must carry one of the result's numbers."""
        return self.result in ("number", "place")

    def asked(self, tool_input: str) -> str:
        text = tool_input.strip()
        return (self.subject(text) if self.subject else None) or text

    def first_result(self, observation: str) -> str:
        """What of a result to quote: the first of several search results, else all of it."""
        if self.result == "sources":
            return observation.strip().split("\n\n")[0]
        return " ".join(observation.split())


def attach(tool: Any, profile: ToolProfile) -> Any:
    """`tool` with `profile` in its metadata; returns the tool."""
    tool.metadata = {**(tool.metadata or {}), PROFILE_KEY: profile}
    return tool


def profile_of(tool: Any) -> ToolProfile | None:
    profile = (getattr(tool, "metadata", None) or {}).get(PROFILE_KEY)
    return profile if isinstance(profile, ToolProfile) else None


def profiles(tools: Iterable[Any]) -> Mapping[str, ToolProfile]:
    """Tool name -> profile, for the tools that have one."""
    return {tool.name: p for tool in tools if (p := profile_of(tool)) is not None}
