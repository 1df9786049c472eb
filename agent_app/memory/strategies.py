"""Memory strategies: which messages of a conversation's history the model is sent.

Every strategy has `select(history, *, config=None) -> list[BaseMessage]`. `history` is the
conversation so far, without the new user input that the prompt adds itself (if the input is
included, it simply counts as the last turn). Leading system messages are always kept.

A *turn* is a human message and every AI and tool message after it, up to the next human message;
cutting history only at turn starts keeps tool calls next to their results.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.language_models import BaseLanguageModel
from langchain_core.messages import (
    BaseMessage,
    HumanMessage,
    SystemMessage,
    get_buffer_string,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import Runnable, RunnableConfig

from agent_app.memory.settings import MemorySettings
from agent_app.memory.store import StoredSummary

TokenCounter = Callable[[list[BaseMessage]], int]

SUMMARY_MESSAGE_ID = "memory-summary"
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"
SUMMARY_INSTRUCTIONS = (
    "You condense conversations. Summarise the conversation below in a few sentences, keeping "
    "names, facts, numbers, decisions and open questions. Reply with the summary only."
)


class MemoryStrategy(Protocol):
    def select(self, history: Sequence[BaseMessage], *, config: RunnableConfig | None = None) -> list[BaseMessage]:
        """The messages to send to the model, in order."""
        ...


class SummaryCache(Protocol):
    """Where the summarising memory keeps its summary between turns (and runs)."""

    def load(self) -> StoredSummary | None: ...

    def save(self, summary: StoredSummary) -> None: ...


# -- turns -------------------------------------------------------------------------------------


def leading_system(history: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The system messages at the start of the history."""
    out = []
    for message in history:
        if message.type != "system":
            break
        out.append(message)
    return out


def turn_starts(history: Sequence[BaseMessage]) -> list[int]:
    """Indexes where turns start: each human message, and the first message after the leading system
    messages (so a greeting before the first question forms a turn of its own)."""
    first = len(leading_system(history))
    starts = [i for i, m in enumerate(history) if i >= first and isinstance(m, HumanMessage)]
    if first < len(history) and (not starts or starts[0] != first):
        starts.insert(0, first)
    return starts


# -- strategies --------------------------------------------------------------------------------


@dataclass
class KeepAll:
    """Send the whole history."""

    def select(self, history: Sequence[BaseMessage], *, config: RunnableConfig | None = None) -> list[BaseMessage]:
        return list(history)


@dataclass
class LastTurns:
    """Send the leading system messages and the last `k` turns."""

    k: int

    def select(self, history: Sequence[BaseMessage], *, config: RunnableConfig | None = None) -> list[BaseMessage]:
        system = leading_system(history)
        starts = turn_starts(history)
        if self.k <= 0 or not starts:
            return system
        cut = starts[-self.k] if len(starts) >= self.k else starts[0]
        return system + list(history[cut:])


@dataclass
class TokenBudget:
    """Send the leading system messages and as many recent whole messages as fit in `max_tokens`,
    starting on a human message (LangChain's `trim_messages`)."""

    max_tokens: int
    count_tokens: TokenCounter = count_tokens_approximately

    def select(self, history: Sequence[BaseMessage], *, config: RunnableConfig | None = None) -> list[BaseMessage]:
        if not history:
            return []
        return trim_messages(
            list(history),
            max_tokens=self.max_tokens,
            token_counter=self.count_tokens,
            strategy="last",
            start_on="human",
            include_system=True,
            allow_partial=False,
        )


@dataclass
class Summarize:
    """Keep recent turns word for word and replace older ones by a summary the model writes.

    The summary covers a prefix of the history. When the part after it passes `after_turns` turns
    or `after_tokens` tokens, everything but the last `keep_recent` turns is folded into the summary
    (the model is sent the previous summary plus the new lines). The summary is saved in `cache`,
    so it is written once per fold, not once per turn, and survives a resume when the cache is the
    conversation store's (`ConversationStore.summary_cache(conv_id)`).
    """

    model: Runnable[Any, Any]
    after_turns: int | None = 8
    after_tokens: int | None = None
    keep_recent: int = 3
    cache: SummaryCache = field(default_factory=lambda: InMemorySummaryCache())
    count_tokens: TokenCounter = count_tokens_approximately
    instructions: str = SUMMARY_INSTRUCTIONS

    def select(self, history: Sequence[BaseMessage], *, config: RunnableConfig | None = None) -> list[BaseMessage]:
        history = list(history)
        system = leading_system(history)
        summary = self._valid_summary(history)
        covered = summary.covered if summary else len(system)
        pending_starts = [i for i in turn_starts(history) if i >= covered]
        if self._over_threshold(history[covered:], len(pending_starts)):
            if not self.keep_recent:
                cut = len(history)
            elif len(pending_starts) >= self.keep_recent:
                cut = pending_starts[-self.keep_recent]
            else:
                cut = covered
            if cut > covered:
                text = self._summarise(summary.text if summary else None, history[covered:cut], config)
                summary = StoredSummary(covered=cut, fingerprint=fingerprint(history[:cut]), text=text)
                self.cache.save(summary)
                covered = cut
        if summary is None:
            return history
        note = SystemMessage(content=SUMMARY_PREFIX + summary.text, id=SUMMARY_MESSAGE_ID)
        return [*system, note, *history[covered:]]

    def _valid_summary(self, history: list[BaseMessage]) -> StoredSummary | None:
        summary = self.cache.load()
        if summary is None or summary.covered > len(history):
            return None
        # A summary of a different history (edited, or another conversation's) is ignored.
        return summary if fingerprint(history[: summary.covered]) == summary.fingerprint else None

    def _over_threshold(self, pending: list[BaseMessage], pending_turns: int) -> bool:
        if self.after_turns is not None and pending_turns > self.after_turns:
            return True
        if not self.after_tokens:
            return False
        return self.count_tokens(pending) > self.after_tokens

    def _summarise(self, previous: str | None, messages: list[BaseMessage], config: RunnableConfig | None) -> str:
        request = summary_request(previous, messages)
        config = {**(config or {}), "run_name": "memory_summary"}
        reply = self.model.invoke([SystemMessage(content=self.instructions), HumanMessage(content=request)], config)
        return (reply.text if isinstance(reply, BaseMessage) else str(reply)).strip()


