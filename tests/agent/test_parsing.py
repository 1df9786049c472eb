"""Reading free-text ReAct replies, splitting streamed replies, and the shipped template."""

from __future__ import annotations

import pytest

from agent_app.agent.parsing import clean_tool_name, match_tool, parse_step
from agent_app.agent.run import FinalAnswerToken, ThoughtToken
from agent_app.agent.streaming import ReplySplitter
from agent_app.agent.template import AGENT_TEMPLATE_DIR, Markers, load_react_template
from agent_app.errors import TemplateError

TOOLS = ["calculator", "web_search", "weather"]


@pytest.mark.parametrize(("text", "action", "value"), [
    ("Thought: math\nAction: calculator\nAction Input: 2+2", "calculator", "2+2"),
    ("Action: calculator\nAction Input: 2+2\nObservation: 4\nFinal Answer: 4", "calculator", "2+2"),
    ('**Action:** `Web Search`\n**Action Input:** {"query": "x y"}', "web_search", "x y"),
    ("action: [weather]\naction input: \"Paris\"", "weather", "Paris"),
    ("Action 1: weather tool\nAction Input 1: Rome\n\nlater text", "weather", "Rome"),
])  # fmt: skip
def test_actions_are_read_tolerantly(text: str, action: str, value: str) -> None:
    step = parse_step(text)
    assert step.problem is None
    assert match_tool(step.action, TOOLS) == action and step.action_input == value


def test_final_answer_and_problems() -> None:
    assert parse_step("Thought: ok\nFinal Answer: Paris.").answer == "Paris."
    assert parse_step("Thought: hmm").problem
    assert parse_step("Action Input: x").problem
    assert parse_step("Action: calculator").problem


def test_tool_names() -> None:
    assert clean_tool_name(" 'Calculator'. ") == "calculator"
    assert match_tool("web-serch", TOOLS) == "web_search"
    assert match_tool("teleport", TOOLS) is None


def split(text: str, size: int, **kwargs) -> tuple[str, str]:
    splitter = ReplySplitter(Markers(), **kwargs)
    events = []
    for i in range(0, len(text), size):
        events += list(splitter.feed(text[i : i + size]))
    events += list(splitter.close())
    thought = "".join(e.text for e in events if isinstance(e, ThoughtToken))
    answer = "".join(e.text for e in events if isinstance(e, FinalAnswerToken))
    return thought, answer


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_streamed_replies_split_at_any_chunking(size: int) -> None:
    thought, answer = split("Thought: easy.\nFinal Answer: It is 42.  \n", size)
    assert answer == "It is 42." and "easy." in thought and "42" not in thought
    thought, answer = split("Thought: t\nAction: calculator\nAction Input: 1\nFinal Answer: 9", size)
    assert answer == "" and "Action Input: 1" in thought
    assert split("Just text.", size) == ("", "Just text.")
    assert split("Final Answer: 5", size, answer_only=True) == ("", "5")


def test_the_shipped_template_is_valid() -> None:
    template = load_react_template("react")
    actions = {e.action for e in template.examples}
    assert actions == {"calculator", "web_search", "weather", "none"}
    assert "{tools}" in template.system and "{tool_names}" in template.system
    assert (AGENT_TEMPLATE_DIR / "react.yaml").is_file()


def test_bad_templates_are_clear_errors(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: hi\nexamles: []\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="examles"):
        load_react_template(str(bad))
    with pytest.raises(TemplateError):
        load_react_template("../etc/passwd")
    with pytest.raises(TemplateError, match="cannot read"):
        load_react_template("no-such-template")
