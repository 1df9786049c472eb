"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp's server, Ollama, ...).

Thin subclasses of `langchain_openai` models that accept the same generation parameters as the
local backend, so one chain runs on either: `top_k`, `repetition_penalty` and
`no_repeat_ngram_size` are not OpenAI API parameters, so for a compatible server they travel in
`extra_body` (which llama.cpp and vLLM read) and for api.openai.com they are dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_openai import ChatOpenAI, OpenAI

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


class OpenAIChatModel(ChatOpenAI):
    """`ChatOpenAI` that takes the app's generation parameters on any server."""

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
