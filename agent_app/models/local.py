"""LangChain models over the local transformers runtime.

- `LocalCompletionModel` is `langchain_huggingface.HuggingFacePipeline` (prompt in, text out) with
  generation routed through our runtime, which fixes what the stock class gets wrong here:
  `invoke` ignoring `stop`, `stream` only stopping on single-token stops, and a new thread per
  stream (about 45% slower).
- `LocalChatModel` is a `BaseChatModel` over it: it renders every message type (system, human,
  AI with tool calls, tool) with the tokenizer's chat template, trims a prompt that would not fit
  the context window (keeping the system message and the newest messages, with a warning in
  `response_metadata`), streams token by token, and reports `usage_metadata`. `bind_tools` and
  `with_structured_output` work by grammar-constrained decoding (models.constrained): a tool
  call or JSON answer always parses and matches its schema.
Both accept the `GenerationParams` fields as constructor defaults and as per-call keyword arguments.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.exceptions import OutputParserException
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
from langchain_core.output_parsers.transform import BaseCumulativeTransformOutputParser
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    GenerationChunk,
    LLMResult,
)
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.json import parse_json_markdown
from langchain_core.utils.pydantic import is_basemodel_subclass
from langchain_huggingface import HuggingFacePipeline
from pydantic import ConfigDict, Field, model_validator

from agent_app.models import tool_calls
from agent_app.models.constrained import Grammar, json_schema_grammar, tool_call_grammar
from agent_app.models.local_runtime import LOCAL_DEFAULT_PARAMS, LOCAL_MAX_TOKENS, GenerationResult, LocalRuntime
from agent_app.models.params import PARAM_NAMES, GenerationParams
from agent_app.models.profile import ModelProfile

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
        # No transformers pipeline: this class generates through the runtime (`_generate`,
        # `_stream`), and making one costs a one-shot `ask` 0.9 s (`runtime.pipeline` has it).
        super().__init__(runtime=runtime, pipeline=None, model_id=runtime.name, **kwargs)  # type: ignore[call-arg]

    @property
    def _llm_type(self) -> str:
        return "local_transformers"

    @property
    def app_profile(self) -> ModelProfile:
        """A small model on our runtime: scored, constrained, counted with its own tokenizer."""
        return ModelProfile(small=True, scoring=self.runtime, tokenizer=self.runtime.tokenizer)

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


# bench/bench_tool_choice.py, chosen on its tune half (SmolLM2-135M): the call/answer choice
# right for 85.7% of questions there; 78.6% on the check half. Opening a call gets 0.0-4.6%
# probability from this model, a little more when a tool is needed.
DEFAULT_CALL_THRESHOLD = 0.005
# The agent's copy_boost (AgentSettings), for the same reason: a call's values are the user's.
DEFAULT_COPY_BOOST = 2.0


@dataclass
class _Plan:
    messages: list[BaseMessage]
    grammar: Grammar | None
    kind: Literal["text", "tools", "json"]


def _schema_of(response_format: Any) -> dict[str, Any]:
    """A JSON schema from response_format in its OpenAI forms or as a bare schema."""
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            return dict(response_format["json_schema"].get("schema") or {"type": "object"})
        if response_format.get("type") == "json_object":
            return {"type": "object"}
        return response_format
    return convert_to_json_schema(response_format)


def _check_complete(result: list[Generation]) -> None:
    """LangChain's JSON parsers quietly close a document cut short at max_tokens (they also
    parse partial streams); a cut answer is a failure and is reported as one."""
    message = getattr(result[0], "message", None) if result else None
    if message is not None and message.response_metadata.get("finish_reason") == "length":
        raise OutputParserException(
            "the model's JSON was cut short at max_tokens; raise max_tokens", llm_output=message.text
        )


class _CompleteJsonParser(BaseCumulativeTransformOutputParser[Any]):
    """JSON (and, given `model_class`, a validated pydantic object) from a complete answer;
    growing partial objects while streaming, as LangChain's JsonOutputParser gives."""

    model_class: Any = None
    """A pydantic model class (v2, or v1 as LangChain still accepts)."""

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        text = result[0].text.strip()
        if partial:
            try:
                data = parse_json_markdown(text)
            except ValueError:
                return None
        else:
            _check_complete(result)
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise OutputParserException(f"the answer is not JSON: {exc}", llm_output=text) from exc
        if self.model_class is None or data is None:
            return data
        validate = getattr(self.model_class, "model_validate", None) or self.model_class.parse_obj
        try:
            return validate(data)
        except ValueError as exc:  # pydantic's ValidationError (v2 or v1)
            if partial:
                return None
            raise OutputParserException(f"the answer does not match {self.model_class.__name__}: {exc}") from exc

    def parse(self, text: str) -> Any:
        return self.parse_result([Generation(text=text)])


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
    call_threshold: float = DEFAULT_CALL_THRESHOLD
    """tool_choice="auto": call a tool when the model gives opening a call at least this
    probability (see models.constrained.Grammar)."""
    copy_boost: float = DEFAULT_COPY_BOOST
    """Logit bonus in a tool call for the tokens of the user's last message (0 = off)."""

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
            defaults = ModelSettings()  # the app's dtype and threads, so its runtime is shared
            runtime = get_runtime(
                source, dtype=defaults.dtype, threads=defaults.threads, decode_threads=defaults.decode_threads
            )
            data["llm"] = LocalCompletionModel(runtime, params=params)
        return data

    @property
    def runtime(self) -> LocalRuntime:
        return self.llm.runtime

    @property
    def model_name(self) -> str:
        return self.runtime.name

    @property
    def app_profile(self) -> ModelProfile:
        return self.llm.app_profile

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
        ids = self.runtime.tokenizer.encode(text)
        kept = self.runtime.tokenizer.decode(ids[min(len(ids), overflow + 8) :])
        prompt = self.render([*system, last.model_copy(update={"content": kept})])
        return prompt, {
            "dropped_messages": dropped,
            "truncated_tokens": len(ids) - self.runtime.count_tokens(kept),
        }

    # -- tools and structured output ------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        """Tools the model may call: `tool_choice` "auto" (default: the model chooses between
        answering and one call), "any"/"required", "none", or a tool's name."""
        formatted, choice = tool_calls.offered(tools, tool_choice)
        return self.bind(tools=formatted, tool_choice=choice, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, dict[str, Any] | Any]:
        """Answers as `schema` (pydantic class, TypedDict or JSON schema), always valid.

        json_schema (default) and json_mode decode the JSON straight against the schema
        (json_mode with a schema is held to it too: the grammar makes that free);
        function_calling makes it a forced call of a tool named after the schema."""
        from langchain_core.output_parsers import JsonOutputKeyToolsParser
        from langchain_core.output_parsers.openai_tools import PydanticToolsParser

        if kwargs:
            raise ValueError(f"unsupported arguments: {', '.join(kwargs)}")
        pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        json_schema = convert_to_json_schema(schema)
        trace = {"ls_structured_output_format": {"kwargs": {"method": method}, "schema": json_schema}}
        parser: Runnable[Any, Any]
        if method == "function_calling":
            llm = self.bind_tools([schema], tool_choice="any", **trace)
            name = convert_to_openai_tool(schema)["function"]["name"]
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)
                if pydantic
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method in ("json_schema", "json_mode"):
            llm = self.bind(response_format=json_schema, **trace)
            parser = _CompleteJsonParser(model_class=schema if pydantic else None)
        else:
            raise ValueError(f"unknown method {method!r}: json_schema, json_mode or function_calling")
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        failed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([failed], exception_key="parsing_error")

    def _plan(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> _Plan:
        """What this call decodes: plain text, a tool call (or answer), or JSON to a schema."""
        tools = kwargs.pop("tools", None) or []
        choice = kwargs.pop("tool_choice", None) or "auto"
        response_format = kwargs.pop("response_format", None)
        if response_format is not None:
            schema = _schema_of(response_format)
            messages = tool_calls.with_instruction(messages, tool_calls.schema_instruction(schema))
            return _Plan(messages, Grammar(json_schema_grammar(schema)), "json")
        if not tools or choice == "none":
            return _Plan(messages, None, "text")
        offered = tools if choice in ("auto", "required") else [t for t in tools if t["function"]["name"] == choice]
        messages = tool_calls.with_instruction(messages, tool_calls.tools_instruction(offered, choice))
        optional = choice == "auto"
        asked = [m.text for m in messages if isinstance(m, HumanMessage)][-1:]
        grammar = Grammar(
            tool_call_grammar(offered, optional=optional),
            self.call_threshold if optional else None,
            copy_from=tuple(asked),
            copy_boost=self.copy_boost,
        )
        return _Plan(messages, grammar, "tools")

    # -- generation -----------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan = self._plan(messages, kwargs)
        params = _params(self.params, stop, kwargs)
        prompt, trimmed = self._fit(plan.messages, params)
        on_text = (lambda t: run_manager.on_llm_new_token(t)) if run_manager else None
        cancel = threading.Event()
        timer = threading.Timer(self.timeout, cancel.set) if self.timeout else None
        if timer:
            timer.start()
        try:
            result = self.runtime.generate(prompt, params, on_text, cancel, plan.grammar)
        finally:
            if timer:
                timer.cancel()
        if result.finish_reason == "cancelled":
            raise TimeoutError(f"the local model did not finish within {self.timeout:g} s (timeout)")
        metadata = self._metadata(result, trimmed)
        if plan.kind == "tools" and result.text.lstrip().startswith("{"):
            calls, invalid = tool_calls.parse_call(result.text)
            message = AIMessage(
                content="",
                tool_calls=calls,
                invalid_tool_calls=invalid,
                usage_metadata=_usage(result),
                response_metadata={**metadata, "finish_reason": "tool_calls" if calls else result.finish_reason},
            )
        else:
            message = AIMessage(content=result.text, usage_metadata=_usage(result), response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        plan = self._plan(messages, kwargs)
        params = _params(self.params, stop, kwargs)
        prompt, trimmed = self._fit(plan.messages, params)
        deadline = time.monotonic() + self.timeout if self.timeout else None
        calls = tool_calls.CallStreamer() if plan.kind == "tools" else None
        stream = self.runtime.stream(prompt, params, plan.grammar)
        for item in stream:
            if deadline is not None and time.monotonic() > deadline:
                stream.close()  # cancels the generation
                raise TimeoutError(f"the local model did not finish within {self.timeout:g} s (timeout)")
            if isinstance(item, GenerationResult):
                rest = calls.finish() if calls else None
                if rest is not None:
                    yield ChatGenerationChunk(message=rest)
                metadata = self._metadata(item, trimmed)
                if calls and calls.mode == "call":
                    metadata["finish_reason"] = "tool_calls"
                final = AIMessageChunk(
                    content="", usage_metadata=_usage(item), chunk_position="last", response_metadata=metadata
                )
                yield ChatGenerationChunk(message=final)
                return
            message = calls.feed(item) if calls else AIMessageChunk(content=item)
            if message is None:
                continue
            chunk = ChatGenerationChunk(message=message)
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
        if result.p_call is not None:
            meta["tool_call_probability"] = result.p_call
        return meta


def _as_role_dict(message: BaseMessage) -> dict[str, str]:
    """Map any LangChain message to the role/content form chat templates expect."""
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.text}
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": message.text}
    if isinstance(message, AIMessage):
        content: str = message.text
        # Templates of small models know no tool-call syntax: calls are shown as the model
        # writes them (models.tool_calls).
        for call in message.tool_calls:
            content += ("\n" if content else "") + tool_calls.call_text(call["name"], call["args"])
        return {"role": "assistant", "content": content}
    if isinstance(message, ToolMessage):
        name = f"{message.name}: " if message.name else ""
        return {"role": "tool", "content": f"{name}{message.text}"}
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": message.text}
    return {"role": message.type, "content": message.text}
