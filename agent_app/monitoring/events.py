"""LangChain callbacks turned into plain event dicts.

`EventCallbackHandler` receives every LangChain callback (chains, chat models, LLMs, tools,
retrievers), keeps the start time of each run, and calls `handle_event(event)` with one JSON-ready
dict per start, end and error. The log file, the live notes and the statistics are all subclasses,
so they agree on what happened. Tokens are not events (too many): a model run's first token time
(`ttft_ms`) and its number of streamed chunks are recorded on its end event.

Every event has: `ts` (ISO local time), `event` (`<kind>_<phase>`, e.g. `chat_model_end`), `kind`
(chain, chat_model, llm, tool, retriever), `phase` (start, end, error), `run_id`, `parent_run_id`,
`depth` (0 for a top-level run) and `name`. Ends and errors add `duration_ms`; errors add
`error: {type, message}`; model runs add `model`, `provider`, `usage`, `ttft_ms`, `chunks`.
Keys in CONTENT_KEYS carry prompt, answer, tool and document text and are left out when content
is off.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage

CONTENT_KEYS = frozenset(
    {"inputs", "outputs", "messages", "prompts", "text", "input", "output", "query", "documents", "tool_calls"}
)
# Generation settings worth logging; other invocation params may hold clients or credentials.
_LOGGED_PARAMS = ("temperature", "top_p", "top_k", "max_tokens", "max_new_tokens", "stop", "seed")
DEFAULT_MAX_FIELD_CHARS = 10_000


@dataclass
class _Run:
    kind: str
    name: str
    depth: int
    started: float
    model: str | None = None
    provider: str | None = None
    first_token: float | None = None
    chunks: int = 0


class EventCallbackHandler(BaseCallbackHandler):
    """Base class: turns callbacks into event dicts for `handle_event`. Thread-safe."""

    # Called in the run's own thread even in async runs, so events keep their order.
    run_inline = True

    def __init__(self, *, max_field_chars: int = DEFAULT_MAX_FIELD_CHARS) -> None:
        self.max_field_chars = max_field_chars
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.RLock()
        self._broken = False

    def handle_event(self, event: dict[str, Any]) -> None:
        """Receive one event. Subclasses override this."""

    # -- plumbing ----------------------------------------------------------------------------

    def _start(
        self,
        kind: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        **fields: Any,
    ) -> None:
        with self._lock:
            parent = self._runs.get(parent_run_id) if parent_run_id else None
            run = _Run(kind, name, parent.depth + 1 if parent else 0, time.perf_counter())
            run.model, run.provider = fields.get("model"), fields.get("provider")
            self._runs[run_id] = run
            self._send(run, "start", run_id, parent_run_id, fields)

    def _finish(self, phase: str, run_id: UUID, parent_run_id: UUID | None, **fields: Any) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
            if run is None:  # started before this handler was attached
                return
            now = time.perf_counter()
            fields = {"duration_ms": _ms(now - run.started), **fields}
            if run.kind in ("chat_model", "llm"):
                fields.setdefault("model", run.model)
                fields["provider"] = run.provider
                fields["ttft_ms"] = _ms(run.first_token - run.started) if run.first_token else None
                fields["chunks"] = run.chunks
            self._send(run, phase, run_id, parent_run_id, fields)

    def _fail(self, run_id: UUID, parent_run_id: UUID | None, error: BaseException) -> None:
        """End a run that raised. A user's Ctrl-C, or a consumer that stopped reading, is
        `cancelled`, not a failure: nothing went wrong."""
        if isinstance(error, KeyboardInterrupt | GeneratorExit):
            self._finish("cancelled", run_id, parent_run_id)
        else:
            self._finish("error", run_id, parent_run_id, error=_error(error))

    def _send(self, run: _Run, phase: str, run_id: UUID, parent_run_id: UUID | None, fields: dict[str, Any]) -> None:
        event = {
            "ts": datetime.now().astimezone().isoformat(timespec="milliseconds"),
            "event": f"{run.kind}_{phase}",
            "kind": run.kind,
            "phase": phase,
            "run_id": str(run_id),
            "parent_run_id": str(parent_run_id) if parent_run_id else None,
            "depth": run.depth,
            "name": run.name,
            **{k: v for k, v in fields.items() if v is not None},
        }
        self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        if self._broken:
            return
        try:
            self.handle_event(event)
        except Exception as exc:  # a monitoring bug must never break the chat
            self._broken = True
            warnings.warn(f"{type(self).__name__} stopped: {exc!r}", RuntimeWarning, stacklevel=2)

    def _content(self, value: Any) -> Any:
        return jsonable(value, self.max_field_chars)

    # -- chains --------------------------------------------------------------------------------

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        name = _name(serialized, kwargs, "chain")
        self._start("chain", run_id, parent_run_id, name, inputs=self._content(inputs))

    def on_chain_end(self, outputs, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self._finish("end", run_id, parent_run_id, outputs=self._content(outputs))

    def on_chain_error(self, error, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self._fail(run_id, parent_run_id, error)

    # -- models ----------------------------------------------------------------------------------

    def on_chat_model_start(
        self, serialized, messages, *, run_id, parent_run_id=None, metadata=None, **kwargs: Any
    ) -> None:
        self._start(
            "chat_model",
            run_id,
            parent_run_id,
            _name(serialized, kwargs, "chat_model"),
            **_model_fields(metadata, kwargs.get("invocation_params")),
            messages=self._content(messages[0] if len(messages) == 1 else messages),
        )

    def on_llm_start(self, serialized, prompts, *, run_id, parent_run_id=None, metadata=None, **kwargs: Any):
        self._start(
            "llm",
            run_id,
            parent_run_id,
            _name(serialized, kwargs, "llm"),
            **_model_fields(metadata, kwargs.get("invocation_params")),
            prompts=self._content(prompts),
        )

    def on_llm_new_token(self, token, *, run_id, **kwargs: Any) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return
            if not token:  # the closing chunk carries only usage and metadata
                return
            run.chunks += 1
            if run.first_token is None:
                run.first_token = time.perf_counter()
                self.on_first_token(run_id, run.first_token - run.started)

    def on_first_token(self, run_id: UUID, seconds: float) -> None:
        """Called once per model run when its first non-empty token arrives."""

    def on_llm_end(self, response, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self._finish("end", run_id, parent_run_id, **self._response_fields(response))

    def on_llm_error(self, error, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self._fail(run_id, parent_run_id, error)

    def _response_fields(self, response: Any) -> dict[str, Any]:
        generation = next((g for gens in response.generations for g in gens), None)
        message = getattr(generation, "message", None)
        fields: dict[str, Any] = {"usage": usage_of(response)}
        if message is not None:
            model = (message.response_metadata or {}).get("model_name")
            if model:
                fields["model_reported"] = model
            if getattr(message, "tool_calls", None):
                fields["tool_calls"] = self._content(
                    [{k: tc[k] for k in ("name", "args")} for tc in message.tool_calls]
                )
        if generation is not None:
            fields["text"] = self._content(generation.text)
        return fields

    # -- tools -----------------------------------------------------------------------------------

    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self._start("tool", run_id, parent_run_id, _name(serialized, kwargs, "tool"), input=self._content(input_str))

    def on_tool_end(self, output, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        output = getattr(output, "content", output)  # a ToolMessage
        self._finish("end", run_id, parent_run_id, output=self._content(output))

    def on_tool_error(self, error, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self._fail(run_id, parent_run_id, error)

    # -- retrievers ----------------------------------------------------------------------------

    def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        name = _name(serialized, kwargs, "retriever")
        self._start("retriever", run_id, parent_run_id, name, query=self._content(query))

    def on_retriever_end(self, documents, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        sources = [str(d.metadata.get("source")) for d in documents if d.metadata.get("source")]
        self._finish(
            "end",
            run_id,
            parent_run_id,
            n_docs=len(documents),
            sources=sources,
            documents=self._content(documents),
        )

    def on_retriever_error(self, error, *, run_id, parent_run_id=None, **kwargs: Any) -> None:
        self._fail(run_id, parent_run_id, error)

    # -- events of the app's own ----------------------------------------------------------------

    def record(self, event: str, **fields: Any) -> None:
        """An event of the app's own (e.g. "conversation_resumed"), outside any LangChain run."""
        self._deliver(
            {
                "ts": datetime.now().astimezone().isoformat(timespec="milliseconds"),
                "event": event,
                "kind": "app",
                "depth": 0,
                **{k: self._content(v) for k, v in fields.items()},
            }
        )


