"""Each ReAct step on llama.cpp constrained by a GBNF grammar (`--model llamacpp`): the real
in-process server, the bundled model."""

from __future__ import annotations

import pytest

from agent_app.agent import AgentSettings, build_agent
from agent_app.agent.grammar import step_grammar
from agent_app.agent.template import Markers
from agent_app.models.profile import profile_of
from agent_app.tools import build_tools
from agent_app.tools.settings import SearchSettings, ToolsSettings, WeatherSettings
from tests.support.llama_server import free_port


def test_the_grammar_allows_only_the_tool_names_and_the_templates_markers():
    grammar = step_grammar(Markers(action="Act:"), ["calculator", "web_search"], thoughts=True)
    assert 'tool ::= "calculator" | "web_search"' in grammar
    assert 'action ::= "Act: " tool "\\n" "Action Input: " line' in grammar
    assert grammar.startswith("root ::= thought? (action | final)")
    assert step_grammar(Markers(), ["weather"], thoughts=False).startswith("root ::= (action | final)")


@pytest.mark.server
def test_on_llamacpp_every_step_names_a_real_tool(llamacpp_chat_model):
    assert profile_of(llamacpp_chat_model).accepts_grammar is True
    model = llamacpp_chat_model.bind(temperature=0)
    down = f"http://127.0.0.1:{free_port()}"  # the services fail locally: only the steps matter here
    tools = build_tools(
        ToolsSettings(
            search=SearchSettings(backend="searxng", searxng_url=down, timeout=2),
            weather=WeatherSettings(geocoding_url=down, forecast_url=down, timeout=2),
        )
    )
    agent = build_agent(llamacpp_chat_model, tools, settings=AgentSettings(mode="react"), embeddings=None)
    assert agent.policy.grammar is not None
    for question in ["What is 17 times 23?", "Who wrote Hamlet?", "What's the weather in Paris?"]:
        result = agent.invoke(question)
        # A step is a tool of the list or the final answer: never an invented tool or a broken
        # format, which the free-text loop produces on this model.
        assert all(step.tool in {"calculator", "web_search", "weather"} for step in result.steps), result.steps
        assert not any("Invalid format" in (step.observation or "") for step in result.steps)
    free = build_agent(model, tools, settings=AgentSettings(mode="react", constrained=False), embeddings=None)
    assert free.policy.grammar is None
