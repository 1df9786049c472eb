"""Tolerant reading of a free-text ReAct step.

Small and chatty models write `**Action:**`, `Action 1:`, quoted or back-ticked tool names,
`Action Input: {"query": "..."}`, or keep going with an invented `Observation:`. All of that is
accepted; what cannot be read becomes a `Decision` with `problem` set, which the loop feeds back
to the model as an observation instead of failing.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

from agent_app.agent.template import Markers


@dataclass(frozen=True)
class Decision:
    """The next step, read from a reply or chosen by a policy: a tool call, a final answer, or an
    unreadable reply (`problem` set, fed back to the model as an observation)."""

    thought: str = ""
    action: str | None = None
    action_input: str = ""
    answer: str | None = None
    problem: str | None = None
    raw: str = ""
    scores: dict[str, float] | None = None
    """The constrained choice's score per action (diagnostics, e.g. for the benchmark)."""


def marker_pattern(marker: str) -> str:
    """'Action Input:' -> a regex that also matches '**Action Input:**', 'action input 2 :'."""
    words = marker.rstrip(":").split()
    body = r"\s*".join(re.escape(w) for w in words)
    return rf"(?:^|\n)[ \t>#*_-]*{body}[ \t]*\d*[ \t*_]*:[ \t*_]*"


def parse_step(text: str, markers: Markers | None = None) -> Decision:
    """Read one reply. An action that comes before a final answer wins (the rest was invented)."""
    m = markers or Markers()
    text = text.replace("\r\n", "\n")
    # Anything after an invented observation is the model talking to itself.
    cut = re.search(marker_pattern(m.observation), text, re.IGNORECASE)
    if cut:
        text = text[: cut.start()]
    flags = re.IGNORECASE
    final = re.search(marker_pattern(m.final_answer), text, flags)
    action_input = re.search(marker_pattern(m.action_input), text, flags)
    action = _first_action(text, m, flags)
    thought = _thought(text, m, [x for x in (final, action, action_input) if x])
    if action and (final is None or action.start() < final.start()):
        name = _line(text[action.end() :])
        if action_input is None or action_input.start() < action.end():
            return Decision(thought, name or None, "", None, f"'{m.action}' must be followed by '{m.action_input}'")
        value = text[action_input.end() :]
        if final is not None and final.start() > action_input.start():
            value = text[action_input.end() : final.start()]
        return Decision(thought, clean_tool_name(name) if name else None, clean_input(value))
    if final is not None:
        return Decision(thought, answer=text[final.end() :].strip())
    if action_input is not None:
        return Decision(thought, problem=f"'{m.action_input}' without '{m.action}'")
    return Decision(thought, problem=f"no '{m.action}' and no '{m.final_answer}' found")


def _first_action(text: str, m: Markers, flags: int) -> re.Match[str] | None:
    """The first `Action:` that is not the start of `Action Input:`."""
    input_words = m.action_input.rstrip(":").split()
    for match in re.finditer(marker_pattern(m.action), text, flags):
        if not re.match(
            rf"(?:^|\n)[ \t>#*_-]*{re.escape(input_words[0])}\s+{re.escape(input_words[-1])}",
            text[match.start() :],
            flags,
        ):
            return match
    return None


def _thought(text: str, m: Markers, found: list[re.Match[str]]) -> str:
    end = min((x.start() for x in found), default=len(text))
    head = text[:end]
    head = re.sub(marker_pattern(m.thought), "\n", head, flags=re.IGNORECASE)
    return head.strip()


def _line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip() if text.strip() else ""


def clean_tool_name(name: str) -> str:
    """'`Web Search`' -> 'web_search'; '[calculator]' -> 'calculator'; 'weather tool' -> 'weather'."""
    name = name.strip().strip("`'\"[]()<>*.: ").lower()
    name = re.sub(r"[\s-]+", "_", name)
    name = re.sub(r"_?tool$", "", name) or name
    return name


def clean_input(value: str) -> str:
    """First paragraph, without quotes, code fences or a one-key JSON wrapper."""
    value = value.strip()
    value = re.sub(r"^```\w*\s*|\s*```$", "", value).strip()
    value = value.split("\n\n", 1)[0].strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if isinstance(data, dict) and len(data) == 1:
            value = str(next(iter(data.values())))
        elif isinstance(data, dict):
            return value  # several arguments: the loop passes the JSON object on
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        value = value[1:-1]
    return value.strip()


def match_tool(name: str | None, tool_names: list[str]) -> str | None:
    """The valid tool `name` means (exact, then close spelling), or None."""
    if not name:
        return None
    if name in tool_names:
        return name
    close = difflib.get_close_matches(name, tool_names, n=1, cutoff=0.75)
    return close[0] if close else None
