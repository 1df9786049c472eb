"""Every steering rule of the agent on a small local model, in one place, each with a switch.

A 135M model left alone invents tools, writes the answer it imagines instead of a search query,
and states numbers no tool gave. The agent steers it with the rules below. Each says what it is
for and where its value came from; `ablate(name)` switches one off, so `bench/bench_agent.py
--ablate NAME` measures what it is worth. Each one kept pays on the bench's fresh check half (25
questions written for issue 27 before any tuning, services up, q4, 2 threads): README's "The
agent" section has the table.

Retired by that ablation (no effect on any of the 79 questions of the three halves):
- an empty answer replaced by the last observation (it never fired);
- the copy boost of the observations' tokens in the final answer (AgentSettings.copy_boost, now
  0 by default): no effect on the fresh or the old check half; +1 of 34 on the tune half it was
  fitted on; 0.1-0.2 s a question.

Rules that are settings (`AgentSettings`) are switched through the setting; the others are read
with `on(name)` where they act. The decoding rules of the local model itself (the n-gram ban,
the grammar's caps: models.decoding, models.constrained) are the model layer's, not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    purpose: str
    origin: str
    """Where its value came from."""
    setting: str | None = None
    """The AgentSettings field that switches it (and the value that means off), if it is one."""
    off_value: object = None


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "scored_actions",
            "choose the action by the model's log-probability of each valid continuation "
            "(`Action: <tool>` or `Final Answer:`) instead of letting it write one",
            "the ReAct template's markers; bench_agent (a free-text 135M step names no real tool)",
            setting="constrained",
            off_value=False,
        ),
        Rule(
            "routing_prior",
            "add a similarity vote of the nearest worked examples (e5/MiniLM embeddings) to the "
            "action scores, on the first step",
            "weight 1.0, 5 neighbours, temperature 0.05, floor 0.02: tuned on the tune half (agent.routing)",
            setting="routing_prior",
            off_value=0.0,
        ),
        Rule(
            "similar_examples",
            "show the worked examples closest to the question (one per action, closest last)",
            "4 examples: tuned on the tune half",
            setting="examples",
            off_value=0,
        ),
        Rule(
            "copied_inputs",
            "a tool input may use only the words of the question and of earlier observations, plus "
            "the tool's own input words (its ToolProfile): the model copies a query, not an answer",
            "bench_agent tune half (free inputs: the model wrote the answer it imagined)",
            setting="copy_inputs",
            off_value=False,
        ),
        Rule(
            "tool_reads_question",
            "a tool that can read the question itself (ToolProfile.reads_question: the calculator's "
            "words for powers, roots and brackets) gets the question as its first input instead of "
            "the model's copy of it, which lost the words ('14 squared' -> '14^14')",
            "issue 27's held-out failures; measured on the fresh half only",
        ),
        Rule(
            "question_as_input",
            "an empty tool input becomes the question itself (each built-in tool finds what it "
            "needs in it: the weather tool the place)",
            "a Japanese question in the chat ('東京の天気は？'): the copy-constrained writer wrote "
            "nothing, and the weather tool got no place. The bench has no Japanese agent question, "
            "so its ablation there (no effect on 79 questions) does not measure this",
        ),
        Rule(
            "grounded_answer",
            "after tool calls, an answer that leaves out the tool's number, states a number no "
            "observation or the question holds, or follows only failed calls is replaced by what "
            "the tools said (agent.checks.ground_answer)",
            "the honesty counts of bench_agent (invented, contradictions: target 0)",
        ),
    )
}

_OFF: set[str] = set()


def ablate(name: str) -> Rule:
    """Switch rule `name` off (for the benchmark); returns it. A setting rule is switched by
    `settings_off`, the caller's AgentSettings."""
    if name not in RULES:
        raise KeyError(f"no rule named {name!r}: one of {', '.join(RULES)}")
    _OFF.add(name)
    return RULES[name]


def on(name: str) -> bool:
    """Whether rule `name` (one without a setting) is in force."""
    return name not in _OFF


def settings_off() -> dict[str, object]:
    """The AgentSettings values that switch off the ablated setting rules."""
    return {r.setting: r.off_value for r in RULES.values() if r.name in _OFF and r.setting}
