"""Tool calls on an OpenAI-compatible server that ignores `tools`: the real xllamacpp server,
emulated through its JSON-schema decoding (models.served_tools)."""

from __future__ import annotations

import pytest
from langchain_core.tools import tool

pytestmark = [pytest.mark.real_model]


@tool
def get_weather(location: str) -> str:
    """Current weather at a place."""
    return "sunny"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_the_probe_finds_that_this_server_ignores_tools(server_chat_model):
    assert server_chat_model.tool_calling == "auto"
    assert server_chat_model.tool_mode() == "json_schema"
    # Asked natively, the server answers in prose: that is what the probe saw.
    native = server_chat_model.model_copy(update={"tool_calling": "native"})
    reply = native.bind_tools([get_weather], tool_choice="required").invoke("Weather in Paris?", max_tokens=16)
    assert reply.tool_calls == []


def test_a_forced_call_comes_back_as_a_real_tool_call(server_chat_model):
    reply = server_chat_model.bind_tools([get_weather, add], tool_choice="any").invoke(
        "What is the weather in Paris?", temperature=0
    )
    assert reply.content == "" and len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert call["name"] in {"get_weather", "add"} and call["id"]
    expected = {"location"} if call["name"] == "get_weather" else {"a", "b"}
    assert set(call["args"]) == expected  # the server held the JSON to the tool's schema
    assert reply.response_metadata["finish_reason"] == "tool_calls"


def test_a_named_tool_is_the_one_called_and_streams_as_chunks(llamacpp_chat_model):
    bound = llamacpp_chat_model.bind_tools([get_weather, add], tool_choice="add")
    chunks = list(bound.stream("What is 2 plus 5?", temperature=0))
    assert any(c.tool_call_chunks for c in chunks)
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    (call,) = full.tool_calls
    assert call["name"] == "add" and all(isinstance(v, int) for v in call["args"].values())


def test_auto_gives_a_call_or_a_plain_answer_never_raw_json(server_chat_model):
    for question in ("What is the weather in Rome?", "Say hello."):
        reply = server_chat_model.bind_tools([get_weather]).invoke(question, temperature=0)
        if reply.tool_calls:
            assert reply.tool_calls[0]["name"] == "get_weather" and reply.content == ""
        else:
            assert reply.text.strip() and not reply.text.lstrip().startswith("{")


def test_tool_choice_none_is_an_ordinary_answer(server_chat_model):
    reply = server_chat_model.bind_tools([get_weather], tool_choice="none").invoke("Say hello.", max_tokens=12)
    assert reply.tool_calls == [] and reply.text.strip()
