"""Memory settings: which part of a conversation is sent to the model.

Kept free of LangChain imports so the configuration can load it cheaply; the strategies that use
these settings live in `agent_app.memory.strategies`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StrategyName = Literal["all", "last_turns", "tokens", "summary"]


class MemorySettings(BaseModel):
    """How much history the model sees. A turn is a user message and everything answering it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    strategy: StrategyName = Field(
        "last_turns",
        description="all: everything; last_turns: the last `max_turns` turns; tokens: as many recent "
        "turns as fit in `max_tokens`; summary: older turns summarised by the model",
    )
    max_turns: int = Field(10, ge=0, description="turns kept by 'last_turns' (a template's max_history)")
    max_tokens: int = Field(
        2048, ge=16, description="token budget of the history for 'tokens' (counted by the model's tokenizer)"
    )
    summary_after_turns: int | None = Field(
        8, ge=1, description="'summary': summarise once this many turns are not yet summarised"
    )
    summary_after_tokens: int | None = Field(
        None, ge=16, description="'summary': or once the not yet summarised history passes this many tokens"
    )
    keep_recent_turns: int = Field(3, ge=0, description="'summary': the most recent turns, always kept word for word")
    store: str = Field(
        "",
        description="where conversations are saved: empty for conversations.db in the data folder, or a "
        "PostgreSQL URL postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (several chats share it)",
    )
    scope: Literal["template", "conversation"] = Field(
        "template",
        description="template: a template sees only the turns made under it (a Japanese persona's "
        "turns do not leak into an English template); conversation: every template sees every turn",
    )

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        from agent_app.postgres import check_store

        return check_store(value)

    @model_validator(mode="after")
    def _summary_needs_a_trigger(self) -> MemorySettings:
        if self.strategy == "summary" and self.summary_after_turns is None and not self.summary_after_tokens:
            raise ValueError("the summary strategy needs summary_after_turns or summary_after_tokens")
        if self.summary_after_turns is not None and self.keep_recent_turns >= self.summary_after_turns:
            raise ValueError("keep_recent_turns must be smaller than summary_after_turns")
        return self
