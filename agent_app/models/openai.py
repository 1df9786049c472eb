"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp's server, Ollama, ...).

Thin subclasses of `langchain_openai` models that accept the same generation parameters as the
local backend, so one chain runs on either: `top_k`, `repetition_penalty` and
`no_repeat_ngram_size` are not OpenAI API parameters, so for a compatible server they travel in
`extra_body` (which llama.cpp and vLLM read) and for api.openai.com they are dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_openai import ChatOpenAI, OpenAI

from agent_app.models.profile import ModelProfile
from agent_app.models.served_tools import ToolCalling

log = logging.getLogger(__name__)

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
_NON_OPENAI = ("top_k", "repetition_penalty", "no_repeat_ngram_size")


def _is_official(base_url: str | None) -> bool:
    return not base_url or "api.openai.com" in base_url


def _move_extra_params(kwargs: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    extra = {k: kwargs.pop(k) for k in _NON_OPENAI if k in kwargs}
    extra = {k: v for k, v in extra.items() if v is not None}
    if not extra:
        return kwargs
    if _is_official(base_url):
        log.info("parameters %s are not supported by the OpenAI API and were not sent", sorted(extra))
        return kwargs
    if "repetition_penalty" in extra:
        extra["repeat_penalty"] = extra["repetition_penalty"]  # llama.cpp's name for it
    kwargs["extra_body"] = {**(kwargs.get("extra_body") or {}), **extra}
    return kwargs


# OpenAI model families known to call tools natively; other names (a local server's "smollm2")
# get the ReAct loop, which works with any model.
_TOOL_CALLING_NAMES = re.compile(r"^(gpt-[3-9]|gpt-\d|o\d|chatgpt)", re.IGNORECASE)


class OpenAIChatModel(ChatOpenAI):
    """`ChatOpenAI` that takes the app's generation parameters on any server, and calls tools
    on servers that ignore `tools` (models.served_tools)."""

    tool_calling: ToolCalling = "auto"
    """native, json_schema (emulated through response_format), or auto (see served_tools)."""
    accepts_grammar: bool = False
    """The server reads a GBNF `grammar` in the request (llama.cpp in-process: models.factory)."""

    @property
    def app_profile(self) -> ModelProfile:
        """Native tools for OpenAI's tool-calling families or a server set to `tool_calling:
        native`; a grammar for llama.cpp."""
        native = bool(_TOOL_CALLING_NAMES.match(str(self.model_name or ""))) or self.tool_calling == "native"
        return ModelProfile(native_tools=native, accepts_grammar=self.accepts_grammar)

    def tool_mode(self) -> str:
        """How this model calls tools: "native" or "json_schema" (auto is resolved, once)."""
        if self.tool_calling != "auto":
            return self.tool_calling
        if _is_official(self.openai_api_base):
            return "native"
        from agent_app.models.served_tools import probe

        return probe(self)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, Any]:
        if self.tool_mode() == "native":
            return super().bind_tools(tools, tool_choice=tool_choice, **kwargs)
        from agent_app.models import served_tools, tool_calls

        formatted, choice = tool_calls.offered(tools, tool_choice)
        kwargs.pop("parallel_tool_calls", None)  # one call per answer here
        if choice == "none":
            return self.bind(**kwargs)
        offered = [t for t in formatted if choice in ("auto", "required") or t["function"]["name"] == choice]
        # In extra_body, not as response_format: the OpenAI client would parse the answer itself
        # and raise on one cut at max_tokens, which is reported here as an invalid call instead.
        extra = {**(kwargs.pop("extra_body", None) or {})}
        extra["response_format"] = served_tools.response_format(offered, choice)
        return self.bind(extra_body=extra, emulated_tools={"tools": offered, "choice": choice}, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        emulated = kwargs.pop("emulated_tools", None)
        if emulated is None:
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        from agent_app.models import served_tools

        messages = served_tools.with_tools_instruction(messages, emulated["tools"], emulated["choice"])
        kwargs.pop("stream", None)
        result = super()._generate(messages, stop=None, run_manager=run_manager, **kwargs)  # a stop would cut the JSON
        return served_tools.emulated_result(result)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if "emulated_tools" not in kwargs:
            yield from super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
            return
        from agent_app.models import served_tools

        # The JSON is only a call once complete: it arrives as one chunk.
        yield served_tools.as_chunk(self._generate(messages, stop=stop, run_manager=run_manager, **kwargs))

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
        kwargs = _move_extra_params(dict(kwargs), self.openai_api_base)
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        # Set at construction they arrive here through model_kwargs, beside the API's own fields.
        payload = _move_extra_params(payload, self.openai_api_base)
        if not _is_official(self.openai_api_base) and "max_completion_tokens" in payload:
            # Compatible servers know the classic name; some ignore the new one.
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload


class OpenAICompletionModel(OpenAI):
    """`langchain_openai.OpenAI` (text completions) with the same parameter handling."""

    @property
    def _invocation_params(self) -> dict[str, Any]:
        return _move_extra_params(dict(super()._invocation_params), self.openai_api_base)

    def _generate(self, prompts: list[str], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any):
        kwargs = _move_extra_params(dict(kwargs), self.openai_api_base)
        return super()._generate(prompts, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(self, prompt: str, stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any):
        kwargs = _move_extra_params(dict(kwargs), self.openai_api_base)
        yield from super()._stream(prompt, stop=stop, run_manager=run_manager, **kwargs)
