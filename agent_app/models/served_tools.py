"""Tool calls on OpenAI-compatible servers, native or through the server's JSON-schema decoding.

A server either calls tools itself (api.openai.com, vLLM, llama.cpp when the chat template
describes tools, Ollama for models that have one) or ignores `tools` and answers in prose, as
llama.cpp does even with `tool_choice: "required"` when the template does not. And a server
that can call may serve a model that never opens a call: the bundled 135M model on llama.cpp
with a tools template (agent_app/models/llamacpp.py) wrote prose for 28 of 28 forced calls
(bench/bench_tool_choice.py --llamacpp).
Many servers of both kinds still
hold an answer to a JSON schema (`response_format: json_schema`), so the call is emulated as
the local model does it (models.tool_calls): the tools go into the system message and the
answer is decoded as `{"name": ..., "arguments": {...}}` held to their schemas; with
tool_choice "auto" the schema also allows `{"answer": "..."}`, so the model chooses.

Which way a server goes is the `tool_calling` setting: native, json_schema, or auto (native on
api.openai.com; otherwise one probe per server and model: a forced call of a tiny tool, and
native only if real tool calls come back).
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from typing import Any, Literal

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from agent_app.models import tool_calls
from agent_app.models.constrained import closed, tool_call_schema

log = logging.getLogger(__name__)

ToolCalling = Literal["auto", "native", "json_schema"]

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}

_PROBED: dict[tuple[str, str], Literal["native", "json_schema"]] = {}
_PROBE_LOCK = threading.Lock()


def response_format(tools: list[dict[str, Any]], choice: str) -> dict[str, Any]:
    """The `response_format` that holds the answer to one call of `tools` (or, with "auto",
    to a call or `{"answer": ...}`)."""
    schema = closed(tool_call_schema(tools))
    if choice == "auto":
        options = schema.get("anyOf", [schema])
        schema = {"anyOf": [*options, ANSWER_SCHEMA]}
    return {"type": "json_schema", "json_schema": {"name": "tool_call", "schema": schema, "strict": True}}


def instruction(tools: list[dict[str, Any]], choice: str) -> str:
    text = tool_calls.tools_instruction(tools, choice)
    if choice == "auto":
        text += ' Then reply with only a JSON object with your "answer".'
    return text


def as_tool_call_message(message: AIMessage) -> AIMessage:
    """The server's JSON answer as LangChain's tool call, or as plain content for `{"answer": ...}`."""
    text = message.text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and set(data) == {"answer"}:
        return message.model_copy(update={"content": str(data["answer"])})
    calls, invalid = tool_calls.parse_call(text)
    metadata = {**message.response_metadata}
    if calls:
        metadata["finish_reason"] = "tool_calls"
    return message.model_copy(
        update={"content": "", "tool_calls": calls, "invalid_tool_calls": invalid, "response_metadata": metadata}
    )


def emulated_result(result: ChatResult) -> ChatResult:
    generations = []
    for generation in result.generations:
        message = generation.message
        if isinstance(message, AIMessage):
            info = generation.generation_info
            generation = ChatGeneration(message=as_tool_call_message(message), generation_info=info)
        generations.append(generation)
    return ChatResult(generations=generations, llm_output=result.llm_output)


def as_chunk(result: ChatResult) -> ChatGenerationChunk:
    """One chunk for a whole emulated answer: a call arrives as one `tool_call_chunk`."""
    message = result.generations[0].message
    assert isinstance(message, AIMessage)
    chunks = [
        {"name": c["name"], "args": json.dumps(c["args"], ensure_ascii=False), "id": c["id"], "index": i}
        for i, c in enumerate(message.tool_calls)
    ]
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content=message.content,
            tool_call_chunks=chunks,
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
        )
    )


def with_tools_instruction(messages: list[BaseMessage], tools: list[dict[str, Any]], choice: str) -> list[BaseMessage]:
    return tool_calls.with_instruction(messages, instruction(tools, choice))


def probe(model: Any) -> Literal["native", "json_schema"]:
    """Does this server return real tool calls? Asked once per server and model."""
    key = (str(model.openai_api_base), str(model.model_name))
    with _PROBE_LOCK:
        if key in _PROBED:
            return _PROBED[key]
        tool = {
            "type": "function",
            "function": {
                "name": "echo",
                "description": "Repeat a word.",
                "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
            },
        }
        try:
            forced = model.bind(tools=[tool], tool_choice="required", max_tokens=24)
            # A run of its own: inside the caller's run (an agent's step) the probe's reply
            # reached the caller's callbacks and streamed into the answer on screen.
            reply = contextvars.Context().run(forced.invoke, "Call echo with the word hi.")
            found: Literal["native", "json_schema"] = "native" if reply.tool_calls else "json_schema"
        except Exception as exc:  # a server that rejects `tools` outright
            log.info("tool-calling probe failed (%s): emulating tool calls", exc)
            found = "json_schema"
        _PROBED[key] = found
        return found