# -- helpers -------------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    serialized = serialized or {}
    if serialized.get("name"):
        return str(serialized["name"])
    ids = serialized.get("id")
    return str(ids[-1]) if ids else default


def _model_fields(metadata: dict[str, Any] | None, params: dict[str, Any] | None) -> dict[str, Any]:
    metadata, params = metadata or {}, params or {}
    return {
        "model": metadata.get("ls_model_name") or params.get("model") or params.get("model_name"),
        "provider": metadata.get("ls_provider"),
        "params": {k: params[k] for k in _LOGGED_PARAMS if params.get(k) is not None} or None,
    }


def usage_of(response: Any) -> dict[str, int] | None:
    """Token usage of a model run's result, wherever the model type puts it: the message's
    `usage_metadata` (chat models), the generation's `generation_info["usage"]` (our local
    completion model when streaming), or `llm_output` (completion models on invoke)."""
    generation = next((g for gens in response.generations for g in gens), None)
    usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
    if not usage and generation is not None and generation.generation_info:
        usage = generation.generation_info.get("usage")
    if usage:
        return {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens") if k in usage}
    llm_output = response.llm_output
    token_usage = (llm_output or {}).get("token_usage") or (llm_output or {}).get("usage")
    if token_usage:
        out = {
            "input_tokens": token_usage.get("prompt_tokens", token_usage.get("input_tokens")),
            "output_tokens": token_usage.get("completion_tokens", token_usage.get("output_tokens")),
            "total_tokens": token_usage.get("total_tokens"),
        }
        return {k: v for k, v in out.items() if v is not None} or None
    return None


def _error(error: BaseException) -> dict[str, str]:
    return {"type": type(error).__name__, "message": str(error)}


def jsonable(value: Any, max_chars: int = DEFAULT_MAX_FIELD_CHARS, _depth: int = 0) -> Any:
    """JSON-ready data from LangChain values: messages, documents, prompt values, pydantic models."""
    if isinstance(value, str):
        if len(value) > max_chars:
            return value[:max_chars] + f"…[{len(value) - max_chars} more chars]"
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    if _depth > 8:
        return "…"
    nested = _depth + 1
    if isinstance(value, BaseMessage):
        out: dict[str, Any] = {"role": value.type, "content": jsonable(value.content, max_chars, nested)}
        tool_calls = getattr(value, "tool_calls", None)
        if tool_calls:
            out["tool_calls"] = jsonable(tool_calls, max_chars, nested)
        return out
    if hasattr(value, "page_content") and hasattr(value, "metadata"):  # a Document
        return {
            "source": jsonable(value.metadata.get("source"), max_chars, nested),
            "content": jsonable(value.page_content, max_chars, nested),
        }
    if hasattr(value, "to_messages"):  # a PromptValue
        return jsonable(value.to_messages(), max_chars, nested)
    if isinstance(value, dict):
        return {str(k): jsonable(v, max_chars, nested) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [jsonable(v, max_chars, nested) for v in value]
    if hasattr(value, "model_dump"):
        try:
            return jsonable(value.model_dump(mode="json"), max_chars, nested)
        except Exception:
            pass
    return jsonable(repr(value), max_chars, nested)
