"""Reasoning kinds: `chain-of-thought` (one answer, reasoning shown or hidden) and
`self-consistency` (several sampled answers, majority vote)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from agent_app.chains.context import ChainContext
from agent_app.chains.result import ChainResult
from agent_app.templates.schema import ChainOfThoughtChain, SelfConsistencyChain

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def split_answer(text: str, marker: str) -> tuple[str, str]:
    """(reasoning, final answer): the answer is the line after the last `marker`.

    Without the marker the last non-empty line counts as the answer. Only the first line after
    the marker is kept, because small models often go on with a new question.
    """
    at = text.lower().rfind(marker.lower())
    if at == -1:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        if not lines:
            return "", ""
        return "\n".join(lines[:-1]).strip(), lines[-1].strip()
    after = text[at + len(marker) :].strip()
    return text[:at].strip(), (after.splitlines()[0].strip() if after else "")


def normalise_answer(answer: str, extract: str) -> str:
    """The form answers are compared in: the first number, or lower-case text without end punctuation."""
    if extract == "number":
        match = _NUMBER.search(answer)
        if match is None:
            return ""
        number = float(match.group().replace(",", ""))
        return str(int(number)) if number.is_integer() else str(number)
    return answer.strip().rstrip(".。!！").strip().lower()


def build_chain_of_thought(ctx: ChainContext) -> Runnable:
    spec: ChainOfThoughtChain = ctx.options

    def run(values: dict[str, Any], config: RunnableConfig) -> ChainResult:
        variables = ctx.prompt.variables(values)
        reply = ctx.call(ctx.prompt.render(variables), config)
        reasoning, answer = split_answer(reply, spec.answer_marker)
        shown = reply.strip() if spec.show_reasoning else answer
        return ctx.finish(shown, parse=answer, answer=answer, reasoning=reasoning, raw=reply)

    return RunnableLambda(run, name="chain-of-thought")


def build_self_consistency(ctx: ChainContext) -> Runnable:
    spec: SelfConsistencyChain = ctx.options

    def run(values: dict[str, Any], config: RunnableConfig) -> ChainResult:
        variables = ctx.prompt.variables(values)
        prompt = ctx.prompt.render(variables)
        samples: list[str] = []
        answers: list[str] = []
        for i in range(spec.samples):
            ctx.progress(config, f"sample {i + 1}/{spec.samples}")
            overrides: dict[str, Any] = {"temperature": spec.temperature}
            if ctx.params.seed is not None:
                overrides["seed"] = ctx.params.seed + i  # one seed for all would repeat one sample
            reply = ctx.call(prompt, config, **overrides)
            samples.append(reply)
            answers.append(normalise_answer(split_answer(reply, spec.answer_marker)[1], spec.extract))
        # most_common keeps first-seen order among equal counts, so ties go to the earliest answer
        votes = dict(Counter(a for a in answers if a).most_common())
        winner = next(iter(votes), "")
        text = winner or f"(no answer found in {spec.samples} samples)"
        if spec.show_votes:
            text += "\n" + describe_votes(votes, spec.samples)
        return ctx.finish(text, parse=winner, answer=winner or None, votes=votes, samples=samples)

    return RunnableLambda(run, name="self-consistency")


def describe_votes(votes: dict[str, int], samples: int) -> str:
    """One line such as `(votes: 11 ×3, 12 ×1; 1 without an answer; 5 samples)`."""
    counted = ", ".join(f"{answer} ×{n}" for answer, n in votes.items()) or "none"
    missing = samples - sum(votes.values())
    extra = f"; {missing} without an answer" if missing else ""
    return f"(votes: {counted}{extra}; {samples} samples)"