def summary_request(previous: str | None, messages: Sequence[BaseMessage]) -> str:
    """What the summariser is asked: the previous summary (if any) and the lines to fold in."""
    lines = get_buffer_string(messages, human_prefix="User", ai_prefix="Assistant")
    head = f"Summary so far:\n{previous}\n\nNew lines of the conversation:\n" if previous else "Conversation:\n"
    return f"{head}{lines}"


def fingerprint(messages: Sequence[BaseMessage]) -> str:
    """A hash of the messages' kinds and texts."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(f"{message.type}\0{message.text}\0".encode())
    return digest.hexdigest()[:32]


@dataclass
class InMemorySummaryCache:
    """A summary cache that lives as long as the strategy (for chains without a stored conversation)."""

    summary: StoredSummary | None = None

    def load(self) -> StoredSummary | None:
        return self.summary

    def save(self, summary: StoredSummary) -> None:
        self.summary = summary


# -- token counting ----------------------------------------------------------------------------


def token_counter_for(model: Any) -> TokenCounter:
    """Count tokens with the model's own tokenizer when it has one, else approximately (4 chars a
    token). A tokenizer that fails (e.g. tiktoken cannot download its tables offline) warns once and
    falls back to the approximation."""
    from agent_app.models.profile import profile_of

    tokenizer = profile_of(model).tokenizer
    if tokenizer is not None:

        def count_with_tokenizer(messages: list[BaseMessage]) -> int:
            # + 4 per message: the chat template's role markers (ChatML: <|im_start|>role\n ... <|im_end|>\n).
            return sum(len(tokenizer.encode(m.text, add_special_tokens=False)) + 4 for m in messages)

        return _with_fallback(count_with_tokenizer)
    if isinstance(model, BaseLanguageModel) and _has_own_tokenizer(model):
        return _with_fallback(model.get_num_tokens_from_messages)
    return count_tokens_approximately


def _has_own_tokenizer(model: BaseLanguageModel) -> bool:
    # The base class's default downloads GPT-2's tokenizer: useless offline, and not the model's own.
    cls = type(model)
    return (
        cls.get_num_tokens_from_messages is not BaseLanguageModel.get_num_tokens_from_messages
        or cls.get_token_ids is not BaseLanguageModel.get_token_ids
        or getattr(model, "custom_get_token_ids", None) is not None
    )


def _with_fallback(counter: TokenCounter) -> TokenCounter:
    failed = False

    def count(messages: list[BaseMessage]) -> int:
        nonlocal failed
        if not failed:
            try:
                return counter(messages)
            except Exception as exc:
                failed = True
                warnings.warn(
                    f"cannot count tokens with the model's tokenizer ({exc}); estimating instead",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return count_tokens_approximately(messages)

    return count


# -- factory -----------------------------------------------------------------------------------


def build_memory(
    settings: MemorySettings,
    model: Any = None,
    *,
    cache: SummaryCache | None = None,
    token_counter: TokenCounter | None = None,
) -> MemoryStrategy:
    """The strategy the settings ask for. `model` writes summaries and provides the tokenizer;
    `cache` keeps the summary (pass `store.summary_cache(conv_id)` to persist it)."""
    count = token_counter or (token_counter_for(model) if model is not None else count_tokens_approximately)
    if settings.strategy == "all":
        return KeepAll()
    if settings.strategy == "last_turns":
        return LastTurns(settings.max_turns)
    if settings.strategy == "tokens":
        return TokenBudget(settings.max_tokens, count)
    if model is None:
        raise ValueError("the summary memory needs a model to write summaries")
    return Summarize(
        model=model,
        after_turns=settings.summary_after_turns,
        after_tokens=settings.summary_after_tokens,
        keep_recent=settings.keep_recent_turns,
        cache=cache or InMemorySummaryCache(),
        count_tokens=count,
    )
