"""A scripted chat model for tests and demos.

It answers from a queue of replies (strings or ready-made `AIMessage`s, which may carry tool
calls), or echoes the last human message when the queue is empty and `echo` is on. Every call's
messages and keyword arguments are recorded, so a test can assert exactly what a chain sent.
It streams word by word, honours stop strings and reports usage like the real backends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from agent_app.models.text import cut_at_stop


class ScriptedChatModel(BaseChatModel):
    """Replies from a queue; records what it was sent."""

    replies: list[str | AIMessage] = Field(default_factory=list)
    """Answers to give, in order. Consumed as they are used."""
    echo: bool = True
    """With an empty queue: echo the last human message (True) or raise (False)."""
    model_name: str = "scripted"
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    """The messages of every call, in order."""
    call_kwargs: list[dict[str, Any]] = Field(default_factory=list)
    """The keyword arguments (generation parameters, stop, tools) of every call."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _next_reply(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict) -> AIMessage:
        self.calls.append(list(messages))
        self.call_kwargs.append({**kwargs, **({"stop": stop} if stop else {})})
        if self.replies:
            reply = self.replies.pop(0)
        elif self.echo:
            last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
            reply = f"You said: {last.text if last else ''}"
        else:
            raise RuntimeError("ScriptedChatModel has no replies left")
        message = reply.model_copy() if isinstance(reply, AIMessage) else AIMessage(content=reply)
        text, _ = cut_at_stop(message.text, stop or kwargs.get("stop"))
        if isinstance(message.content, str):
            message.content = text
        n_in = sum(len(str(m.content).split()) for m in messages)
        n_out = len(text.split())
        message.usage_metadata = {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}
        message.response_metadata = {"model_name": self.model_name}
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._next_reply(messages, stop, kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next_reply(messages, stop, kwargs)
        pieces = re.findall(r"\S+\s*|\s+", message.text) or [""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            chunk = AIMessageChunk(
                content=piece,
                tool_call_chunks=(
                    [
                        {"name": tc["name"], "args": _json(tc["args"]), "id": tc.get("id"), "index": j}
                        for j, tc in enumerate(message.tool_calls)
                    ]
                    if last
                    else []
                ),
                usage_metadata=message.usage_metadata if last else None,
                response_metadata=message.response_metadata if last else {},
            )
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        """Accept tools like a tool-calling model; replies decide which tools get called."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
