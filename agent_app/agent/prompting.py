"""Rendering the ReAct template: the instructions, worked examples, history and the scratchpad.

Three shapes of the same transcript, one per kind of backend:
- `chat_messages(split=True)`: for any chat model; each model turn ends before an observation,
  which comes back as the next user message ("Observation: ...");
- `chat_messages(split=False)` + `scratchpad()`: for the local model, whose prompt text we render
  ourselves, so its own turn can be continued (and constrained) after every observation;
- `completion_text()`: one plain prompt for completion models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_app.agent.checks import quote_observation
from agent_app.agent.template import NO_TOOL, Example, ReActTemplate
from agent_app.tool_profile import profiles as tool_profiles

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.tools import BaseTool


@dataclass(frozen=True)
class Turn:
    """One finished step of the current question, as the model will see it again."""

    thought: str
    action: str
    action_input: str
    observation: str
    raw: str = ""
    """The model's reply as written, when it could not be read (shown back verbatim)."""


class ReActPrompt:
    """The template filled in for a set of tools."""

    def __init__(self, template: ReActTemplate, tools: Sequence[BaseTool], *, thoughts: bool) -> None:
        self.template = template
        self.markers = template.markers
        self.thoughts = thoughts
        self.tool_names = [t.name for t in tools]
        self.tool_profiles = tool_profiles(tools)
        """What each tool said of itself (agent_app.tool_profile)."""
        tool_lines = "\n".join(f"- {t.name}: {t.description}" for t in tools) or "(none)"
        self.system = template.system.replace("{tools}", tool_lines).replace("{tool_names}", ", ".join(self.tool_names))
        self.examples = template.examples_for(self.tool_names)

    # -- pieces -------------------------------------------------------------------------------
    def step_text(self, thought: str, action: str, action_input: str) -> str:
        m = self.markers
        head = f"{m.thought} {thought}\n" if self.thoughts and thought else ""
        return f"{head}{m.action} {action}\n{m.action_input} {action_input}\n"

    def observation_text(self, observation: str) -> str:
        # Tool output is data: delimited, with its own markers defused (see agent.checks).
        return f"{self.markers.observation} {quote_observation(observation)}\n"

    def final_text(self, thought: str, answer: str) -> str:
        head = f"{self.markers.thought} {thought}\n" if self.thoughts and thought else ""
        return f"{head}{self.markers.final_answer} {answer}"

    def question_text(self, question: str) -> str:
        return f"{self.markers.question} {question}"

    def scratchpad(self, turns: Sequence[Turn]) -> str:
        """The current question's steps so far, as one text (the local model's own turn)."""
        return "".join(self.turn_text(t) + self.observation_text(t.observation) for t in turns)

    def turn_text(self, turn: Turn) -> str:
        if turn.raw:
            return turn.raw.rstrip() + "\n"
        return self.step_text(turn.thought, turn.action, turn.action_input)

    def example_text(self, example: Example) -> str:
        if example.action == NO_TOOL:
            return self.final_text(example.thought, example.answer)
        return (
            self.step_text(example.thought, example.action, example.input)
            + self.observation_text(example.observation)
            + self.final_text("", example.answer)
        )

    def message(self, key: str, **values: str) -> str:
        """One of the template's feedback lines (format_error, unknown_tool, ...), filled in."""
        text = getattr(self.template, key)
        return text.format(tool_names=", ".join(self.tool_names), **values)

    # -- whole prompts ------------------------------------------------------------------------
    def chat_messages(
        self,
        question: str,
        history: Sequence[BaseMessage],
        examples: Sequence[Example],
        turns: Sequence[Turn] = (),
        *,
        split: bool,
    ) -> list[BaseMessage]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        messages: list[BaseMessage] = [SystemMessage(self.system_with_history(history))]
        for example in examples:
            messages.append(HumanMessage(self.question_text(example.question)))
            if split and example.action != NO_TOOL:
                messages += [
                    AIMessage(self.step_text(example.thought, example.action, example.input).rstrip()),
                    HumanMessage(self.observation_text(example.observation).rstrip()),
                    AIMessage(self.final_text("", example.answer)),
                ]
            else:
                messages.append(AIMessage(self.example_text(example)))
        messages.append(HumanMessage(self.question_text(question)))
        if split:
            for t in turns:
                messages += [
                    AIMessage(self.turn_text(t).rstrip()),
                    HumanMessage(self.observation_text(t.observation).rstrip()),
                ]
        return messages

    def system_with_history(self, history: Sequence[BaseMessage]) -> str:
        """The instructions, then earlier turns as a plain conversation transcript.

        Why not as Question/Final Answer pairs after the worked examples: rendered that way, a
        few turns of small talk looked like more examples, of answering without a tool, and the
        small model stopped calling tools mid-conversation (measured in bench/bench_agent.py
        --history: right tool 97% fresh, 88% after three chit-chat turns). As context before
        the examples, the examples stay the pattern closest to the question.
        """
        lines = []
        for message in history:
            if message.type == "human":
                lines.append(f"User: {' '.join(message.text.split())}")
            elif message.type == "ai" and message.text:
                lines.append(f"Assistant: {' '.join(message.text.split())}")
        if not lines:
            return self.system
        transcript = "\n".join(lines)
        return f"{self.system}\n\nThe conversation so far (context only, not examples):\n{transcript}"

    def completion_text(
        self, question: str, history: Sequence[BaseMessage], examples: Sequence[Example], turns: Sequence[Turn] = ()
    ) -> str:
        blocks = [self.system_with_history(history)]
        blocks += [f"{self.question_text(e.question)}\n{self.example_text(e)}" for e in examples]
        blocks.append(f"{self.question_text(question)}\n{self.scratchpad(turns)}")
        return "\n\n".join(blocks)
