"""Each memory strategy sends exactly the expected messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import ValidationError

from agent_app.memory.settings import MemorySettings
from agent_app.memory.store import ConversationStore
from agent_app.memory.strategies import (
    SUMMARY_INSTRUCTIONS,
    SUMMARY_MESSAGE_ID,
    SUMMARY_PREFIX,
    InMemorySummaryCache,
    KeepAll,
    LastTurns,
    Summarize,
    TokenBudget,
    build_memory,
    token_counter_for,
    turn_starts,
)
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.profile import ModelProfile

SYSTEM = SystemMessage("You are helpful.")


def turn(i: int) -> list[BaseMessage]:
    return [HumanMessage(f"q{i}"), AIMessage(f"a{i}")]


def tool_turn(i: int) -> list[BaseMessage]:
    call = {"name": "calculator", "args": {"expression": f"{i}+{i}"}, "id": f"call{i}"}
    return [
        HumanMessage(f"q{i}"),
        AIMessage("", tool_calls=[call]),
        ToolMessage(str(2 * i), tool_call_id=f"call{i}"),
        AIMessage(f"a{i}"),
    ]


HISTORY = [SYSTEM, *turn(1), *tool_turn(2), *turn(3)]


def one_token_per_message(messages: list[BaseMessage]) -> int:
    return len(messages)


def words(messages: list[BaseMessage]) -> int:
    return sum(len(m.text.split()) + 1 for m in messages)


def test_turns_start_at_human_messages_and_after_a_greeting() -> None:
    assert turn_starts(HISTORY) == [1, 3, 7]
    greeting = [SYSTEM, AIMessage("Hello!"), *turn(1)]
    assert turn_starts(greeting) == [1, 2]
    assert turn_starts([SYSTEM]) == []


def test_keep_all() -> None:
    assert KeepAll().select(HISTORY) == HISTORY


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (0, [SYSTEM]),
        (1, [SYSTEM, *turn(3)]),
        (2, [SYSTEM, *tool_turn(2), *turn(3)]),  # the tool call stays with its result
        (3, HISTORY),
        (10, HISTORY),
    ],
)
def test_last_turns(k: int, expected: list[BaseMessage]) -> None:
    assert LastTurns(k).select(HISTORY) == expected


def test_last_turns_without_system_message() -> None:
    assert LastTurns(1).select([*turn(1), *turn(2)]) == turn(2)


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (3, [SYSTEM, *turn(3)]),
        # 5 would fit the last 4 messages, but they start with a tool message: cut to a human one.
        (5, [SYSTEM, *turn(3)]),
        (7, [SYSTEM, *tool_turn(2), *turn(3)]),
        (9, HISTORY),
        (1, [SYSTEM]),
    ],
)
def test_token_budget(budget: int, expected: list[BaseMessage]) -> None:
    assert TokenBudget(budget, one_token_per_message).select(HISTORY) == expected


def test_token_budget_counts_with_the_models_tokenizer() -> None:
    class Tokenizer:
        calls = 0

        def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
            Tokenizer.calls += 1
            return [0] * len(text)  # one token per character

    class WithTokenizer:
        app_profile = ModelProfile(tokenizer=Tokenizer())

    count = token_counter_for(WithTokenizer())
    assert count([HumanMessage("abc"), AIMessage("de")]) == 3 + 4 + 2 + 4
    assert Tokenizer.calls == 2
    history = [HumanMessage("x" * 50), AIMessage("y" * 50), HumanMessage("short"), AIMessage("ok")]
    assert TokenBudget(30, count).select(history) == history[2:]


def test_a_failing_tokenizer_falls_back_to_an_estimate_with_one_warning() -> None:
    class BrokenTokenizer:
        @staticmethod
        def encode(text: str, add_special_tokens: bool = True) -> list[int]:
            raise OSError("no tokenizer files offline")

    class Broken:
        app_profile = ModelProfile(tokenizer=BrokenTokenizer())

    count = token_counter_for(Broken())
    with pytest.warns(RuntimeWarning, match="estimating instead"):
        first = count([HumanMessage("hello world")])
    assert first > 0
    assert count([HumanMessage("hello world")]) == first  # no second warning (pytest would show it)


def test_the_scripted_model_without_a_tokenizer_is_counted_approximately() -> None:
    # The base class's default tokenizer would download GPT-2's: it must not be used.
    count = token_counter_for(ScriptedChatModel())
    assert count([HumanMessage("a" * 400)]) == pytest.approx(100, abs=10)


# -- summarising ---------------------------------------------------------------------------------


def conversation(n: int) -> list[BaseMessage]:
    return [SYSTEM, *[m for i in range(1, n + 1) for m in turn(i)]]


def test_no_summary_below_the_threshold() -> None:
    model = ScriptedChatModel(echo=False)
    memory = Summarize(model, after_turns=3, keep_recent=1)
    assert memory.select(conversation(3)) == conversation(3)
    assert model.calls == []


def test_older_turns_are_replaced_by_the_summary_and_recent_ones_kept() -> None:
    model = ScriptedChatModel(replies=["The user asked q1 and q2."], echo=False)
    memory = Summarize(model, after_turns=3, keep_recent=2)
    sent = memory.select(conversation(4))

    assert model.calls == [
        [
            SystemMessage(SUMMARY_INSTRUCTIONS),
            HumanMessage("Conversation:\nUser: q1\nAssistant: a1\nUser: q2\nAssistant: a2"),
        ]
    ]
    summary = SystemMessage(SUMMARY_PREFIX + "The user asked q1 and q2.", id=SUMMARY_MESSAGE_ID)
    assert sent == [SYSTEM, summary, *turn(3), *turn(4)]


def test_the_summary_is_reused_then_extended_incrementally() -> None:
    model = ScriptedChatModel(replies=["S1", "S2"], echo=False)
    cache = InMemorySummaryCache()
    memory = Summarize(model, after_turns=3, keep_recent=2, cache=cache)
    memory.select(conversation(4))  # folds q1, q2 -> S1
    sent = memory.select(conversation(5))  # 3 turns after the summary: not over the threshold
    assert len(model.calls) == 1
    assert sent == [SYSTEM, SystemMessage(SUMMARY_PREFIX + "S1", id=SUMMARY_MESSAGE_ID), *conversation(5)[5:]]

    sent = memory.select(conversation(6))  # 4 unsummarised turns: fold q3, q4 into the summary
    assert model.calls[1][1] == HumanMessage(
        "Summary so far:\nS1\n\nNew lines of the conversation:\nUser: q3\nAssistant: a3\nUser: q4\nAssistant: a4"
    )
    assert sent == [SYSTEM, SystemMessage(SUMMARY_PREFIX + "S2", id=SUMMARY_MESSAGE_ID), *turn(5), *turn(6)]
    assert cache.summary is not None and cache.summary.covered == 9


def test_a_token_threshold_triggers_the_summary() -> None:
    model = ScriptedChatModel(replies=["short"], echo=False)
    memory = Summarize(model, after_turns=None, after_tokens=10, keep_recent=1, count_tokens=words)
    assert memory.select(conversation(2)) == conversation(2)  # 8 "tokens"
    sent = memory.select(conversation(3))  # 12
    assert model.calls[0][1].text == "Conversation:\nUser: q1\nAssistant: a1\nUser: q2\nAssistant: a2"
    assert sent == [SYSTEM, SystemMessage(SUMMARY_PREFIX + "short", id=SUMMARY_MESSAGE_ID), *turn(3)]


def test_the_summary_is_stored_with_the_conversation_and_survives_a_restart(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conv = store.create()
    store.extend(conv.id, conversation(4)[1:])
    settings = MemorySettings(strategy="summary", summary_after_turns=3, keep_recent_turns=2)
    model = ScriptedChatModel(replies=["stored summary"], echo=False)
    first = build_memory(settings, model, cache=store.summary_cache(conv.id)).select(store.messages(conv.id))
    store.close()

    store = ConversationStore(tmp_path / "c.db")
    fresh_model = ScriptedChatModel(echo=False)  # would raise if asked to summarise again
    again = build_memory(settings, fresh_model, cache=store.summary_cache(conv.id)).select(store.messages(conv.id))
    assert (
        again == first == [SystemMessage(SUMMARY_PREFIX + "stored summary", id=SUMMARY_MESSAGE_ID), *turn(3), *turn(4)]
    )
    assert fresh_model.calls == []


def test_a_summary_of_another_history_is_ignored() -> None:
    model = ScriptedChatModel(replies=["about q1, q2", "about x1, x2"], echo=False)
    cache = InMemorySummaryCache()
    Summarize(model, after_turns=3, keep_recent=2, cache=cache).select(conversation(4))
    other = [SYSTEM, *[m for i in range(1, 5) for m in (HumanMessage(f"x{i}"), AIMessage(f"y{i}"))]]
    sent = Summarize(model, after_turns=3, keep_recent=2, cache=cache).select(other)
    assert sent[1].text == SUMMARY_PREFIX + "about x1, x2"
    assert "x1" in model.calls[1][1].text


def test_the_model_receives_the_summarised_history_in_a_chain() -> None:
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    summariser = ScriptedChatModel(replies=["earlier: q1"], echo=False)
    chat_model = ScriptedChatModel(replies=["final answer"], echo=False)
    memory = Summarize(summariser, after_turns=2, keep_recent=2)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are helpful."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    history = conversation(3)[1:]
    (prompt | chat_model).invoke({"history": memory.select(history), "input": "q4"})
    assert chat_model.calls == [
        [
            SYSTEM,
            SystemMessage(SUMMARY_PREFIX + "earlier: q1", id=SUMMARY_MESSAGE_ID),
            *turn(2),
            *turn(3),
            HumanMessage("q4"),
        ]
    ]


# -- settings and factory --------------------------------------------------------------------------


def test_build_memory_follows_the_settings() -> None:
    model = ScriptedChatModel()
    assert isinstance(build_memory(MemorySettings(strategy="all")), KeepAll)
    assert build_memory(MemorySettings(strategy="last_turns", max_turns=4)) == LastTurns(4)
    tokens = build_memory(MemorySettings(strategy="tokens", max_tokens=100), model)
    assert isinstance(tokens, TokenBudget) and tokens.max_tokens == 100
    summary = build_memory(MemorySettings(strategy="summary", keep_recent_turns=1), model)
    assert isinstance(summary, Summarize) and summary.keep_recent == 1 and summary.model is model
    with pytest.raises(ValueError, match="needs a model"):
        build_memory(MemorySettings(strategy="summary"))


def test_settings_reject_unknown_keys_and_bad_combinations() -> None:
    with pytest.raises(ValidationError, match="extra"):
        MemorySettings(stratgy="all")
    with pytest.raises(ValidationError, match="keep_recent_turns must be smaller"):
        MemorySettings(strategy="summary", summary_after_turns=3, keep_recent_turns=3)
    with pytest.raises(ValidationError, match="needs summary_after_turns"):
        MemorySettings(strategy="summary", summary_after_turns=None)
