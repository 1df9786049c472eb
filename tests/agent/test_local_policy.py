"""The constrained agent (`LocalPolicy`) on a scripted scorer (tests/support/fake_scoring.py):
its steering rules (agent.rules) each do what they say, in milliseconds."""

from __future__ import annotations

import pytest

from agent_app.agent import AgentSettings, build_agent, rules
from agent_app.tools import build_tools
from agent_app.tools.settings import SearchSettings, ToolsSettings, WeatherSettings
from tests.support.agent_helpers import run
from tests.support.fake_scoring import scripted_small_model
from tests.support.llama_server import free_port

SETTINGS = AgentSettings(mode="react", routing_prior=0.0)


@pytest.fixture(autouse=True)
def _all_rules_on():
    yield
    rules._OFF.clear()


def _agent(model):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: no call leaves the machine
    tools = build_tools(
        ToolsSettings(
            enabled=["calculator", "web_search", "weather"],
            search=SearchSettings(backend="searxng", searxng_url=down, min_interval=0, timeout=2),
            weather=WeatherSettings(geocoding_url=down, forecast_url=down, timeout=2),
        )
    )
    agent = build_agent(model, tools, settings=SETTINGS, embeddings=None)
    assert agent.mode == "react-constrained"
    return agent


def test_the_best_scored_action_is_taken_and_its_input_copied_from_the_question():
    model = scripted_small_model(
        [{"web_search": -1.0, "calculator": -3.0, "Final Answer": -2.0}, {"Final Answer": -1.0}],
        ["Austen wrote it", "The search found Jane Austen."],  # the input keeps only the question's words
    )
    _, result = run(_agent(model), "Who wrote Pride and Prejudice?")
    first = result.steps[0]
    assert first.tool == "web_search"
    # The scorer's tokens are bytes: of "Austen" only the "s" is in no source (the question).
    assert first.input == "Auten wrote it"
    assert model.scorer.written[0].processors  # the input line was held to the question's tokens


def test_the_calculator_reads_the_question_itself_unless_the_rule_is_off():
    question = "What is 14 squared?"

    def first_input() -> tuple[str, int]:
        model = scripted_small_model([{"calculator": -1.0}, {"Final Answer": -1.0}], ["14^14", "196"])
        _, result = run(_agent(model), question)
        return result.steps[0].input, len(model.scorer.written)

    read, lines = first_input()
    assert read == "14 **2" and lines == 0  # no input line written
    rules.ablate("tool_reads_question")
    copied, lines = first_input()
    assert copied == "14^14" and lines == 1  # the model's copy, which loses the square


def test_an_empty_input_becomes_the_question_unless_the_rule_is_off():
    def first_step(question: str):
        model = scripted_small_model([{"weather": -1.0}, {"Final Answer": -1.0}], ["", "Sunny."])
        return run(_agent(model), question)[1].steps[0]

    assert first_step("東京の天気は？").input == "東京の天気は？"  # the weather tool finds 東京 in it
    rules.ablate("question_as_input")
    step = first_step("東京の天気は？")
    assert step.input == "" and step.error  # "weather unavailable: no place given"
