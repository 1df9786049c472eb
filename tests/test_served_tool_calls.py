"""Tool calls on OpenAI-compatible servers: the real xllamacpp server, which ignores `tools` with
the GGUF's own template, emulated through its JSON-schema decoding (models.served_tools); and
`--model llamacpp`, served with a template that describes tools, so llama.cpp builds calls itself."""

from __future__ import annotations

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool

from tests.support.sample_tools import add, get_weather

pytestmark = [pytest.mark.real_model]


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


# -- llama.cpp's own tool calls: the bundled GGUF is served with a template that describes tools --
def _apply_template(base_url: str, body: dict) -> str:
    import httpx

    reply = httpx.post(base_url.removesuffix("/v1") + "/apply-template", json=body, timeout=30)
    reply.raise_for_status()
    return str(reply.json()["prompt"])


def _caps(base_url: str) -> dict:
    import httpx

    return dict(httpx.get(base_url.removesuffix("/v1") + "/props", timeout=30).json()["chat_template_caps"])


def test_without_tools_the_bundled_template_is_the_ggufs_own_prompt(llama_server, llamacpp_chat_model):
    """Chat and the ReAct agent on `--model llamacpp` see exactly the prompt the GGUF's own template
    makes (the test server, llama_server, keeps that template)."""
    ours = str(llamacpp_chat_model.openai_api_base)
    conversations = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "東京の天気は？"},
        ],
    ]
    for messages in conversations:
        assert _apply_template(ours, {"messages": messages}) == _apply_template(
            llama_server.base_url, {"messages": messages}
        )


def test_the_bundled_template_gives_llama_cpp_tool_calls(llama_server, llamacpp_chat_model):
    ours = str(llamacpp_chat_model.openai_api_base)
    assert _caps(ours)["supports_tool_calls"] and _caps(ours)["supports_tools"]
    assert not _caps(llama_server.base_url)["supports_tool_calls"]  # the GGUF's own template
    tools = [convert_to_openai_tool(get_weather)]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18 C, sunny"},
    ]
    prompt = _apply_template(ours, {"messages": messages, "tools": tools})
    assert '"name": "get_weather"' in prompt.split("\n</tools>")[0]  # the tool is described
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Paris"}}\n</tool_call>' in prompt
    assert "<tool_response>\n18 C, sunny\n</tool_response>" in prompt
    # The GGUF's own template drops the call: the model would see an empty assistant turn.
    assert "get_weather" not in _apply_template(llama_server.base_url, {"messages": messages})


def test_the_probe_is_not_part_of_the_callers_run(server_chat_model, monkeypatch):
    """The probe's prose once streamed into an agent's answer on screen: it ran inside the
    agent's run and reached its callbacks."""
    from langchain_core.runnables import RunnableLambda

    from agent_app.models import served_tools
    from tests.support.agent_helpers import Recorder

    monkeypatch.setattr(served_tools, "_PROBED", {})  # probe again
    recorder = Recorder()

    def ask(question: str):  # an agent binds its tools inside its run
        bound = server_chat_model.bind_tools([get_weather], tool_choice="any")
        return bound.invoke(question, temperature=0, max_tokens=48)

    step = RunnableLambda(ask)
    reply = step.invoke("What is the weather in Paris?", config={"callbacks": [recorder]})
    assert reply.tool_calls  # the emulated call
    assert len(recorder.named("model_start")) == 1  # the caller's request only
