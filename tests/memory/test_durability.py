"""Persistence across processes, a SIGKILL mid-answer, and concurrent writers.

Children report progress through a pipe; the parent waits on those lines, never on a clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agent_app.memory.store import ConversationStore

CHILD = Path(__file__).with_name("child_writer.py")

pytestmark = pytest.mark.timeout(60)


def spawn(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdout=subprocess.PIPE,
        stdin=stdin,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_a_conversation_written_by_another_process_is_read_back(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    child = spawn("write", str(db), "3")
    out, _ = child.communicate()
    assert child.returncode == 0
    conv_id = out.strip()
    with ConversationStore(db) as store:
        conv = store.get("last")
        assert conv.id == conv_id
        assert (conv.title, conv.model, conv.template) == ("question 0", "scripted", "default")
        assert store.messages(conv_id) == [
            m for i in range(3) for m in (HumanMessage(f"question {i}"), AIMessage(f"answer {i}"))
        ]


def test_sigkill_mid_answer_loses_only_the_unfinished_answer(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    child = spawn("killed", str(db), "4")
    assert child.stdout is not None
    _, conv_id, committed = child.stdout.readline().split()
    assert child.stdout.readline().startswith("mid-answer")
    fillers = [child.stdout.readline().split() for _ in range(5)]  # writes are going on now
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate()
    assert child.returncode == -signal.SIGKILL
    reported = fillers + [line.split() for line in rest.splitlines() if line.startswith("filler")]
    filler_id, last_seq = reported[-1][1], int(reported[-1][2])

    with ConversationStore(db) as store:
        assert store.integrity_check() == "ok"
        messages = store.messages(conv_id)
        assert len(messages) == int(committed) == 9
        assert messages[-1] == HumanMessage("the question being answered")
        assert [m.text for m in messages[:-1:2]] == [f"question {i}" for i in range(4)]
        assert [m.text for m in messages[1::2]] == [f"answer {i}" for i in range(4)]
        # Every filler the child reported as committed survived (one more may have made it).
        fillers_kept = store.messages(filler_id)
        assert len(fillers_kept) in (last_seq + 1, last_seq + 2)
        assert [m.text for m in fillers_kept] == [f"filler {i}" for i in range(len(fillers_kept))]
        # The database is still writable after the crash.
        store.append(conv_id, AIMessage("answered after the restart"))
        assert store.get(conv_id).message_count == 10


def test_two_processes_writing_one_conversation_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with ConversationStore(db) as store:
        conv = store.create("shared")
    children = [spawn("race", str(db), conv.id, name, "40", stdin=subprocess.PIPE) for name in ("a", "b")]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, _ = child.communicate()
        assert child.returncode == 0 and out.strip() == "done"
    with ConversationStore(db) as store:
        texts = [m.text for m in store.messages(conv.id)]
        assert store.integrity_check() == "ok"
    assert len(texts) == 80
    for name in ("a", "b"):  # each writer's messages all there, in its own order
        assert [t for t in texts if t.startswith(name)] == [f"{name} {i}" for i in range(40)]


def test_two_stores_in_threads_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    stores = [ConversationStore(db), ConversationStore(db)]
    conv = stores[0].create("shared")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(store: ConversationStore, name: str) -> None:
        start.wait()
        try:
            for i in range(50):
                store.append(conv.id, HumanMessage(f"{name} {i}"))
        except BaseException as exc:  # reported below: an exception in a thread fails nothing
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for s, n in zip(stores, "ab", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    texts = [m.text for m in stores[1].messages(conv.id)]
    assert sorted(texts) == sorted(f"{n} {i}" for n in "ab" for i in range(50))
    for s in stores:
        s.close()
