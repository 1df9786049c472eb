"""The conversation store: records, ids, titles, settings and exact message round trips."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from agent_app import paths
from agent_app.errors import AppError
from agent_app.memory import store as store_module
from agent_app.memory.store import (
    ConversationNotFoundError,
    ConversationStore,
    ConversationStoreError,
    StoredSummary,
    make_title,
)


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    with ConversationStore(tmp_path / "c.db") as s:
        yield s


def test_default_path_is_in_the_data_dir() -> None:
    with ConversationStore() as s:
        assert s.path == paths.data_dir() / "conversations.db"
        assert s.path.is_file()


def test_messages_round_trip_exactly_including_tool_calls(store: ConversationStore) -> None:
    conv = store.create(model="openai/gpt-4o-mini", template="default")
    sent = [
        SystemMessage("be brief"),
        HumanMessage("what is 2+2?"),
        AIMessage("", tool_calls=[{"name": "calculator", "args": {"expression": "2+2"}, "id": "call_1"}]),
        ToolMessage("4", tool_call_id="call_1", name="calculator"),
        AIMessage(
            "It is 4.",
            usage_metadata={"input_tokens": 9, "output_tokens": 3, "total_tokens": 12},
            response_metadata={"model_name": "gpt-4o-mini"},
        ),
    ]
    assert [store.append(conv.id, m) for m in sent] == [0, 1, 2, 3, 4]
    assert store.messages(conv.id) == sent
    assert store.get(conv.id).message_count == 5


def test_first_human_message_titles_the_conversation(store: ConversationStore) -> None:
    conv = store.create()
    assert conv.title is None
    store.append(conv.id, SystemMessage("system text is not a title"))
    store.append(conv.id, HumanMessage("  How do   I bake\nbread at home?"))
    store.append(conv.id, HumanMessage("a later question"))
    assert store.get(conv.id).title == "How do I bake"


def test_make_title_cuts_long_lines() -> None:
    title = make_title("word " * 40)
    assert len(title) == 60 and title.endswith("…")
    assert make_title("   ") == "untitled"


def test_an_explicit_title_is_kept(store: ConversationStore) -> None:
    conv = store.create("My plans")
    store.append(conv.id, HumanMessage("hello"))
    assert store.get(conv.id).title == "My plans"


def test_get_by_prefix_title_and_last(store: ConversationStore) -> None:
    first = store.create("first")
    second = store.create("second")
    store.append(first.id, HumanMessage("touch first so it is the last used"))
    assert store.get("last").id == first.id
    assert store.get(second.short_id).id == second.id
    assert store.get(second.id.upper()).id == second.id
    assert store.get("SECOND").id == second.id
    assert len(first.short_id) == 8
    assert [c.id for c in store.list()] == [first.id, second.id]


def test_ambiguous_and_unknown_references_say_what_to_do(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["abc1" + "0" * 28, "abc2" + "0" * 28])
    monkeypatch.setattr(store_module, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=next(ids))))
    store.create()
    store.create()
    with pytest.raises(ConversationNotFoundError, match=r"matches 2 conversations.*type more of the id"):
        store.get("abc")
    assert store.get("abc2").id.startswith("abc2")
    with pytest.raises(ConversationNotFoundError, match="no conversation matches 'zzz-nope'"):
        store.get("zzz-nope")


def test_last_on_an_empty_store(store: ConversationStore) -> None:
    with pytest.raises(ConversationNotFoundError, match="no conversation to resume"):
        store.get("last")


def test_rename_delete_and_settings(store: ConversationStore) -> None:
    conv = store.create(model="local", template="default")
    store.append(conv.id, HumanMessage("hi"))
    store.save_summary(conv.id, StoredSummary(1, "f", "s"))
    assert store.rename(conv.short_id, "Renamed").title == "Renamed"
    updated = store.update_settings(conv.id, template="translator", memory="summary")
    assert (updated.model, updated.template, updated.settings) == ("local", "translator", {"memory": "summary"})
    assert store.update_settings(conv.id, model="openai/gpt-4o").settings == {"memory": "summary"}
    assert store.delete(conv.short_id).id == conv.id
    assert store.list() == []
    assert store.messages(conv.id) == []
    assert store.load_summary(conv.id) is None
    with pytest.raises(AppError):
        store.rename(conv.id, "x")


def test_append_to_unknown_conversation_fails_clearly(store: ConversationStore) -> None:
    with pytest.raises(ConversationNotFoundError):
        store.append("f" * 32, HumanMessage("x"))


def test_a_file_that_is_not_a_database_gives_a_clear_error_and_is_kept(tmp_path: Path) -> None:
    bad = tmp_path / "conversations.db"
    bad.write_bytes(b"this is not sqlite at all, " * 100)
    before = bad.read_bytes()
    with pytest.raises(ConversationStoreError, match="not a readable conversation database") as info:
        ConversationStore(bad)
    assert "move it aside" in str(info.value)
    assert bad.read_bytes() == before


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    ConversationStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(ConversationStoreError, match="newer version"):
        ConversationStore(path)


def test_an_uncreatable_folder_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConversationStoreError, match="cannot create the folder"):
        ConversationStore(blocker / "sub" / "c.db")


def test_the_database_uses_wal_and_full_sync(store: ConversationStore) -> None:
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.integrity_check() == "ok"
