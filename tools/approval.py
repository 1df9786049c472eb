"""Tool approval: each tool runs, is asked about first, or is not offered (`allow`, `ask`, `deny`).

Built-in tools default to `allow`, MCP tools to their server's `approval` (itself `ask` by
default); `tools.approval.NAME` in the configuration overrides either. A tool under `ask` is
wrapped so that each call first goes to the `Asker` (the chat shows the tool and its arguments
and waits for yes / no / always). "always" approves that tool for the rest of the session.
Without someone to ask (no terminal), the call is refused unless `assume_yes` (`--yes`). A
refused call is returned to the model as an observation, like any tool failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.tools import BaseTool

from agent_app.tools.settings import Approval

Answer = Literal["yes", "no", "always"]
Asker = Callable[[str, Any], Answer]
"""Asks the user about one call: (tool name, arguments) -> yes, no or always."""

REFUSED = "{tool} refused: {why}"


ANSWERS: tuple[Answer, ...] = ("yes", "no", "always")
QUESTION = "run it? [y]es / [n]o / [a]lways for this session"


def read_answer(reply: str) -> Answer | None:
    """What a typed reply means ("y", "No", "a", ...), or None for anything else."""
    reply = reply.strip().lower()
    return next((answer for answer in ANSWERS if reply and answer.startswith(reply)), None)


class ApprovalGate:
    """The session's approval decisions: policies, plus the tools approved with "always"."""

    def __init__(
        self,
        policies: dict[str, Approval],
        *,
        ask: Asker | None = None,
        assume_yes: bool = False,
    ) -> None:
        self.policies = policies
        self.ask = ask
        """Set by the chat when a person is there to answer; None refuses `ask` calls."""
        self.assume_yes = assume_yes
        self.always: set[str] = set()

    def policy(self, tool: str, default: Approval = "allow") -> Approval:
        return self.policies.get(tool, default)

    def check(self, tool: str, arguments: Any) -> str | None:
        """None when the call may run, else the observation that refuses it."""
        if self.assume_yes or tool in self.always:
            return None
        if self.ask is None:
            return REFUSED.format(
                tool=tool, why="it needs approval, and there is no terminal to ask on (run with --yes to allow)"
            )
        answer = self.ask(tool, arguments)
        if answer == "always":
            self.always.add(tool)
        if answer in ("yes", "always"):
            return None
        return REFUSED.format(tool=tool, why="the user did not allow this call")

    def apply(self, tools: Sequence[BaseTool], defaults: Callable[[str], Approval | None]) -> list[BaseTool]:
        """`tools` as the agent gets them: `deny` left out, `ask` wrapped, `allow` unchanged.
        `defaults(name)` is a tool's default policy (an MCP server's), None for built-ins."""
        kept: list[BaseTool] = []
        for tool in tools:
            policy = self.policy(tool.name, defaults(tool.name) or "allow")
            if policy == "allow":
                kept.append(tool)
            elif policy == "ask":
                kept.append(GuardedTool(tool, self))
        return kept


class GuardedTool(BaseTool):
    """A tool that asks the gate before each call; same name, description and arguments."""

    inner: BaseTool
    gate: Any

    def __init__(self, inner: BaseTool, gate: ApprovalGate) -> None:
        super().__init__(
            name=inner.name,
            description=inner.description,
            args_schema=inner.args_schema,
            metadata=inner.metadata,
            inner=inner,
            gate=gate,
        )

    def _parse_input(self, tool_input: str | dict, tool_call_id: str | None) -> str | dict[str, Any]:
        return self.inner._parse_input(tool_input, tool_call_id)

    def _run(self, *args: Any, run_manager: Any = None, **kwargs: Any) -> Any:
        arguments: Any = kwargs if kwargs or not args else args[0]
        refusal = self.gate.check(self.name, arguments)
        if refusal is not None:
            return refusal
        return self.inner.invoke(arguments)


def describe_call(tool: str, arguments: Any) -> str:
    """`tool(arguments)` as a person reads it: `shout("hi")` for one argument, JSON for
    several, `tool()` for none."""
    if isinstance(arguments, dict) and len(arguments) == 1:
        (arguments,) = arguments.values()
    elif arguments == {}:
        return f"{tool}()"
    return f"{tool}({json.dumps(arguments, ensure_ascii=False)})"
