"""Tool calls and structured output on the local chat model: the pieces on their own, then the
real bundled model under grammar-constrained decoding."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from pydantic import BaseModel, Field

from agent_app.models.constrained import closed, tool_call_schema
from agent_app.models.tool_calls import CallStreamer, normalize_choice, parse_call
from tests.support.sample_tools import add, get_weather


def _joined(pieces: list[str]) -> AIMessageChunk:
    streamer = CallStreamer()
    chunks = [c for p in pieces if (c := streamer.feed(p)) is not None]
    last = streamer.finish()
    chunks += [last] if last is not None else []
    chunks.append(AIMessageChunk(content="", chunk_position="last"))
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


def test_a_streamed_call_arrives_as_tool_call_chunks_that_join_into_one_call():
    text = '{"name": "get_weather", "arguments": {"location": "Ōsaka, 日本"}}'
    full = _joined([text[i : i + 5] for i in range(0, len(text), 5)])
    assert full.content == ""
    assert [c["name"] for c in full.tool_call_chunks if c["name"]] == ["get_weather"]  # the name once
    assert full.tool_calls == [
        {
            "name": "get_weather",
            "args": {"location": "Ōsaka, 日本"},
            "id": full.tool_calls[0]["id"],
            "type": "tool_call",
        }
    ]


def test_a_streamed_answer_stays_content():
    full = _joined(["Paris ", "is the ", "capital."])
    assert full.content == "Paris is the capital." and not full.tool_call_chunks


def test_a_call_cut_short_is_reported_invalid_with_the_reason():
    calls, invalid = parse_call('{"name": "add", "arguments": {"a": 1, "b":')
    assert calls == [] and len(invalid) == 1
    assert "max_tokens" in invalid[0]["error"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, "auto"), ("any", "required"), (True, "required"), ("none", "none"), ("add", "add"),
     ({"type": "function", "function": {"name": "add"}}, "add")],
)  # fmt: skip
def test_tool_choice_spellings(given, expected):
    assert normalize_choice(given, ["add", "get_weather"]) == expected


def test_a_tool_choice_naming_no_bound_tool_is_refused():
    with pytest.raises(ValueError, match=r"names no bound tool.*add, get_weather"):
        normalize_choice("weather", ["add", "get_weather"])


def test_schemas_are_closed_unless_they_say_otherwise():
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {}}, "b": {}}}
    out = closed(schema)
    assert out["additionalProperties"] is False and out["properties"]["a"]["additionalProperties"] is False
    open_one = {"type": "object", "properties": {}, "additionalProperties": True}
    assert closed(open_one)["additionalProperties"] is True
    both = tool_call_schema([{"function": {"name": "x", "parameters": schema}}, {"function": {"name": "y"}}])
    assert [o["properties"]["name"]["const"] for o in both["anyOf"]] == ["x", "y"]


# -- the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from agent_app.models.local import LocalChatModel

    return LocalChatModel(model="bundled", temperature=0, max_tokens=96)


@pytest.mark.real_model
def test_a_forced_call_is_a_real_tool_call_with_valid_arguments(model):
    reply = model.bind_tools([add, get_weather], tool_choice="add").invoke("What is 12 plus 30?")
    assert reply.content == "" and len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert call["name"] == "add" and set(call["args"]) == {"a", "b"}
    assert all(isinstance(v, int) for v in call["args"].values())
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert add.invoke(call).content.isdigit()  # runs as LangChain's ToolNode would


@pytest.mark.real_model
def test_auto_calls_or_answers_by_the_threshold(model):
    question = "What is the weather in Paris?"
    always = model.model_copy(update={"call_threshold": 0.0}).bind_tools([get_weather])
    never = model.model_copy(update={"call_threshold": 1.01}).bind_tools([get_weather])
    called = always.invoke(question)
    assert called.tool_calls and called.tool_calls[0]["name"] == "get_weather"
    answered = never.invoke(question)
    assert answered.tool_calls == [] and answered.text.strip() and not answered.text.lstrip().startswith("{")
    probability = answered.response_metadata["tool_call_probability"]
    assert 0.0 <= probability <= 1.0


@pytest.mark.real_model
def test_tool_choice_none_answers_in_text(model):
    reply = model.bind_tools([get_weather], tool_choice="none").invoke([HumanMessage("Say hello.")])
    assert reply.tool_calls == [] and reply.text.strip()
    assert "tool_call_probability" not in reply.response_metadata


@pytest.mark.real_model
def test_a_call_longer_than_max_tokens_comes_back_invalid_not_as_an_error(model):
    reply = model.bind_tools([get_weather], tool_choice="any").invoke("Weather in Rome?", max_tokens=6)
    assert reply.tool_calls == [] and len(reply.invalid_tool_calls) == 1
    assert "max_tokens" in reply.invalid_tool_calls[0]["error"]


class City(BaseModel):
    """A city and its country."""

    name: str = Field(description="the city")
    country: str = Field(description="its country")
    population_millions: float


@pytest.mark.real_model
@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_structured_output_always_validates(model, method):
    roomy = model.model_copy(update={"params": model.params.merged({"max_tokens": 256})})
    result = roomy.with_structured_output(City, method=method, include_raw=True).invoke("Tell me about Tokyo.")
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], City)
    if method == "function_calling":
        assert result["raw"].tool_calls[0]["name"] == "City"
    else:
        assert City.model_validate(json.loads(result["raw"].text)) == result["parsed"]


@pytest.mark.real_model
def test_json_cut_at_max_tokens_is_a_parsing_error_not_a_repaired_object(model):
    short = model.model_copy(update={"params": model.params.merged({"max_tokens": 8})})
    result = short.with_structured_output(City, include_raw=True).invoke("Tell me about Tokyo.")
    assert result["parsed"] is None
    assert "cut short at max_tokens" in str(result["parsing_error"])


@pytest.mark.real_model
def test_structured_output_streams_growing_objects(model):
    seen = list(model.with_structured_output(City.model_json_schema()).stream("Tell me about Osaka."))
    assert len(seen) > 3 and all(isinstance(s, dict) for s in seen)
    assert set(seen[-1]) == {"name", "country", "population_millions"}


def test_a_streamed_call_cut_before_its_arguments_names_no_tool_but_keeps_an_id():
    # LangChain's chunk joining repairs the partial JSON into a call; with no name it can run no
    # tool (an agent's tool node answers "not a valid tool"), and the id lets it answer at all.
    (call,) = _joined(['{"name": "get_wea']).tool_calls
    assert call["name"] == "" and call["id"]
