"""A GBNF grammar for one ReAct step, for servers that constrain decoding with it (llama.cpp).

The step keeps the template's own text format, so the prompt, the parser and the streaming of
the final answer are unchanged; only what can be written is narrowed: an optional thought line,
then either `Action: <one of the tool names>` with a one-line input, or `Final Answer:` and the
answer. Free text on a 135M model otherwise names a tool that does not exist or breaks the
format (bench/bench_agent.py --model llamacpp, with and without --unconstrained).

Tried and left out (tune half, bench_agent.py --model llamacpp): holding the action input to
the question's characters, or to its words, numbers and signs. Neither stopped the model from
rambling inside the input, and the word version lowered correct answers from 47% to 32%.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agent_app.agent.template import Markers


def _literal(text: str) -> str:
    """A GBNF string literal (JSON string escaping is a valid subset)."""
    return json.dumps(text, ensure_ascii=False)


def step_grammar(markers: Markers, tool_names: Sequence[str], *, thoughts: bool) -> str:
    """The grammar of one step: [thought] (action + input | final answer)."""
    newline = _literal("\n")
    rules = [
        f"root ::= {'thought? ' if thoughts else ''}(action | final)",
        f"thought ::= {_literal(markers.thought + ' ')} line {newline}",
        f"action ::= {_literal(markers.action + ' ')} tool {newline} {_literal(markers.action_input + ' ')} line",
        f"final ::= {_literal(markers.final_answer + ' ')} line ({newline} line?)*",
        "tool ::= " + (" | ".join(_literal(name) for name in tool_names) or _literal("none")),
        r"line ::= [^\n]+",
    ]
    return "\n".join(rules) + "\n"
