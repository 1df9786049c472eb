"""A conversation: the chosen model, generation parameters, history, and one turn at a time.

The session knows nothing about terminals: the REPL and `ask` both drive it, and tests drive it
directly with the scripted model. Models load lazily, optionally in a background thread so the
prompt appears at once while the local model loads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_app.models.factory import ModelSpec, build_chat_model, default_model, parse_model_spec
from agent_app.models.params import GenerationParams

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from agent_app.config import Settings

DEFAULT_SYSTEM_PROMPT = "You are a helpful, honest assistant. Answer clearly and briefly."


@dataclass
class TurnResult:
    """What one answer produced, for display, `/stats`-style summaries and `ask --json`."""

    text: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float | None:
        gen_time = self.total_s - (self.first_token_s or 0.0)
        return round(self.output_tokens / gen_time, 2) if self.output_tokens > 1 and gen_time > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "model": self.model,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                      "total_tokens": self.input_tokens + self.output_tokens},
            "timings": {"first_token_s": _round(self.first_token_s), "total_s": _round(self.total_s),
                        "tokens_per_s": self.tokens_per_s},
            "interrupted": self.interrupted,
            "warnings": self.warnings,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class ChatSession:
    """One conversation with one (switchable) model."""

    def __init__(self, settings: Settings, *, model: str | None = None,
                 system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                 progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.spec: ModelSpec = parse_model_spec(model or default_model(settings))
        self.params: GenerationParams = settings.params.model_copy()
        self.system_prompt = system_prompt
        self.history: list[BaseMessage] = []
        self.progress = progress
        self.last_turn: TurnResult | None = None
        self._model: BaseChatModel | None = None
        self._load_error: BaseException | None = None
        self._loaded = threading.Event()
        self._loader: threading.Thread | None = None
        self.status = "not loaded"

    # -- model --------------------------------------------------------------------------
    @property
    def model_label(self) -> str:
        return self.spec.label

    def load_in_background(self) -> None:
        """Start building the model in a thread; `model` waits for it."""
        if self._loader is None and self._model is None:
            self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        self.status = "loading"
        try:
            self._model = build_chat_model(self.spec, self.settings, progress=self._report)
            self.status = "ready"
        except BaseException as exc:  # handed to the thread that needs the model
            self._load_error = exc
            self.status = "failed"
        finally:
            self._loaded.set()

    def _report(self, message: str) -> None:
        self.status = message
        if self.progress:
            self.progress(message)

    @property
    def model(self) -> BaseChatModel:
        """The chat model, built on first use (or awaited when loading in the background)."""
        if self._model is None:
            if self._loader is None:
                self._load()
            self._loaded.wait()
            if self._load_error is not None:
                error, self._load_error = self._load_error, None
                self._loader = None
                self._loaded.clear()
                raise error
        assert self._model is not None
        return self._model

    @property
    def model_ready(self) -> bool:
        return self._model is not None

    def switch_model(self, model: str) -> str:
        """Switch backend/model, keeping the history. On failure the current model stays."""
        spec = parse_model_spec(model)
        new = build_chat_model(spec, self.settings, progress=self._report)
        self.spec, self._model, self._loader = spec, new, None
        self._loaded.set()
        self.status = "ready"
        return spec.label

    def set_params(self, values: dict[str, Any]) -> GenerationParams:
        """Change generation parameters (validated; a `None` value resets one)."""
        self.params = self.params.merged(values)
        return self.params

    def clear(self) -> None:
        self.history.clear()

    # -- turns --------------------------------------------------------------------------
    def messages_for(self, user_input: str) -> list[BaseMessage]:
        from langchain_core.messages import HumanMessage, SystemMessage

        system = [SystemMessage(self.system_prompt)] if self.system_prompt else []
        return [*system, *self.history, HumanMessage(user_input)]

    def stream_reply(self, user_input: str) -> Iterator[str]:
        """Stream the answer to `user_input` and record the turn in the history.

        Stopping early (Ctrl-C, closing the iterator) keeps the partial answer. A failure with
        no answer at all leaves the history as it was, so the turn can simply be retried.
        """
        from langchain_core.messages import AIMessage, HumanMessage

        model = self.model
        turn = self.last_turn = TurnResult(model=self.model_label)
        started = time.perf_counter()
        parts: list[str] = []
        messages = self.messages_for(user_input)
        try:
            for chunk in model.stream(messages, **self.params.invoke_kwargs()):
                usage = getattr(chunk, "usage_metadata", None)
                if usage:
                    turn.input_tokens = usage.get("input_tokens", 0)
                    turn.output_tokens = usage.get("output_tokens", 0)
                trimmed = (getattr(chunk, "response_metadata", None) or {}).get("prompt_trimmed")
                if trimmed:
                    turn.warnings.append(_trim_warning(trimmed))
                text = chunk.text if isinstance(chunk.content, str | list) else str(chunk.content)
                if text:
                    if turn.first_token_s is None:
                        turn.first_token_s = time.perf_counter() - started
                    parts.append(text)
                    yield text
        except (KeyboardInterrupt, GeneratorExit):
            turn.interrupted = True
            raise
        except Exception as exc:
            from agent_app.models.errors import explain

            error = explain(exc, base_url=self.settings.base_url)
            if error is None:
                raise
            raise error from exc
        finally:
            turn.total_s = time.perf_counter() - started
            turn.text = "".join(parts)
            if turn.text:
                self.history += [HumanMessage(user_input), AIMessage(turn.text)]

    def reply(self, user_input: str) -> TurnResult:
        """Answer without streaming to a consumer (still streams internally, for timings)."""
        for _ in self.stream_reply(user_input):
            pass
        assert self.last_turn is not None
        return self.last_turn


def _trim_warning(trimmed: dict[str, Any]) -> str:
    parts = []
    if trimmed.get("dropped_messages"):
        parts.append(f"left out the {trimmed['dropped_messages']} oldest messages")
    if trimmed.get("truncated_tokens"):
        parts.append(f"cut {trimmed['truncated_tokens']} tokens from the start of your input")
    return "input too long for the model's context window: " + " and ".join(parts)

