"""The ReAct loop with scripted models: success, malformed output, unknown tool, tool error,
step limit, repeated calls, plain replies, memory, callbacks, and a completion model."""

from __future__ import annotations

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import StructuredTool

from agent_app.agent import AgentSettings, Observation, ThoughtToken, ToolCall, build_agent
from agent_app.models.fake import ScriptedChatModel
from tests.support.agent_helpers import Recorder, kinds, run


def agent_for(replies, tools, **settings):
    model = ScriptedChatModel(replies=list(replies), echo=False)
    agent = build_agent(model, tools, settings=AgentSettings(**settings), embeddings=None)
    return agent, model


def test_success_calls_the_tool_and_streams_the_answer(tools) -> None:
    agent, model = agent_for(
        [
            "Thought: arithmetic.\nAction: calculator\nAction Input: 6*7",
            "Thought: I know it.\nFinal Answer: 6 times 7 is 42.",
        ],
        tools,
    )
    events, result = run(agent, "What is 6 times 7?")
    assert result.answer == "6 times 7 is 42."
    assert [(s.tool, s.input, s.observation, s.error) for s in result.steps] == [("calculator", "6*7", "42", False)]
    assert result.n_steps == 1 and not result.forced and result.mode == "react"
    assert kinds(events) == ["StepStarted", "ToolCall", "Observation", "StepStarted", "Finished"]
    assert any(isinstance(e, ThoughtToken) and "arithmetic" in e.text for e in events)
    # The model saw the observation, and generation stops before invented observations.
    assert model.calls[1][-1].text == "Observation: <data>42</data>"
    assert model.call_kwargs[0]["stop"] == ["Observation:"]


def test_weather_and_search_through_the_stand_in_servers(tools, open_meteo, searxng) -> None:
    agent, _ = agent_for(
        [
            "Action: weather\nAction Input: Paris",
            "Action: web_search\nAction Input: python",
            "Final Answer: 18.5 °C in Paris.",
        ],
        tools,
    )
    _, result = run(agent, "Weather in Paris, and what is Python?")
    weather, search = result.steps
    assert "Paris" in weather.observation and "18.5" in weather.observation
    assert "python.org" in search.observation
    assert open_meteo.requests and searxng.requests


def test_malformed_output_is_fed_back_as_an_observation(tools) -> None:
    agent, model = agent_for(["Thought: I wonder what to do", "Final Answer: 4"], tools)
    events, result = run(agent, "2+2?")
    assert result.answer == "4"
    assert result.steps[0].error and "Invalid format" in result.steps[0].observation
    assert next(e for e in events if isinstance(e, Observation)).error
    # The unreadable reply is shown back to the model verbatim, followed by the reason.
    assert model.calls[1][-2].text == "Thought: I wonder what to do"
    assert "Invalid format" in model.calls[1][-1].text


def test_action_without_input_is_a_format_error(tools) -> None:
    agent, _ = agent_for(["Action: calculator", "Final Answer: done"], tools)
    _, result = run(agent, "q")
    assert result.steps[0].error and "Action Input" in result.steps[0].observation


def test_unknown_tool_is_fed_back(tools) -> None:
    agent, _model = agent_for(["Action: teleport\nAction Input: Mars", "Final Answer: I cannot do that."], tools)
    events, result = run(agent, "Take me to Mars")
    assert result.answer == "I cannot do that."
    assert "no tool named 'teleport'" in result.steps[0].observation
    assert "calculator, web_search, weather" in result.steps[0].observation
    assert not any(isinstance(e, ToolCall) for e in events)


def test_tool_names_are_read_tolerantly(tools) -> None:
    agent, _ = agent_for(
        ['**Action:** `Web Search`\n**Action Input:** {"query": "capital of australia"}', "Final Answer: Canberra"],
        tools,
    )
    _, result = run(agent, "Capital of Australia?")
    assert result.steps[0].tool == "web_search" and result.steps[0].input == "capital of australia"
    assert "Canberra" in result.steps[0].observation


def test_a_failing_tool_becomes_an_observation(tools) -> None:
    def explode(text: str) -> str:
        raise RuntimeError("disk on fire")

    broken = StructuredTool.from_function(explode, name="broken", description="always fails")
    recorder = Recorder()
    agent, _ = agent_for(["Action: broken\nAction Input: x", "Final Answer: The tool failed."], [*tools, broken])
    _, result = run(agent, "use the broken tool", config={"callbacks": [recorder]})
    assert result.steps[0].error and "tool error: RuntimeError: disk on fire" in result.steps[0].observation
    assert result.answer == "I couldn't use broken: RuntimeError: disk on fire."  # said plainly, with the reason
    assert recorder.named("tool_error")


