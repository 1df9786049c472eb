"""Final answers that stay true to what the tools returned.

A 135M model, handed "weather unavailable: cannot reach ...", still writes "In Paris the weather
is 11.11"; handed "391", it may write "23 + 17 = 30". The deterministic parts must carry the
answer, so after every agent run with tool calls the answer is checked against the steps:

- every tool call failed: the answer says what could not be done and why, in words, with no
  number the observations do not hold ("I couldn't get the weather for Paris: ...");
- a tool returned numbers and the answer holds none of them, or holds numbers that appear in
  neither the question nor an observation: the answer is taken from the observation itself,
  with the tool named.

Answers to runs without tool calls, and answers that carry the observation's facts, pass
unchanged. The check is by rule, not by another model call, so it costs nothing and cannot be
talked out of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tools.failure import is_failure

NUMERIC_TOOLS = frozenset({"calculator", "weather"})
"""Tools whose numbers are the answer; in search results and documents numbers are incidental."""
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")
_TASKS = {
    "weather": "get the weather for {input}",
    "web_search": "search the web for “{input}”",
    "calculator": "calculate {input}",
    "knowledge_base": "search your documents for “{input}”",
}
_SOURCES = {
    "weather": "The weather service reports: {observation}",
    "web_search": "The web search found: {observation}",
    "calculator": "The result is {observation}.",
    "knowledge_base": "Your documents say: {observation}",
}


@dataclass(frozen=True)
class Step:
    """What the check needs of one agent step."""

    tool: str
    input: str
    observation: str
    error: bool


def ground_answer(question: str, answer: str, steps: Sequence[Step]) -> tuple[str, str | None]:
    """The answer to give, and why it was replaced (`"tool failed"`, `"unsupported"`) or None."""
    calls = [s for s in steps if s.tool in _TASKS or is_failure(s.observation) or not s.error]
    if not calls:
        return answer, None
    succeeded = [s for s in calls if not s.error]
    if not succeeded:
        failed = calls[-1]
        return failure_sentence(failed), "tool failed"
    seen = _numbers(question) | {n for s in succeeded for n in _numbers(s.observation)}
    said = _numbers(answer)
    # Where the number is the fact (a result, a temperature), the answer must carry one of them.
    evidence = [s for s in succeeded if s.tool in NUMERIC_TOOLS and _numbers(s.observation)]
    missing = bool(evidence) and not said & {n for s in evidence for n in _numbers(s.observation)}
    if not missing and not said - seen:
        return answer, None
    return source_sentence((evidence or succeeded)[-1]), "unsupported"


def failure_sentence(step: Step) -> str:
    """ "I couldn't <task>: <reason>." from a failed step."""
    task = _TASKS.get(step.tool, "use " + (step.tool or "the tool")).format(input=step.input.strip() or "that")
    reason = step.observation.split(":", 1)[1].strip() if ":" in step.observation else step.observation
    reason = reason.rstrip(".") or "it failed"
    return f"I couldn't {task}: {reason}."


def source_sentence(step: Step) -> str:
    """The observation itself, with the tool named."""
    observation = " ".join(step.observation.split())
    if step.tool == "web_search":
        observation = step.observation.strip().split("\n\n")[0]  # the first result
    template = _SOURCES.get(step.tool, step.tool + " returned: {observation}")
    return template.format(observation=observation.rstrip("."))


def _numbers(text: str) -> set[str]:
    return {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
