"""One turn's outcome (`TurnResult`, what `ask --json` prints) and the callback that gathers
what a turn's runs report beside the answer.

Token usage and timings are not counted here: the session's `StatsCallback` (the one `/stats`
reads) counts them for every model type, and `TurnResult.take_stats` copies that turn's figures,
so `ask --json` and `/stats` can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from langchain_core.callbacks import BaseCallbackHandler

from agent_app.agent.run import Observation, ToolCall

if TYPE_CHECKING:
    from agent_app.config import Settings
    from agent_app.errors import AppError
    from agent_app.monitoring.stats import TurnStats

TurnItem: TypeAlias = str | ToolCall | Observation
"""What a turn's stream yields: answer text, or (agent mode) a tool call or its observation."""


def explained(exc: Exception, settings: Settings, *, mid_answer: bool) -> AppError | None:
    """A model's failure as the app's one-line error (models.errors), None for a bug."""
    from agent_app.models.errors import explain

    return explain(
        exc,
        base_url=settings.base_url,
        mid_answer=mid_answer,
        timeout_s=settings.request_timeout,
        retries=settings.max_retries,
    )


@dataclass
class TurnResult:
    """What one answer produced, for display, `ask --json` and tests."""

    text: str = ""
    model: str = ""
    template: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    interrupted: bool = False
    finish_reason: str | None = None
    """Why the answering model stopped: "stop", "length" (cut at max_tokens), "cancelled", ..."""
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """What a chain produced beyond text (votes, reasoning, parsed data, ...)."""
    sources: list[Any] = field(default_factory=list)
    """Retrieved passages the answer could cite (`agent_app.retrieval.Source`)."""
    steps: list[Any] = field(default_factory=list)
    """Agent steps (`agent_app.agent.AgentStep`): tool, input, observation."""

    def take_stats(self, stats: TurnStats) -> None:
        """Copy the turn's usage from the stats callback, and give it the turn's timings."""
        self.input_tokens, self.output_tokens = stats.input_tokens, stats.output_tokens
        self.model_calls = len(stats.calls)
        stats.seconds, stats.ttft_seconds = self.total_s, self.first_token_s

    def take_agent_result(self, result: Any) -> None:
        """Record an agent run (`agent.AgentResult`): its steps, and what the answer checks did."""
        self.steps = list(result.steps)
        self.details.update(agent_mode=result.mode, forced_final_answer=result.forced)
        if result.answer_replaced:
            self.details["answer_replaced"] = result.answer_replaced
        if result.answer_replaced == "unsupported":
            self.warnings.append(
                "the model's answer did not match the tool results; the answer shown is what the tool returned"
            )
        if result.injection_blocked:
            self.details["injection_blocked"] = True
            self.warnings.append(
                "a tool result held instructions aimed at the assistant; they were ignored and kept out of the answer"
            )

    def note_truncation(self, max_tokens: int | None) -> None:
        """Warn, with the fix, when the answer shown was cut at the length limit. (A quoted RAG
        answer is not the cut generation: nothing to warn about then.)"""
        quoted = self.details.get("answer_source") in {"quoted", "not found"}
        if self.finish_reason != "length" or self.interrupted or quoted:
            return
        self.warnings.append(
            f"the answer was cut at max_tokens ({max_tokens}): /params max_tokens={2 * max_tokens} "
            "(or -p max_tokens=...) for a longer one"
            if max_tokens
            else "the answer was cut at the model's length limit"
        )

    @property
    def tokens_per_s(self) -> float | None:
        gen_time = self.total_s - (self.first_token_s or 0.0)
        return round(self.output_tokens / gen_time, 2) if self.output_tokens > 1 and gen_time > 0 else None

    def as_dict(self) -> dict[str, Any]:
        data = {
            "answer": self.text,
            "model": self.model,
            "template": self.template,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens,
                "model_calls": self.model_calls,
            },
            "timings": {
                "first_token_s": _round(self.first_token_s),
                "total_s": _round(self.total_s),
                "tokens_per_s": self.tokens_per_s,
            },
            "interrupted": self.interrupted,
            "finish_reason": "cancelled" if self.interrupted else self.finish_reason,
            "warnings": self.warnings,
        }
        if self.details:
            data["details"] = self.details
        if self.sources:
            data["sources"] = [s.model_dump(exclude_none=True) for s in self.sources]
        if self.steps or self.details.get("agent_mode"):
            data["steps"] = [s.as_dict() for s in self.steps]
        return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class TurnWatcher(BaseCallbackHandler):
    """Collects what a turn's callbacks tell beyond usage: retrieved sources, context-trim
    warnings, why the model stopped, chain progress. (Usage and timings have one path:
    `monitoring.stats.StatsCallback`.)"""

    def __init__(self, turn: TurnResult, on_progress: Callable[[str], None] | None = None) -> None:
        self.turn = turn
        self.on_progress = on_progress
        """Told what a multi-call chain is doing ("sample 3/5"), for the chat's spinner."""

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == "progress" and isinstance(data, dict) and self.on_progress is not None:
            self.on_progress(str(data.get("text", "")))

    def on_retriever_end(self, documents: Any, **kwargs: Any) -> None:
        from agent_app.retrieval import sources_from_documents

        self.turn.sources = sources_from_documents(documents)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generations in response.generations:
            for gen in generations[:1]:
                meta = getattr(getattr(gen, "message", None), "response_metadata", None) or {}
                if meta.get("prompt_trimmed"):
                    self.turn.warnings.append(_trim_warning(meta["prompt_trimmed"]))
                # Why the model stopped ("stop", "length", ...): the last call's is the answer's.
                reason = meta.get("finish_reason") or (gen.generation_info or {}).get("finish_reason")
                if reason:
                    self.turn.finish_reason = str(reason)


def _trim_warning(trimmed: dict[str, Any]) -> str:
    parts = []
    if trimmed.get("dropped_messages"):
        parts.append(f"left out the {trimmed['dropped_messages']} oldest messages")
    if trimmed.get("truncated_tokens"):
        parts.append(f"cut {trimmed['truncated_tokens']} tokens from the start of your input")
    return "input too long for the model's context window: " + " and ".join(parts)