def test_step_limit_forces_a_final_answer(tools) -> None:
    agent, model = agent_for(
        [
            "Action: calculator\nAction Input: 1+1",
            "Action: calculator\nAction Input: 2+2",
            "Final Answer: best guess: 4",
        ],
        tools,
        max_steps=2,
    )
    events, result = run(agent, "keep calculating")
    assert result.forced and result.answer == "best guess: 4" and result.n_steps == 2
    assert "No more tool calls" in model.calls[-1][-1].text
    assert kinds(events).count("StepStarted") == 3


def test_a_forced_answer_without_marker_is_taken_whole(tools) -> None:
    agent, _ = agent_for(["Action: calculator\nAction Input: 1+1", "It is probably 2."], tools, max_steps=1)
    _, result = run(agent, "q")
    assert result.forced and result.answer == "It is probably 2."


def test_repeating_a_call_ends_in_a_forced_answer(tools) -> None:
    agent, model = agent_for(
        ["Action: calculator\nAction Input: 3*3", "Action: calculator\nAction Input: 3*3", "Final Answer: 9"],
        tools,
        max_steps=5,
    )
    _, result = run(agent, "3*3?")
    assert result.forced and result.answer == "9" and result.n_steps == 1
    assert len(model.calls) == 3


def test_a_plain_reply_is_the_answer(tools) -> None:
    agent, _ = agent_for(["Hello! Nice to meet you."], tools)
    events, result = run(agent, "Hi")
    assert result.answer == "Hello! Nice to meet you." and result.n_steps == 0
    assert not any(isinstance(e, ThoughtToken) for e in events)


def test_an_invented_final_answer_after_an_action_is_ignored(tools) -> None:
    agent, _ = agent_for(["Action: calculator\nAction Input: 5*5\nFinal Answer: 30", "Final Answer: 25"], tools)
    _, result = run(agent, "5*5?")
    assert result.steps[0].observation == "25" and result.answer == "25"


def test_history_is_in_the_prompt(tools) -> None:
    agent, model = agent_for(["Final Answer: Your name is Ada."], tools)
    history = [HumanMessage("My name is Ada."), AIMessage("Nice to meet you, Ada.")]
    _, _result = run(agent, "What is my name?", history=history)
    texts = [m.text for m in model.calls[0]]
    # Earlier turns are context in the system message, not more Question/Final Answer examples.
    assert texts[0].endswith(
        "The conversation so far (context only, not examples):\nUser: My name is Ada.\n"
        "Assistant: Nice to meet you, Ada."
    )
    assert "Question: My name is Ada." not in texts and "Final Answer: Nice to meet you, Ada." not in texts
    assert texts[-1] == "Question: What is my name?"


def test_callbacks_see_the_agent_run_and_tool_calls(tools) -> None:
    recorder = Recorder()
    agent, _ = agent_for(["Action: calculator\nAction Input: 2**10", "Final Answer: 1024"], tools)
    run(agent, "2^10?", config={"callbacks": [recorder]})
    assert recorder.events[0] == ("chain_start", "agent")
    assert recorder.named("tool_start") == [("tool_start", "calculator", "2**10")]
    assert recorder.named("tool_end") == [("tool_end", "1024")]
    assert len(recorder.named("model_start")) == 2
    assert recorder.events[-1][0] == "chain_end" and recorder.events[-1][1]["output"] == "1024"


def test_works_on_a_completion_model(tools) -> None:
    llm = FakeListLLM(responses=[" I need math.\nAction: calculator\nAction Input: 12/4", "Final Answer: 3"])
    agent = build_agent(llm, tools, embeddings=None)
    _, result = run(agent, "12/4?")
    assert result.answer == "3" and result.steps[0].observation == "3"


def test_examples_are_picked_by_similarity(tools) -> None:
    from tests.support.templates_helpers import BagOfWordsEmbeddings

    model = ScriptedChatModel(replies=["Final Answer: ok"], echo=False)
    agent = build_agent(model, tools, settings=AgentSettings(examples=4), embeddings=BagOfWordsEmbeddings())
    run(agent, "What's the weather like in Oslo?")
    shown = [m.text for m in model.calls[0] if m.text.startswith("Question:")]
    assert len(shown) == 5  # four examples, then the question
    assert "weather" in shown[-2].lower()  # the closest example comes last


def test_examples_need_their_tools() -> None:
    from agent_app.tools import ToolsSettings, build_tools

    model = ScriptedChatModel(replies=["Final Answer: ok"], echo=False)
    agent = build_agent(model, build_tools(ToolsSettings(enabled=["calculator"])), embeddings=None)
    run(agent, "hi")
    text = "\n".join(m.text for m in model.calls[0])
    assert "Action: calculator" in text and "Action: weather" not in text and "web_search" not in text


@pytest.mark.parametrize("bad", [{"max_steps": 0}, {"mode": "magic"}, {"unknown": 1}])
def test_settings_are_validated(bad) -> None:
    with pytest.raises(ValueError):
        AgentSettings(**bad)
