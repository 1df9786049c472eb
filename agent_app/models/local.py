"""LangChain models over the local transformers runtime.

- `LocalCompletionModel` is `langchain_huggingface.HuggingFacePipeline` (prompt in, text out) with
  generation routed through our runtime, which fixes what the stock class gets wrong here:
  `invoke` ignoring `stop`, `stream` only stopping on single-token stops, and a new thread per
  stream (about 45% slower).
- `LocalChatModel` is a `BaseChatModel` over it: it renders every message type (system, human,
  AI with tool calls, tool) with the tokenizer's chat template, trims a prompt that would not fit
  the context window (keeping the system message and the newest messages, with a warning in
  `response_metadata`), streams token by token, and reports `usage_metadata`.
Both accept the `GenerationParams` fields as constructor defaults and as per-call keyword arguments.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    GenerationChunk,
    LLMResult,
)
from langchain_huggingface import HuggingFacePipeline
from pydantic import ConfigDict, Field, model_validator

from agent_app.models.local_runtime import LOCAL_DEFAULT_PARAMS, LOCAL_MAX_TOKENS, GenerationResult, LocalRuntime
from agent_app.models.params import PARAM_NAMES, GenerationParams

log = logging.getLogger(__name__)

# Defaults that suit a small instruct model: greedy decoding loops, a little sampling and a mild
# repetition penalty read better. Every value can be changed by config, template or /params.


def _params(defaults: GenerationParams, stop: list[str] | None, kwargs: dict[str, Any]) -> GenerationParams:
    override = {k: v for k, v in kwargs.items() if k in PARAM_NAMES and v is not None}
    if stop:
        override["stop"] = list(stop)
    return defaults.merged(override)


def _usage(result: GenerationResult) -> dict[str, int]:
    return {
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "total_tokens": result.input_tokens + result.output_tokens,
    }


class LocalCompletionModel(HuggingFacePipeline):
    """`HuggingFacePipeline` with stop strings, fast streaming and usage, for completion prompts."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    runtime: LocalRuntime = Field(exclude=True)
    params: GenerationParams = Field(default_factory=lambda: LOCAL_DEFAULT_PARAMS.model_copy())

    def __init__(self, runtime: LocalRuntime, **kwargs: Any) -> None:
        super().__init__(runtime=runtime, pipeline=runtime.pipeline, model_id=runtime.name, **kwargs)  # type: ignore[call-arg]

    @property
    def _llm_type(self) -> str:
        return "local_transformers"

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        params = _params(self.params, stop, kwargs)
        generations, usage = [], {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        for prompt in prompts:
            on_text = (lambda t: run_manager.on_llm_new_token(t)) if run_manager else None
            result = self.runtime.generate(prompt, params, on_text)
            generations.append([Generation(text=result.text, generation_info={"finish_reason": result.finish_reason})])
            for key, value in _usage(result).items():
                usage[key] += value
        return LLMResult(generations=generations, llm_output={"token_usage": usage, "model_name": self.model_id})

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        params = _params(self.params, stop, kwargs)
        for item in self.runtime.stream(prompt, params):
            if isinstance(item, GenerationResult):
                yield GenerationChunk(
                    text="", generation_info={"finish_reason": item.finish_reason, "usage": _usage(item)}
                )
                return
            chunk = GenerationChunk(text=item)
            if run_manager:
                run_manager.on_llm_new_token(item, chunk=chunk)
            yield chunk


STANDARD_PARAMS = ("temperature", "max_tokens", "top_p", "stop", "seed")
"""Constructor arguments other LangChain chat models take, with the same names and meanings."""


class LocalChatModel(BaseChatModel):
    """A chat model over a local transformers model (the bundled SmolLM2 by default).

    Built like other LangChain chat models: `LocalChatModel(model="bundled", temperature=0,
    max_tokens=64)`, `model` being "bundled", a transformers folder or a Hugging Face id; the
    app itself passes a ready `llm` (one shared runtime per model).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: LocalCompletionModel
    params: GenerationParams = Field(default_factory=lambda: LOCAL_DEFAULT_PARAMS.model_copy())
    context_window: int | None = None
    """Prompt + answer token limit; default: the model's own."""
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    timeout: float | None = None
    """Seconds an answer may take; a longer one stops and raises TimeoutError."""

    @model_validator(mode="before")
    @classmethod
    def _standard_arguments(cls, data: Any) -> Any:
        """Build the runtime from `model` when no `llm` is given; fold the standard sampling
        arguments into `params` (the one place generation reads them)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        given = {k: data[k] for k in STANDARD_PARAMS if data.get(k) is not None}
        params = data.get("params") or LOCAL_DEFAULT_PARAMS
        params = (params if isinstance(params, GenerationParams) else GenerationParams(**params)).merged(given)
        data["params"] = params
        if data.get("llm") is None:
            from agent_app.models.local_runtime import get_runtime
            from agent_app.models.settings import ModelSettings

            source = str(data.get("model") or "bundled").removeprefix("local/")
            defaults = ModelSettings()  # the app's thread choice, so its runtime is shared
            runtime = get_runtime(source, threads=defaults.threads, decode_threads=defaults.decode_threads)
            data["llm"] = LocalCompletionModel(runtime, params=params)
        return data

    @property
    def runtime(self) -> LocalRuntime:
        return self.llm.runtime

    @property
    def model_name(self) -> str:
        return self.runtime.name

    @property
    def tokenizer(self) -> Any:
        """The model's own tokenizer (memory budgets count tokens with it)."""
        return self.runtime.tokenizer

    @property
    def _llm_type(self) -> str:
        return "local_transformers_chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, **self.params.invoke_kwargs()}

    # -- prompt ---------------------------------------------------------------------------
    def render(self, messages: list[BaseMessage]) -> str:
        """The exact prompt text the model will see for `messages`."""
        return self.runtime.render_chat([_as_role_dict(m) for m in messages])

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Any = None) -> int:
        return self.runtime.count_tokens(self.render(messages))

    def get_num_tokens(self, text: str) -> int:
        return self.runtime.count_tokens(text)

    def _fit(self, messages: list[BaseMessage], params: GenerationParams) -> tuple[str, dict[str, Any]]:
        """Render `messages`, dropping the oldest turns (and, last, the start of the newest
        message) until prompt + answer fit the context window."""
        window = self.context_window or self.runtime.context_window
        budget = window - min(params.max_tokens or LOCAL_MAX_TOKENS, window // 2)
        prompt = self.render(messages)
        if self.runtime.count_tokens(prompt) <= budget:
            return prompt, {}
        system = [m for m in messages[:1] if isinstance(m, SystemMessage)]
        rest = messages[len(system) :]
        dropped = 0
        while len(rest) > 1:
            rest = rest[1:]
            dropped += 1
            prompt = self.render(system + rest)
            if self.runtime.count_tokens(prompt) <= budget:
                return prompt, {"dropped_messages": dropped}
        # One message is still too long: keep its end, which usually holds the question.
        last = rest[0]
        text = last.text
        overflow = self.runtime.count_tokens(prompt) - budget
        ids = self.runtime.tokenizer(text, add_special_tokens=False)["input_ids"]
        kept = self.runtime.tokenizer.decode(ids[min(len(ids), overflow + 8) :])
        prompt = self.render([*system, last.model_copy(update={"content": kept})])
        return prompt, {
            "dropped_messages": dropped,
            "truncated_tokens": len(ids) - len(self.runtime.tokenizer(kept, add_special_tokens=False)["input_ids"]),
        }

    # -- generation -----------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = _params(self.params, stop, kwargs)
        prompt, trimmed = self._fit(messages, params)
        on_text = (lambda t: run_manager.on_llm_new_token(t)) if run_manager else None
        cancel = threading.Event()
        timer = threading.Timer(self.timeout, cancel.set) if self.timeout else None
        if timer:
            timer.start()
        try:
            result = self.runtime.generate(prompt, params, on_text, cancel)
        finally:
            if timer:
                timer.cancel()
        if result.finish_reason == "cancelled":
            raise TimeoutError(f"the local model did not finish within {self.timeout:g} s (timeout)")
        message = AIMessage(
            content=result.text, usage_metadata=_usage(result), response_metadata=self._metadata(result, trimmed)
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        params = _params(self.params, stop, kwargs)
        prompt, trimmed = self._fit(messages, params)
        deadline = time.monotonic() + self.timeout if self.timeout else None
        stream = self.runtime.stream(prompt, params)
        for item in stream:
            if deadline is not None and time.monotonic() > deadline:
                stream.close()  # cancels the generation
                raise TimeoutError(f"the local model did not finish within {self.timeout:g} s (timeout)")
            if isinstance(item, GenerationResult):
                final = AIMessageChunk(
                    content="",
                    usage_metadata=_usage(item),
                    chunk_position="last",
                    response_metadata=self._metadata(item, trimmed),
                )
                yield ChatGenerationChunk(message=final)
                return
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
            if run_manager:
                run_manager.on_llm_new_token(item, chunk=chunk)
            yield chunk

    def _metadata(self, result: GenerationResult, trimmed: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "model_name": self.model_name,
            "finish_reason": result.finish_reason,
            "model_provider": "local",
        }
        if trimmed:
            meta["prompt_trimmed"] = trimmed
        return meta


def _as_role_dict(message: BaseMessage) -> dict[str, str]:
    """Map any LangChain message to the role/content form chat templates expect."""
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.text}
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": message.text}
    if isinstance(message, AIMessage):
        content: str = message.text
        # Templates of small models know no tool-call syntax: show calls as JSON lines.
        for call in message.tool_calls:
            content += ("\n" if content else "") + json.dumps(
                {"tool_call": {"name": call["name"], "arguments": call["args"]}}, ensure_ascii=False
            )
        return {"role": "assistant", "content": content}
    if isinstance(message, ToolMessage):
        name = f"{message.name}: " if message.name else ""
        return {"role": "tool", "content": f"{name}{message.text}"}
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": message.text}
    return {"role": message.type, "content": message.text}
