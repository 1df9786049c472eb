"""Answers checked against the tool results: failures said plainly, results carried, no numbers
invented. Scripted models write the bad answers a small model writes."""

from __future__ import annotations

import pytest

from agent_app.agent import AgentSettings, build_agent
from agent_app.agent.checks import ground_answer
from agent_app.agent.run import AgentStep as Step
from agent_app.models.fake import ScriptedChatModel
from agent_app.tool_profile import profiles
from agent_app.tools import build_tools
from agent_app.tools.settings import ToolsSettings, WeatherSettings
from tests.support.agent_helpers import run
from tests.support.fake_services import FakeOpenMeteo
from tests.support.llama_server import free_port

BUILTIN_PROFILES = profiles(build_tools(ToolsSettings(enabled=["calculator", "web_search", "weather"])))


def test_the_builtin_tools_describe_themselves():
    """What the checks read comes from the tools (agent_app.tool_profile), not from the agent."""
    assert {name: p.result for name, p in BUILTIN_PROFILES.items()} == {
        "calculator": "number",
        "web_search": "sources",
        "weather": "place",
    }
    assert BUILTIN_PROFILES["weather"].asked("東京の天気は？") == "東京"
    assert "sqrt" in BUILTIN_PROFILES["calculator"].input_words.split()


def _agent(replies: list[str], tools_settings: ToolsSettings):
    model = ScriptedChatModel(replies=replies, echo=False)
    settings = AgentSettings(mode="react")
    return build_agent(model, build_tools(tools_settings), settings=settings, embeddings=None)


@pytest.mark.parametrize(
    ("model_input", "question", "place"),
    [
        ("Paris", "What is the weather in Paris?", "Paris"),
        ("大阪の天気は？", "大阪の天気は？", "大阪"),  # the place, not the question passed on
    ],
)
def test_failed_weather_is_said_plainly_without_invented_numbers(model_input, question, place):
    down = f"http://127.0.0.1:{free_port()}"
    agent = _agent(
        [f"Action: weather\nAction Input: {model_input}", f"Final Answer: In {place} the weather is 11.11 (11/11)"],
        ToolsSettings(enabled=["weather"], weather=WeatherSettings(geocoding_url=down, forecast_url=down, timeout=2)),
    )
    _, result = run(agent, question)
    assert result.answer.startswith(f"I couldn't get the weather for {place}: cannot reach the geocoding service")
    assert "11.11" not in result.answer and result.answer_replaced == "tool failed"
    assert result.steps[0].error is True


def test_contradicting_calculator_answer_is_replaced_by_the_result():
    agent = _agent(
        ["Action: calculator\nAction Input: 23*17", "Final Answer: 23 + 17 = 30"], ToolsSettings(enabled=["calculator"])
    )
    _, result = run(agent, "What is 23*17?")
    assert result.answer == "The result is 391." and result.answer_replaced == "unsupported"


def test_an_answer_that_carries_the_result_passes_and_streams_once():
    agent = _agent(
        ["Action: calculator\nAction Input: 23*17", "Final Answer: 23 times 17 is 391."],
        ToolsSettings(enabled=["calculator"]),
    )
    _, result = run(agent, "What is 23*17?")  # `run` checks that the streamed tokens equal the answer
    assert result.answer == "23 times 17 is 391." and result.answer_replaced is None


def test_weather_answer_without_the_reported_figures_is_replaced(open_meteo: FakeOpenMeteo):
    agent = _agent(
        ["Action: weather\nAction Input: Berlin", "Final Answer: It is lovely and sunny."],
        ToolsSettings(
            enabled=["weather"], weather=WeatherSettings(geocoding_url=open_meteo.url, forecast_url=open_meteo.url)
        ),
    )
    _, result = run(agent, "Weather in Berlin?")
    assert result.answer.startswith("The weather service reports: Berlin")
    assert result.steps[0].observation.split(":")[1].split()[0] in result.answer  # the temperature


@pytest.mark.parametrize(
    ("answer", "steps", "expected"),
    [
        ("Hello!", [], None),  # no tool: untouched
        (
            "Canberra is the capital.",
            [Step("web_search", "capital", "[1] Canberra\nCanberra, pop 431,380.", False)],
            None,
        ),  # numbers in search results are incidental
        (
            "Canberra, founded 1913.",
            [Step("web_search", "capital", "[1] Canberra\nCanberra is the capital.", False)],
            "unsupported",
        ),  # but an invented number is not let through
        ("The result is 84.", [Step("calculator", "12*7", "84", False)], None),
        ("I cannot do that.", [Step("teleport", "Mars", "There is no tool named 'teleport'.", True)], None),
        # A tool with no rule of its own (an MCP server's): a short result must be in the answer,
        # as written (capitals are the point of "shout").
        ("You'll see me soon!", [Step("shout", "see you soon", "SEE YOU SOON!", False)], "unsupported"),
        ("Here it is: SEE YOU SOON!", [Step("shout", "see you soon", "SEE YOU SOON!", False)], None),
        ("The secret word is plum.", [Step("secret_word", "", "plum", False)], None),
        ("A long listing, summarised.", [Step("list_files", ".", "x" * 400, False)], None),
    ],
)
def test_ground_answer_rules(answer, steps, expected):
    assert ground_answer("q", answer, steps, BUILTIN_PROFILES)[1] == expected


def test_an_mcp_style_result_left_out_of_the_answer_becomes_the_answer():
    answer, why = ground_answer("shout hi", "Hello there.", [Step("shout", "hi", "HI!", False)], BUILTIN_PROFILES)
    assert (answer, why) == ("shout returned: HI!", "unsupported")
