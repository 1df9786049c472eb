"""Native tool calling (`create_agent`) with a scripted tool-calling model, and the auto choice."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from agent_app.agent import AgentSettings, build_agent, choose_mode
from agent_app.models.fake import ScriptedChatModel
from tests.support.agent_helpers import Recorder, kinds, run


def call(name: str, args: dict, id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": id, "type": "tool_call"}])


def test_native_tool_calls_run_the_tools(tools, open_meteo) -> None:
    model = ScriptedChatModel(
        replies=[
            call("calculator", {"expression": "6*7"}, "c1"),
            call("weather", {"place": "Tokyo"}, "c2"),
            "6 times 7 is 42; Tokyo has 21 °C.",
        ],
        echo=False,
    )
    recorder = Recorder()
    agent = build_agent(model, tools, mode="native")
    events, result = run(agent, "6*7, and the weather in Tokyo?", config={"callbacks": [recorder]})
    assert agent.mode == "native" and result.mode == "native"
    assert result.answer == "6 times 7 is 42; Tokyo has 21 °C."
    assert [(s.tool, s.input) for s in result.steps] == [("calculator", "6*7"), ("weather", "Tokyo")]
    assert result.steps[0].observation == "42" and "21" in result.steps[1].observation
    assert kinds(events) == [
        "StepStarted",
        "ToolCall",
        "Observation",
        "StepStarted",
        "ToolCall",
        "Observation",
        "Finished",
    ]
    assert [e[1] for e in recorder.named("tool_start")] == ["calculator", "weather"]
    assert "tools" in model.call_kwargs[0]  # the tools were bound to the model


def test_native_step_limit_forces_an_answer(tools) -> None:
    model = ScriptedChatModel(
        replies=[
            call("calculator", {"expression": "1+1"}, "c1"),
            call("calculator", {"expression": "2+2"}, "c2"),
            "Best I can say: 4.",
        ],
        echo=False,
    )
    agent = build_agent(model, tools, settings=AgentSettings(max_steps=1), mode="native")
    _, result = run(agent, "count")
    assert result.forced and result.n_steps == 1
    # "4" contradicts the one result the tool gave (2): the answer is the tool's own.
    assert result.answer == "The result is 2." and result.answer_replaced == "unsupported"
    last = model.calls[-1]
    assert "No more tool calls" in last[-1].text
    assert not any(getattr(m, "tool_calls", None) and m.tool_calls[0]["id"] == "c2" for m in last)


def test_a_repeated_call_ends_the_run_with_an_answer_instead_of_looping(tools) -> None:
    repeat = [call("calculator", {"expression": "6*7"}, f"c{i}") for i in range(1, 7)]
    model = ScriptedChatModel(replies=[*repeat[:2], "6 times 7 is 42.", *repeat[2:]], echo=False)
    agent = build_agent(model, tools, settings=AgentSettings(max_steps=5), mode="native")
    events, result = run(agent, "What is 6*7?")
    assert result.forced and [(s.tool, s.observation) for s in result.steps] == [("calculator", "42")]
    assert result.answer == "6 times 7 is 42."
    assert len(model.calls) == 3  # the call, its repeat, the forced answer: not 5 rounds
    assert "No more tool calls" in model.calls[-1][-1].text
    assert not any(getattr(m, "tool_calls", None) and m.tool_calls[0]["id"] == "c2" for m in model.calls[-1])
    assert kinds(events).count("ToolCall") == 1


def test_native_keeps_the_history(tools) -> None:
    model = ScriptedChatModel(replies=["Your name is Ada."], echo=False)
    agent = build_agent(model, tools, mode="native")
    _, result = run(agent, "What is my name?", history=[HumanMessage("I am Ada."), AIMessage("Hi Ada!")])
    assert result.answer == "Your name is Ada." and result.n_steps == 0
    assert [m.text for m in model.calls[0]][-3:] == ["I am Ada.", "Hi Ada!", "What is my name?"]


def test_auto_mode_choice() -> None:
    from agent_app.models.openai import OpenAIChatModel

    def openai(name: str) -> OpenAIChatModel:
        return OpenAIChatModel(model=name, api_key="x", base_url="http://127.0.0.1:9/v1")

    assert choose_mode(openai("gpt-4o-mini")) == "native"
    served = OpenAIChatModel(model="smollm2", api_key="x", base_url="http://127.0.0.1:9/v1", tool_calling="native")
    assert choose_mode(served) == "native"  # the capability setting, whatever the name
    assert choose_mode(openai("smollm2")) == "react"
    assert choose_mode(openai("gpt-4o-mini"), "react") == "react"
    assert choose_mode(ScriptedChatModel()) == "react"
    assert choose_mode(ScriptedChatModel(), "native") == "native"
